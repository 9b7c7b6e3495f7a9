"""groxpi itself, as users run it: ``python -m groxpi`` with the environment as config."""

from __future__ import annotations

from pathlib import Path

import groxpi
from bench.servers.base import Server, ServerError
from tests.support.server import GroxpiProcess, GroxpiStartError


class GroxpiServer(Server):
    """One groxpi (``workers`` processes on one port); ``extra_env`` adds e.g. S3 settings."""

    kind = "groxpi"

    def __init__(
        self,
        name: str,
        index_url: str,
        workdir: Path,
        workers: int = 1,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        workers_text = f"{workers} worker" + ("s" if workers > 1 else "")
        storage = ", S3 storage on moto_server" if extra_env else ""
        self.version = f"groxpi {groxpi.__version__}, {workers_text}{storage}"
        env = {
            "GROXPI_INDEX_URL": index_url,
            "GROXPI_WORKERS": str(workers),
            **(extra_env or {}),
        }
        self._process = GroxpiProcess(
            env, workdir / f"{name}-cache", log_path=workdir / "logs" / f"{name}.log"
        )
        self.port = self._process.port

    def start(self) -> None:
        try:
            self._process.start(timeout=30)
        except GroxpiStartError as exc:
            raise ServerError(str(exc)) from None

    def stop(self) -> None:
        if self._process.running():
            self._process.stop(timeout=20)
        else:
            self._process.kill()

    def pids(self) -> list[int]:
        proc = self._process.proc
        return [proc.pid] if proc is not None else []
