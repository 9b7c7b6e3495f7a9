"""summary.md: the headline checks, the ratio table, then every number by scenario and server."""

from __future__ import annotations

import json
from pathlib import Path

from bench import checks
from bench.analysis import Tables
from bench.fmt import NONE, TIMES, num, ratio
from bench.results import HIGHER_IS_BETTER
from bench.settings import HEADLINE

__all__ = [
    "NONE",
    "TIMES",
    "headline_markdown",
    "num",
    "ratio",
    "ratio_markdown",
    "render",
    "write",
]

READING = (
    "Each ratio is the first server's value divided by the second's. Rows marked ↑ "
    "(requests/s, MB/s): above 1 means groxpi is faster. Rows marked ↓ (times, memory, "
    "CPU, upstream requests): below 1 means groxpi is better. The ceilings (bare aiohttp "
    "replaying groxpi's bytes from memory, and nginx serving them as static files) show "
    "how close groxpi gets to the most a Python server, and a C server, can do here."
)
HEADLINE_READING = (
    "groxpi's key figures, each next to the server it is measured against. A bound "
    "marked *fails the run* is a threshold: missing it (or a figure for a server that "
    "was asked for) makes `python -m bench` exit 4. The loop-stall bound is a goal: "
    "shown, not enforced. `max_stall_ms` is the longest gap between two answers to "
    "`/health`, polled every 10 ms, while groxpi loads a cold ~40 MB HTML project list."
)
VERDICT_TEXT = {
    checks.PASS: "ok",
    checks.FAIL: "**missed**",
    checks.MISSING: "**no figure**",
    checks.SKIPPED: "not run",
    checks.INFO: "",
}
NOISE = (
    "Numbers from one run on a shared machine are noisy (expect ±10 to 20%); the load "
    "generator (wrk) runs on the same cores as the server under test."
)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def ratio_markdown(t: Tables) -> str:
    """The ratio table (also printed at the end of a run and pasted into README.md)."""
    if not t.ratio_rows:
        return "_No pair of servers to compare in this run._"
    header = ["scenario", "metric", "", "value", *t.labels]
    rows = []
    for r in t.ratio_rows:
        arrow = "↑" if r.higher_is_better else "↓"
        value = f"{num(r.left_value)} {r.unit}" + (
            "" if r.left_server == "groxpi" else f" ({r.left_server})"
        )
        rows.append(
            [r.scenario, r.metric, arrow, value, *(ratio(r.ratios.get(lb)) for lb in t.labels)]
        )
    wins = "; ".join(f"{label}: better in {w} of {n}" for label, w, n in t.wins if n)
    return _table(header, rows) + f"\n\ngroxpi ahead (by the arrow's direction) — {wins}."


def headline_markdown(
    t: Tables, servers: list[str] | None = None, families: list[str] | None = None
) -> str:
    """The headline rows (settings.HEADLINE) with their ratios, bounds and verdicts."""
    header = ["scenario", "metric", "", "groxpi", "compared with", "ratio", "bound", "verdict"]
    rows = []
    for v in checks.evaluate(t.values, HEADLINE, servers, families):
        c = v.check
        unit = t.units.get((c.scenario, c.metric), "")
        value = NONE if v.value is None else f"{num(v.value)} {unit}".rstrip()
        other = NONE
        if c.against:
            other = c.against + ("" if v.reference is None else f": {num(v.reference)} {unit}")
        bound = v.goal.replace(">=", "≥").replace("<=", "≤")
        if bound and not c.against:
            bound += f" {unit}"
        if bound:
            bound += " (fails the run)" if c.fails_run else " (goal)"
        verdict = VERDICT_TEXT[v.status] + (f": {v.detail}" if v.detail else "")
        arrow = "↑" if c.metric in HIGHER_IS_BETTER else "↓"
        rows.append(
            [c.scenario, c.metric, arrow, value, other, ratio(v.ratio), bound or NONE, verdict]
        )
    return _table(header, rows)


def _pivot(t: Tables, keys: list[tuple[str, str]], label_of_key: bool = True) -> str:
    servers = [s for s in t.servers if any(s in t.values[k] for k in keys)]
    rows = []
    for key in keys:
        scenario, metric = key
        first = [scenario] if not label_of_key else [scenario, f"{metric} ({t.units[key]})"]
        rows.append(first + [num(t.values[key].get(s)) for s in servers])
    header = (["scenario"] if not label_of_key else ["scenario", "metric"]) + servers
    return _table(header, rows)


def _by_metric(t: Tables, prefix: str, metric: str) -> list[tuple[str, str]]:
    return [k for k in t.values if k[0].startswith(prefix) and k[1] == metric]


def _header(out_dir: Path) -> list[str]:
    try:
        meta = json.loads((out_dir / "meta.json").read_text())
    except (OSError, ValueError):
        return []
    if "started_utc" not in meta:  # only the run's scope was recorded
        return []
    servers = "; ".join(f"`{k}`: {v}" for k, v in meta.get("servers", {}).items())
    files = f"{meta['file_duration_s']} s per run"
    if "file_connections" in meta:
        files += f", {meta['file_connections']} connections"
    large = f"{meta['large_page_files']} files"
    if "large_cold_samples" in meta:
        large += f" ({meta['large_cold_samples']} never-requested ones per server)"
    stall = ""
    if "huge_list_projects" in meta:
        stall = f"; loop-stall list: {meta['huge_list_projects']:,} projects"
    return [
        f"Run {meta['started_utc']} (UTC) on {meta['cores']} cores ({meta['cpu']}), "
        f"Python {meta['python']}; upstream: {meta['upstream']}"
        + (" (quick run)" if meta.get("quick") else "")
        + ".",
        "",
        f"wrk: {meta['duration_s']} s per page run, {meta['threads']} threads, "
        f"{meta['connections']} connections; files: {files}, "
        f"{meta['big_file_bytes'] // 2**20} MiB cached file, "
        f"{meta['cold_file_bytes'] // 2**20} MiB cold files; coalescing: "
        f"{meta['coalesce_clients']} clients; large page: {large}{stall}.",
        "",
        f"Servers: {servers}.",
        "",
    ]


def render(out_dir: Path, t: Tables) -> str:
    parts = ["# groxpi benchmark summary", "", *_header(out_dir), NOISE, ""]
    scope = checks.run_scope(out_dir)
    parts += ["## Headline", "", HEADLINE_READING, "", headline_markdown(t, *scope), ""]
    parts += ["## Ratios", "", READING, "", ratio_markdown(t), ""]
    sections = [
        ("Index pages: requests per second (wrk)", _by_metric(t, "api-", "rps")),
        ("Index pages: P50 latency, ms", _by_metric(t, "api-", "p50_ms")),
        ("Index pages: P99 latency, ms", _by_metric(t, "api-", "p99_ms")),
        ("Index pages: errors (timeouts, non-2xx)", _by_metric(t, "api-", "errors")),
        (
            "Index pages: server CPU during the run, % of one core",
            _by_metric(t, "api-", "cpu_mean_pct"),
        ),
    ]
    for title, keys in sections:
        if keys:
            parts += [f"## {title}", "", _pivot(t, keys, label_of_key=False), ""]
    rest = [
        k
        for k in t.values
        if not (
            k[0].startswith("api-")
            and k[1] in ("rps", "p50_ms", "p99_ms", "errors", "cpu_mean_pct")
        )
    ]
    rest.sort(key=lambda k: (k[0].startswith("api-"), k[0]))
    if rest:
        parts += ["## All other results", "", _pivot(t, rest), ""]
    parts += [
        "Metric direction: higher is better for "
        + ", ".join(sorted(HIGHER_IS_BETTER))
        + "; lower is better for everything else.",
        "",
    ]
    return "\n".join(parts)


def write(out_dir: Path, t: Tables) -> Path:
    path = out_dir / "summary.md"
    path.write_text(render(out_dir, t))
    return path
