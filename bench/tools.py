"""External programs the suite drives: wrk (required), nginx and uv (optional)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

WRK_INSTALL = (
    "wrk is not installed. Install it with `sudo apt-get install -y wrk` "
    "(Debian/Ubuntu), `brew install wrk` (macOS) or `make bench` (installs it with apt-get "
    "when missing), or run only the uv scenario with `python -m bench --uv-only`."
)
NGINX_INSTALL = "install nginx with `sudo apt-get install -y nginx-light` to add the nginx row"


class MissingToolError(RuntimeError):
    """A required program is missing; the message says how to install it."""


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise MissingToolError(WRK_INSTALL)
    return path


def find_nginx() -> str | None:
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx", "/usr/local/sbin/nginx"):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def find_uv() -> list[str] | None:
    """The uv command: on PATH, or the ``uv`` Python package's binary."""
    path = shutil.which("uv")
    if path:
        return [path]
    try:
        probe = subprocess.run(
            [sys.executable, "-m", "uv", "--version"], capture_output=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return [sys.executable, "-m", "uv"] if probe.returncode == 0 else None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"
