"""Files: cold time to first byte (against the upstream's own) and cached throughput."""

from __future__ import annotations

import time

from bench import client, progress, wrk
from bench.monitor import Monitor
from bench.scenarios import Context, median, record_usage
from bench.servers import Server
from bench.upstream import FileRef, LocalUpstream

MB = 1e6


def _time_files(ctx: Context, name: str, urls: list[str]) -> None:
    timings = [client.timed_get(url) for url in urls]
    ok = [t for t in timings if t.status == 200]
    if not ok:
        progress.step(f"  {name}: cold files answered {[t.status for t in timings]}")
        return
    add = ctx.results.add
    add(name, "file-cold", "ttfb_ms", median([t.ttfb_s * 1000 for t in ok]), "ms")
    add(name, "file-cold", "total_ms", median([t.total_s * 1000 for t in ok]), "ms")
    add(name, "file-cold", "redirects", sum(t.redirects for t in ok), "count")
    progress.step(
        f"  {name}: cold file first byte {median([t.ttfb_s * 1000 for t in ok]):.1f} ms, "
        f"complete {median([t.total_s * 1000 for t in ok]):.1f} ms "
        f"({sum(t.redirects for t in ok)} redirected)"
    )


def upstream_baseline(ctx: Context) -> None:
    """The fake files host's own time to first byte, on files nobody fetched yet."""
    upstream = ctx.upstream
    if not isinstance(upstream, LocalUpstream):
        return
    refs = upstream.catalogue.cold_files.get("upstream", [])
    _time_files(ctx, "upstream", [upstream.file_url(ref) for ref in refs])


def cold(ctx: Context, server: Server) -> None:
    refs = ctx.upstream.catalogue.cold_files.get(server.name, [])
    urls = [client.file_url(server.page_url(ref.project), ref.filename) for ref in refs]
    _time_files(ctx, server.name, urls)


def cached_url(server: Server, ref: FileRef) -> str:
    """The big file's URL on ``server``, once the server answers it from its cache."""
    if server.kind == "ceiling":
        return f"{server.simple_root}{ref.project}/{ref.filename}"
    url = client.file_url(server.page_url(ref.project), ref.filename)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        timing = client.timed_get(url)
        if timing.status == 200 and timing.redirects == 0 and timing.size == ref.size:
            return url
        time.sleep(0.5)  # a redirect means the download is still filling the cache
    raise TimeoutError(f"{server.name} did not cache {ref.filename} within 120 s")


def cached(ctx: Context, server: Server, monitor: Monitor) -> None:
    ref = ctx.upstream.catalogue.big_file
    if ref is None:
        return
    s = ctx.settings
    url = cached_url(server, ref)
    progress.step(
        f"  {server.name}: wrk cached {ref.size / MB:.0f} MB file ({s.file_duration}s, "
        f"{s.file_connections} connections)"
    )
    with monitor.phase() as usage:
        result = wrk.run(url, s.file_duration, s.file_connections, s.file_connections, timeout=30)
    add = ctx.results.add
    add(server.name, "file-cached", "throughput_mbps", result.transfer_mbps, "MB/s")
    add(server.name, "file-cached", "rps", result.rps, "req/s")
    add(server.name, "file-cached", "p50_ms", result.p50_ms, "ms")
    add(server.name, "file-cached", "errors", result.errors, "count")
    record_usage(ctx, server, "file-cached", usage, sent_bytes=result.bytes)
    per_request = result.bytes / result.requests if result.requests else 0
    if per_request < 0.95 * ref.size:
        progress.step(f"  {server.name}: warning: {per_request:.0f} bytes per response")
    cost = ""
    if result.bytes and usage.samples:
        cost = f", {usage.cpu_s / (result.bytes / 1e9):.2f} CPU-s/GB"
    progress.step(f"  {server.name}: cached file {result.transfer_mbps:,.0f} MB/s{cost}")
