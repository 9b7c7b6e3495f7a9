"""What every server under test offers the scenarios, and a managed subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from tests.support.server import free_port

__all__ = ["ExternalServer", "ManagedProcess", "Server", "ServerError", "free_port"]


class ServerError(RuntimeError):
    """A server did not start or stopped answering; the message carries its log tail."""


class Server:
    """A running HTTP server with a PEP 503/691 simple index under ``simple_root``.

    ``kind`` groups rows: ``groxpi``, ``proxpi``, ``devpi`` or ``ceiling`` (a
    server that only replays groxpi's bytes: no upstream, no cold scenarios).
    """

    name: str = "server"
    kind: str = "server"
    version: str = ""

    def __init__(self) -> None:
        self.port = free_port()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def simple_root(self) -> str:
        return self.base_url + "/simple/"

    def page_url(self, project: str) -> str:
        return f"{self.simple_root}{project}/"

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def pids(self) -> list[int]:
        """Top-level processes to monitor (their children are included)."""
        return []

    def describe(self) -> str:
        """What exactly ran, for the summary's header."""
        return self.version or self.name


class ExternalServer(Server):
    """A server the user started (``--groxpi-url``/``--proxpi-url``): not managed here."""

    def __init__(self, name: str, kind: str, url: str, simple_path: str) -> None:
        self.name, self.kind = name, kind
        self._base = url.rstrip("/")
        for suffix in ("/simple", "/index"):
            self._base = self._base.removesuffix(suffix)
        self._simple_path = simple_path
        self.version = "external"

    @property
    def base_url(self) -> str:
        return self._base

    @property
    def simple_root(self) -> str:
        return self._base + self._simple_path

    def start(self) -> None:
        """Only check it answers (groxpi and proxpi both have ``/health``)."""
        wait_http(self._base + "/health", 10.0, None, self.name)

    def stop(self) -> None:
        pass


class ManagedProcess:
    """A subprocess with its output in a log file, stopped with SIGTERM then SIGKILL."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path | None = None,
    ) -> None:
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self, timeout: float = 15.0) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def wait_http(
    url: str,
    timeout: float,
    process: ManagedProcess | None,
    what: str | None,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Poll ``url`` until it answers below 500; raise with the log tail otherwise."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.proc is not None and process.proc.poll() is not None:
            raise ServerError(
                f"{what or url} exited with {process.proc.returncode}:\n{process.tail()}"
            )
        try:
            request = urllib.request.Request(url, headers=dict(headers or {}))
            with urllib.request.urlopen(request, timeout=2) as resp:
                resp.read()
                return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    tail = process.tail() if process else ""
    raise ServerError(f"{what or url} not answering after {timeout:.0f}s ({last})\n{tail}")
