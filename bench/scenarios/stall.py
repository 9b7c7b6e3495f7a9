"""Loop stall: the longest gap between ``/health`` answers while groxpi loads a huge list.

groxpi serves every request from one event loop per process. While it
fetches, parses and renders a 40 MB project list, any step that holds the loop
(or the GIL) for long delays every other client, even one asking for a cached
page. A poller asks ``/health`` every 10 ms on its own keep-alive connection
from another thread; the longest time between two of its answers while the
cold list request runs is the worst stall a client saw. It includes the poll
interval, so an idle server scores about 10 ms.
"""

from __future__ import annotations

import http.client
import itertools
import threading
import time
import urllib.parse

from bench import client, progress
from bench.biglist import BigListUpstream
from bench.monitor import Monitor
from bench.scenarios import Context, record_usage
from bench.scenarios.api import CLIENT_HEADERS
from bench.servers import Server

SCENARIO = "loop-stall"
TAIL_S = 0.5  # keep polling after the answer: work the server finishes afterwards counts


class HealthPoller:
    """``GET /health`` every ``interval`` seconds in a thread; keeps when each answer came."""

    def __init__(self, base_url: str, interval: float) -> None:
        self._netloc = urllib.parse.urlsplit(base_url).netloc
        self._interval = interval
        self._stop = threading.Event()
        self.answers: list[float] = []  # perf_counter() at each complete answer
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name="bench-health", daemon=True)

    def __enter__(self) -> HealthPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        conn = http.client.HTTPConnection(self._netloc, timeout=60)
        try:
            while not self._stop.is_set():
                sent = time.perf_counter()
                try:
                    conn.request("GET", "/health")
                    resp = conn.getresponse()
                    resp.read()
                    self.answers.append(time.perf_counter())
                except (OSError, http.client.HTTPException):
                    self.failures += 1
                    conn.close()  # reconnects on the next request
                self._stop.wait(max(0.0, self._interval - (time.perf_counter() - sent)))
        finally:
            conn.close()


def max_gap(answers: list[float], start: float, end: float) -> float:
    """Longest time between consecutive answers, over pairs that overlap [start, end].

    With no answer after ``start``, the wait from the last one before it (or
    from ``start``) to ``end`` is the gap: a loop held for the whole window.
    """
    before = [t for t in answers if t < start]
    inside = [t for t in answers if start <= t <= end]
    after = [t for t in answers if t > end]
    points = [before[-1] if before else start, *inside, after[0] if after else end]
    return max(b - a for a, b in itertools.pairwise(points))


def upstream_baseline(ctx: Context, upstream: BigListUpstream) -> None:
    """The big list straight from the fake upstream: its size and the floor of a fetch."""
    timing = client.timed_get(upstream.index_url, CLIENT_HEADERS, timeout=300)
    size = upstream.counters()["bytes"]
    add = ctx.results.add
    add("upstream", SCENARIO, "list_mb", size / 1e6, "MB")
    add("upstream", SCENARIO, "total_ms", timing.total_s * 1000, "ms")
    progress.step(
        f"  upstream: {upstream.projects:,}-project list ({size / 1e6:.1f} MB of HTML, "
        f"{timing.size / 1e6:.1f} MB gzip) sent in {timing.total_s * 1000:.0f} ms"
    )


def run(ctx: Context, server: Server, monitor: Monitor) -> None:
    """One cold ``/simple/`` request through ``server`` while the poller runs."""
    url = server.simple_root
    with HealthPoller(server.base_url, ctx.settings.stall_poll_s) as poller:
        time.sleep(0.3)  # a few answers before, so the first gap has a start
        with monitor.phase() as usage:
            start = time.perf_counter()
            timing = client.timed_get(url, CLIENT_HEADERS, timeout=600)
            end = time.perf_counter()
            time.sleep(TAIL_S)
    if timing.status != 200:
        progress.step(f"  {server.name}: the big project list answered {timing.status}")
        return
    if not poller.answers:
        progress.step(f"  {server.name}: /health never answered during the big list")
        return
    stall = max_gap(poller.answers, start, end + TAIL_S)
    add = ctx.results.add
    add(server.name, SCENARIO, "max_stall_ms", stall * 1000, "ms")
    add(server.name, SCENARIO, "total_ms", timing.total_s * 1000, "ms")
    add(server.name, SCENARIO, "health_failures", poller.failures, "count")
    record_usage(ctx, server, SCENARIO, usage)
    progress.step(
        f"  {server.name}: cold big project list in {timing.total_s * 1000:,.0f} ms; "
        f"longest /health gap {stall * 1000:.0f} ms ({len(poller.answers)} answers, "
        f"{poller.failures} failed)"
    )
