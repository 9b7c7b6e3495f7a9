"""/metrics in Prometheus text format."""

from __future__ import annotations

import asyncio
import os
import re

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

import groxpi
from tests.support.fake_index import FakeIndex
from tests.web.conftest import ClientFactory, wait_idle


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
    await wait_idle(client)  # the file is stored just after its last byte is sent
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
    assert sum(v for (n, _), v in found.items() if n == "groxpi_upstream_requests_total") == 3
    assert found[("groxpi_served_bytes_total", ())] == wheel.size
    assert found[("groxpi_cache_limit_bytes", ())] == 5_000_000_000
    assert found[("groxpi_file_download_failures_total", ())] == 0
    index = (("kind", "page"), ("upstream", fake_index.index_url))
    files = (("kind", "file"), ("upstream", fake_index.files_url))
    assert found[("groxpi_upstream_requests_total", index)] == 2  # alpha, then nope
    assert found[("groxpi_upstream_requests_total", files)] == 1
    assert found[("groxpi_upstream_request_duration_seconds_count", index)] == 1  # nope: 404
    assert found[("groxpi_upstream_request_duration_seconds_count", files)] == 1
    assert found[("groxpi_cold_file_first_byte_seconds_count", ())] == 1
    route = (("route", "/simple/{project}/"),)
    assert found[("groxpi_http_request_duration_seconds_count", route)] == 3
    assert found[("groxpi_http_request_duration_seconds_bucket", (("le", "+Inf"), *route))] == 3
    assert found[("groxpi_downloads_in_progress", ())] == 0
    assert found[("groxpi_index_pages", ())] == 2  # alpha, and nope remembered as missing
    build = [labels for name, labels in found if name == "groxpi_build_info"]
    assert [dict(labels)["version"] for labels in build] == [groxpi.__version__]
    workers = {dict(labels)["worker"] for name, labels in found if name.startswith("process_")}
    assert workers == {str(os.getpid())}


async def test_access_log_only_when_switched_on(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    quiet = await make_client()
    await quiet.get("/health")
    assert not [r for r in caplog.records if r.name == "aiohttp.access"]
    loud = await make_client(GROXPI_ACCESS_LOG="true")
    await loud.get("/health")
    records = [r for r in caplog.records if r.name == "aiohttp.access"]
    health = next(vars(r) for r in records if '"GET /health HTTP/1.1" 200' in r.getMessage())
    # the fields the JSON formatter writes, on the record rather than parsed from the text
    assert (health["method"], health["path"], health["status"]) == ("GET", "/health", 200)
    assert health["remote"] == "127.0.0.1" and health["user_agent"].startswith("Python/")
    assert health["bytes"] > 0 and health["duration_ms"] >= 0
    assert re.search(r" \d+\.\dms$", health["message"])


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
