"""IndexCache over the real pipeline: bounded memory, stale pages, extra indexes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from groxpi import index as index_module
from groxpi.config import Config, load_config
from groxpi.errors import NotFound, UpstreamError
from groxpi.index import IndexCache
from groxpi.models import ProjectPage
from groxpi.pagestore import Validator
from groxpi.sources import Fetched, NamePatterns, PageSource, ProjectFilter, Refused, build_sources
from groxpi.storage import LocalStorage
from groxpi.upstream import UpstreamClient
from tests.sources.fakes import Clock, FakeSource, dist, page
from tests.support.fake_index import FakeIndex, Fault, Release


def pipeline(config: Config, client: UpstreamClient, root: Path) -> PageSource:
    return build_sources(config, client, LocalStorage(root / "files")).pages


async def test_memory_is_bounded_by_max_entries(fake_index: FakeIndex, tmp_path: Path) -> None:
    config = load_config({"GROXPI_INDEX_URL": fake_index.index_url})
    async with UpstreamClient(config) as client:
        cache = IndexCache(pipeline(config, client, tmp_path), max_entries=3)
        for name in ("alpha", "beta", "gamma", "delta"):
            await cache.project(name)
        assert len(cache) == 3
        assert cache.known_files("alpha") is None  # the least recently refreshed went first
        assert cache.known_files("delta") is not None


async def test_slow_refresh_serves_stale_and_lands_later(
    fake_index: FakeIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "STALE_GRACE", 0.1)
    config = load_config({"GROXPI_INDEX_URL": fake_index.index_url, "GROXPI_INDEX_TTL": "0.05"})
    async with UpstreamClient(config) as client:
        cache = IndexCache(pipeline(config, client, tmp_path))
        first = await cache.project("alpha")
        fake_index.add_project("alpha", [Release("2.0")])
        fake_index.set_fault("alpha", Fault.delay(0.5, times=1))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        assert await cache.project("alpha") is first  # stale, after the short grace
        assert time.monotonic() - started < 0.4
        await asyncio.sleep(0.6)  # the refresh finished in the background
        fresh = cache.known_files("alpha")
        assert fresh is not None and "alpha-2.0-py3-none-any.whl" in fresh


async def test_failing_extra_index_only_loses_its_files(
    fake_index: FakeIndex, tmp_path: Path
) -> None:
    with FakeIndex(tmp_path / "extra") as extra:
        extra.add_project("alpha", [Release("9.0")])
        config = load_config(
            {
                "GROXPI_INDEX_URL": fake_index.index_url,
                "GROXPI_EXTRA_INDEX_URLS": extra.index_url,
            }
        )
        extra.set_fault("*index*", Fault.status(500))
        async with UpstreamClient(config) as client:
            cache = IndexCache(pipeline(config, client, tmp_path))
            page = await cache.project("alpha")
            assert set(page.files) == {"alpha-1.0-py3-none-any.whl"}
            await cache.project_list()  # the list too survives the extra's failure
            fake_index.set_fault("*index*", Fault.status(500))
            cache.invalidate("beta")
            with pytest.raises(UpstreamError):
                await cache.project("beta")  # the primary failing still fails


async def test_project_only_on_a_failing_extra_index_is_an_error_not_a_404(
    fake_index: FakeIndex, tmp_path: Path
) -> None:
    with FakeIndex(tmp_path / "extra") as extra:
        extra.add_project("only-extra", [Release("1.0")])
        config = load_config(
            {
                "GROXPI_INDEX_URL": fake_index.index_url,
                "GROXPI_EXTRA_INDEX_URLS": extra.index_url,
            }
        )
        async with UpstreamClient(config) as client:
            cache = IndexCache(pipeline(config, client, tmp_path))
            extra.set_fault("*index*", Fault.status(503))
            with pytest.raises(UpstreamError):
                await cache.project("only-extra")
            assert cache.known_files("only-extra") is None  # nothing cached, no "no such project"
            extra.clear_faults()
            assert "only_extra-1.0-py3-none-any.whl" in (await cache.project("only-extra")).files


async def test_slow_failing_refresh_still_starts_the_back_off(
    fake_index: FakeIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "STALE_GRACE", 0.05)
    config = load_config(
        {
            "GROXPI_INDEX_URL": fake_index.index_url,
            "GROXPI_INDEX_TTL": "0.05",
            "GROXPI_READ_TIMEOUT": "0.3",
        }
    )
    async with UpstreamClient(config) as client:
        cache = IndexCache(pipeline(config, client, tmp_path))
        first = await cache.project("alpha")
        fake_index.set_fault("alpha", Fault.hang())
        await asyncio.sleep(0.1)
        assert await cache.project("alpha") is first  # stale after the grace
        await asyncio.sleep(0.5)  # the refresh has now timed out
        attempts = fake_index.index_requests("/simple/alpha/")
        for _ in range(5):
            assert await cache.project("alpha") is first
        assert fake_index.index_requests("/simple/alpha/") == attempts  # backing off


# -- caching alone, over an in-memory source and a hand-moved clock --------


async def test_each_page_lives_for_the_ttl_its_source_gave() -> None:
    clock = Clock(0.0)
    source = FakeSource(ttl=1800).add(page("demo", dist("demo-1.0.tar.gz")))
    cache = IndexCache(source, clock=clock)
    await cache.project("demo")
    clock.advance(1799)
    await cache.project("demo")
    assert source.asked["demo"] == 1
    clock.advance(2)
    await cache.project("demo")
    assert source.asked["demo"] == 2


async def test_fresh_answers_only_pages_in_memory_and_within_their_ttl() -> None:
    clock = Clock(0.0)
    source = FakeSource(ttl=100).add(page("demo", dist("demo-1.0.tar.gz")))
    cache = IndexCache(source, clock=clock)
    assert cache.fresh("demo") is None  # nothing fetched: the caller must refresh
    held = await cache.project("demo")
    clock.advance(99)
    assert cache.fresh("demo") == (held, 1.0)
    assert cache.seconds_left("demo") == 1.0
    assert cache.stats.hits == 1
    clock.advance(2)
    assert cache.fresh("demo") is None  # expired: refreshing is the slow path's business
    assert cache.seconds_left("demo") == 0.0 and cache.seconds_left("unknown") == 0.0
    with pytest.raises(NotFound):
        await cache.project("nope")
    assert cache.fresh("nope") is None  # a remembered 404 is not a page
    assert source.asked["demo"] == 1


async def test_unknown_project_is_remembered_for_the_negative_ttl() -> None:
    clock = Clock(0.0)
    source = FakeSource()
    cache = IndexCache(source, negative_ttl=60, clock=clock)
    for _ in range(3):
        with pytest.raises(NotFound):
            await cache.project("nope")
    assert source.asked["nope"] == 1
    assert cache.known_files("nope") == {}
    clock.advance(61)
    with pytest.raises(NotFound):
        await cache.project("nope")
    assert source.asked["nope"] == 2


async def test_refusal_is_not_remembered_as_a_missing_project() -> None:
    source = FakeSource().add(page("evil", dist("evil-1.0.tar.gz")))
    policy = ProjectFilter(source, NamePatterns(()), NamePatterns(("evil",)))
    cache = IndexCache(policy)
    with pytest.raises(Refused):
        await cache.project("evil")
    assert cache.known_files("evil") is None and source.asked["evil"] == 0


async def test_failed_refresh_serves_the_stale_page_and_backs_off() -> None:
    clock = Clock(0.0)
    source = FakeSource(ttl=5).add(page("demo", dist("demo-1.0.tar.gz")))
    cache = IndexCache(source, clock=clock)
    first = await cache.project("demo")
    source.failing = True
    clock.advance(6)
    assert await cache.project("demo") is first
    assert await cache.project("demo") is first
    assert source.asked["demo"] == 2  # one failed attempt, then back-off for min(10, TTL)
    clock.advance(5)
    assert await cache.project("demo") is first
    assert source.asked["demo"] == 3
    assert cache.stats.stale_served == 3


async def test_a_render_is_reused_only_for_the_very_page_confirmed() -> None:
    clock = Clock(0.0)
    source = FakeSource(ttl=5).add(page("demo", dist("demo-1.0.tar.gz")))
    cache = IndexCache(source, clock=clock)
    first = await cache.project("demo")
    answers = iter(
        [
            Fetched(
                source.pages["demo"],
                5,
                validators={"fake": Validator(etag='"demo-0"')},
                unchanged=True,
            ),
            Fetched(
                page("demo", dist("demo-2.0.tar.gz")),
                5,
                validators={"fake": Validator(etag='"v5"')},
                unchanged=True,
            ),
        ]
    )

    async def confirmed(name: str, validators: object = None) -> Fetched[ProjectPage]:
        return next(answers)

    source.project_page = confirmed  # type: ignore[method-assign]
    clock.advance(6)
    assert await cache.project("demo") is first  # the page it rendered, confirmed
    clock.advance(6)
    third = await cache.project("demo")  # another worker stored a newer page meanwhile
    assert third is not first and "demo-2.0.tar.gz" in third.files
