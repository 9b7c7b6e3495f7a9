"""Coalescing: N clients at once on an uncached page, then on an uncached file.

The fake upstream counts what reached it: one request each is perfect
coalescing; N means every client went upstream.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from bench import client, progress
from bench.scenarios import Context
from bench.servers import Server
from bench.upstream import FileRef, LocalUpstream

HEADERS = {"Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1"}


async def _burst(url: str, clients: int) -> tuple[float, int]:
    """``clients`` simultaneous GETs (redirects followed); (wall seconds, failures)."""
    timeout = aiohttp.ClientTimeout(total=180)
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

        async def one() -> bool:
            try:
                async with session.get(url, headers=HEADERS) as resp:
                    await resp.read()
                    return resp.status == 200
            except (aiohttp.ClientError, TimeoutError):
                return False

        start = time.perf_counter()
        outcomes = await asyncio.gather(*(one() for _ in range(clients)))
        return time.perf_counter() - start, outcomes.count(False)


def _upstream_count(upstream: LocalUpstream, ref: FileRef, page: bool) -> int:
    return upstream.page_requests(ref.project) if page else upstream.file_requests(ref.filename)


def run(ctx: Context, server: Server) -> None:
    upstream = ctx.upstream
    ref = upstream.catalogue.coalesce.get(server.name)
    if not isinstance(upstream, LocalUpstream) or ref is None:
        return
    n = ctx.settings.coalesce_clients
    page_url = server.page_url(ref.project)
    for scenario in ("coalesce-page", "coalesce-file"):
        is_page = scenario == "coalesce-page"
        url = page_url if is_page else client.file_url(page_url, ref.filename)
        before = _upstream_count(upstream, ref, is_page)
        wall, failures = asyncio.run(_burst(url, n))
        upstream_requests = _upstream_count(upstream, ref, is_page) - before
        add = ctx.results.add
        add(server.name, scenario, "upstream_requests", upstream_requests, "count")
        add(server.name, scenario, "wall_ms", wall * 1000, "ms")
        add(server.name, scenario, "errors", failures, "count")
        progress.step(
            f"  {server.name}: {scenario}: {n} clients → {upstream_requests} upstream "
            f"requests, {wall * 1000:.0f} ms, {failures} failed"
        )
