"""The scenarios; each records rows for one server into the shared results."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from bench.monitor import Monitor, Usage
from bench.results import Results
from bench.servers import Server
from bench.settings import Settings
from bench.upstream import Upstream


@dataclass
class Context:
    settings: Settings
    upstream: Upstream
    results: Results


def record_usage(
    ctx: Context, server: Server, scenario: str, usage: Usage, sent_bytes: int = 0
) -> None:
    """Mean CPU and peak RSS of a phase; with ``sent_bytes``, its CPU cost per GB sent."""
    if usage.samples:
        ctx.results.add(server.name, scenario, "cpu_mean_pct", usage.cpu_mean_pct, "%")
        ctx.results.add(server.name, scenario, "rss_peak_mb", usage.rss_peak_mb, "MB")
        if sent_bytes > 0:
            per_gb = usage.cpu_s / (sent_bytes / 1e9)
            ctx.results.add(server.name, scenario, "cpu_s_per_gb", per_gb, "CPU-s/GB")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


__all__ = ["Context", "Monitor", "median", "record_usage"]
