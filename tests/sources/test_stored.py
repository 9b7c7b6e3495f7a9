"""StoredPages: pages from the page store across restarts, revalidated, served stale."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from groxpi.errors import NotFound, UpstreamError
from groxpi.leases import Leases
from groxpi.models import ProjectPage
from groxpi.pagestore import PageStore, Validators
from groxpi.sources import Fetched, Merged, Refused, StoredPages
from groxpi.sources.base import RETRY_AFTER_ERROR
from groxpi.storage import LocalStorage
from tests.sources.fakes import Clock, FakeSource, dist, page


def stack(root: Path, *sources: FakeSource, offline: bool = False) -> tuple[Clock, StoredPages]:
    """A pipeline as one process builds it; a second call on ``root`` is a restart."""
    clock = Clock()
    store = PageStore(LocalStorage(root / "files"), "ns")
    return clock, StoredPages(Merged(list(sources)), store, offline=offline, clock=clock)


def upstream() -> FakeSource:
    return FakeSource("main", ttl=100).add(page("demo", dist("demo-1.0.tar.gz")))


async def test_a_restart_serves_a_fresh_stored_page_without_asking(tmp_path: Path) -> None:
    main = upstream()
    _, first = stack(tmp_path, main)
    await first.project_page("demo")
    clock, second = stack(tmp_path, main)  # a new process (or a replica) on the same store
    clock.advance(40)
    fetched = await second.project_page("demo")
    assert [f.filename for f in fetched.value.files] == ["demo-1.0.tar.gz"]
    assert fetched.ttl == 60  # what is left of the stored page's TTL
    assert main.asked["demo"] == 1


async def test_expired_page_is_revalidated_and_a_304_extends_it(tmp_path: Path) -> None:
    main = upstream()
    clock, stored = stack(tmp_path, main)
    await stored.project_page("demo")
    clock.advance(101)
    fetched = await stored.project_page("demo")
    assert fetched.unchanged and fetched.ttl == 100
    assert main.conditional["demo"] == 1 and stored.revalidated == 1
    clock.advance(50)
    await stored.project_page("demo")  # fresh again for a whole TTL from the 304
    assert main.asked["demo"] == 2
    main.add(page("demo", dist("demo-2.0.tar.gz")))  # a new ETag
    clock.advance(101)
    fetched = await stored.project_page("demo")
    assert not fetched.unchanged and fetched.value.files[0].filename == "demo-2.0.tar.gz"


async def test_merged_page_is_unchanged_only_when_every_index_confirms(tmp_path: Path) -> None:
    main, extra = upstream(), FakeSource("extra", ttl=100)
    extra.add(page("demo", dist("demo-9.0.tar.gz")))
    clock, stored = stack(tmp_path, main, extra)
    await stored.project_page("demo")
    clock.advance(101)
    assert (await stored.project_page("demo")).unchanged
    extra.add(page("demo", dist("demo-9.1.tar.gz")))
    clock.advance(101)
    fetched = await stored.project_page("demo")
    assert not fetched.unchanged
    assert [f.filename for f in fetched.value.files] == ["demo-1.0.tar.gz", "demo-9.1.tar.gz"]
    assert main.asked["demo"] == 4  # its 304 left its files out: asked again in full


async def test_upstream_failure_serves_the_stored_page_stale(tmp_path: Path) -> None:
    main = upstream()
    _, first = stack(tmp_path, main)
    await first.project_page("demo")
    main.failing = True
    clock, second = stack(tmp_path, main)
    clock.advance(1000)
    fetched = await second.project_page("demo")
    assert fetched.stale and fetched.ttl == RETRY_AFTER_ERROR
    assert second.stale_served == 1 and second.last_stale_at == clock.now
    with pytest.raises(UpstreamError):
        await second.project_page("never-seen")


async def test_offline_serves_the_store_only(tmp_path: Path) -> None:
    main = upstream()
    _, online = stack(tmp_path, main)
    await online.project_page("demo")
    await online.project_list()
    clock, offline = stack(tmp_path, main, offline=True)
    clock.advance(10_000)
    assert (await offline.project_page("demo")).value.name == "demo"
    assert [p.name for p in (await offline.project_list()).value.projects] == ["demo"]
    with pytest.raises(Refused) as refused:
        await offline.project_page("other")
    assert "offline mode" in refused.value.reason and refused.value.status == 404
    assert main.asked["demo"] == 1 and main.asked["other"] == 0


async def test_a_project_gone_upstream_is_dropped_from_the_store(tmp_path: Path) -> None:
    main = upstream()
    clock, stored = stack(tmp_path, main)
    await stored.project_page("demo")
    del main.pages["demo"]
    clock.advance(101)
    with pytest.raises(NotFound):
        await stored.project_page("demo")
    main.failing = True
    with pytest.raises(UpstreamError):  # nothing stale left to serve
        await stored.project_page("demo")


async def test_a_page_missing_a_failed_index_is_not_stored(tmp_path: Path) -> None:
    main, extra = upstream(), FakeSource("extra")
    extra.failing = True
    clock, stored = stack(tmp_path, main, extra)
    assert not (await stored.project_page("demo")).complete
    extra.failing = False
    clock.advance(11)
    await stored.project_page("demo")
    assert main.asked["demo"] == 2  # nothing was stored to serve in between


async def test_with_leases_a_waiter_reads_what_the_holder_stored(tmp_path: Path) -> None:
    main = upstream()
    gate = asyncio.Event()
    real = main.project_page

    async def slow_page(name: str, validators: Validators | None = None) -> Fetched[ProjectPage]:
        await gate.wait()
        return await real(name, validators)

    main.project_page = slow_page  # type: ignore[method-assign]
    store = PageStore(LocalStorage(tmp_path / "files"), "ns")
    leases_a, leases_b = Leases(tmp_path / "leases"), Leases(tmp_path / "leases")
    worker_a = StoredPages(Merged([main]), store, leases=leases_a)
    worker_b = StoredPages(Merged([main]), store, leases=leases_b)  # another process, in effect
    first = asyncio.create_task(worker_a.project_page("demo"))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(worker_b.project_page("demo"))
    await asyncio.sleep(0.05)
    gate.set()
    assert (await first).value == (await second).value
    assert main.asked["demo"] == 1 and leases_b.waits == 1


async def test_a_waiter_serves_stale_at_once_when_the_holders_refresh_failed(
    tmp_path: Path,
) -> None:
    main = upstream()
    store = PageStore(LocalStorage(tmp_path / "files"), "ns")
    clock = Clock()
    await StoredPages(Merged([main]), store, clock=clock).project_page("demo")
    clock.advance(101)
    main.failing = True
    leases_a, leases_b = Leases(tmp_path / "leases"), Leases(tmp_path / "leases")
    worker_a = StoredPages(Merged([main]), store, leases=leases_a, clock=clock)
    worker_b = StoredPages(Merged([main]), store, leases=leases_b, clock=clock)
    async with leases_a.hold("demo", wait=1):  # worker A refreshing (and about to fail)
        waiting = asyncio.create_task(worker_b.project_page("demo"))
        await asyncio.sleep(0.05)
    assert (await waiting).stale
    assert main.asked["demo"] == 1  # B did not repeat A's failed upstream request
    assert (await worker_a.project_page("demo")).stale
