"""The benchmark suite end to end (tiny durations), plus its analysis and error paths."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import wrk
from bench.results import COLUMNS, Results
from bench.settings import CHECKS_FAILED
from bench.tools import MissingToolError, require_wrk

REPO_ROOT = Path(__file__).resolve().parents[2]
KEY_METRICS = {"rps", "throughput_mbps", "p99_ms", "ttfb_ms", "wall_s", "idle_rss_mb"}


def _needs(module: str, install: str) -> None:
    """Skip when a benchmark dependency is missing, except on CI where it must be there."""
    try:
        __import__(module)
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail(f"{module} is missing on CI: {install}")
        pytest.skip(f"{module} is not installed ({install})")


def _needs_bench_extras() -> None:
    for module in ("duckdb", "matplotlib", "psutil"):
        _needs(module, "pip install -e '.[bench]'")


def _bench(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_quick_run_writes_csv_summary_and_chart(tmp_path: Path) -> None:
    _needs_bench_extras()
    if shutil.which("wrk") is None:
        if os.environ.get("CI"):
            pytest.fail("wrk is missing on CI: install it with apt-get install -y wrk")
        pytest.skip("wrk is not installed")
    out = tmp_path / "run"
    proc = _bench(
        [
            "--quick",
            "--duration=1",
            "--file-duration=1",
            "--threads=2",
            "--connections=8",
            "--clients=5",
            "--servers=groxpi,proxpi",
            f"--out={out}",
        ]
    )
    # 4: a threshold was missed; one-second runs on a shared machine may do that.
    assert proc.returncode in (0, CHECKS_FAILED), proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "starting groxpi" in proc.stdout  # progress lines
    assert "Threshold checks" in proc.stdout
    assert "skip api-small-json-gzip rps vs aiohttp-bare: aiohttp-bare not in this run" in (
        proc.stdout
    )
    assert (proc.returncode == CHECKS_FAILED) == ("FAIL api-small-json-gzip" in proc.stdout)
    with (out / "results.csv").open(newline="") as fh:
        reader = csv.reader(fh)
        assert tuple(next(reader)) == COLUMNS
        rows = list(reader)
    by_server: dict[str, dict[tuple[str, str], float]] = {}
    for server, scenario, metric, text, unit in rows:
        assert unit
        by_server.setdefault(server, {})[(scenario, metric)] = float(text)
    for server in ("groxpi", "proxpi"):
        values = by_server[server]
        assert all(v >= 0 for v in values.values()), server
        metrics = {m for (_, m) in values}
        assert metrics >= KEY_METRICS, (server, KEY_METRICS - metrics)
        for (scenario, metric), value in values.items():
            if metric in KEY_METRICS:
                assert value > 0, (server, scenario, metric)
        assert values[("api-small-json-gzip", "errors")] == 0
    summary = (out / "summary.md").read_text()
    assert summary.index("## Ratios") < summary.index("## Index pages")
    assert "groxpi/proxpi" in summary
    assert (out / "chart.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "meta.json").is_file()


def test_missing_wrk_names_the_install_command(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    if shutil.which("wrk", path=env["PATH"]):
        pytest.skip("wrk lives next to the Python interpreter")
    proc = _bench(["--quick", f"--out={tmp_path / 'run'}"], env=env, timeout=60)
    assert proc.returncode == 3
    assert "wrk is not installed" in proc.stderr
    assert "apt-get install -y wrk" in proc.stderr
    assert not (tmp_path / "run").exists()


def test_require_wrk_raises_a_helpful_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MissingToolError, match="apt-get install -y wrk"):
        require_wrk()


def test_wrk_output_is_parsed() -> None:
    line = (
        'BENCHJSON {"requests":1000,"duration_us":2000000,"bytes":5000000,"connect":0,'
        '"read":1,"write":0,"status":10,"timeout":2,"p50_us":1500.0,"p90_us":3000.0,'
        '"p99_us":9000.5,"mean_us":1800.0,"max_us":12000.0}'
    )
    result = wrk.parse("Running 2s test\n" + line + "\n")
    assert result.rps == pytest.approx(495.0)  # error answers are not counted
    assert result.errors == 13
    assert result.p99_ms == pytest.approx(9.0005)
    assert result.transfer_mbps == pytest.approx(2.5)
    with pytest.raises(wrk.WrkError):
        wrk.parse("no result here")


def test_analysis_ratios_summary_and_chart(tmp_path: Path) -> None:
    _needs_bench_extras()
    from bench import analysis, chart, report

    results = Results()
    for server, rps, p99, rss in (
        ("groxpi", 20000, 5.0, 50),
        ("proxpi", 2000, 40.0, 80),
        ("aiohttp-bare", 25000, 4.0, 40),
    ):
        results.add(server, "api-small-json-gzip", "rps", rps, "req/s")
        results.add(server, "api-small-json-gzip", "p99_ms", p99, "ms")
        results.add(server, "resources", "idle_rss_mb", rss, "MB")
    results.add("groxpi", "coalesce-page", "upstream_requests", 1, "count")
    results.add("proxpi", "coalesce-page", "upstream_requests", 0, "count")
    csv_path = tmp_path / "results.csv"
    results.write_csv(csv_path)
    tables = analysis.analyse(csv_path)
    assert tables.labels == ["groxpi/proxpi", "groxpi/aiohttp-bare"]
    ratios = {(r.scenario, r.metric): r.ratios for r in tables.ratio_rows}
    assert ratios[("api-small-json-gzip", "rps")]["groxpi/proxpi"] == pytest.approx(10.0)
    assert ratios[("api-small-json-gzip", "rps")]["groxpi/aiohttp-bare"] == pytest.approx(0.8)
    assert ratios[("resources", "idle_rss_mb")]["groxpi/proxpi"] == pytest.approx(0.625)
    assert "groxpi/proxpi" not in ratios[("coalesce-page", "upstream_requests")]  # x/0
    assert ("groxpi/proxpi", 3, 3) in tables.wins
    text = report.render(tmp_path, tables)
    row = "| api-small-json-gzip | rps | ↑ | 20,000 req/s | 10{x} | 0.8{x} |"
    assert row.format(x=report.TIMES) in text
    chart.draw(csv_path, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").stat().st_size > 1000
