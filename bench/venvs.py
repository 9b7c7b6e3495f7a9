"""Peers installed from PyPI into their own virtual environments under bench/venvs/."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

VENV_ROOT = Path(__file__).resolve().parent / "venvs"


class VenvError(RuntimeError):
    """The peer could not be installed; the message carries pip's last lines."""


def ensure_venv(name: str, packages: list[str], root: Path = VENV_ROOT) -> Path:
    """A venv with ``packages`` (latest versions), created once and reused.

    A marker file records what was installed, so a changed package list
    reinstalls. Returns the venv's ``bin`` directory.
    """
    env_dir = root / name
    bin_dir = env_dir / "bin"
    marker = env_dir / ".bench-installed"
    wanted = " ".join(sorted(packages))
    if marker.is_file() and marker.read_text() == wanted and (bin_dir / "python").exists():
        return bin_dir
    if not (bin_dir / "python").exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    proc = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", "-U", *packages],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise VenvError(f"pip install {wanted} failed:\n{tail}")
    marker.write_text(wanted)
    return bin_dir


def package_version(bin_dir: Path, dist: str) -> str:
    proc = subprocess.run(
        [
            str(bin_dir / "python"),
            "-c",
            f"import importlib.metadata as m; print(m.version({dist!r}))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc.stdout.strip() or "?"


def this_python() -> str:
    return sys.executable
