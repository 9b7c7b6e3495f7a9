"""Zero-copy file bodies on uvloop: exact bytes, ranges, pipelining, hang-ups, slow readers.

A real aiohttp server on uvloop in a thread; clients are raw blocking sockets,
so what is checked is the bytes on the wire.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import logging
import os
import socket
import ssl
import struct
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from aiohttp import web

from groxpi.web import sendfile
from groxpi.web.sendfile import STATS, SendfileResponse, SendfileStats
from tests.support.uvloop_app import UvloopApp

# Bigger than the most a loopback socket buffers (tcp_wmem max, 4 MiB), odd-sized.
SIZE = 6 * 1024 * 1024 + 12345
IMMUTABLE = "max-age=31536000, immutable"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Served:
    server: UvloopApp
    data: bytes
    sent: list[int]  # what each transfer reported as sent, once it ended

    @property
    def port(self) -> int:
        return self.server.port


def serve(
    path: Path, data: bytes, sent: list[int], ssl_context: ssl.SSLContext | None = None
) -> UvloopApp:
    async def handler(request: web.Request) -> web.StreamResponse:
        return SendfileResponse(path, chunk_size=256 * 1024, on_sent=sent.append)

    async def cached(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        return SendfileResponse(path.with_name(name), headers={"Cache-Control": IMMUTABLE})

    async def copied(request: web.Request) -> web.StreamResponse:
        # A small socket buffer leaves the tail of this body in the transport's
        # own buffer when aiohttp moves on to the next pipelined request.
        assert request.transport is not None
        sock = request.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        size = int(request.query.get("size", SIZE))
        return web.Response(body=data[:size])

    app = web.Application()
    app.router.add_get("/file", handler)
    app.router.add_get("/copied", copied)
    app.router.add_get("/cached/{name}", cached)
    return UvloopApp(app, ssl_context=ssl_context)


@pytest.fixture
def data_file(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(SIZE)
    path = tmp_path / "file.bin"
    path.write_bytes(data)
    return path, data


@pytest.fixture
def served(data_file: tuple[Path, bytes]) -> Iterator[Served]:
    path, data = data_file
    sent: list[int] = []
    with serve(path, data, sent) as server:
        yield Served(server, data, sent)


def request_bytes(
    method: str = "GET", headers: dict[str, str] | None = None, path: str = "/file"
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def connect(port: int, rcvbuf: int | None = None, timeout: float = 30) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:  # before connecting, so the window starts small
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    return sock


def read_reply(stream: BinaryIO, head: bool = False) -> Reply:
    """One HTTP/1.1 response framed by Content-Length, nothing past its last byte."""
    status = int(stream.readline().split()[1])
    headers: dict[str, str] = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    length = 0 if head else int(headers.get("content-length", "0"))
    body = stream.read(length)
    assert len(body) == length, f"short body: {len(body)} of {length}"
    return Reply(status, headers, body)


def get(
    port: int,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    path: str = "/file",
    timeout: float = 30,
) -> Reply:
    with connect(port, timeout=timeout) as sock, sock.makefile("rb") as stream:
        sock.sendall(request_bytes(method, headers, path))
        return read_reply(stream, head=method == "HEAD")


def stats_since(before: SendfileStats) -> SendfileStats:
    now = dataclasses.asdict(STATS)
    then = dataclasses.asdict(before)
    return SendfileStats(**{key: now[key] - then[key] for key in now})


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def refuse_copy(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the body was copied through Python")


def not_in_page_cache(*args: Any) -> int:
    raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))


def test_concurrent_clients_get_exact_bytes_by_zero_copy(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web.FileResponse, "_sendfile_fallback", refuse_copy)
    before = dataclasses.replace(STATS)
    with ThreadPoolExecutor(20) as pool:
        replies = list(pool.map(lambda _: get(served.port), range(20)))
    for reply in replies:
        assert reply.status == 200
        assert reply.headers["content-length"] == str(SIZE)
        assert reply.body == served.data
    eventually(lambda: len(served.sent) == 20)
    assert served.sent == [SIZE] * 20
    delta = stats_since(before)
    assert (delta.zero_copy, delta.fallback) == (20, 0)


def test_ranges_and_unsatisfiable_range(served: Served) -> None:
    data = served.data
    middle = get(served.port, {"Range": "bytes=100-199"})
    assert middle.status == 206
    assert middle.headers["content-range"] == f"bytes 100-199/{SIZE}"
    assert middle.body == data[100:200]
    suffix = get(served.port, {"Range": "bytes=-500"})
    assert suffix.status == 206
    assert suffix.headers["content-range"] == f"bytes {SIZE - 500}-{SIZE - 1}/{SIZE}"
    assert suffix.body == data[-500:]
    tail = get(served.port, {"Range": "bytes=1000-"})  # more than one sendfile() piece
    assert tail.status == 206
    assert tail.body == data[1000:]
    beyond = get(served.port, {"Range": f"bytes={SIZE}-"})
    assert beyond.status == 416
    assert beyond.headers["content-range"] == f"bytes */{SIZE}"
    eventually(lambda: len(served.sent) == 3)
    assert sorted(served.sent) == sorted([100, 500, SIZE - 1000])


def test_head_sends_headers_only(served: Served) -> None:
    with connect(served.port) as sock, sock.makefile("rb") as stream:
        # The GET right behind shows that no body byte followed the HEAD's headers.
        sock.sendall(request_bytes("HEAD") + request_bytes(headers={"Range": "bytes=0-9"}))
        head = read_reply(stream, head=True)
        assert head.status == 200
        assert head.headers["content-length"] == str(SIZE)
        ranged = read_reply(stream)
        assert (ranged.status, ranged.body) == (206, served.data[:10])


def test_pipelined_requests_get_complete_responses_in_order(served: Served) -> None:
    with connect(served.port) as sock, sock.makefile("rb") as stream:
        sock.sendall(
            request_bytes()
            + request_bytes(headers={"Range": "bytes=-7"})
            + request_bytes()
            + request_bytes(headers={"Range": "bytes=5-9", "Connection": "close"})
        )
        first, second, third, fourth = (read_reply(stream) for _ in range(4))
        assert stream.read() == b""  # closed right after the last byte, nothing extra
    assert (first.status, first.body == served.data) == (200, True)
    assert (second.status, second.body) == (206, served.data[-7:])
    assert (third.status, third.body == served.data) == (200, True)
    assert (fourth.status, fourth.body) == (206, served.data[5:10])


def test_file_waits_for_an_earlier_response_still_queued(served: Served) -> None:
    with connect(served.port, rcvbuf=4096) as sock, sock.makefile("rb") as stream:
        # Nothing is read at first: most of the small body stays queued in the
        # transport, below the mark where aiohttp would wait for it to drain.
        sock.sendall(request_bytes(path="/copied?size=50000") + request_bytes())
        time.sleep(0.3)
        small, file = read_reply(stream), read_reply(stream)
    assert small.body == served.data[:50000]
    assert file.body == served.data


def test_client_half_closing_mid_file_still_gets_it_all(served: Served) -> None:
    with connect(served.port, rcvbuf=8192) as sock, sock.makefile("rb") as stream:
        sock.sendall(request_bytes())
        stream.peek(1)
        time.sleep(0.1)  # the transfer is under way
        sock.shutdown(socket.SHUT_WR)  # no more requests: the client still reads
        reply = read_reply(stream)
    assert reply.body == served.data


def test_client_leaving_mid_file_is_quiet_and_leaks_nothing(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    assert get(served.port).body == served.data  # warm up the server's executor and the like
    eventually(lambda: len(served.sent) == 1)
    time.sleep(0.2)  # the file is closed in an executor after the response
    baseline = open_fds()
    before = dataclasses.replace(STATS)
    for reset in (False, True):  # a close with unread data, then an abortive close
        sock = connect(served.port, rcvbuf=8192)
        sock.sendall(request_bytes())
        assert sock.recv(65536)
        time.sleep(0.2)  # the server is now waiting for the socket to drain
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    eventually(lambda: len(served.sent) == 3)
    assert all(0 < size < SIZE for size in served.sent[1:])
    eventually(lambda: open_fds() == baseline)
    assert get(served.port).body == served.data  # still serving
    # The client can have every byte before the server is told its last call ended.
    eventually(lambda: len(served.sent) == 4)
    assert stats_since(before).zero_copy == 3
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert noisy == []
    assert not [r for r in caplog.records if r.exc_info]


def test_slow_reader_gets_exact_bytes_through_the_full_socket_path(served: Served) -> None:
    before = dataclasses.replace(STATS)
    received = bytearray()
    with connect(served.port, rcvbuf=4096) as sock:
        sock.sendall(request_bytes(headers={"Connection": "close"}))
        time.sleep(0.3)  # nothing read yet: every buffer on the way fills up
        pieces = 0
        while chunk := sock.recv(16384):
            received += chunk
            pieces += 1
            if pieces % 8 == 0:
                time.sleep(0.002)
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body == served.data
    delta = stats_since(before)
    assert (delta.zero_copy, delta.fallback) == (1, 0)
    assert delta.socket_full > 0


def test_copy_fallback_when_sendfile_is_unsupported(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unsupported(*args: int) -> int:
        raise OSError(errno.ENOTSUP, os.strerror(errno.ENOTSUP))

    monkeypatch.setattr(os, "sendfile", unsupported)
    before = dataclasses.replace(STATS)
    whole = get(served.port)
    assert (whole.status, whole.body == served.data) == (200, True)
    ranged = get(served.port, {"Range": "bytes=1000-"})
    assert (ranged.status, ranged.body == served.data[1000:]) == (206, True)
    delta = stats_since(before)
    assert (delta.zero_copy, delta.fallback) == (0, 2)
    eventually(lambda: len(served.sent) == 2)
    assert served.sent == [SIZE, SIZE - 1000]


def test_tls_connections_are_copied_not_sent_in_clear(
    data_file: tuple[Path, bytes], tmp_path: Path
) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    ec_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    subject = ["-subj", "/CN=127.0.0.1", "-days", "1", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        ["openssl", "req", "-x509", *ec_key, *subject],
        check=True,
        capture_output=True,
    )
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    client_ctx.check_hostname = False
    path, data = data_file
    before = dataclasses.replace(STATS)
    with (
        serve(path, data, [], server_ctx) as server,
        urllib.request.urlopen(f"{server.url}/file", context=client_ctx) as response,
    ):
        assert response.read() == data
    delta = stats_since(before)
    assert (delta.zero_copy, delta.fallback) == (0, 1)


def test_cache_control_only_on_answers_about_the_file(served: Served) -> None:
    def cache_control(status: int, headers: dict[str, str] | None = None, name: str = "") -> str:
        reply = get(served.port, headers, path=f"/cached/{name or 'file.bin'}")
        assert reply.status == status
        return reply.headers.get("cache-control", "")

    assert cache_control(200) == IMMUTABLE
    assert cache_control(206, {"Range": "bytes=0-9"}) == IMMUTABLE
    etag = get(served.port).headers["etag"]
    assert cache_control(304, {"If-None-Match": etag}) == IMMUTABLE
    # A file evicted between its lookup and the stat(), a range past its end, a
    # failed precondition: none of these may be kept by a cache in front.
    assert cache_control(404, name="evicted.bin") == ""
    assert cache_control(416, {"Range": f"bytes={SIZE}-"}) == ""
    assert cache_control(416, {"Range": "bytes=9-1"}) == ""  # malformed
    assert cache_control(412, {"If-Match": '"other"'}) == ""
    assert cache_control(200) == IMMUTABLE  # the headers given are not changed for later


def test_a_slow_disk_read_stalls_no_other_connection(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_sendfile = os.sendfile
    reading = threading.Event()
    disk_done = threading.Event()
    callers: set[str] = set()

    def cold_sendfile(out_fd: int, in_fd: int, offset: int, count: int) -> int:
        callers.add(threading.current_thread().name)
        if not reading.is_set():  # the first call reads from a disk that takes its time
            reading.set()
            disk_done.wait(10)
        return real_sendfile(out_fd, in_fd, offset, count)

    monkeypatch.setattr(os, "sendfile", cold_sendfile)
    monkeypatch.setattr(os, "preadv", not_in_page_cache)
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(get, served.port, {"Range": "bytes=0-999"})
        assert reading.wait(10)
        try:
            # Served while the first transfer still waits on the disk (for 10 s).
            other = get(served.port, path="/copied?size=1000", timeout=5)
        finally:
            disk_done.set()
        assert (other.status, other.body) == (200, served.data[:1000])
        assert slow.result().body == served.data[:1000]
    assert callers and not any(name == "uvloop-app" for name in callers)


@pytest.mark.parametrize("cached", [True, False])
def test_only_small_pieces_known_to_be_in_the_page_cache_are_sent_on_the_loop(
    served: Served, monkeypatch: pytest.MonkeyPatch, cached: bool
) -> None:
    real_sendfile = os.sendfile
    callers: list[tuple[str, int]] = []

    def recording_sendfile(out_fd: int, in_fd: int, offset: int, count: int) -> int:
        callers.append((threading.current_thread().name, count))
        return real_sendfile(out_fd, in_fd, offset, count)

    monkeypatch.setattr(os, "sendfile", recording_sendfile)
    if not cached:
        monkeypatch.setattr(os, "preadv", not_in_page_cache)
    small = sendfile.RESIDENT_CHECK
    assert get(served.port, {"Range": f"bytes=0-{small - 1}"}).body == served.data[:small]
    assert get(served.port, {"Range": f"bytes=0-{small}"}).body == served.data[: small + 1]
    on_loop = [name == "uvloop-app" for name, _ in callers]
    assert on_loop[0] is cached  # the small piece
    assert not any(on_loop[1:])  # the one a byte too big


async def test_a_transfer_cancelled_mid_call_closes_its_fds_once_the_call_ends(
    data_file: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_sendfile = os.sendfile
    started, release = threading.Event(), threading.Event()

    def blocking_sendfile(out_fd: int, in_fd: int, offset: int, count: int) -> int:
        started.set()
        release.wait(10)
        return real_sendfile(out_fd, in_fd, offset, count)

    monkeypatch.setattr(os, "sendfile", blocking_sendfile)
    monkeypatch.setattr(os, "preadv", not_in_page_cache)
    path, _ = data_file
    left, right = socket.socketpair()
    left.setblocking(False)
    with left, right, path.open("rb") as fobj:
        fds = sendfile._Duplicates(left.fileno(), fobj.fileno())
        task = asyncio.ensure_future(fds.send(0, 1000))
        assert await asyncio.to_thread(started.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        fds.close()
        # The call still runs on both dups: they must stay open, not be reused.
        os.fstat(fds.sock)
        os.fstat(fds.file)
        release.set()
        for _ in range(500):
            try:
                os.fstat(fds.sock)
            except OSError:
                break
            await asyncio.sleep(0.01)
        with pytest.raises(OSError):
            os.fstat(fds.sock)
        with pytest.raises(OSError):
            os.fstat(fds.file)
        assert right.recv(2000) == path.read_bytes()[:1000]
