"""An aiohttp app served on uvloop in a thread, for tests that talk to it with raw sockets.

groxpi runs on uvloop, whose transports behave unlike asyncio's (no
``loop.sendfile``, no ``add_writer`` on a transport's fd); this runs the real
server on the real loop on 127.0.0.1 while the test stays plain blocking code.
"""

from __future__ import annotations

import ssl
from types import TracebackType
from typing import Any

import uvloop
from aiohttp import web

from tests.support.loop_thread import LoopThread


class UvloopApp:
    """``with UvloopApp(app) as server:`` the app listening on ``server.port``."""

    def __init__(
        self,
        app: web.Application,
        ssl_context: ssl.SSLContext | None = None,
        **runner_options: Any,
    ) -> None:
        self._app = app
        self._ssl = ssl_context
        self._options = {"access_log": None, "shutdown_timeout": 1.0, **runner_options}
        self._loop: LoopThread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"{'https' if self._ssl else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> UvloopApp:
        self._loop = LoopThread("uvloop-app", uvloop.new_event_loop)
        self._loop.run(self._serve())
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.stop(self._shutdown())
            self._loop = None

    async def _serve(self) -> None:
        self._runner = web.AppRunner(self._app, **self._options)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ssl).start()
        self.port = self._runner.addresses[0][1]

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def __enter__(self) -> UvloopApp:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
