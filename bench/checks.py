"""Headline checks: groxpi's figures against their bounds, from one run's results table.

A run exits non-zero when it misses a threshold (see :data:`bench.settings.HEADLINE`),
so a regression fails ``make bench-quick`` instead of hiding in a table. A check
whose servers and scenarios were asked for but left no figure fails too: a
server that did not start must not pass for a fast one.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.fmt import TIMES, num
from bench.results import HIGHER_IS_BETTER
from bench.settings import THRESHOLDS, Check

# (scenario, metric) → server → value: what :class:`bench.analysis.Tables` holds.
Values = Mapping[tuple[str, str], Mapping[str, float]]
Units = Mapping[tuple[str, str], str]

PASS, FAIL, MISSING, SKIPPED, INFO = "ok", "FAIL", "missing", "skipped", "info"
# How a verdict that does not fail the run is shown (a missed goal is not a failure).
LABELS = {PASS: "ok", FAIL: "miss", MISSING: "none", SKIPPED: "skip", INFO: "info"}


@dataclass(frozen=True)
class Verdict:
    check: Check
    status: str  # PASS, FAIL, MISSING, SKIPPED or INFO (no bound to meet)
    value: float | None = None  # the checked server's figure
    reference: float | None = None  # the other server's figure
    ratio: float | None = None
    detail: str = ""

    @property
    def failed(self) -> bool:
        """Counts against the run: a missed threshold or one with no figure."""
        return self.check.fails_run and self.status in (FAIL, MISSING)

    @property
    def goal(self) -> str:
        c = self.check
        if c.bound is None:
            return ""
        sign = ">=" if c.metric in HIGHER_IS_BETTER else "<="
        return f"{sign} {num(c.bound)}{TIMES if c.against else ''}"

    def message(self, units: Units | None = None) -> str:
        """One line: the verdict, the figures, the bound and any note (ratios as "10x")."""
        c = self.check
        unit = (units or {}).get((c.scenario, c.metric), "")
        what = f"{c.scenario} {c.metric}" + (f" vs {c.against}" if c.against else "")
        label = "FAIL" if self.failed else LABELS[self.status]
        if self.status in (MISSING, SKIPPED):
            text = f"{what}: {self.detail}"
        else:
            figure = f"{c.server} {num(self.value)} {unit}".rstrip()
            if c.against:
                theirs = f"{num(self.reference)} {unit}".rstrip()
                figure += f" is {num(self.ratio)}{TIMES} {c.against} ({theirs})"
            text = f"{what}: {figure}"
            if self.goal:
                text += f"; needs {self.goal}"
        if c.note:
            text += f" ({c.note})"
        return f"{label:<4} {text}".replace(TIMES, "x")  # plain ASCII for terminals and logs


def _meets(check: Check, figure: float) -> bool:
    assert check.bound is not None
    if check.metric in HIGHER_IS_BETTER:
        return figure >= check.bound
    return figure <= check.bound


def judge(
    check: Check,
    values: Values,
    servers: Collection[str] | None = None,
    families: Collection[str] | None = None,
) -> Verdict:
    """``check`` against ``values``; ``servers``/``families``: what the run asked for
    (None: whatever has figures in ``values``)."""
    row = values.get((check.scenario, check.metric), {})
    wanted = [check.server, *([check.against] if check.against else [])]
    if servers is None:
        servers = {s for by_server in values.values() for s in by_server}
    if families is not None and check.family not in families:
        return Verdict(check, SKIPPED, detail=f"the {check.family} scenarios were not run")
    absent = [s for s in wanted if s not in servers]
    if absent:
        return Verdict(check, SKIPPED, detail=f"{', '.join(absent)} not in this run")
    missing = [s for s in wanted if s not in row]
    if missing:
        return Verdict(check, MISSING, detail=f"no figure for {', '.join(missing)} (asked for)")
    value = row[check.server]
    reference = row[check.against] if check.against else None
    if reference == 0:
        return Verdict(check, MISSING, value, 0.0, detail=f"{check.against} scored 0")
    figure = value if reference is None else value / reference
    if check.bound is None:
        return Verdict(check, INFO, value, reference, figure if reference else None)
    status = PASS if _meets(check, figure) else FAIL
    return Verdict(check, status, value, reference, figure if reference else None)


def evaluate(
    values: Values,
    checks: tuple[Check, ...] = THRESHOLDS,
    servers: Collection[str] | None = None,
    families: Collection[str] | None = None,
) -> list[Verdict]:
    return [judge(c, values, servers, families) for c in checks]


def failures(
    values: Values,
    servers: Collection[str] | None = None,
    families: Collection[str] | None = None,
    checks: tuple[Check, ...] = THRESHOLDS,
    units: Units | None = None,
) -> list[str]:
    """One message per failed check (missed, or asked for but without a figure)."""
    return [v.message(units) for v in evaluate(values, checks, servers, families) if v.failed]


def run_scope(out_dir: Path) -> tuple[list[str] | None, list[str] | None]:
    """The servers and scenario families the run in ``out_dir`` asked for (meta.json);
    None where an older run did not record them."""
    try:
        meta = json.loads((out_dir / "meta.json").read_text())
    except (OSError, ValueError):
        return None, None
    return meta.get("requested_servers"), meta.get("scenarios")
