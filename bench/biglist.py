"""A second fake upstream whose ``/simple/`` is a huge PEP 503 HTML project list.

Run as ``python -m bench.biglist PORT PROJECTS``. The page (about 57 bytes a
project: 750,000 projects make some 40 MB, the size of PyPI's own list) is built
once at start, with a gzip copy for clients that accept it, as PyPI sends it.
It answers HTML whatever the ``Accept``, so the server under test must parse
HTML. It runs in its own process so that sending 40 MB takes no CPU time or
GIL from the benchmark's ``/health`` poller. Project pages are 404s: only the
list is under test.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import sys
import urllib.request
from pathlib import Path

from aiohttp import web

from bench.ceiling_app import serve_until_stopped
from bench.servers.base import ManagedProcess, wait_http
from bench.servers.proxpi import clean_environ
from tests.support.server import REPO_ROOT, free_port
from tests.support.simple_pages import html_page


def project_names(count: int) -> list[str]:
    return [f"project-{i}" for i in range(count)]


def list_page(count: int) -> bytes:
    """``/simple/`` as PEP 503 HTML listing ``count`` projects."""
    links = "".join(f'    <a href="/simple/{n}/">{n}</a>\n' for n in project_names(count))
    return html_page("Simple index", {"pypi:repository-version": "1.0"}, links)


def make_app(count: int) -> web.Application:
    plain = list_page(count)
    packed = gzip.compress(plain, compresslevel=6, mtime=0)
    served = {"list": 0}

    async def simple(request: web.Request) -> web.Response:
        if request.method == "GET":
            served["list"] += 1
        headers = {"Content-Type": "text/html", "Vary": "Accept-Encoding"}
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return web.Response(body=packed, headers=headers)
        return web.Response(body=plain, headers=headers)

    async def requests(request: web.Request) -> web.Response:
        return web.json_response({**served, "projects": count, "bytes": len(plain)})

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/simple/", simple)
    app.router.add_get("/requests", requests)
    app.router.add_get("/health", health)
    return app


async def serve(count: int, port: int) -> None:
    await serve_until_stopped(make_app(count), port)


class BigListUpstream:
    """:func:`serve` in a subprocess on a free port; ready once the page is built."""

    def __init__(self, projects: int, workdir: Path) -> None:
        self.projects = projects
        self.port = free_port()
        env = {**clean_environ(), "PYTHONPATH": str(REPO_ROOT)}
        argv = [sys.executable, "-m", "bench.biglist", str(self.port), str(projects)]
        self._process = ManagedProcess(argv, env, workdir / "logs" / "biglist.log", REPO_ROOT)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def index_url(self) -> str:
        return self.base_url + "/simple/"

    def start(self) -> None:
        self._process.start()
        wait_http(self.base_url + "/health", 120, self._process, "the big-list upstream")

    def stop(self) -> None:
        self._process.stop()

    def pids(self) -> list[int]:
        pid = self._process.pid
        return [pid] if pid is not None else []

    def counters(self) -> dict[str, int]:
        """Lists served (GET) so far, the project count and the HTML size in bytes."""
        with urllib.request.urlopen(self.base_url + "/requests", timeout=10) as resp:
            return dict(json.loads(resp.read()))


def main(argv: list[str]) -> int:
    asyncio.run(serve(int(argv[1]), int(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
