"""DuckDB over results.csv: the ratios groxpi/peer per scenario and metric, and pivots.

A ratio is always (left server's value) / (right server's value). Whether a
ratio above 1 is good depends on the metric: see :data:`HIGHER_IS_BETTER`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from bench.results import HIGHER_IS_BETTER

# (label, left, right): the comparisons the summary leads with.
PAIRS = (
    ("groxpi/proxpi", "groxpi", "proxpi"),
    ("groxpi/devpi", "groxpi", "devpi"),
    ("groxpi/aiohttp-bare", "groxpi", "aiohttp-bare"),
    ("groxpi/nginx", "groxpi", "nginx"),
    ("groxpi-2w/proxpi-2w", "groxpi-2w", "proxpi-2w"),
    ("groxpi-s3/groxpi", "groxpi-s3", "groxpi"),
    ("groxpi/upstream", "groxpi", "upstream"),
)
# Metrics worth a ratio; the rest (p50, p90, transfer, per-run CPU) stay in the full tables.
HEADLINE_METRICS = (
    "rps",
    "p99_ms",
    "throughput_mbps",
    "cpu_s_per_gb",
    "ttfb_ms",
    "total_ms",
    "small_ms",
    "large_ms",
    "upstream_requests",
    "wall_s",
    "idle_rss_mb",
    "peak_rss_mb",
    "load_cpu_mean_pct",
)


@dataclass
class RatioRow:
    scenario: str
    metric: str
    unit: str
    left_server: str
    left_value: float
    ratios: dict[str, float] = field(default_factory=dict)

    @property
    def higher_is_better(self) -> bool:
        return self.metric in HIGHER_IS_BETTER


@dataclass
class Tables:
    labels: list[str]
    ratio_rows: list[RatioRow]
    wins: list[tuple[str, int, int]]  # label, groxpi better, compared
    servers: list[str]
    values: dict[tuple[str, str], dict[str, float]]  # (scenario, metric) → server → value
    units: dict[tuple[str, str], str]


def _connect(csv_path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE r AS SELECT * FROM read_csv(?, header = true, columns = {"
        "'server': 'VARCHAR', 'scenario': 'VARCHAR', 'metric': 'VARCHAR', "
        "'value': 'DOUBLE', 'unit': 'VARCHAR'})",
        [str(csv_path)],
    )
    con.execute("CREATE TABLE pairs (label VARCHAR, lhs VARCHAR, rhs VARCHAR, ord INTEGER)")
    con.executemany("INSERT INTO pairs VALUES (?, ?, ?, ?)", [(*p, i) for i, p in enumerate(PAIRS)])
    con.execute("CREATE TABLE higher (metric VARCHAR)")
    con.executemany("INSERT INTO higher VALUES (?)", [(m,) for m in sorted(HIGHER_IS_BETTER)])
    con.execute("CREATE TABLE headline (metric VARCHAR, ord INTEGER)")
    con.executemany(
        "INSERT INTO headline VALUES (?, ?)", [(m, i) for i, m in enumerate(HEADLINE_METRICS)]
    )
    con.execute(
        """
        CREATE TABLE ratios AS
        SELECT p.label, p.ord AS pair_ord, a.server AS lhs, a.scenario, a.metric, a.unit,
               a.value AS lhs_value, b.value AS rhs_value,
               a.value / NULLIF(b.value, 0) AS ratio,
               a.metric IN (SELECT metric FROM higher) AS higher_better
        FROM pairs p
        JOIN r a ON a.server = p.lhs
        JOIN r b ON b.server = p.rhs AND b.scenario = a.scenario AND b.metric = a.metric
        JOIN headline h ON h.metric = a.metric
        """
    )
    return con


def analyse(csv_path: Path) -> Tables:
    con = _connect(csv_path)
    labels = [
        row[0]
        for row in con.execute(
            "SELECT label FROM ratios GROUP BY label, pair_ord ORDER BY pair_ord"
        ).fetchall()
    ]
    rows: dict[tuple[str, str, str], RatioRow] = {}
    for label, lhs, scenario, metric, unit, lhs_value, ratio in con.execute(
        """
        WITH so AS (SELECT scenario, min(rowid) AS o FROM r GROUP BY scenario)
        SELECT label, lhs, scenario, metric, unit, lhs_value, ratio FROM ratios
        JOIN headline USING (metric)
        JOIN so USING (scenario)
        ORDER BY (lhs <> 'groxpi'), so.o, headline.ord, pair_ord
        """
    ).fetchall():
        key = (lhs, scenario, metric)
        row = rows.setdefault(key, RatioRow(scenario, metric, unit, lhs, lhs_value))
        if ratio is not None:
            row.ratios[label] = ratio
    wins = [
        (str(label), int(better), int(total))
        for label, better, total in con.execute(
            """
            SELECT label,
                   count(*) FILTER (WHERE (higher_better AND ratio > 1)
                                       OR (NOT higher_better AND ratio < 1)),
                   count(ratio)
            FROM ratios GROUP BY label, pair_ord ORDER BY pair_ord
            """
        ).fetchall()
    ]
    servers = [
        s
        for (s,) in con.execute(
            "SELECT server FROM r GROUP BY server ORDER BY min(rowid)"
        ).fetchall()
    ]
    values: dict[tuple[str, str], dict[str, float]] = {}
    units: dict[tuple[str, str], str] = {}
    for server, scenario, metric, value, unit in con.execute(
        "SELECT server, scenario, metric, value, unit FROM r ORDER BY rowid"
    ).fetchall():
        values.setdefault((scenario, metric), {})[server] = value
        units[(scenario, metric)] = unit
    con.close()
    return Tables(labels, list(rows.values()), wins, servers, values, units)
