"""FileCache start-up: spool clean-up and seeding the LRU from the store."""

from __future__ import annotations

import os
from pathlib import Path

from groxpi.config import load_config
from groxpi.files import FileCache
from groxpi.storage import LocalStorage
from groxpi.upstream import UpstreamClient


def make_cache(root: Path, limit: int = 10_000) -> FileCache:
    client = UpstreamClient(load_config({}))
    return FileCache(LocalStorage(root / "files"), client, root / "spool", limit)


async def test_start_removes_spools_of_dead_processes_only(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    dead = spool / "999999999"
    live = spool / str(os.getppid())
    for directory in (dead, live):
        directory.mkdir(parents=True)
        (directory / "x.part").write_bytes(b"partial")
    (spool / "stray.part").write_bytes(b"partial")
    cache = make_cache(tmp_path)
    await cache.start()
    assert not dead.exists() and not (spool / "stray.part").exists()
    assert (live / "x.part").exists()  # another running worker's download
    assert cache.spool.is_dir() and cache.spool.name == str(os.getpid())
    await cache.close(timeout=1)
    assert not cache.spool.exists()


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
