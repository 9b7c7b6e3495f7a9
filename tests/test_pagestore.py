"""PageStore: compact records, atomic writes, corrupt records ignored, never served."""

from __future__ import annotations

from pathlib import Path

from groxpi.pagestore import LIST_NAME, RECORD_FORMAT, PageRecord, PageStore, Validator
from groxpi.storage import LocalStorage
from tests.sources.fakes import dist, page


def record(**fields: object) -> PageRecord:
    values: dict[str, object] = {
        "format": RECORD_FORMAT,
        "fetched_at": 1.0,
        "ttl": 60.0,
        "validators": {"https://pypi.example/simple/": Validator(etag='"x"')},
        "page": page("demo", dist("demo-1.0.tar.gz", size=3)),
    }
    values.update(fields)
    return PageRecord(**values)  # type: ignore[arg-type]


async def test_a_record_round_trips_beside_the_files_not_among_them(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "files")
    store = PageStore(storage, "ns")
    await store.save("demo", record())
    assert await store.load("demo") == record()
    assert await store.load("other") is None
    assert await storage.list() == []  # never counted or evicted as a file
    (path,) = (tmp_path / "index").rglob("*.page")
    assert path.stat().st_size < 200  # compact: msgpack, field names left out


async def test_corrupt_or_torn_records_are_ignored(tmp_path: Path) -> None:
    store = PageStore(LocalStorage(tmp_path / "files"), "ns")
    await store.save("demo", record())
    (path,) = (tmp_path / "index").rglob("*.page")
    whole = path.read_bytes()
    for broken in (whole[: len(whole) // 2], b"\x00garbage", b""):
        path.write_bytes(broken)
        assert await store.load("demo") is None
    await store.save("demo", record(page=None))  # neither a page nor a list
    assert await store.load("demo") is None
    assert store.corrupt == 4


async def test_namespaces_keep_other_configurations_apart(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "files")
    await PageStore(storage, "one").save(LIST_NAME, record())
    assert await PageStore(storage, "two").load(LIST_NAME) is None
