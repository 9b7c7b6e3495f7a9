"""The Python ceiling: aiohttp + uvloop replaying groxpi's own response bytes from memory.

Run as ``python -m bench.ceiling_app ROOT PORT``. ``ROOT`` is what
:mod:`bench.servers.ceilings` captured from groxpi: ``meta.json`` and, per project,
``index.json``/``index.html`` with ``.gz`` siblings, plus any cached file. The
handler does the least a correct server must (pick format and coding from two
headers); groxpi's overhead is the gap to it.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from aiohttp import web

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
Variant = tuple[bytes, dict[str, str]]


def load(root: Path) -> dict[tuple[str, str, bool], Variant]:
    meta = json.loads((root / "meta.json").read_text())
    pages: dict[tuple[str, str, bool], Variant] = {}
    for entry in meta["pages"]:
        headers = {"Content-Type": entry["content_type"], "Vary": "Accept, Accept-Encoding"}
        if entry["etag"]:
            headers["ETag"] = entry["etag"]
        if entry["gzip"]:
            headers["Content-Encoding"] = "gzip"
        body = (root / entry["path"]).read_bytes()
        pages[(entry["project"], entry["format"], entry["gzip"])] = (body, headers)
    return pages


def make_app(root: Path) -> web.Application:
    pages = load(root)

    async def page(request: web.Request) -> web.Response:
        fmt = "json" if JSON_TYPE in request.headers.get("Accept", "") else "html"
        gz = "gzip" in request.headers.get("Accept-Encoding", "")
        found = pages.get((request.match_info["project"], fmt, gz))
        if found is None:
            raise web.HTTPNotFound()
        body, headers = found
        return web.Response(body=body, headers=headers)

    async def file(request: web.Request) -> web.FileResponse:
        path = root / "simple" / request.match_info["project"] / request.match_info["filename"]
        if not path.is_file() or path.name.startswith("index."):
            raise web.HTTPNotFound()
        return web.FileResponse(path)

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/simple/{project}/", page)
    app.router.add_get("/simple/{project}/{filename}", file)
    return app


async def serve(root: Path, port: int) -> None:
    await serve_until_stopped(make_app(root), port)


async def serve_until_stopped(app: web.Application, port: int) -> None:
    """Serve ``app`` on 127.0.0.1:``port`` until SIGTERM or SIGINT."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str]) -> int:
    import uvloop

    uvloop.run(serve(Path(argv[0]), int(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
