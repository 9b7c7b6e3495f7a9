"""FileCache start-up: spool clean-up and seeding the LRU from the store."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from groxpi.config import load_config
from groxpi.files import FileCache
from groxpi.spool import Spool
from groxpi.storage import LocalStorage, StoredObject
from groxpi.upstream import UpstreamClient


def make_cache(root: Path, limit: int = 10_000) -> FileCache:
    client = UpstreamClient(load_config({}))
    return FileCache(LocalStorage(root / "files"), client, root / "spool", limit)


async def test_start_removes_abandoned_spools_only(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    other = Spool(root)  # another live process's spool (same PID, as in containers)
    other.open()
    (other.path / "x.part").write_bytes(b"partial")
    abandoned = root / "abandoned"
    abandoned.mkdir()
    (abandoned / "y.part").write_bytes(b"partial")
    (root / "stray.part").write_bytes(b"partial")
    cache = make_cache(tmp_path)
    await cache.start()
    assert not abandoned.exists() and not (root / "stray.part").exists()
    assert (other.path / "x.part").exists()
    assert cache.spool.path.is_dir() and cache.spool.path != other.path
    await cache.close(timeout=1)
    assert not cache.spool.path.exists()
    assert (other.path / "x.part").exists()
    other.close()
    assert not other.path.exists()


async def test_start_seeds_lru_and_evicts_oldest_over_limit(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "files")
    await store.start()
    for age, name in enumerate(["old", "mid", "new"]):
        source = tmp_path / f"{name}.tmp"
        source.write_bytes(b"x" * 400)
        await store.put(f"proj/{name}.whl", source, None)
        path = store.local_path(f"proj/{name}.whl")
        assert path is not None
        os.utime(path, (1_000_000 + age, 1_000_000 + age))
    cache = make_cache(tmp_path, limit=1000)
    await cache.start()
    assert cache.lru.total == 800
    assert await store.stat("proj/old.whl") is None
    assert await store.stat("proj/new.whl") is not None
    assert cache.stats.evictions == 1
    await cache.close(timeout=1)


async def test_resync_keeps_a_shared_store_within_the_limit(tmp_path: Path) -> None:
    cache = make_cache(tmp_path, limit=1000)
    await cache.start()
    other = LocalStorage(tmp_path / "files")  # another worker writing to the same store
    for n in range(4):
        source = tmp_path / f"{n}.tmp"
        source.write_bytes(b"x" * 400)
        await other.put(f"proj/other-{n}.whl", source, None)
    assert cache.lru.total == 0  # this process has not seen them yet
    await cache.resync()
    stored = await other.list()
    assert sum(obj.size for obj in stored) <= 1000 and len(stored) == 2
    await cache.close(timeout=1)


async def test_files_stored_while_resync_lists_are_kept(tmp_path: Path) -> None:
    listing = asyncio.Event()
    release = asyncio.Event()

    class SlowListing(LocalStorage):
        async def list(self) -> list[StoredObject]:
            found = await super().list()
            listing.set()
            await release.wait()  # a file gets committed meanwhile
            return found

    store = SlowListing(tmp_path / "files")
    client = UpstreamClient(load_config({}))
    cache = FileCache(store, client, tmp_path / "spool", 10_000)
    release.set()
    await cache.start()
    release.clear()
    resync = asyncio.create_task(cache.resync())
    await listing.wait()
    source = tmp_path / "new.tmp"
    source.write_bytes(b"x" * 100)
    await cache._track(await store.put("proj/new.whl", source, None))
    release.set()
    await resync
    assert "proj/new.whl" in cache.lru and cache.lru.total == 100
    await cache.close(timeout=1)
