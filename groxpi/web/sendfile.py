"""Cached files sent with ``os.sendfile()`` on the connection's own socket, under uvloop.

uvloop has no ``loop.sendfile()``, so aiohttp's ``FileResponse`` would read and
write every byte through Python. ``SendfileResponse`` keeps all of its HTTP
logic (Range, 206/416, HEAD, conditional requests) and replaces only the body
transfer: once the headers have left the transport, the kernel moves the file
to the socket without it passing through Python.

``sendfile()`` reads the file synchronously: pages missing from the page cache
come from disk within the call. So each call runs in a worker thread, never on
the event loop, and a cold file on a slow disk stalls only its own transfer.
Only a small piece that a non-blocking read (``RWF_NOWAIT``) finds all in the
page cache is sent on the loop: a thread's hand-off costs more than that read.
The socket is non-blocking: a call on a full socket returns at once, so a
thread is held only while bytes move, never while a slow client reads.

The calls use ``dup()``s of the socket's and the file's fds, owned by the
transfer: they outlive the transport closing its fd and ``FileResponse``
closing the file, and are closed only once no call is running on them, so
``sendfile()`` never reads or writes a reused fd. uvloop refuses
``add_writer()`` on a transport's fd, so writability is watched on the socket's
dup too: epoll keys on (fd number, open file), and uvloop takes the dup out of
epoll itself when the writer is removed.

A ``Cache-Control`` given for the file goes out only with the file (200, 206)
or a 304 for it, never on an error answer ``FileResponse`` makes with the same
headers (404 or 403 for a file gone, 416, 412): a cache in front must not keep
those.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any, NoReturn

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.helpers import DEFAULT_CHUNK_SIZE
from aiohttp.typedefs import LooseHeaders, PathLike
from aiohttp.web_fileresponse import NOSENDFILE

log = logging.getLogger(__name__)

# The most one sendfile() call queues: how long it may hold a worker thread.
PIECE = 4 * 1024 * 1024
# Worker threads for sendfile() calls, per process. A call holds one only while
# bytes move (a full socket returns at once), so this bounds how many cold
# files are read from disk at once; warm transfers queue behind those at worst,
# the event loop never does.
THREADS = 16
# Pieces up to this size are sent on the loop when a non-blocking read finds
# them all in the page cache: the read's copy costs less than a thread's
# hand-off, which would add about a quarter to the CPU time of a small file.
RESIDENT_CHECK = 128 * 1024
_scratch = memoryview(bytearray(RESIDENT_CHECK))  # what is read there is dropped
_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None)
# A first call failing so means this file and socket cannot do zero copy at all.
_UNSUPPORTED = frozenset({errno.ENOTSUP, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS})
# The answers that are about the file itself, so may carry its Cache-Control.
_FILE_STATUSES = frozenset({200, 206, 304})


@dataclass
class SendfileStats:
    """Which way bodies went out: lets tests and diagnostics see the path taken."""

    zero_copy: int = 0  # bodies sent (or begun) with os.sendfile()
    fallback: int = 0  # bodies copied through Python instead
    socket_full: int = 0  # times the socket's buffer was full and the transfer waited


STATS = SendfileStats()

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _threads() -> ThreadPoolExecutor:
    """The process's sendfile() threads, made on first use (so after any fork)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(THREADS, thread_name_prefix="groxpi-sendfile")
        return _pool


class SendfileResponse(web.FileResponse):
    """A ``FileResponse`` whose body goes out by zero copy where the connection allows.

    ``on_sent`` is told how many body bytes were handed to the kernel (or, on
    the copying fallback, to the transport), also for a transfer cut short.
    """

    def __init__(
        self,
        path: PathLike,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        headers: LooseHeaders | None = None,
        on_sent: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(path, chunk_size=chunk_size, headers=headers)
        self._on_sent = on_sent

    async def _prepare_headers(self) -> None:
        # Every answer FileResponse makes, error or not, has its headers made here.
        if self.status not in _FILE_STATUSES:
            self.headers.popall(hdrs.CACHE_CONTROL, None)
        await super()._prepare_headers()

    async def _sendfile(
        self, request: web.BaseRequest, fobj: IO[Any], offset: int, count: int
    ) -> AbstractStreamWriter:
        writer = await web.StreamResponse.prepare(self, request)
        assert writer is not None
        transport = request.transport
        if transport is None:
            raise ConnectionResetError("Connection lost")
        sock_fd = _plain_socket_fd(transport)
        if NOSENDFILE or self.compression or sock_fd is None:
            return await self._copy(writer, fobj, offset, count)
        await writer.drain()
        sent = await self._zero_copy(request, transport, sock_fd, fobj.fileno(), offset, count)
        if sent is None:
            return await self._copy(writer, fobj, offset, count)
        writer.output_size += sent
        await super().write_eof()
        return writer

    async def _copy(
        self, writer: AbstractStreamWriter, fobj: IO[Any], offset: int, count: int
    ) -> AbstractStreamWriter:
        STATS.fallback += 1
        return await self._sendfile_fallback(writer, fobj, offset, count)

    async def _sendfile_fallback(
        self, writer: AbstractStreamWriter, fobj: IO[Any], offset: int, count: int
    ) -> AbstractStreamWriter:
        before = writer.output_size  # headers are already counted in it
        try:
            return await super()._sendfile_fallback(writer, fobj, offset, count)
        finally:
            self._note_sent(writer.output_size - before)

    def _note_sent(self, size: int) -> None:
        if size and self._on_sent is not None:
            self._on_sent(size)

    async def _zero_copy(
        self,
        request: web.BaseRequest,
        transport: asyncio.Transport,
        sock_fd: int,
        file_fd: int,
        offset: int,
        count: int,
    ) -> int | None:
        """Send ``count`` bytes from ``offset``; None if zero copy failed before any byte.

        A client that hangs up ends it with ``ConnectionResetError`` (which
        aiohttp takes quietly), as does a file error once headers are out: then
        the connection is closed so the client never sees a complete-looking file.
        """
        try:
            fds = _Duplicates(sock_fd, file_fd)
        except OSError:  # out of fds: copying needs none
            return None
        waited = paused = False
        sent = 0
        try:
            while True:
                if transport.is_closing():
                    raise ConnectionResetError("Connection lost")
                # The headers, or an earlier pipelined response, must be out first.
                full = transport.get_write_buffer_size() > 0
                if not full:
                    piece = min(count - sent, PIECE)
                    try:
                        done = await fds.send(offset + sent, piece)
                    except OSError as exc:
                        if sent == 0 and exc.errno in _UNSUPPORTED:
                            return None
                        _abort(request, transport, exc)
                    sent += done
                    if sent == count:
                        break
                    full = done < piece
                    if full:
                        STATS.socket_full += 1
                if full:
                    if not waited:
                        waited, paused = True, _pause_reading(transport)
                    await _writable(fds.sock)
            return sent
        finally:
            if sent:
                STATS.zero_copy += 1
            fds.close()
            if paused and not transport.is_closing():
                transport.resume_reading()
            self._note_sent(sent)


class _Duplicates:
    """The transfer's own dups of the socket's and the file's fds, for calls in threads.

    They are closed once no call is running on them: a transfer cancelled
    mid-call leaves the closing to the call's end.
    """

    def __init__(self, sock_fd: int, file_fd: int) -> None:
        self.sock = os.dup(sock_fd)
        try:
            self.file = os.dup(file_fd)
        except BaseException:
            os.close(self.sock)
            raise
        self._call: Future[int] | None = None

    async def send(self, offset: int, size: int) -> int:
        """Bytes one sendfile() call queued (0: the socket is full).

        It runs in a worker thread unless its bytes are known to be in the page cache.
        """
        if _resident(self.file, offset, size):
            return _send_piece(self.sock, self.file, offset, size)
        self._call = _threads().submit(_send_piece, self.sock, self.file, offset, size)
        return await asyncio.wrap_future(self._call)

    def close(self) -> None:
        if self._call is None:
            self._close()
        else:  # at once if the call is over or never started, else in its thread
            self._call.add_done_callback(lambda _: self._close())

    def _close(self) -> None:
        try:
            os.close(self.sock)
        finally:
            os.close(self.file)


def _resident(fd: int, offset: int, size: int) -> bool:
    """Whether a small piece of the file is all in the page cache, found without blocking."""
    if _NOWAIT is None or size > RESIDENT_CHECK:
        return False
    try:
        return os.preadv(fd, [_scratch[:size]], offset, _NOWAIT) == size
    except OSError:  # EAGAIN: not all there; or no RWF_NOWAIT on this file system
        return False


def _send_piece(out_fd: int, file_fd: int, offset: int, size: int) -> int:
    """Bytes one sendfile() call queued: 0 when the socket is full, never 0 at EOF."""
    try:
        done = os.sendfile(out_fd, file_fd, offset, size)
    except BlockingIOError:
        return 0
    if done == 0:
        raise OSError(errno.EIO, "file ended before its stated size")
    return done


def _abort(request: web.BaseRequest, transport: asyncio.Transport, exc: OSError) -> NoReturn:
    """End a transfer that cannot finish: quietly when the client left, else with a warning."""
    if not isinstance(exc, ConnectionError | TimeoutError):
        log.warning("aborted %s mid-transfer: %s", request.path, exc)
    transport.close()
    raise ConnectionResetError(str(exc)) from exc


def _plain_socket_fd(transport: asyncio.Transport) -> int | None:
    """The fd sendfile() can write to: None under TLS or without a socket."""
    if transport.get_extra_info("sslcontext") is not None:
        return None
    sock = transport.get_extra_info("socket")
    if sock is None:
        return None
    fd = sock.fileno()
    return fd if isinstance(fd, int) and fd >= 0 else None


def _pause_reading(transport: asyncio.Transport) -> bool:
    """Stop reading during the transfer (no EOF closing it early); True if we paused it."""
    try:
        if not transport.is_reading():
            return False
        transport.pause_reading()
    except (AttributeError, NotImplementedError, RuntimeError):
        return False
    return True


async def _writable(fd: int) -> None:
    """Return once the socket ``fd`` (a dup) can take more.

    The writer is watched only meanwhile: left on while a call runs in a
    thread, it would wake the loop without end as the socket is writable.
    """
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not waiter.done():
            waiter.set_result(None)

    loop.add_writer(fd, wake)
    try:
        await waiter
    finally:
        loop.remove_writer(fd)
