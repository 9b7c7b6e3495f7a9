"""Prometheus metrics: plain numbers on the request path, formatted only when scraped.

Requests are counted and timed in plain dicts (no locks, no label look-ups per
request). A scrape turns them and the caches' own statistics into a snapshot,
adds every other worker's latest one (:mod:`.worker_metrics`) and answers the
sum, so the figures are the whole server's whatever worker answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import platform
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.web_log import AccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry

from .. import __version__
from ..instruments import DURATION_BUCKETS, Histogram, Histograms
from ..logs import log_access
from .errors import answers_errors
from .state import SERVICES, Services
from .worker_metrics import (
    Family,
    Kind,
    Labels,
    Snapshot,
    WorkerMetrics,
    counter,
    gauge,
    histogram,
    to_prometheus,
)

ACCESS_LOGGER = "aiohttp.access"
KNOWN_METHODS = frozenset({"GET", "HEAD", "DELETE", "POST", "PUT", "PATCH", "OPTIONS"})
PUBLISH_EVERY = 5.0
"""Seconds between snapshots written for the other workers (and on every scrape)."""


@dataclass
class RequestStats:
    counts: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    durations: dict[str, Histogram] = field(default_factory=dict)  # by route


REQUESTS = web.AppKey("request_stats", RequestStats)
WORKER_METRICS = web.AppKey("worker_metrics", WorkerMetrics)


class CountingAccessLogger(AccessLogger):
    """Counts and times every request by route and status; writes the access log if on.

    aiohttp calls the access logger once per finished request, outside the
    middleware chain, with the time from the request's first byte to its last
    written: counting here costs no extra coroutine per request. The access
    line is built only when the log is on, its fields on the record for the
    JSON formatter (:func:`groxpi.logs.log_access`).
    """

    stats: RequestStats  # the app's, bound by :func:`runner_options`

    @property
    def enabled(self) -> bool:
        return True  # always called: counting does not depend on the log level

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        # Requests aiohttp could not parse never reached routing: no match info.
        info = request._match_info if isinstance(request, web.Request) else None
        if info is not None:
            method = request.method
            if method not in KNOWN_METHODS:
                method = "OTHER"
            resource = info.route.resource
            route = resource.canonical if resource is not None else "unmatched"
            stats = self.stats
            stats.counts[(method, route, response.status)] += 1
            histogram = stats.durations.get(route)
            if histogram is None:
                histogram = stats.durations[route] = Histogram()
            # Histogram.observe, inlined: this runs once per request
            histogram.counts[bisect_left(DURATION_BUCKETS, time)] += 1
            histogram.sum += time
        if self.logger.isEnabledFor(logging.INFO):  # GROXPI_ACCESS_LOG
            try:
                log_access(self.logger, request, response, time)
            except Exception:
                self.logger.exception("Error in logging")


def runner_options(app: web.Application, access_log: bool) -> dict[str, Any]:
    """AppRunner arguments that route every finished request of ``app`` through its
    counter (bound to the logger class: no look-up in the app per request)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.setLevel(logging.INFO if access_log else logging.WARNING)
    bound = type("CountingAccessLogger", (CountingAccessLogger,), {"stats": app[REQUESTS]})
    return {"access_log": logger, "access_log_class": bound}


def snapshot(services: Services, requests: RequestStats, pid: int) -> Snapshot:
    """This worker's numbers now; cheap enough to take on the event loop."""
    index, files, client = services.index, services.files, services.client
    families = [
        counter(
            "groxpi_http_requests",
            "HTTP requests by route and status",
            ("method", "route", "status"),
            (((m, r, str(s)), n) for (m, r, s), n in requests.counts.items()),
        ),
        histogram(
            "groxpi_http_request_duration_seconds",
            "Time from a request's first byte to its response's last, by route",
            ("route",),
            Histograms({(route,): h for route, h in requests.durations.items()}),
        ),
        counter(
            "groxpi_cache_lookups",
            "Cache lookups",
            ("cache", "result"),
            [
                (("index", "hit"), index.stats.hits),
                (("index", "miss"), index.stats.misses),
                (("file", "hit"), files.stats.hits),
                (("file", "miss"), files.stats.misses),
            ],
        ),
        counter(
            "groxpi_upstream_requests",
            "Requests sent upstream, by kind (page or file) and upstream",
            ("kind", "upstream"),
            client.requests.items(),
        ),
        counter(
            "groxpi_upstream_errors",
            "Failed upstream requests, by kind (page or file) and upstream",
            ("kind", "upstream"),
            client.errors.items(),
        ),
        histogram(
            "groxpi_upstream_request_duration_seconds",
            "Upstream answers: pages until read whole, files until their headers",
            ("kind", "upstream"),
            client.durations,
        ),
        histogram(
            "groxpi_cold_file_first_byte_seconds",
            "From a request for an uncached file to its first byte from upstream",
            (),
            Histograms({(): services.distributions.cold_first_byte}),
        ),
        counter(
            "groxpi_upstream_redirects",
            "Clients sent to the upstream file URL (GROXPI_DOWNLOAD_TIMEOUT passed)",
            (),
            [((), services.distributions.redirects)],
        ),
        _single_counter(
            "groxpi_stale_pages_served",
            "Pages served stale because a refresh failed",
            index.stats.stale_served,
        ),
        _single_counter(
            "groxpi_file_evictions", "Files evicted to stay in size", files.stats.evictions
        ),
        _single_counter(
            "groxpi_file_download_failures",
            "File downloads discarded (upstream, integrity or storage failure)",
            files.stats.failures,
        ),
        _single_counter("groxpi_served_bytes", "File bytes sent to clients", services.bytes_served),
        gauge(
            "groxpi_downloads_in_progress", "Files being fetched", files.active_downloads, "live"
        ),
        gauge("groxpi_index_pages", "Index pages held in memory, over workers", len(index), "live"),
        gauge("groxpi_cache_bytes", "Bytes in the file cache", files.lru.total),
        gauge("groxpi_cache_limit_bytes", "File cache size limit", files.lru.limit),
        gauge("groxpi_cache_files", "Files in the file cache", len(files.lru)),
        gauge(
            "groxpi_build_info",
            "groxpi's version and Python's, as labels",
            1,
            labels=("version", "python"),
            key=(__version__, platform.python_version()),
        ),
    ]
    cooldown = services.sources.cooldown
    if cooldown is not None:
        families += [
            _single_counter(
                "groxpi_cooldown_files_hidden",
                "Files left off pages because they are younger than GROXPI_MIN_RELEASE_AGE",
                cooldown.files_hidden,
            ),
            _single_counter(
                "groxpi_cooldown_files_without_upload_time",
                "Files kept on pages because they carry no upload-time to judge",
                cooldown.files_without_upload_time,
            ),
        ]
    families += _process_families(pid)
    return Snapshot(pid, families, time.monotonic_ns())


def _single_counter(name: str, help: str, value: float) -> Family:
    return counter(name, help, (), [((), value)])


_process = ProcessCollector(registry=None)


def _process_families(pid: int) -> list[Family]:
    """The standard process_* metrics of this worker, labelled with its pid."""
    out = []
    worker: Labels = (str(pid),)
    for metric in _process.collect():
        kind: Kind = "counter" if metric.type == "counter" else "gauge"
        samples = [(worker, s.value) for s in metric.samples]
        out.append(Family(metric.name, kind, metric.documentation, ("worker",), "live", samples))
    return out


class _Merged(Collector):
    def __init__(self, families: list[Family]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return to_prometheus(self._families)


@answers_errors
async def metrics(request: web.Request) -> web.Response:
    app = request.app
    shared = app[WORKER_METRICS]
    own = snapshot(app[SERVICES], app[REQUESTS], shared.pid)
    families = await asyncio.to_thread(shared.gather, own)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged(families))
    return web.Response(
        body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


async def _publishing(app: web.Application) -> AsyncIterator[None]:
    """Write this worker's snapshot now and then, and a last one when it stops."""
    shared = app[WORKER_METRICS]

    async def publish() -> None:
        own = snapshot(app[SERVICES], app[REQUESTS], shared.pid)
        await asyncio.to_thread(shared.publish, own)

    async def every_few_seconds() -> None:
        while True:
            await asyncio.sleep(PUBLISH_EVERY)
            try:
                await publish()
            except OSError as exc:
                logging.getLogger(__name__).warning("cannot write metrics snapshot: %s", exc)

    task = asyncio.create_task(every_few_seconds())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(OSError):
            await publish()


def setup(app: web.Application, shared: WorkerMetrics) -> None:
    app[REQUESTS] = RequestStats()
    app[WORKER_METRICS] = shared
    app.cleanup_ctx.append(_publishing)
    app.router.add_get("/metrics", metrics)
