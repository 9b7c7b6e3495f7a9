"""Prometheus metrics: cheap counters on the request path, formatted only when scraped.

Requests are counted in a plain dict (no label look-ups per request); a custom
collector turns that and the caches' own statistics into Prometheus text.
With several workers each process reports its own numbers.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from aiohttp.web_log import AccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from .errors import answers_errors
from .state import SERVICES, Services

REQUESTS = web.AppKey("request_counts", Counter)
ACCESS_LOGGER = "aiohttp.access"
KNOWN_METHODS = frozenset({"GET", "HEAD", "DELETE", "POST", "PUT", "PATCH", "OPTIONS"})


class CountingAccessLogger(AccessLogger):
    """Counts every request by route and status, and writes the access log if enabled.

    aiohttp calls the access logger once per finished request, outside the
    middleware chain, so counting here costs no extra coroutine per request.
    Access lines are only formatted when the logger is enabled for INFO.
    """

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
            info.current_app[REQUESTS][(method, route, response.status)] += 1
        if self.logger.isEnabledFor(logging.INFO):
            super().log(request, response, time)


def runner_options(access_log: bool) -> dict[str, Any]:
    """AppRunner arguments that route every finished request through the counter."""
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.setLevel(logging.INFO if access_log else logging.WARNING)
    return {"access_log": logger, "access_log_class": CountingAccessLogger}


class GroxpiCollector(Collector):
    def __init__(self, services: Services, requests: Counter[tuple[str, str, int]]) -> None:
        self._services = services
        self._requests = requests

    def collect(self) -> Iterator[Metric]:
        services = self._services
        requests = CounterMetricFamily(
            "groxpi_http_requests",
            "HTTP requests by route and status",
            labels=["method", "route", "status"],
        )
        for (method, route, status), count in sorted(self._requests.items()):
            requests.add_metric([method, route, str(status)], count)
        yield requests
        cache = CounterMetricFamily(
            "groxpi_cache_lookups", "Cache lookups", labels=["cache", "result"]
        )
        cache.add_metric(["index", "hit"], services.index.stats.hits)
        cache.add_metric(["index", "miss"], services.index.stats.misses)
        cache.add_metric(["file", "hit"], services.files.stats.hits)
        cache.add_metric(["file", "miss"], services.files.stats.misses)
        yield cache
        yield CounterMetricFamily(
            "groxpi_upstream_fetches", "Requests sent upstream", value=services.client.fetches
        )
        yield CounterMetricFamily(
            "groxpi_upstream_errors", "Failed upstream requests", value=services.client.errors
        )
        yield CounterMetricFamily(
            "groxpi_stale_pages_served",
            "Pages served stale because a refresh failed",
            value=services.index.stats.stale_served,
        )
        yield CounterMetricFamily(
            "groxpi_file_evictions",
            "Files evicted to stay in size",
            value=services.files.stats.evictions,
        )
        yield CounterMetricFamily(
            "groxpi_file_download_failures",
            "File downloads discarded (upstream, integrity or storage failure)",
            value=services.files.stats.failures,
        )
        yield CounterMetricFamily(
            "groxpi_bytes_served", "File bytes sent to clients", value=services.bytes_served
        )
        cooldown = services.sources.cooldown
        if cooldown is not None:
            yield CounterMetricFamily(
                "groxpi_cooldown_files_hidden",
                "Files left off pages because they are younger than GROXPI_MIN_RELEASE_AGE",
                value=cooldown.files_hidden,
            )
            yield CounterMetricFamily(
                "groxpi_cooldown_files_without_upload_time",
                "Files kept on pages because they carry no upload-time to judge",
                value=cooldown.files_without_upload_time,
            )
        yield GaugeMetricFamily(
            "groxpi_cache_bytes", "Bytes in the file cache", value=services.files.lru.total
        )
        yield GaugeMetricFamily(
            "groxpi_cache_limit_bytes", "File cache size limit", value=services.files.lru.limit
        )
        yield GaugeMetricFamily(
            "groxpi_cache_files", "Files in the file cache", value=len(services.files.lru)
        )


@answers_errors
async def metrics(request: web.Request) -> web.Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GroxpiCollector(request.app[SERVICES], request.app[REQUESTS]))
    return web.Response(
        body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


def setup(app: web.Application) -> None:
    app[REQUESTS] = Counter()
    app.router.add_get("/metrics", metrics)
