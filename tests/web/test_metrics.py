"""/metrics in Prometheus text format."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.support.fake_index import FakeIndex
from tests.web.conftest import ClientFactory


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_count_requests_caches_and_bytes(
    client: TestClient, fake_index: FakeIndex
) -> None:
    wheel = fake_index.file("alpha-1.0-py3-none-any.whl")
    await client.get("/simple/alpha/")
    await client.get("/simple/alpha/")
    await client.get("/simple/nope/")
    await (await client.get(f"/simple/alpha/{wheel.filename}")).read()
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    found = samples(await response.text())
    page = (("method", "GET"), ("route", "/simple/{project}/"), ("status", "200"))
    missing = (("method", "GET"), ("route", "/simple/{project}/"), ("status", "404"))
    assert found[("groxpi_http_requests_total", page)] == 2
    assert found[("groxpi_http_requests_total", missing)] == 1
    hit = (("cache", "index"), ("result", "hit"))
    assert found[("groxpi_cache_lookups_total", hit)] == 2  # second page + the file lookup
    assert found[("groxpi_cache_lookups_total", (("cache", "file"), ("result", "miss")))] == 1
    assert found[("groxpi_upstream_fetches_total", ())] == 3
    assert found[("groxpi_bytes_served_total", ())] == wheel.size
    assert found[("groxpi_cache_limit_bytes", ())] == 5_000_000_000
    assert found[("groxpi_file_download_failures_total", ())] == 0


async def test_access_log_only_when_switched_on(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    quiet = await make_client()
    await quiet.get("/health")
    assert not [r for r in caplog.records if r.name == "aiohttp.access"]
    loud = await make_client(GROXPI_ACCESS_LOG="true")
    await loud.get("/health")
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert any('"GET /health HTTP/1.1" 200' in line for line in lines)


async def test_unparsable_request_does_not_crash_the_counter(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(b"GET /simple/ HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    assert b" 400 " in status_line
    await asyncio.sleep(0.05)
    # aiohttp itself logs the parse error; the request counter must not crash on it
    assert "Unhandled exception" not in caplog.text and "Error in logging" not in caplog.text
