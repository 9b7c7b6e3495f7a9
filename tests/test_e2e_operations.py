"""End to end, as an operator runs it: metrics over several workers."""

from __future__ import annotations

import json
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import GroxpiFactory
from tests.support.server import GroxpiProcess

PAGE_ROUTE = {"method": "GET", "route": "/simple/{project}/", "status": "200"}


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return bytes(response.read())


def both_workers(server: GroxpiProcess) -> set[int]:
    """Ask /health over new connections until both workers have answered."""
    workers: set[int] = set()
    deadline = time.monotonic() + 30
    while len(workers) < 2 and time.monotonic() < deadline:
        workers.add(json.loads(get(f"{server.url}/health"))["worker"])
    assert len(workers) == 2
    return workers


def scrape(server: GroxpiProcess) -> dict[str, list[tuple[dict[str, str], float]]]:
    text = get(f"{server.url}/metrics").decode()
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def value(found: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for have, v in found.get(name, []) if have.items() >= labels.items())


def test_metrics_add_up_over_two_workers_and_never_go_back(groxpi_server: GroxpiFactory) -> None:
    server = groxpi_server(GROXPI_WORKERS=2)
    workers = both_workers(server)
    for _ in range(40):  # a new connection each: the kernel spreads them over both workers
        get(f"{server.url}/simple/alpha/")
    seen: list[float] = []
    deadline = time.monotonic() + 15  # a worker publishes every 5 s, and on every scrape
    while time.monotonic() < deadline:
        found = scrape(server)
        seen.append(value(found, "groxpi_http_requests_total", **PAGE_ROUTE))
        if seen[-1] == 40:
            break
        time.sleep(0.2)
    assert seen[-1] == 40, seen
    assert seen == sorted(seen)  # whichever worker answered, the counter never went back
    assert (
        value(found, "groxpi_http_request_duration_seconds_count", route=PAGE_ROUTE["route"]) == 40
    )
    reporting = {labels["worker"] for labels, _ in found["process_resident_memory_bytes"]}
    assert reporting == {str(pid) for pid in workers}
    assert value(found, "groxpi_build_info") == 1
    assert value(found, "groxpi_index_pages") >= 1
