"""A client reading at a trickle stalls neither other clients nor the download.

tests/web/test_files.py shows a client hanging up mid-transfer does not cancel
the download; here one client keeps its connection open and reads a byte at a
time while others fetch the same (cold, then cached) file at full speed.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
import urllib.request
from pathlib import Path

import psutil

from tests.conftest import GroxpiFactory
from tests.reliability.conftest import add_blob, stored_files, wait_for
from tests.support.fake_index import FakeIndex

SIZE = 24 * 1024 * 1024


class Trickle(threading.Thread):
    """Requests ``path`` with a tiny receive buffer and reads one byte every 50 ms."""

    def __init__(self, port: int, path: str) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        self.received = 0
        self.headers = b""
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set() and not self.headers.endswith(b"\r\n\r\n"):
            self.headers += self.sock.recv(1)
        while not self.stop.wait(0.05):
            if not self.sock.recv(1):
                return
            self.received += 1

    def close(self) -> None:
        self.stop.set()
        self.join(5)
        self.sock.close()


def fetch(url: str) -> tuple[bytes, float]:
    started = time.monotonic()
    with urllib.request.urlopen(url, timeout=30) as response:
        body = response.read()
    return body, time.monotonic() - started


def test_slow_reader_does_not_stall_others_or_the_download(
    fake_index: FakeIndex, groxpi_server: GroxpiFactory, tmp_path: Path
) -> None:
    blob = add_blob(fake_index, "hugepkg", SIZE)
    cache = tmp_path / "cache"
    server = groxpi_server(GROXPI_CACHE_DIR=cache, GROXPI_DOWNLOAD_TIMEOUT=0)
    assert server.proc is not None
    rss_before = psutil.Process(server.proc.pid).memory_info().rss
    path = f"/simple/hugepkg/{blob.filename}"

    slow = Trickle(server.port, path)  # the slow client starts the (cold) download
    slow.start()
    try:
        wait_for(lambda: b"200 OK" in slow.headers, timeout=10)
        body, elapsed = fetch(server.url + path)  # joins the running download
        assert hashlib.sha256(body).hexdigest() == blob.sha256
        assert elapsed < 10
        wait_for(lambda: [p.name for p in stored_files(cache)] == [blob.filename + ".dist"])
        assert fake_index.file_requests(blob.filename) == 1
        cached, elapsed = fetch(server.url + path)  # from the cache, while the trickle goes on
        assert cached == body and elapsed < 5
        rss_growth = psutil.Process(server.proc.pid).memory_info().rss - rss_before
        # The slow client's unsent bytes stay in the spool file, not in memory.
        assert rss_growth < SIZE / 2, f"RSS grew {rss_growth / 2**20:.1f} MiB"
        assert slow.is_alive() and slow.received < SIZE // 100
    finally:
        slow.close()
    with urllib.request.urlopen(server.url + "/health", timeout=5) as response:
        assert response.status == 200
