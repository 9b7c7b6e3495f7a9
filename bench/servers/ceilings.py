"""The two ceilings, both replaying groxpi's own bytes: bare aiohttp and nginx.

:func:`capture` copies what groxpi answers (every page in JSON and HTML, with
and without gzip, plus the cached big file) into a directory both serve from.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from bench.servers.base import ManagedProcess, Server, wait_http
from bench.servers.proxpi import clean_environ
from bench.tools import find_nginx

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "text/html"
REPO_ROOT = Path(__file__).resolve().parents[2]


def capture(
    groxpi_root: str, projects: list[str], files: list[tuple[str, str]], dest: Path
) -> None:
    """Fetch ``projects``' pages and the ``(project, filename)`` files from groxpi."""
    entries = []
    for project in projects:
        folder = dest / "simple" / project
        folder.mkdir(parents=True, exist_ok=True)
        for fmt, accept in (("json", JSON_TYPE), ("html", HTML_TYPE)):
            for gz in (False, True):
                headers = {"Accept": accept, "Accept-Encoding": "gzip" if gz else "identity"}
                request = urllib.request.Request(f"{groxpi_root}{project}/", headers=headers)
                with urllib.request.urlopen(request, timeout=60) as resp:
                    body = resp.read()
                    if gz and resp.headers.get("Content-Encoding") != "gzip":
                        raise RuntimeError(f"groxpi sent no gzip for {project} {fmt}")
                    name = f"index.{fmt}" + (".gz" if gz else "")
                    (folder / name).write_bytes(body)
                    entries.append(
                        {
                            "project": project,
                            "format": fmt,
                            "gzip": gz,
                            "path": f"simple/{project}/{name}",
                            "content_type": resp.headers.get("Content-Type", accept),
                            "etag": resp.headers.get("ETag", ""),
                        }
                    )
    for project, filename in files:
        folder = dest / "simple" / project
        folder.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(f"{groxpi_root}{project}/{filename}", timeout=120) as resp:
            (folder / filename).write_bytes(resp.read())
    (dest / "meta.json").write_text(json.dumps({"pages": entries}, indent=1))


class BareAiohttpServer(Server):
    """:mod:`bench.ceiling_app` in its own process (one process, like groxpi's default)."""

    kind = "ceiling"

    def __init__(self, name: str, root: Path, workdir: Path) -> None:
        super().__init__()
        self.name = name
        import aiohttp
        import uvloop

        uvloop_version = getattr(uvloop, "__version__", "?")
        self.version = f"aiohttp {aiohttp.__version__} + uvloop {uvloop_version}, 1 process"
        env = {**clean_environ(), "PYTHONPATH": str(REPO_ROOT)}
        argv = [sys.executable, "-m", "bench.ceiling_app", str(root), str(self.port)]
        self._process = ManagedProcess(argv, env, workdir / "logs" / f"{name}.log", REPO_ROOT)

    def start(self) -> None:
        self._process.start()
        wait_http(self.base_url + "/health", 30, self._process, self.name)

    def stop(self) -> None:
        self._process.stop()

    def pids(self) -> list[int]:
        pid = self._process.pid
        return [pid] if pid is not None else []


NGINX_CONF = """\
{user}worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 100000000;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    types {{
        application/vnd.pypi.simple.v1+json json;
        text/html html;
    }}
    default_type application/octet-stream;
    map $http_accept $simple_format {{
        default html;
        "~application/vnd\\.pypi\\.simple\\.v1\\+json" json;
    }}
    server {{
        listen 127.0.0.1:{port};
        root {root};
        gzip_static on;
        location = /health {{ return 200 "ok"; }}
        location ~ ^/simple/(?<project>[^/]+)/$ {{
            add_header Vary "Accept, Accept-Encoding";
            try_files /simple/$project/index.$simple_format =404;
        }}
        location /simple/ {{ }}
    }}
}}
"""


class NginxServer(Server):
    """nginx (one worker process) serving the captured files, ``gzip_static on``."""

    kind = "ceiling"

    def __init__(self, name: str, root: Path, workdir: Path) -> None:
        super().__init__()
        self.name = name
        exe = find_nginx()
        if exe is None:
            raise FileNotFoundError("nginx")
        prefix = workdir / "nginx"
        (prefix / "tmp").mkdir(parents=True, exist_ok=True)
        user = "user root root;\n" if os.geteuid() == 0 else ""
        conf = prefix / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(user=user, prefix=prefix, port=self.port, root=root.resolve())
        )
        argv = [exe, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
        probe = subprocess.run([exe, "-v"], capture_output=True, text=True, timeout=10)
        found = (probe.stderr or probe.stdout).strip().rpartition(":")[2].strip()
        self.version = f"{found or 'nginx'}, 1 worker, gzip_static"
        self._process = ManagedProcess(argv, clean_environ(), workdir / "logs" / f"{name}.log")

    def start(self) -> None:
        self._process.start()
        wait_http(self.base_url + "/health", 15, self._process, self.name)

    def stop(self) -> None:
        self._process.stop()

    def pids(self) -> list[int]:
        pid = self._process.pid
        return [pid] if pid is not None else []
