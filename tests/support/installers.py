"""Real installers in fresh virtual environments: pip and uv as subprocesses."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

UV = shutil.which("uv") or str(Path(sys.executable).parent / "uv")


def make_venv(path: Path, with_pip: bool) -> Path:
    """A fresh venv (with pip, or a faster bare one made by uv); returns its python."""
    if with_pip:
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    else:
        subprocess.run([UV, "venv", "--quiet", "--python", sys.executable, str(path)], check=True)
    return path / "bin" / "python"


def pip_install(python: Path, index: str, *packages: str) -> str:
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--isolated", "--no-cache-dir",
         "--disable-pip-version-check", "--index-url", index, *packages],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def uv_install(python: Path, index: str, *packages: str) -> str:
    result = subprocess.run(
        [UV, "pip", "install", "--no-cache", "--python", str(python), "--index-url", index,
         *packages],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stderr


def installed_version(python: Path, package: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
