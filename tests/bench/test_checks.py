"""The threshold checks a run must pass, given a results table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import checks
from bench.settings import ALL_SCENARIOS, ALL_SERVERS, HEADLINE, THRESHOLDS, Check

SMALL = ("api-small-json-gzip", "rps")
UNITS = {SMALL: "req/s"}


def _values(**rps: float) -> dict[tuple[str, str], dict[str, float]]:
    return {SMALL: {server.replace("_", "-"): v for server, v in rps.items()}}


def test_thresholds_are_the_small_gzip_page_against_proxpi_and_the_ceiling() -> None:
    got = {(c.scenario, c.metric, c.against, c.bound) for c in THRESHOLDS}
    assert got == {(*SMALL, "proxpi", 10.0), (*SMALL, "aiohttp-bare", 0.8)}
    assert all(c in HEADLINE for c in THRESHOLDS)


def test_a_run_at_the_thresholds_passes() -> None:
    values = _values(groxpi=10_000, proxpi=1_000, aiohttp_bare=12_500)
    assert checks.failures(values, ALL_SERVERS, ALL_SCENARIOS) == []
    verdicts = checks.evaluate(values, THRESHOLDS, ALL_SERVERS, ALL_SCENARIOS)
    assert [v.status for v in verdicts] == [checks.PASS, checks.PASS]
    assert [v.ratio for v in verdicts] == [pytest.approx(10.0), pytest.approx(0.8)]


def test_each_missed_threshold_is_one_line() -> None:
    values = _values(groxpi=7_500, proxpi=1_000, aiohttp_bare=10_000)
    failed = checks.failures(values, ALL_SERVERS, ALL_SCENARIOS, units=UNITS)
    assert len(failed) == 2
    assert all("\n" not in line and line.startswith("FAIL") for line in failed)
    assert "groxpi 7,500 req/s is 7.50x proxpi (1,000 req/s); needs >= 10x" in failed[0]
    assert "0.75x aiohttp-bare" in failed[1]
    assert "small gzip page only" in failed[1]  # says the ceiling is checked there alone


def test_only_the_missed_one_fails() -> None:
    values = _values(groxpi=9_000, proxpi=500, aiohttp_bare=10_000)  # 18x, 0.9x
    assert checks.failures(values, ALL_SERVERS, ALL_SCENARIOS) == []
    values = _values(groxpi=9_000, proxpi=1_000, aiohttp_bare=10_000)  # 9x, 0.9x
    (line,) = checks.failures(values, ALL_SERVERS, ALL_SCENARIOS)
    assert "vs proxpi" in line


def test_a_requested_server_without_figures_fails() -> None:
    values = _values(groxpi=20_000, aiohttp_bare=21_000)  # proxpi asked for, did not run
    (line,) = checks.failures(values, ALL_SERVERS, ALL_SCENARIOS)
    assert line.startswith("FAIL") and "no figure for proxpi" in line
    # groxpi itself missing fails both.
    assert len(checks.failures(_values(proxpi=1.0), ALL_SERVERS, ALL_SCENARIOS)) == 2
    # A zero reference is no figure either, not an infinite ratio.
    assert len(checks.failures(_values(groxpi=1.0, proxpi=0.0), ["groxpi", "proxpi"])) == 1


def test_servers_or_scenarios_not_asked_for_are_skipped_not_failed() -> None:
    values = _values(groxpi=20_000)
    verdicts = checks.evaluate(values, THRESHOLDS, ["groxpi"], ALL_SCENARIOS)
    assert [v.status for v in verdicts] == [checks.SKIPPED, checks.SKIPPED]
    assert checks.failures({}, ALL_SERVERS, ["uv"]) == []
    assert "not in this run" in verdicts[0].message()


def test_without_a_recorded_scope_the_servers_with_figures_count() -> None:
    values = _values(groxpi=20_000, proxpi=100)
    verdicts = checks.evaluate(values, THRESHOLDS)
    assert [v.status for v in verdicts] == [checks.PASS, checks.SKIPPED]


def test_lower_is_better_bounds_and_goals_do_not_fail_the_run() -> None:
    goal = Check("stall", "loop-stall", "max_stall_ms", None, 100.0, note="a goal")
    over = {("loop-stall", "max_stall_ms"): {"groxpi": 250.0}}
    (verdict,) = checks.evaluate(over, (goal,), ["groxpi"], ["stall"])
    assert verdict.status == checks.FAIL and not verdict.failed
    assert verdict.message().startswith("miss") and "needs <= 100" in verdict.message()
    enforced = Check("stall", "loop-stall", "max_stall_ms", None, 100.0, fails_run=True)
    assert checks.failures(over, ["groxpi"], ["stall"], (enforced,))
    under = {("loop-stall", "max_stall_ms"): {"groxpi": 40.0}}
    assert checks.failures(under, ["groxpi"], ["stall"], (enforced,)) == []


def test_the_scope_is_read_from_the_run_meta(tmp_path: Path) -> None:
    assert checks.run_scope(tmp_path) == (None, None)
    meta = {"requested_servers": ["groxpi", "proxpi"], "scenarios": ["api"]}
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    assert checks.run_scope(tmp_path) == (["groxpi", "proxpi"], ["api"])


def test_a_report_that_misses_a_threshold_exits_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for module in ("duckdb", "matplotlib"):
        pytest.importorskip(module)
    from bench import cli
    from bench.results import Results

    def report(proxpi_rps: float) -> int:
        results = Results()
        for server, rps in (("groxpi", 9_000), ("proxpi", proxpi_rps), ("aiohttp-bare", 10_000)):
            results.add(server, *SMALL, rps, "req/s")
        results.write_csv(tmp_path / "results.csv")
        return cli.main(["--report", str(tmp_path)])

    meta = {"requested_servers": list(ALL_SERVERS), "scenarios": ["api"]}
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    assert report(proxpi_rps=1_000) == 4
    out, err = capsys.readouterr()
    assert "FAIL api-small-json-gzip rps vs proxpi: groxpi 9,000 req/s is 9x proxpi" in out
    assert "ok   api-small-json-gzip rps vs aiohttp-bare" in out
    assert "1 of 2 threshold checks failed" in err
    assert report(proxpi_rps=800) == 0  # 11.25x
