"""Latency histograms cheap enough for the warm path: one bisect and two additions.

prometheus_client's own histograms take a lock (and, in multiprocess mode, write
to a memory-mapped file) on every observation; these are plain numbers that the
metrics module reads when scraped.
"""

from __future__ import annotations

from bisect import bisect_left

DURATION_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
"""Upper bounds in seconds: warm pages take well under a millisecond, cold files seconds."""


class Histogram:
    """Counts per bucket (not cumulative; the last one is +Inf) and the sum observed."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...] = DURATION_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value


class Histograms(dict[tuple[str, ...], Histogram]):
    """One histogram per label values, made on first use."""

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        histogram = self.get(labels)
        if histogram is None:
            histogram = self[labels] = Histogram()
        histogram.observe(value)
