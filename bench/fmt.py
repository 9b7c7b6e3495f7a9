"""Numbers as the summary, the README table and the check messages print them."""

from __future__ import annotations

TIMES = "\u00d7"  # the multiplication sign after a ratio
NONE = "\u2013"  # an en dash where a value is missing


def num(value: float | None) -> str:
    """Three significant figures or so; integers with thousands separators."""
    if value is None:
        return NONE
    magnitude = abs(value)
    if value == int(value) and magnitude < 1e12:
        return f"{int(value):,}"
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1 or value == 0:
        return f"{value:.2f}"
    return f"{value:.3g}"


def ratio(value: float | None) -> str:
    return NONE if value is None else f"{num(value)}{TIMES}"
