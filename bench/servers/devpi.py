"""devpi-server with a mirror index pointed at the same upstream."""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.request
from pathlib import Path

from bench.servers.base import ManagedProcess, Server, ServerError, wait_http
from bench.servers.proxpi import clean_environ
from bench.venvs import ensure_venv, package_version

INDEX = "root/bench"


class DevpiServer(Server):
    """``devpi-server`` (its default thread pool), serving ``/root/bench/+simple/``."""

    kind = "devpi"

    def __init__(self, name: str, index_url: str, workdir: Path) -> None:
        super().__init__()
        self.name = name
        self.index_url = index_url
        self.bin_dir = ensure_venv("devpi", ["devpi-server"])
        self.version = f"devpi-server {package_version(self.bin_dir, 'devpi-server')}"
        self.server_dir = workdir / f"{name}-server"
        self.env = clean_environ()
        argv = [
            str(self.bin_dir / "devpi-server"),
            "--serverdir",
            str(self.server_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        self._process = ManagedProcess(argv, self.env, workdir / "logs" / f"{name}.log")

    @property
    def simple_root(self) -> str:
        return f"{self.base_url}/{INDEX}/+simple/"

    def start(self) -> None:
        init = subprocess.run(
            [
                str(self.bin_dir / "devpi-init"),
                "--serverdir",
                str(self.server_dir),
                "--no-root-pypi",
            ],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if init.returncode != 0:
            raise ServerError(f"devpi-init failed: {init.stderr.strip()[-500:]}")
        self._process.start()
        wait_http(self.base_url + "/+api", 60, self._process, self.name)
        self._create_mirror()

    def _call(self, method: str, path: str, body: object, auth: str | None = None) -> object:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["X-Devpi-Auth"] = auth
        request = urllib.request.Request(
            self.base_url + path, data=json.dumps(body).encode(), headers=headers, method=method
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def _create_mirror(self) -> None:
        login = self._call("POST", "/+login", {"user": "root", "password": ""})
        token = login["result"]["password"]  # type: ignore[index]
        auth = base64.b64encode(f"root:{token}".encode()).decode()
        self._call("PUT", f"/{INDEX}", {"type": "mirror", "mirror_url": self.index_url}, auth)

    def stop(self) -> None:
        self._process.stop()

    def pids(self) -> list[int]:
        pid = self._process.pid
        return [pid] if pid is not None else []
