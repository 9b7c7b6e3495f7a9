"""``python -m bench``: options, then a run, then the CSV, analysis, summary and chart."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
from importlib.util import find_spec
from pathlib import Path

from bench import progress
from bench.settings import (
    ALL_SCENARIOS,
    ALL_SERVERS,
    CHECKS_FAILED,
    THRESHOLDS,
    Settings,
    quick_settings,
)
from bench.tools import MissingToolError, cpu_model, require_wrk

RESULTS_ROOT = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark groxpi against proxpi, devpi, bare aiohttp and nginx on this "
        "machine. By default everything is started locally on 127.0.0.1.",
        epilog=f"Exit status {CHECKS_FAILED} when groxpi misses a threshold in "
        "bench/settings.py (HEADLINE): one FAIL line per missed check, also when a "
        "server the check needs was asked for but left no figure.",
    )
    p.add_argument("--groxpi-url", help="benchmark an already running groxpi (server root URL)")
    p.add_argument("--proxpi-url", help="benchmark an already running proxpi (server root URL)")
    only = p.add_mutually_exclusive_group()
    only.add_argument("--api-only", action="store_true", help="only the index page scenarios")
    only.add_argument("--uv-only", action="store_true", help="only the uv install scenario")
    only.add_argument("--scenarios", help=f"comma-separated subset of {','.join(ALL_SCENARIOS)}")
    p.add_argument("--servers", help=f"comma-separated subset of {','.join(ALL_SERVERS)}")
    p.add_argument("--duration", type=int, help="seconds per wrk run on pages (full: 60)")
    p.add_argument("--file-duration", type=int, help="seconds per wrk run on a file (full: 15)")
    p.add_argument("--threads", type=int, help="wrk threads (full: 8)")
    p.add_argument("--connections", type=int, help="wrk connections (full: 100)")
    p.add_argument("--clients", type=int, help="concurrent clients when coalescing (full: 50)")
    p.add_argument("--upstream", choices=("local", "pypi"), default="local")
    p.add_argument("--with-pyspark", action="store_true", help="add pyspark to the uv set")
    p.add_argument("--out", type=Path, help="output directory (default bench/results/<UTC>)")
    p.add_argument(
        "--quick", action="store_true", help="short runs and small files (under 4 minutes)"
    )
    p.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="only redo summary.md and chart.png from DIR/results.csv",
    )
    return p.parse_args(argv)


def _csv(value: str, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    chosen = tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = [v for v in chosen if v not in allowed]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (choose from {', '.join(allowed)})")
    return tuple(v for v in allowed if v in chosen)


def build_settings(args: argparse.Namespace) -> Settings:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or RESULTS_ROOT / stamp
    s = quick_settings(out) if args.quick else Settings(out_dir=out)
    s.upstream = args.upstream
    s.with_pyspark = args.with_pyspark
    s.groxpi_url, s.proxpi_url = args.groxpi_url, args.proxpi_url
    for attr, value in (
        ("duration", args.duration),
        ("file_duration", args.file_duration),
        ("threads", args.threads),
        ("connections", args.connections),
        ("coalesce_clients", args.clients),
    ):
        if value is not None:
            if value < 1:
                raise SystemExit(f"--{attr.replace('_', '-')} must be at least 1")
            setattr(s, attr, value)
    if args.api_only:
        s.scenarios = ("api",)
    elif args.uv_only:
        s.scenarios = ("uv",)
    elif args.scenarios:
        s.scenarios = _csv(args.scenarios, ALL_SCENARIOS, "scenario")
    if args.servers:
        s.servers = _csv(args.servers, ALL_SERVERS, "server")
    if s.external:
        given = [n for n, u in (("groxpi", s.groxpi_url), ("proxpi", s.proxpi_url)) if u]
        ceilings = ("aiohttp-bare", "nginx") if s.groxpi_url else ()
        s.servers = tuple(n for n in s.servers if n in (*given, *ceilings))
        s.upstream = "pypi"
        s.scenarios = tuple(x for x in s.scenarios if x in ("api", "uv"))
    return s


def write_meta(settings: Settings, versions: dict[str, str], started: dt.datetime) -> None:
    meta = {
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "upstream": settings.upstream,
        "quick": settings.quick,
        "duration_s": settings.duration,
        "file_duration_s": settings.file_duration,
        "file_connections": settings.file_connections,
        "threads": settings.threads,
        "connections": settings.connections,
        "coalesce_clients": settings.coalesce_clients,
        "big_file_bytes": settings.big_file_size,
        "cold_file_bytes": settings.cold_file_size,
        "large_page_files": settings.large_page_files,
        "large_cold_samples": settings.large_cold_samples,
        "huge_list_projects": settings.huge_list_projects,
        "requested_servers": list(settings.servers),
        "scenarios": list(settings.scenarios),
        "servers": versions,
    }
    (settings.out_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")


def finish(out_dir: Path) -> int:
    """Analysis, summary.md and chart.png from ``out_dir/results.csv``, then the
    threshold checks: 0, or :data:`CHECKS_FAILED` when one failed."""
    from bench import analysis, chart, checks, report

    progress.step("analysing with DuckDB")
    tables = analysis.analyse(out_dir / "results.csv")
    report.write(out_dir, tables)
    progress.step("drawing chart.png")
    chart.draw(out_dir / "results.csv", out_dir / "chart.png")
    progress.step(f"done: {out_dir / 'summary.md'}")
    servers, families = checks.run_scope(out_dir)
    print()
    print(report.ratio_markdown(tables))
    print()
    print(report.headline_markdown(tables, servers, families))
    verdicts = checks.evaluate(tables.values, THRESHOLDS, servers, families)
    print("\nThreshold checks (bench/settings.py):")
    for verdict in verdicts:
        print(f"  {verdict.message(tables.units)}")
    failed = sum(v.failed for v in verdicts)
    if failed:
        print(f"bench: {failed} of {len(verdicts)} threshold checks failed", file=sys.stderr)
        return CHECKS_FAILED
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report is not None:
        if not (args.report / "results.csv").is_file():
            print(f"bench: no results.csv in {args.report}", file=sys.stderr)
            return 2
        return finish(args.report)
    settings = build_settings(args)
    try:
        if settings.scenarios != ("uv",):
            require_wrk()
    except MissingToolError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 3
    missing = [m for m in ("duckdb", "matplotlib", "psutil") if find_spec(m) is None]
    if missing:
        print(
            f"bench: missing {', '.join(missing)}: install with pip install -e '.[test,bench]'",
            file=sys.stderr,
        )
        return 3
    from bench.runner import Run

    settings.out_dir.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.UTC)
    progress.set_start()
    progress.step(
        f"benchmark: servers {','.join(settings.servers)}; scenarios "
        f"{','.join(settings.scenarios)}; upstream {settings.upstream}; output {settings.out_dir}"
    )
    run = Run(settings)
    results = run.execute()
    write_meta(settings, run.versions, started)
    if not results.rows:
        print("bench: no results (every server was skipped)", file=sys.stderr)
        return 1
    return finish(settings.out_dir)
