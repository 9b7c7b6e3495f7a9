"""IndexCache: bounded memory, slow refreshes behind a stale page, extra indexes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from groxpi import index as index_module
from groxpi.config import load_config
from groxpi.errors import UpstreamError
from groxpi.index import IndexCache
from groxpi.upstream import UpstreamClient
from tests.support.fake_index import FakeIndex, Fault, Release


async def test_memory_is_bounded_by_max_entries(fake_index: FakeIndex) -> None:
    config = load_config({"GROXPI_INDEX_URL": fake_index.index_url})
    async with UpstreamClient(config) as client:
        cache = IndexCache(client, config.upstreams, max_entries=3)
        for name in ("alpha", "beta", "gamma", "delta"):
            await cache.project(name)
        assert len(cache) == 3
        assert cache.peek("alpha") is None  # the least recently refreshed went first
        assert cache.peek("delta") is not None


async def test_slow_refresh_serves_stale_and_lands_later(
    fake_index: FakeIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "STALE_GRACE", 0.1)
    config = load_config({"GROXPI_INDEX_URL": fake_index.index_url, "GROXPI_INDEX_TTL": "0.05"})
    async with UpstreamClient(config) as client:
        cache = IndexCache(client, config.upstreams)
        first = await cache.project("alpha")
        fake_index.add_project("alpha", [Release("2.0")])
        fake_index.set_fault("alpha", Fault.delay(0.5, times=1))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        assert await cache.project("alpha") is first  # stale, after the short grace
        assert time.monotonic() - started < 0.4
        await asyncio.sleep(0.6)  # the refresh finished in the background
        fresh = cache.peek("alpha")
        assert fresh is not None and "alpha-2.0-py3-none-any.whl" in fresh.files


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
            cache = IndexCache(client, config.upstreams)
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
            cache = IndexCache(client, config.upstreams)
            extra.set_fault("*index*", Fault.status(503))
            with pytest.raises(UpstreamError):
                await cache.project("only-extra")
            assert cache.peek("only-extra") is None  # nothing cached, no "no such project"
            extra.clear_faults()
            assert "only_extra-1.0-py3-none-any.whl" in (await cache.project("only-extra")).files


async def test_slow_failing_refresh_still_starts_the_back_off(
    fake_index: FakeIndex, monkeypatch: pytest.MonkeyPatch
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
        cache = IndexCache(client, config.upstreams)
        first = await cache.project("alpha")
        fake_index.set_fault("alpha", Fault.hang())
        await asyncio.sleep(0.1)
        assert await cache.project("alpha") is first  # stale after the grace
        await asyncio.sleep(0.5)  # the refresh has now timed out
        attempts = fake_index.index_requests("/simple/alpha/")
        for _ in range(5):
            assert await cache.project("alpha") is first
        assert fake_index.index_requests("/simple/alpha/") == attempts  # backing off
