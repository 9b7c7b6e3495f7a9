"""Local-disk-only behaviour: layout on disk, start-up checks, directory cleanup."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from groxpi.storage import LocalStorage, StorageError
from groxpi.storage.local import SUFFIX

Spool = Callable[[bytes], Path]
KEY = "demo-pkg/demo_pkg-1.0-py3-none-any.whl"


@pytest.fixture
async def local(tmp_path: Path) -> LocalStorage:
    store = LocalStorage(tmp_path / "store")
    await store.start()
    return store


async def test_sharded_layout(local: LocalStorage, spool: Spool) -> None:
    await local.put(KEY, spool(b"wheel"), None)
    shard = hashlib.sha256(b"demo-pkg").hexdigest()[:2]
    expected = local.root / shard / "demo-pkg" / ("demo_pkg-1.0-py3-none-any.whl" + SUFFIX)
    assert local.local_path(KEY) == expected
    assert expected.read_bytes() == b"wheel"
    assert [o.key for o in await local.list()] == [KEY]


async def test_start_creates_the_directory(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "a" / "b" / "c")
    await store.start()
    assert store.root.is_dir()
    assert list(store.root.iterdir()) == []  # the write probe is gone


async def test_unwritable_directory_fails_at_start(tmp_path: Path) -> None:
    # A path below a regular file cannot be created, even by root.
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    store = LocalStorage(blocker / "cache")
    with pytest.raises(StorageError, match="not writable") as caught:
        await store.start()
    assert str(blocker) in str(caught.value)


async def test_delete_removes_empty_project_dir(local: LocalStorage, spool: Spool) -> None:
    await local.put(KEY, spool(b"one"), None)
    project_dir = local._path(KEY).parent
    await local.delete(KEY)
    assert not project_dir.exists()
    assert await local.list() == []


async def test_delete_keeps_project_dir_with_other_files(local: LocalStorage, spool: Spool) -> None:
    sibling = "demo-pkg/demo_pkg-1.0.tar.gz"
    await local.put(KEY, spool(b"one"), None)
    await local.put(sibling, spool(b"two"), None)
    await local.delete(KEY)
    assert local._path(sibling).exists()
    assert [o.key for o in await local.list()] == [sibling]


async def test_list_ignores_foreign_files(local: LocalStorage, spool: Spool) -> None:
    await local.put(KEY, spool(b"one"), None)
    project_dir = local._path(KEY).parent
    (project_dir / "stray.tmp").write_bytes(b"partial")
    (project_dir / ("demo_pkg-1.0-py3-none-any.whl" + SUFFIX + ".gz")).write_bytes(b"x")
    (local.root / "loose-file").write_bytes(b"x")
    assert [o.key for o in await local.list()] == [KEY]


async def test_failed_put_consumes_source(local: LocalStorage, spool: Spool) -> None:
    # The project directory is blocked by a regular file, so the rename fails.
    blocked = local._path(KEY).parent
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_bytes(b"")
    source = spool(b"data")
    with pytest.raises(StorageError):
        await local.put(KEY, source, None)
    assert not source.exists()
