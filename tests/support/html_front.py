"""A front that makes a client see a server's HTML form only.

pip 22.2 and newer ask for PEP 691 JSON whenever the server offers it; to test
them over the PEP 503 HTML pages too, this real aiohttp server forwards each
request to groxpi with ``Accept: text/html`` and passes the answer back as is
(status, Content-Type, Location and body; redirects are not followed).
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

import aiohttp
from aiohttp import web

PASSED_HEADERS = ("Content-Type", "Location", "ETag")


class HtmlOnlyFront:
    """``with HtmlOnlyFront(target) as front:`` serves ``target`` at ``front.url``, HTML only."""

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.port = 0
        self.accepts: list[str] = []  # what the client asked for, before rewriting
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> HtmlOnlyFront:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def _stop(self) -> None:
        assert self._runner is not None and self._session is not None
        await self._runner.cleanup()
        await self._session.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        self.accepts.append(request.headers.get("Accept", ""))
        headers = {"Accept": "text/html", "Accept-Encoding": "identity"}
        if "Range" in request.headers:
            headers["Range"] = request.headers["Range"]
        async with self._session.request(
            request.method,
            self.target + request.path_qs,
            headers=headers,
            allow_redirects=False,
        ) as answer:
            body = await answer.read()
            passed = {k: answer.headers[k] for k in PASSED_HEADERS if k in answer.headers}
            return web.Response(status=answer.status, body=body, headers=passed)
