"""proxpi, the latest release from PyPI, run by gunicorn the way its container image does."""

from __future__ import annotations

import os
from pathlib import Path

from bench.servers.base import ManagedProcess, Server, wait_http
from bench.venvs import ensure_venv, package_version


def clean_environ() -> dict[str, str]:
    """The parent environment without proxy settings that would leak into a peer."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GROXPI_", "PROXPI_", "AWS_")) and k != "PORT"
    }


class ProxpiServer(Server):
    """``gunicorn --preload --threads 2 proxpi.server:app``; proxpi serves ``/index/``."""

    kind = "proxpi"

    def __init__(self, name: str, index_url: str, workdir: Path, workers: int = 1) -> None:
        super().__init__()
        self.name = name
        bin_dir = ensure_venv("proxpi", ["proxpi", "gunicorn"])
        self.version = (
            f"proxpi {package_version(bin_dir, 'proxpi')}, gunicorn "
            f"{package_version(bin_dir, 'gunicorn')} --preload, {workers} "
            f"worker{'s' if workers > 1 else ''} x 2 threads"
        )
        env = {
            **clean_environ(),
            "PROXPI_INDEX_URL": index_url,
            "PROXPI_CACHE_DIR": str(workdir / f"{name}-cache"),
        }
        argv = [
            str(bin_dir / "gunicorn"),
            "--preload",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--threads",
            "2",
            "proxpi.server:app",
        ]
        self._process = ManagedProcess(argv, env, workdir / "logs" / f"{name}.log")

    @property
    def simple_root(self) -> str:
        return self.base_url + "/index/"

    def start(self) -> None:
        self._process.start()
        wait_http(self.base_url + "/health", 60, self._process, self.name)

    def stop(self) -> None:
        self._process.stop()

    def pids(self) -> list[int]:
        pid = self._process.pid
        return [pid] if pid is not None else []
