"""End to end, as an operator runs it: metrics over several workers, workers killed."""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import GroxpiFactory
from tests.support.server import GroxpiProcess

PAGE_ROUTE = {"method": "GET", "route": "/simple/{project}/", "status": "200"}


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return bytes(response.read())


def both_workers(server: GroxpiProcess, expected: set[int] | None = None) -> set[int]:
    """Ask /health over new connections until both workers (or ``expected``) have answered."""
    workers: set[int] = set()
    deadline = time.monotonic() + 30
    while len(workers) < 2 and time.monotonic() < deadline:
        workers.add(json.loads(get(f"{server.url}/health"))["worker"])
        if expected is not None and workers - expected:
            workers = set()  # a connection accepted by a worker since killed: ask again
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


def page_requests_reach(server: GroxpiProcess, total: float) -> list[float]:
    """Scrape until the page counter is ``total``; every figure seen on the way."""
    seen: list[float] = []
    deadline = time.monotonic() + 15  # a worker publishes every 5 s, and on every scrape
    while time.monotonic() < deadline:
        seen.append(value(scrape(server), "groxpi_http_requests_total", **PAGE_ROUTE))
        if seen[-1] == total:
            break
        time.sleep(0.2)
    assert seen[-1] == total, seen
    return seen


def wait_for_log(server: GroxpiProcess, pattern: str, timeout: float = 15) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if match := re.search(pattern, server.log_text()):
            return match
        time.sleep(0.05)
    raise AssertionError(f"no log line matching {pattern!r}:\n{server.log_text()}")


def test_a_killed_worker_is_replaced_and_its_counts_still_add_up(
    groxpi_server: GroxpiFactory,
) -> None:
    server = groxpi_server(GROXPI_WORKERS=2)
    assert server.proc is not None
    parent = server.proc.pid
    victim, survivor = sorted(both_workers(server))
    for _ in range(20):
        get(f"{server.url}/simple/alpha/")
    seen = page_requests_reach(server, 20)  # both workers' snapshots now hold their share

    os.kill(victim, signal.SIGKILL)
    died = wait_for_log(server, rf"ERROR \[{parent}\] groxpi.supervisor: worker {victim} .*")
    assert re.search(r"was killed by SIGKILL after [\d.]+ s; restarting it in 0.5 s", died[0])
    started = wait_for_log(
        server,
        rf"INFO \[{parent}\] groxpi.supervisor: worker (\d+) started in place of "
        rf"worker {victim}\b",
    )
    replacement = int(started[1])
    assert replacement not in (victim, survivor)
    assert both_workers(server, {survivor, replacement}) == {survivor, replacement}

    for _ in range(20):
        get(f"{server.url}/simple/alpha/")
    seen += page_requests_reach(server, 40)  # the dead worker's last snapshot still counts
    assert seen == sorted(seen)
    found = scrape(server)
    reporting = {labels["worker"] for labels, _ in found["process_resident_memory_bytes"]}
    assert reporting == {str(survivor), str(replacement)}  # the dead one's gauges are gone

    assert server.stop() == 0
    log = server.log_text()
    stopping = log.index("groxpi.supervisor: SIGTERM: stopping the workers")
    assert "restarting" not in log[stopping:] and "started in place" not in log[stopping:]
    assert "Traceback" not in log
