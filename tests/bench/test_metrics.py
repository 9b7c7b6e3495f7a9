"""Derived metrics: CPU seconds of a phase and the CPU cost per GB sent."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bench.results import Results
from bench.scenarios import Context, record_usage
from bench.servers import Server
from bench.settings import Settings
from bench.upstream import Upstream


def test_a_phase_counts_the_cpu_seconds_the_process_used() -> None:
    pytest.importorskip("psutil")
    from bench.monitor import Monitor

    monitor = Monitor([os.getpid()], interval=0.05).start()
    try:
        with monitor.phase() as usage:
            start = time.process_time()
            while time.process_time() - start < 0.3:
                pass
    finally:
        monitor.stop()
    assert usage.samples > 0
    assert 0.25 <= usage.cpu_s <= 1.0  # this thread's 0.3 s, plus the sampler's own


def test_cpu_per_gb_is_cpu_seconds_over_gigabytes_sent(tmp_path: Path) -> None:
    pytest.importorskip("psutil")
    from bench.monitor import Usage

    ctx = Context(Settings(out_dir=tmp_path), Upstream(Settings(out_dir=tmp_path)), Results())
    server = Server()
    server.name = "groxpi"
    record_usage(ctx, server, "file-cached", Usage(50.0, 60.0, 10, cpu_s=3.0), 2_000_000_000)
    record_usage(ctx, server, "api-x", Usage(50.0, 60.0, 10, cpu_s=3.0))  # no bytes: no cost
    got = {(r.scenario, r.metric): r.value for r in ctx.results.rows}
    assert got[("file-cached", "cpu_s_per_gb")] == pytest.approx(1.5)
    assert ("api-x", "cpu_s_per_gb") not in got
    assert got[("api-x", "cpu_mean_pct")] == 50.0
