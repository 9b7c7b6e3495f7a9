"""Result rows (one per server, scenario and metric) and the CSV they are written to."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

COLUMNS = ("server", "scenario", "metric", "value", "unit")

# Which direction is better, by metric name; anything not listed: lower is better.
HIGHER_IS_BETTER = frozenset({"rps", "throughput_mbps", "transfer_mbps"})


@dataclass(frozen=True)
class Row:
    server: str
    scenario: str
    metric: str
    value: float
    unit: str


class Results:
    """Collects rows in memory; written once at the end (and after each server)."""

    def __init__(self) -> None:
        self.rows: list[Row] = []

    def add(self, server: str, scenario: str, metric: str, value: float, unit: str) -> None:
        if math.isnan(value) or math.isinf(value):
            return
        self.rows.append(Row(server, scenario, metric, float(value), unit))

    def servers(self) -> list[str]:
        return list(dict.fromkeys(r.server for r in self.rows))

    def write_csv(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(COLUMNS)
            for r in self.rows:
                writer.writerow((r.server, r.scenario, r.metric, f"{r.value:.6g}", r.unit))


def read_csv(path: Path) -> list[Row]:
    with path.open(newline="") as fh:
        return [
            Row(d["server"], d["scenario"], d["metric"], float(d["value"]), d["unit"])
            for d in csv.DictReader(fh)
        ]
