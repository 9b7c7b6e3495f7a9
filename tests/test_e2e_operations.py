"""End to end, as an operator runs it: metrics over several workers, workers killed, logs."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import signal
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import GroxpiFactory
from tests.support.server import GroxpiProcess
from tests.test_logs import PIP_AGENT

PAGE_ROUTE = {"method": "GET", "route": "/simple/{project}/", "status": "200"}


def get(url: str, user_agent: str | None = None) -> bytes:
    headers = {"User-Agent": user_agent} if user_agent else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
        return bytes(r.read())


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


def test_workers_stop_when_their_supervisor_is_killed(groxpi_server: GroxpiFactory) -> None:
    server = groxpi_server(GROXPI_WORKERS=2)
    assert server.proc is not None
    workers = both_workers(server)
    server.proc.kill()  # SIGKILL: the supervisor cannot forward anything
    server.proc.wait(10)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_running(pid) for pid in workers):
        time.sleep(0.1)
    assert not any(_running(pid) for pid in workers)  # none serves on, holding the port
    assert server.log_text().count("shutting down") == 2  # each stopped gracefully


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for a parent that is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_json_logs_are_one_object_a_line_with_access_fields(groxpi_server: GroxpiFactory) -> None:
    server = groxpi_server(GROXPI_WORKERS=2, GROXPI_LOG_FORMAT="json", GROXPI_ACCESS_LOG="true")
    workers = both_workers(server)
    get(f"{server.url}/simple/alpha/", PIP_AGENT)
    get(f"{server.url}/simple/alpha/?format=text/html", "x" * 2000)
    with contextlib.suppress(urllib.error.HTTPError):
        get(f"{server.url}/simple/no-such-project/")
    assert server.stop() == 0
    lines = [json.loads(line) for line in server.log_text().splitlines()]  # every line is JSON
    assert server.proc is not None
    parent = server.proc.pid
    for line in lines:
        assert {"timestamp", "level", "logger", "message", "worker"} <= line.keys()
        assert line["worker"] in workers | {parent}
        datetime.datetime.fromisoformat(line["timestamp"]).utcoffset()  # ISO 8601, with zone
        assert line["timestamp"].endswith("+00:00")
    assert "listening on http://127.0.0.1" in lines[0]["message"]
    assert (lines[0]["logger"], lines[0]["worker"]) == ("groxpi", parent)
    assert any(line["logger"] == "groxpi.supervisor" for line in lines)
    access = [line for line in lines if line["logger"] == "aiohttp.access"]
    page = next(line for line in access if line["path"] == "/simple/alpha/")
    assert page["method"] == "GET" and page["status"] == 200 and page["bytes"] > 0
    assert page["user_agent"] == PIP_AGENT and page["remote"] == "127.0.0.1"
    assert isinstance(page["duration_ms"], float) and page["duration_ms"] >= 0
    assert re.search(
        r'"GET /simple/alpha/ HTTP/1.1" 200 \d+ "pip/24.0" \d+\.\dms$', page["message"]
    )
    long = next(line for line in access if line["path"].startswith("/simple/alpha/?format="))
    assert long["user_agent"] == "x" * 512
    missing = next(line for line in access if line["path"] == "/simple/no-such-project/")
    assert missing["status"] == 404


def test_text_access_lines_carry_the_duration_and_a_short_user_agent(
    groxpi_server: GroxpiFactory,
) -> None:
    server = groxpi_server(GROXPI_ACCESS_LOG="true")
    get(f"{server.url}/simple/alpha/", PIP_AGENT)
    assert server.stop() == 0
    log = server.log_text()
    assert re.search(
        r"INFO \[\d+\] aiohttp.access: 127\.0\.0\.1 "
        r'"GET /simple/alpha/ HTTP/1.1" 200 \d+ "pip/24.0" \d+\.\dms$',
        log,
        re.MULTILINE,
    ), log
    assert '"installer"' not in log
