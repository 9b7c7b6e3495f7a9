"""``uv pip install`` into fresh venvs through a server: cold cache, then warm cache."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import progress
from bench.scenarios import Context, median
from bench.servers import Server
from bench.tools import find_uv


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_", "VIRTUAL_ENV"))}
    env.update(UV_PYTHON_DOWNLOADS="never", UV_NO_PROGRESS="1")
    return env


def install_once(uv: list[str], index_url: str, packages: list[str]) -> float:
    """Seconds for one ``uv pip install`` into a new venv with an empty uv cache."""
    env = _env()
    with tempfile.TemporaryDirectory(prefix="bench-uv-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run(
            [*uv, "venv", "--no-config", "-q", "--python", sys.executable, str(venv)],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        argv = [
            *uv,
            "pip",
            "install",
            "--no-config",
            "--no-cache",
            "--python",
            str(venv / "bin" / "python"),
            "--index-url",
            index_url,
            *packages,
        ]
        start = time.perf_counter()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800)
        elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip()[-800:])
    return elapsed


def run(ctx: Context, server: Server) -> None:
    uv = find_uv()
    if uv is None:
        progress.skip(f"uv install through {server.name}", "uv is not installed")
        return
    packages = ctx.upstream.catalogue.uv_packages
    # The first install fills the server's cache; the warm figure is the median of the rest.
    for phase, repeats in (("cold", 1), ("warm", ctx.settings.uv_warm_repeats)):
        try:
            seconds = median(
                [install_once(uv, server.simple_root, packages) for _ in range(repeats)]
            )
        except (RuntimeError, subprocess.SubprocessError) as exc:
            progress.step(f"  {server.name}: uv install ({phase}) failed: {exc}")
            return
        ctx.results.add(server.name, f"uv-{phase}", "wall_s", seconds, "s")
        progress.step(f"  {server.name}: uv install {' '.join(packages)} ({phase}) {seconds:.2f}s")
