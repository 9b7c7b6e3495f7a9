"""Helpers for fault-injection tests: raw HTTP, tmpfs mounts, planted secrets, big files."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.fake_index import DistFile, FakeIndex
from tests.support.server import GroxpiProcess
from tests.web.conftest import client, make_client  # noqa: F401  (fixtures re-exported)

SECRET = b"TOP-SECRET-7f3a9c1e-never-served"


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def raw_request(port: int, request: bytes, timeout: float = 10.0) -> RawResponse:
    """Send ``request`` byte for byte (no client-side URL clean-up) and read the answer.

    The request must ask for ``Connection: close``; the answer is read to EOF.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            chunks.append(data)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    return RawResponse(status, headers, body)


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return bytes(out)


def raw_get(port: int, target: bytes | str, headers: dict[str, str] | None = None) -> RawResponse:
    """GET with ``target`` put verbatim on the request line."""
    if isinstance(target, str):
        target = target.encode("utf-8", "surrogateescape")
    lines = [b"GET " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    lines += [f"{k}: {v}".encode("utf-8", "surrogateescape") for k, v in (headers or {}).items()]
    return raw_request(port, b"\r\n".join(lines) + b"\r\n\r\n")


def add_blob(index: FakeIndex, project: str, size: int, version: str = "1.0") -> DistFile:
    """List a ``size``-byte file of random bytes (a fake wheel) under ``project``."""
    filename = f"{project.replace('-', '_')}-{version}-py3-none-any.whl"
    return index.add_file(project, version, filename, os.urandom(size))


def stored_files(cache: Path) -> list[Path]:
    """Committed files of a local store (the spool is not part of it)."""
    root = cache / "files"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def spool_files(cache: Path) -> list[Path]:
    """Partial downloads (in any process's spool directory)."""
    spool = cache / "spool"
    return sorted(p for p in spool.rglob("*") if p.is_file()) if spool.exists() else []


def wait_for(predicate: object, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Poll ``predicate()`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


@pytest.fixture
def secret_dir(tmp_path: Path) -> Path:
    """A directory next to the cache holding a secret file no response may ever contain."""
    for path in (tmp_path / "secret.txt", tmp_path / "cache" / "secret.txt"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(SECRET)
    return tmp_path


@contextlib.contextmanager
def mounted_tmpfs(path: Path, options: str) -> Iterator[Path]:
    """Mount a tmpfs at ``path`` (root only); skip the test where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip() or result.returncode}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def remount(path: Path, options: str) -> None:
    subprocess.run(
        ["mount", "-o", f"remount,{options}", str(path)], capture_output=True, check=True
    )


@dataclass
class Stack:
    """A fake index and a groxpi subprocess shared by one test module."""

    index: FakeIndex
    server: GroxpiProcess
    root: Path

    @property
    def cache(self) -> Path:
        return self.root / "cache"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """groxpi (local storage) against the default catalogue, with secrets planted around
    and inside its cache directory (not in the store itself)."""
    root = tmp_path_factory.mktemp("stack")
    for path in (
        root / "secret.txt",
        root / "cache" / "secret.txt",
        root / "cache" / "files" / "secret",
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(SECRET)
    with FakeIndex(root / "fake-index") as index:
        index.add_default_projects()
        server = GroxpiProcess(
            {"GROXPI_INDEX_URL": index.index_url, "GROXPI_READ_TIMEOUT": "2"}, root / "cache"
        ).start()
        try:
            yield Stack(index, server, root)
        finally:
            if server.running():
                server.stop()
            else:
                server.kill()
