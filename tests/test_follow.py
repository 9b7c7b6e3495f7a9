"""Following another process's download: its bytes as they come, its outcome at the end."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from groxpi.errors import UpstreamError
from groxpi.follow import note_of, open_followed, tail_until_stored
from groxpi.leases import KeyLease
from groxpi.storage import LocalStorage, StorageError, StoredObject

KEY = "demo/demo-1.0.tar.gz"


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as out:
        out.write(data)


async def follow_while(tmp_path: Path, store: bool) -> tuple[bytes, BaseException | None, bool]:
    """A holder (this test, as another process would) writes 3 chunks, then stores or not."""
    storage = LocalStorage(tmp_path / "files")
    leases = tmp_path / "leases"
    lease = KeyLease.take(leases, KEY)
    assert lease is not None
    spool = tmp_path / "spool.part"
    spool.write_bytes(b"")
    lease.write_note(note_of(spool, 9))
    followed = await open_followed(KEY, "https://files.example/x", None, lease.path)
    assert followed is not None and followed.size == 9
    tail = asyncio.create_task(tail_until_stored(followed, lease.path, storage))
    received = b""
    with followed.reader() as reader:
        chunks = reader.chunks()
        for part in (b"abc", b"def", b"ghi"):
            append(spool, part)
            await asyncio.sleep(0.05)
        if store:
            await storage.put(KEY, spool, None)
        lease.release()
        try:
            async for chunk in chunks:
                received += chunk
        except UpstreamError as exc:
            await tail
            return received, exc, followed.verified
    await tail
    return received, None, followed.verified


async def test_a_stored_download_is_followed_to_its_last_byte(tmp_path: Path) -> None:
    received, error, verified = await follow_while(tmp_path, store=True)
    assert (received, error, verified) == (b"abcdefghi", None, True)


async def test_a_failed_holder_leaves_the_follower_cut_short(tmp_path: Path) -> None:
    received, error, verified = await follow_while(tmp_path, store=False)
    assert error is not None and not verified
    assert received == b"abcdefgh"  # the last byte held back: never complete-looking


async def test_no_holder_means_nothing_to_follow(tmp_path: Path) -> None:
    path = KeyLease.path_of(tmp_path, KEY)
    assert await open_followed(KEY, "u", None, path) is None
    lease = KeyLease.take(tmp_path, KEY)
    assert lease is not None
    lease.write_note(note_of(tmp_path / "gone.part", None))  # the holder already renamed it
    assert await open_followed(KEY, "u", None, path) is None
    assert KeyLease.take(tmp_path, KEY) is None  # held
    lease.release()
    again = KeyLease.take(tmp_path, KEY)
    assert again is not None and again.path.stat().st_size == 0
    again.release()


@pytest.mark.parametrize("held", [True, False])
async def test_sweep_keeps_held_lock_files(tmp_path: Path, held: bool) -> None:
    from groxpi.leases import sweep_unheld

    lease = KeyLease.take(tmp_path, KEY)
    assert lease is not None
    if not held:
        lease.release()
    sweep_unheld(tmp_path)
    assert lease.path.exists() == held
    lease.release()


async def test_a_note_rewritten_shorter_stays_readable(tmp_path: Path) -> None:
    lease = KeyLease.take(tmp_path, KEY)
    assert lease is not None
    lease.write_note(note_of(tmp_path / ("long" * 20), 123456789))
    spool = tmp_path / "s.part"
    spool.write_bytes(b"")
    lease.write_note(note_of(spool, 1))
    followed = await open_followed(KEY, "u", None, lease.path)
    assert followed is not None and followed.path == spool and followed.size == 1
    lease.release()


class BrokenStore(LocalStorage):
    async def stat(self, key: str) -> StoredObject | None:
        raise StorageError("S3 is down")


@pytest.mark.parametrize("outcome", ["store down", "other bytes stored"])
async def test_a_follower_cuts_its_clients_unless_it_read_what_was_stored(
    tmp_path: Path, outcome: str
) -> None:
    storage = (BrokenStore if outcome == "store down" else LocalStorage)(tmp_path / "files")
    lease = KeyLease.take(tmp_path / "leases", KEY)
    assert lease is not None
    spool = tmp_path / "spool.part"
    spool.write_bytes(b"abcdefghi")
    lease.write_note(note_of(spool, 9))
    followed = await open_followed(KEY, "u", None, lease.path)
    assert followed is not None
    tail = asyncio.create_task(tail_until_stored(followed, lease.path, storage))
    if outcome == "other bytes stored":  # e.g. another replica's copy, same size
        other = tmp_path / "other.part"
        other.write_bytes(b"ABCDEFGHI")
        await storage.put(KEY, other, None)
    await asyncio.sleep(0.05)
    lease.release()
    await asyncio.wait_for(tail, 5)  # never hangs
    assert followed.error is not None and not followed.verified
