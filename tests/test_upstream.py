"""UpstreamClient against small real servers: credentials, size limits, content types."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from groxpi.config import load_config
from groxpi.errors import UpstreamError
from groxpi.upstream import UpstreamClient

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]
WHEEL = b"wheel-bytes"
AUTH = "Basic " + base64.b64encode(b"user:s3cret").decode()


def private_index() -> web.Application:
    """An index that wants credentials for pages and files alike."""

    @web.middleware
    async def require_auth(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("Authorization") != AUTH:
            raise web.HTTPUnauthorized()
        response: web.StreamResponse = await handler(request)
        return response

    async def page(request: web.Request) -> web.Response:
        digest = hashlib.sha256(WHEEL).hexdigest()
        html = f'<a href="../../files/pkg-1.0-py3-none-any.whl#sha256={digest}">x</a>'
        return web.Response(text=html, content_type="text/html")

    async def wheel(request: web.Request) -> web.Response:
        return web.Response(body=WHEEL)

    app = web.Application(middlewares=[require_auth])
    app.router.add_get("/simple/pkg/", page)
    app.router.add_get("/files/pkg-1.0-py3-none-any.whl", wheel)
    return app


async def test_index_credentials_reach_files_but_not_logs(
    aiohttp_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="groxpi")
    server = await aiohttp_server(private_index())
    index = f"http://user:s3cret@127.0.0.1:{server.port}/simple/"
    config = load_config({"GROXPI_INDEX_URL": index})
    assert "s3cret" not in config.index.display_url
    async with UpstreamClient(config) as client:
        page, _ = await client.project_page(config.index.url, "pkg")
        (file,) = page.files
        assert "s3cret" not in file.url  # links never carry the index's password
        async with client.open_file(file.url) as response:
            assert await response.read() == WHEEL
    assert "s3cret" not in caplog.text
    assert f"fetching http://127.0.0.1:{server.port}/simple/pkg/" in caplog.text


async def test_oversized_page_is_refused(
    aiohttp_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def huge(request: web.Request) -> web.Response:
        return web.Response(text="<a href='x.whl'>x.whl</a>" * 1000, content_type="text/html")

    app = web.Application()
    app.router.add_get("/simple/big/", huge)
    server = await aiohttp_server(app)
    monkeypatch.setattr("groxpi.upstream.MAX_PAGE_BYTES", 1000)
    config = load_config({"GROXPI_INDEX_URL": f"http://127.0.0.1:{server.port}/simple/"})
    async with UpstreamClient(config) as client:
        with pytest.raises(UpstreamError, match="larger than 1000 bytes"):
            await client.project_page(config.index.url, "big")
