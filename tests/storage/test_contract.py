"""The Storage contract, run against every backend (local disk and S3 on moto)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from groxpi.storage import Storage, StoredObject

Spool = Callable[[bytes], Path]

KEY = "demo-pkg/demo_pkg-1.0+local-py3-none-any.whl"
DATA = bytes(range(256)) * 40  # 10 KiB, every byte value


async def read_all(storage: Storage, key: str, offset: int = 0, length: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in storage.read(key, offset, length)])


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_is_a_storage(storage: Storage) -> None:
    assert isinstance(storage, Storage)
    assert storage.kind in ("local", "s3")


async def test_put_then_stat(storage: Storage, spool: Spool) -> None:
    put = await storage.put(KEY, spool(DATA), sha(DATA))
    assert put == StoredObject(KEY, len(DATA), sha(DATA), put.last_used)
    stat = await storage.stat(KEY)
    assert stat is not None
    assert (stat.key, stat.size) == (KEY, len(DATA))
    assert stat.last_used > 0


async def test_stat_sha256_is_the_stored_one_or_unknown(storage: Storage, spool: Spool) -> None:
    """A store may not know the hash, but must never report a different one."""
    await storage.put(KEY, spool(DATA), sha(DATA))
    stat = await storage.stat(KEY)
    assert stat is not None
    assert stat.sha256 in (None, sha(DATA))


async def test_put_without_sha256(storage: Storage, spool: Spool) -> None:
    await storage.put(KEY, spool(DATA), None)
    stat = await storage.stat(KEY)
    assert stat is not None
    assert (stat.size, stat.sha256) == (len(DATA), None)


async def test_stat_missing_is_none(storage: Storage) -> None:
    assert await storage.stat("nothing/nothing-1.0.tar.gz") is None


async def test_put_consumes_source(storage: Storage, spool: Spool) -> None:
    source = spool(DATA)
    await storage.put(KEY, source, None)
    assert not source.exists()


async def test_put_replaces(storage: Storage, spool: Spool) -> None:
    await storage.put(KEY, spool(b"old content"), None)
    await storage.put(KEY, spool(DATA), sha(DATA))
    assert await read_all(storage, KEY) == DATA
    stat = await storage.stat(KEY)
    assert stat is not None and stat.size == len(DATA)


async def test_read_full(storage: Storage, spool: Spool) -> None:
    await storage.put(KEY, spool(DATA), None)
    assert await read_all(storage, KEY) == DATA


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        (0, None),
        (1000, None),
        (1000, 24),
        (0, 1),
        (len(DATA) - 1, None),
        (len(DATA) - 10, 100),  # runs past the end: what exists
        (0, len(DATA)),
        (5, 0),
        (len(DATA), None),  # at the end: nothing
        (len(DATA) + 100, None),  # past the end: nothing
        (len(DATA) + 100, 10),
    ],
)
async def test_read_range(storage: Storage, spool: Spool, offset: int, length: int | None) -> None:
    await storage.put(KEY, spool(DATA), None)
    end = None if length is None else offset + length
    assert await read_all(storage, KEY, offset, length) == DATA[offset:end]


async def test_read_missing_raises_file_not_found(storage: Storage) -> None:
    with pytest.raises(FileNotFoundError):
        await read_all(storage, "nothing/nothing-1.0.tar.gz")


async def test_empty_file(storage: Storage, spool: Spool) -> None:
    await storage.put(KEY, spool(b""), sha(b""))
    stat = await storage.stat(KEY)
    assert stat is not None and stat.size == 0
    assert await read_all(storage, KEY) == b""


async def test_list_with_sizes(storage: Storage, spool: Spool) -> None:
    assert await storage.list() == []
    files = {
        "alpha/alpha-1.0.tar.gz": b"a" * 10,
        "alpha/alpha-1.0-py3-none-any.whl": b"b" * 20,
        "beta/beta-2.0-py3-none-any.whl.metadata": b"c" * 5,
        KEY: DATA,
    }
    for key, data in files.items():
        await storage.put(key, spool(data), sha(data))
    listed = await storage.list()
    assert {obj.key: obj.size for obj in listed} == {k: len(v) for k, v in files.items()}
    assert len(listed) == len(files)
    assert all(obj.last_used > 0 for obj in listed)


async def test_delete(storage: Storage, spool: Spool) -> None:
    await storage.put(KEY, spool(DATA), None)
    await storage.put("other/other-1.0.tar.gz", spool(b"x"), None)
    await storage.delete(KEY)
    assert await storage.stat(KEY) is None
    assert [obj.key for obj in await storage.list()] == ["other/other-1.0.tar.gz"]
    with pytest.raises(FileNotFoundError):
        await read_all(storage, KEY)


async def test_delete_missing_is_fine(storage: Storage, spool: Spool) -> None:
    await storage.delete("nothing/nothing-1.0.tar.gz")
    await storage.put(KEY, spool(DATA), None)
    await storage.delete(KEY)
    await storage.delete(KEY)


async def test_large_file_round_trip(storage: Storage, spool: Spool) -> None:
    """12 MiB: more than one S3 part, so the multipart path is exercised."""
    data = os.urandom(12 * 1024 * 1024)
    await storage.put(KEY, spool(data), sha(data))
    stat = await storage.stat(KEY)
    assert stat is not None and stat.size == len(data)
    hasher, chunks, largest = hashlib.sha256(), 0, 0
    async for chunk in storage.read(KEY):
        hasher.update(chunk)
        chunks += 1
        largest = max(largest, len(chunk))
    assert hasher.hexdigest() == sha(data)
    assert chunks > 1 and largest <= 4 * 1024 * 1024  # streamed, not one buffer
    middle = await read_all(storage, KEY, 5 * 1024 * 1024 - 3, 4 * 1024 * 1024)
    assert middle == data[5 * 1024 * 1024 - 3 : 9 * 1024 * 1024 - 3]


async def test_abandoned_read_is_harmless(storage: Storage, spool: Spool) -> None:
    """A client hanging up mid-file must not leak anything that blocks later reads."""
    await storage.put(KEY, spool(os.urandom(2 * 1024 * 1024)), None)
    for _ in range(80):  # more than any connection pool limit
        reader = storage.read(KEY)
        assert await anext(reader)
        await reader.aclose()  # type: ignore[attr-defined]
    assert len(await read_all(storage, KEY)) == 2 * 1024 * 1024


async def test_presigned_url_off_by_default(storage: Storage, spool: Spool) -> None:
    await storage.put(KEY, spool(DATA), None)
    assert await storage.presigned_url(KEY) is None


async def test_health_ok(storage: Storage) -> None:
    assert await storage.health() == "ok"
