"""Index pages: the first (cold) request after start, cold big pages, then wrk on cached pages."""

from __future__ import annotations

from dataclasses import dataclass

from bench import client, progress, wrk
from bench.monitor import Monitor, Usage
from bench.scenarios import Context, median, record_usage
from bench.servers import Server
from bench.upstream import LocalUpstream

JSON = "application/vnd.pypi.simple.v1+json"
# What pip and uv send: JSON preferred, gzip accepted.
CLIENT_HEADERS = {"Accept": f"{JSON}, text/html;q=0.1", "Accept-Encoding": "gzip"}


@dataclass(frozen=True)
class Variant:
    page: str  # "small" or "large"
    fmt: str  # "json" or "html"
    gzip: bool

    @property
    def scenario(self) -> str:
        return f"api-{self.page}-{self.fmt}" + ("-gzip" if self.gzip else "")

    def headers(self) -> dict[str, str]:
        headers = {"Accept": JSON if self.fmt == "json" else "text/html"}
        if self.gzip:
            headers["Accept-Encoding"] = "gzip"
        return headers


FULL_MATRIX = [
    Variant(page, fmt, gz)
    for page in ("small", "large")
    for fmt in ("json", "html")
    for gz in (True, False)
]
HEADLINE = [Variant("small", "json", True), Variant("large", "json", True)]


def variants_for(ctx: Context, server: Server) -> list[Variant]:
    return FULL_MATRIX if server.name in ctx.settings.full_matrix_servers else HEADLINE


def _project(ctx: Context, page: str) -> str:
    cat = ctx.upstream.catalogue
    return cat.small if page == "small" else cat.large


def upstream_baseline(ctx: Context) -> None:
    """What the upstream itself takes to answer each page: the floor of a cold request."""
    if not isinstance(ctx.upstream, LocalUpstream):
        return
    for page in ("small", "large"):
        url = f"{ctx.upstream.index_url}{_project(ctx, page)}/"
        timing = median([client.timed_get(url, CLIENT_HEADERS).total_s for _ in range(3)])
        ctx.results.add("upstream", "api-cold", f"{page}_ms", timing * 1000, "ms")
        progress.step(f"  upstream: {page} page answered in {timing * 1000:.1f} ms")
    projects = ctx.upstream.catalogue.cold_large.get("upstream", [])
    _time_large_cold(ctx, "upstream", [f"{ctx.upstream.index_url}{p}/" for p in projects])


def _time_large_cold(ctx: Context, name: str, urls: list[str]) -> None:
    """One request per never-requested big page; the median time to its last byte."""
    timings = [client.timed_get(url, CLIENT_HEADERS) for url in urls]
    ok = [t.total_s * 1000 for t in timings if t.status == 200]
    if not ok:
        if timings:
            progress.step(f"  {name}: cold big pages answered {[t.status for t in timings]}")
        return
    ctx.results.add(name, "api-large-cold", "total_ms", median(ok), "ms")
    progress.step(
        f"  {name}: cold {ctx.settings.large_page_files:,}-file page complete in "
        f"{median(ok):.1f} ms (median of {len(ok)})"
    )


def cold(ctx: Context, server: Server) -> None:
    """First request for each page after start (an upstream fetch), then a warm one."""
    for page in ("small", "large"):
        url = server.page_url(_project(ctx, page))
        first = client.timed_get(url, CLIENT_HEADERS)
        if first.status != 200:
            progress.step(f"  {server.name}: {page} page answered {first.status}")
            continue
        warm = median([client.timed_get(url, CLIENT_HEADERS).total_s for _ in range(5)])
        ctx.results.add(server.name, "api-cold", f"{page}_ms", first.total_s * 1000, "ms")
        ctx.results.add(server.name, "api-warm-single", f"{page}_ms", warm * 1000, "ms")
        progress.step(
            f"  {server.name}: {page} page first request {first.total_s * 1000:.1f} ms, "
            f"cached {warm * 1000:.1f} ms"
        )


def large_cold(ctx: Context, server: Server) -> None:
    """Big pages nobody asked for yet, JSON with gzip as uv asks: fetch, parse, render, send.

    Several pages rather than one first request, so the median is not the
    first request's extra work (a new upstream connection, lazy imports).
    """
    projects = ctx.upstream.catalogue.cold_large.get(server.name, [])
    _time_large_cold(ctx, server.name, [server.page_url(p) for p in projects])


def load(ctx: Context, server: Server, monitor: Monitor) -> list[Usage]:
    """wrk against each cached page variant; returns the CPU/RSS of each run."""
    s = ctx.settings
    usages = []
    for variant in variants_for(ctx, server):
        url = server.page_url(_project(ctx, variant.page))
        client.timed_get(url, variant.headers())  # make sure it is cached
        progress.step(
            f"  {server.name}: wrk {variant.scenario} ({s.duration}s, {s.threads} threads, "
            f"{s.connections} connections)"
        )
        with monitor.phase() as usage:
            result = wrk.run(url, s.duration, s.threads, s.connections, variant.headers())
        usages.append(usage)
        add = ctx.results.add
        add(server.name, variant.scenario, "rps", result.rps, "req/s")
        add(server.name, variant.scenario, "p50_ms", result.p50_ms, "ms")
        add(server.name, variant.scenario, "p90_ms", result.p90_ms, "ms")
        add(server.name, variant.scenario, "p99_ms", result.p99_ms, "ms")
        add(server.name, variant.scenario, "errors", result.errors, "count")
        add(server.name, variant.scenario, "transfer_mbps", result.transfer_mbps, "MB/s")
        record_usage(ctx, server, variant.scenario, usage)
        progress.step(
            f"  {server.name}: {variant.scenario}: {result.rps:,.0f} req/s, "
            f"p99 {result.p99_ms:.1f} ms, {result.errors} errors"
        )
        if result.error_share > 0.01:
            progress.step(f"  warning: {result.error_share:.0%} of the answers were errors")
    return usages
