"""Run groxpi as a real subprocess for end-to-end tests.

Going through ``python -m groxpi`` exercises the same startup, config parsing,
signal handling and shutdown that users get.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO

REPO_ROOT = Path(__file__).resolve().parents[2]


class GroxpiStartError(RuntimeError):
    """groxpi did not become healthy; the message carries its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clean_environ() -> dict[str, str]:
    """The parent environment minus any groxpi/proxpi settings, so tests are hermetic."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GROXPI_", "PROXPI_")) and k != "PORT"
    }


class GroxpiProcess:
    """One ``python -m groxpi`` process listening on 127.0.0.1 on a free port."""

    def __init__(
        self,
        env: Mapping[str, str],
        cache_dir: Path,
        log_path: Path | None = None,
        args: Sequence[str] = (),
    ) -> None:
        self.port = free_port()
        self.cache_dir = cache_dir
        self.log_path = log_path or cache_dir.parent / f"groxpi-{self.port}.log"
        self.env = {
            **_clean_environ(),
            "PORT": str(self.port),
            "GROXPI_HOST": "127.0.0.1",
            "GROXPI_CACHE_DIR": str(cache_dir),
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
        )
        self.args = list(args)
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> GroxpiProcess:
        """Spawn and wait until ``GET /health`` answers 200."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "groxpi", *self.args],
            env=self.env,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        last_error = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._close_log()
                raise GroxpiStartError(
                    f"groxpi exited with {self.proc.returncode} before becoming healthy:\n"
                    + self.log_text()
                )
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as resp:
                    if resp.status == 200:
                        return self
                    last_error = f"HTTP {resp.status}"
            except urllib.error.HTTPError as exc:
                last_error = f"HTTP {exc.code}"
            except OSError as exc:
                last_error = str(exc)
            time.sleep(0.05)
        self.kill()
        raise GroxpiStartError(
            f"groxpi not healthy after {timeout}s ({last_error}):\n" + self.log_text()
        )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Signal the process and wait; kills it and raises if it will not exit."""
        if self.proc is None:
            raise RuntimeError("groxpi was never started")
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise TimeoutError(
                    f"groxpi did not exit within {timeout}s of signal {sig}:\n" + self.log_text()
                ) from None
        self._close_log()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._close_log()

    def log_text(self) -> str:
        """Everything groxpi wrote to stdout and stderr so far."""
        if self._log is not None:
            self._log.flush()
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> GroxpiProcess:
        return self if self.proc is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.running():
            self.stop()
        else:
            self._close_log()


@contextmanager
def run_groxpi(
    env: Mapping[str, str], cache_dir: Path, timeout: float = 15.0
) -> Iterator[GroxpiProcess]:
    """Start groxpi with ``env`` (e.g. GROXPI_INDEX_URL) and stop it on exit."""
    proc = GroxpiProcess(env, cache_dir).start(timeout)
    try:
        yield proc
    finally:
        if proc.running():
            proc.stop()
        else:
            proc.kill()
