"""summary.md and chart.png: the headline rows with their ratios, bounds and verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.results import Results, read_csv


def test_headline_rows_have_their_ratios_in_summary_and_chart(tmp_path: Path) -> None:
    for module in ("duckdb", "matplotlib"):
        pytest.importorskip(module)
    from bench import analysis, chart, report

    results = Results()
    for server, rps in (("groxpi", 9000), ("proxpi", 1000), ("aiohttp-bare", 10000)):
        results.add(server, "api-small-json-gzip", "rps", rps, "req/s")
    for server, mbps, cost in (("groxpi", 1500, 0.8), ("proxpi", 3000, 0.2), ("nginx", 6000, 0.1)):
        results.add(server, "file-cached", "throughput_mbps", mbps, "MB/s")
        results.add(server, "file-cached", "cpu_s_per_gb", cost, "CPU-s/GB")
    results.add("groxpi", "api-large-cold", "total_ms", 150, "ms")
    results.add("proxpi", "api-large-cold", "total_ms", 300, "ms")
    results.add("groxpi", "loop-stall", "max_stall_ms", 250, "ms")
    results.add("groxpi", "loop-stall", "total_ms", 4000, "ms")
    results.write_csv(tmp_path / "results.csv")
    scope = {"requested_servers": ["groxpi", "proxpi", "aiohttp-bare", "nginx"]}
    (tmp_path / "meta.json").write_text(json.dumps({**scope, "scenarios": ["api", "file"]}))
    tables = analysis.analyse(tmp_path / "results.csv")
    text = report.render(tmp_path, tables)
    assert text.index("## Headline") < text.index("## Ratios")
    x, n = report.TIMES, report.NONE
    for row in (
        f"| api-small-json-gzip | rps | ↑ | 9,000 req/s | proxpi: 1,000 req/s | 9{x} | "
        f"≥ 10{x} (fails the run) | **missed** |",
        f"| api-small-json-gzip | rps | ↑ | 9,000 req/s | aiohttp-bare: 10,000 req/s | 0.9{x} | "
        f"≥ 0.8{x} (fails the run) | ok |",
        f"| file-cached | throughput_mbps | ↑ | 1,500 MB/s | nginx: 6,000 MB/s | 0.25{x} |",
        f"| file-cached | cpu_s_per_gb | ↓ | 0.8 CPU-s/GB | proxpi: 0.2 CPU-s/GB | 4{x} |",
        f"| api-large-cold | total_ms | ↓ | 150 ms | proxpi: 300 ms | 0.5{x} |",
        # Not asked for in this run's scope: shown as not run, never failed.
        f"| loop-stall | max_stall_ms | ↓ | {n} | {n} | {n} | ≤ 100 ms (goal) | not run: ",
    ):
        assert row in text, row
    # The ratio table carries them too.
    assert f"| file-cached | cpu_s_per_gb | ↓ | 0.8 CPU-s/GB | 4{x} |" in text
    (tmp_path / "meta.json").unlink()  # no scope: every figure counts, the goal is missed
    text = report.render(tmp_path, analysis.analyse(tmp_path / "results.csv"))
    assert (
        f"| loop-stall | max_stall_ms | ↓ | 250 ms | {n} | {n} | ≤ 100 ms (goal) | **missed** |"
        in text
    )
    chart.draw(tmp_path / "results.csv", tmp_path / "chart.png")
    assert (tmp_path / "chart.png").stat().st_size > 1000
    assert chart._headline(
        "file-cached", "throughput_mbps", read_csv(tmp_path / "results.csv")
    ) == (
        f"groxpi/nginx 0.25{x}",
        [],
    )
    assert chart._headline("loop-stall", "max_stall_ms", [])[1] == [100.0]
