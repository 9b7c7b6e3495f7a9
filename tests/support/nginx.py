"""A static PEP 503 index served by a real nginx: real ETags, Last-Modified and 304s.

Private indexes are often just files behind a web server; nginx answers
conditional requests the way such servers do, so revalidation is tested
against the real thing rather than a fake's idea of it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from bench.tools import find_nginx
from tests.support import wheels
from tests.support.server import free_port

CONF = """\
{user}worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    types {{ text/html html; }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        index index.html;
    }}
}}
"""


def _html(body: str) -> str:
    return f"<!DOCTYPE html><html><body>\n{body}</body></html>\n"


class StaticIndex:
    """``with StaticIndex(workdir) as index:`` nginx serving ``index.url`` from files."""

    def __init__(self, workdir: Path) -> None:
        self.root = workdir / "root"
        self.prefix = workdir / "nginx"
        self.port = free_port()
        self.wheels: dict[str, bytes] = {}
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple/"

    def publish(self, name: str, version: str) -> bytes:
        """Add a wheel and rewrite the project's page and the project list."""
        data = wheels.wheel_bytes(name, version)
        filename = wheels.wheel_filename(name, version)
        (self.root / "packages").mkdir(parents=True, exist_ok=True)
        (self.root / "packages" / filename).write_bytes(data)
        self.wheels[filename] = data
        project = wheels.normalize(name)
        links = "".join(
            f'<a href="/packages/{f}#sha256={hashlib.sha256(d).hexdigest()}">{f}</a>\n'
            for f, d in sorted(self.wheels.items())
            if wheels.normalize(f.split("-")[0]) == project
        )
        self._write(
            f"simple/{project}/index.html", f"<!DOCTYPE html><html><body>\n{links}</body></html>\n"
        )
        projects = sorted({wheels.normalize(f.split("-")[0]) for f in self.wheels})
        listing = "".join(f'<a href="/simple/{p}/">{p}</a>\n' for p in projects)
        self._write("simple/index.html", f"<!DOCTYPE html><html><body>\n{listing}</body></html>\n")
        return data

    def _write(self, relative: str, text: str) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_suffix(".tmp")
        temp.write_text(text)
        os.replace(temp, path)

    def statuses(self, path: str) -> list[int]:
        """The statuses nginx answered for ``path``, in order (from its access log)."""
        log = self.prefix / "access.log"
        found = []
        for line in log.read_text().splitlines() if log.exists() else []:
            _, request, after = line.split('"')[:3]  # ... "GET /path HTTP/1.1" 304 ...
            if request.split(" ")[1:2] == [path]:
                found.append(int(after.split()[0]))
        return found

    def __enter__(self) -> StaticIndex:
        exe = find_nginx()
        assert exe is not None, "nginx is needed (apt-get install nginx-light)"
        (self.prefix / "tmp").mkdir(parents=True, exist_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        user = "user root root;\n" if os.geteuid() == 0 else ""
        conf = self.prefix / "nginx.conf"
        conf.write_text(CONF.format(user=user, prefix=self.prefix, port=self.port, root=self.root))
        self._proc = subprocess.Popen(
            [exe, "-p", str(self.prefix), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=1).close()
                return self
            except urllib.error.HTTPError:
                return self  # answering (403/404 for the bare root)
            except OSError:
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    raise RuntimeError("nginx did not start") from None
                time.sleep(0.05)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
