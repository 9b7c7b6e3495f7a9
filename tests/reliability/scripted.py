"""A scripted upstream for fault tests that need exact timing or exact bytes.

Like the fake index it is a real aiohttp server on 127.0.0.1 running on its own
event loop in a thread. Tests publish files with a *plan*: how many bytes to
send, then wait for the test's go-ahead, then finish, cut the connection or
send corrupt bytes; with or without a Content-Length (chunked). Any path can
also be given an arbitrary raw answer (for random upstream documents), and a
:class:`TcpGate` in front of any port can refuse connections and accept again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import json
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "text/html"
Ending = Literal["finish", "cut", "corrupt", "short"]


@dataclass
class FilePlan:
    """How one file is served: ``first`` bytes, then (after ``go``) the ``ending``."""

    data: bytes
    chunked: bool = False
    first: int | None = None
    ending: Ending = "finish"
    go: threading.Event = field(default_factory=threading.Event)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


class ScriptedUpstream:
    def __init__(self, mode: Literal["json", "html"] = "json") -> None:
        self.mode = mode
        self.files: dict[str, dict[str, FilePlan]] = {}
        self.raw: dict[str, tuple[int, str, bytes]] = {}
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> ScriptedUpstream:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        for plans in self.files.values():
            for plan in plans.values():
                plan.go.set()
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> ScriptedUpstream:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def index_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple/"

    # -- catalogue ---------------------------------------------------------

    def publish(self, project: str, filename: str, plan: FilePlan) -> FilePlan:
        with self._lock:
            self.files.setdefault(project, {})[filename] = plan
        return plan

    def set_raw(self, path: str, body: bytes, content_type: str, status: int = 200) -> None:
        """Answer ``path`` with exactly ``body`` (used for random upstream documents)."""
        with self._lock:
            self.raw[path] = (status, content_type, body)

    def requests(self, path: str) -> int:
        with self._lock:
            return self.counts[path]

    # -- server ------------------------------------------------------------

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_get("/simple/{project}/", self._page)
        app.router.add_get("/files/{project}/{filename}", self._file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _shutdown(self) -> None:
        assert self._stopping is not None and self._runner is not None
        self._stopping.set()
        await self._runner.cleanup()

    async def _page(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            self.counts[request.path] += 1
            raw = self.raw.get(request.path)
            plans = dict(self.files.get(request.match_info["project"], {}))
        if raw is not None:
            status, content_type, body = raw
            return web.Response(status=status, body=body, headers={"Content-Type": content_type})
        project = request.match_info["project"]
        if not plans:
            raise web.HTTPNotFound()
        base = f"http://127.0.0.1:{self.port}/files/{project}/"
        if self.mode == "json":
            doc = {
                "meta": {"api-version": "1.1"},
                "name": project,
                "files": [
                    {
                        "filename": name,
                        "url": base + name,
                        "hashes": {"sha256": plan.sha256},
                        "size": len(plan.data),
                    }
                    for name, plan in plans.items()
                ],
            }
            return web.Response(body=json.dumps(doc).encode(), content_type=JSON_TYPE)
        anchors = "".join(
            f'<a href="{html.escape(base + name)}#sha256={plan.sha256}">{html.escape(name)}</a>\n'
            for name, plan in plans.items()
        )
        body = f"<!DOCTYPE html><html><body>\n{anchors}</body></html>\n"
        return web.Response(text=body, content_type=HTML_TYPE)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        project, filename = request.match_info["project"], request.match_info["filename"]
        with self._lock:
            self.counts[request.path] += 1
            plan = self.files.get(project, {}).get(filename)
        if plan is None:
            raise web.HTTPNotFound()
        data = plan.data
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        if plan.chunked:
            response.enable_chunked_encoding()
        else:
            response.content_length = len(data)
        await response.prepare(request)
        first = len(data) if plan.first is None else plan.first
        await response.write(data[:first])
        if plan.first is not None:
            await asyncio.to_thread(plan.go.wait, 30)
        rest = data[first:]
        if plan.ending == "cut":
            await response.write(rest[: len(rest) // 2])
            assert request.transport is not None
            request.transport.close()
            return response
        if plan.ending == "corrupt":
            rest = rest[:-1] + bytes([rest[-1] ^ 0xFF]) if rest else rest
        elif plan.ending == "short":  # ends cleanly, but early (only detectable by hash)
            rest = rest[: len(rest) // 2]
        await response.write(rest)
        await response.write_eof()
        return response


class TcpGate:
    """A TCP forwarder on a fixed port that can be closed (connection refused) and reopened."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = _free_port()
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def open(self) -> TcpGate:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        self._thread = threading.Thread(target=self._accept, args=(server,), daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop listening and drop every forwarded connection: new connects are refused."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()

    def url(self, path: str = "/simple/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self, server: socket.socket) -> None:
        server.settimeout(0.05)
        while self._server is server:
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
