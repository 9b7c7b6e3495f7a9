"""The loop-stall scenario: its big-list upstream, the gap measure, and a small real run."""

from __future__ import annotations

import gzip
import json
import re
import urllib.request
from pathlib import Path

import pytest

from bench.biglist import BigListUpstream, list_page
from bench.results import Results
from bench.scenarios import Context, stall
from bench.settings import Settings
from bench.upstream import Upstream


def test_the_big_list_is_pep_503_html_with_every_project() -> None:
    page = list_page(1000).decode()
    assert page.startswith("<!DOCTYPE html>")
    links = re.findall(r'<a href="/simple/([^/"]+)/">([^<]+)</a>', page)
    assert len(links) == 1000
    assert all(href == text for href, text in links)
    assert len(set(links)) == 1000
    assert 50 <= len(page) / 1000 <= 60  # about 57 bytes a project: 700,000 make 40 MB


def test_the_longest_gap_spans_a_stall_and_the_window_edges() -> None:
    answers = [0.0, 0.01, 0.02, 0.5, 0.51, 0.52]
    assert stall.max_gap(answers, 0.015, 0.515) == pytest.approx(0.48)
    # Only gaps that overlap the window count: the stall before it does not.
    assert stall.max_gap(answers, 0.505, 0.52) == pytest.approx(0.01)
    # No answer inside the window: held from the last answer before it to the end.
    assert stall.max_gap([0.0, 0.01], 0.02, 0.3) == pytest.approx(0.29)
    assert stall.max_gap([], 1.0, 1.25) == pytest.approx(0.25)


@pytest.mark.slow
def test_a_small_list_through_groxpi_records_the_stall(tmp_path: Path) -> None:
    pytest.importorskip("psutil")
    from bench.monitor import Monitor
    from bench.servers.groxpi import GroxpiServer

    settings = Settings(out_dir=tmp_path, huge_list_projects=5000)
    ctx = Context(settings, Upstream(settings), Results())
    upstream = BigListUpstream(5000, tmp_path)
    upstream.start()
    try:
        stall.upstream_baseline(ctx, upstream)
        server = GroxpiServer("groxpi-stall", upstream.index_url, tmp_path)
        server.start()
        monitor = Monitor(server.pids()).start()
        try:
            stall.run(ctx, server, monitor)
            request = urllib.request.Request(
                server.simple_root,
                headers={"Accept": "application/vnd.pypi.simple.v1+json"},
            )
            with urllib.request.urlopen(request, timeout=60) as resp:
                body = resp.read()
            if resp.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
        finally:
            monitor.stop()
            server.stop()
        counters = upstream.counters()
    finally:
        upstream.stop()
    assert len(json.loads(body)["projects"]) == 5000
    assert counters["list"] == 2  # the baseline's fetch, then groxpi's one (cold) fetch
    got = {(r.server, r.metric): r.value for r in ctx.results.rows if r.scenario == "loop-stall"}
    assert got[("upstream", "list_mb")] == pytest.approx(counters["bytes"] / 1e6)
    assert got[("groxpi-stall", "total_ms")] > 0
    # At least one poll interval; at most the whole request plus the tail.
    assert settings.stall_poll_s * 1000 <= got[("groxpi-stall", "max_stall_ms")]
    limit = got[("groxpi-stall", "total_ms")] + (stall.TAIL_S + 1) * 1000
    assert got[("groxpi-stall", "max_stall_ms")] <= limit
    assert got[("groxpi-stall", "health_failures")] == 0
