"""Metrics that add up across workers: each worker's numbers in a file its siblings read.

Every worker keeps plain numbers in memory and writes a snapshot of them to
``<dir>/<pid>.msgpack`` every few seconds, when a scrape reaches it, and when it
stops. The worker answering a scrape writes its own snapshot first and then sums
them all, so each worker's share only grows from one scrape to the next and
Prometheus never sees a false counter reset. A dead worker's last snapshot still
counts toward counters; its gauges and process figures are left out.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

import msgspec
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from ..instruments import DURATION_BUCKETS, Histograms

Labels = tuple[str, ...]
Kind = Literal["counter", "gauge", "histogram"]
Merge = Literal["sum", "live", "own"]
"""sum: over every worker that ever ran; live: over running workers; own: the scraped one's."""


class Family(msgspec.Struct, array_like=True):
    name: str
    kind: Kind
    help: str
    labels: Labels
    merge: Merge
    samples: list[tuple[Labels, float]] = []
    buckets: list[tuple[Labels, list[int], float]] = []  # histograms: counts per bound, sum


class Snapshot(msgspec.Struct, array_like=True):
    pid: int
    families: list[Family]
    taken: int = 0  # time.monotonic_ns() when taken: an older one never replaces a newer


def counter(name: str, help: str, labels: Labels, values: Iterable[tuple[Labels, float]]) -> Family:
    return Family(name, "counter", help, labels, "sum", list(values))


def gauge(
    name: str, help: str, value: float, merge: Merge = "own", labels: Labels = (), key: Labels = ()
) -> Family:
    return Family(name, "gauge", help, labels, merge, [(key, value)])


def histogram(name: str, help: str, labels: Labels, histograms: Histograms) -> Family:
    buckets = [(key, list(h.counts), h.sum) for key, h in histograms.items()]
    return Family(name, "histogram", help, labels, "sum", buckets=buckets)


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Snapshot)


class WorkerMetrics:
    """The snapshot files of one server's workers (``directory`` is the server run's own)."""

    def __init__(self, directory: Path, pid: int | None = None) -> None:
        self.directory = directory
        self.pid = os.getpid() if pid is None else pid
        self._lock = threading.Lock()  # the periodic publisher and scrapes run in threads
        self._last_taken = -1

    def publish(self, snapshot: Snapshot) -> None:
        """Replace this worker's file atomically, so readers see one snapshot whole;
        a snapshot older than the one already written is dropped."""
        with self._lock:
            if snapshot.taken < self._last_taken:
                return
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{self.pid}.msgpack"
            temporary = self.directory / f"{self.pid}.{secrets.token_hex(4)}.tmp"
            try:
                temporary.write_bytes(_encoder.encode(snapshot))
                os.replace(temporary, path)
            finally:
                temporary.unlink(missing_ok=True)
            self._last_taken = snapshot.taken

    def gather(self, own: Snapshot) -> list[Family]:
        """Publish ``own``, then merge every worker's latest snapshot."""
        self.publish(own)
        others = [(s, _alive(s.pid)) for s in self._read_all() if s.pid != self.pid]
        return merge(own, others)

    def _read_all(self) -> Iterator[Snapshot]:
        for path in self.directory.glob("*.msgpack"):
            with contextlib.suppress(OSError, msgspec.DecodeError):
                yield _decoder.decode(path.read_bytes())


STALE_RUN = 60.0
"""Seconds without a snapshot after which another run's directory is left over."""


def run_directory(root: Path) -> Path:
    """A new directory for this server run's snapshots, under ``root``.

    Named by host, pid and a random token: in a container the server is always
    pid 1, and a restart must not add up the previous run's numbers. Other
    runs' directories that no worker has written to for a minute (their
    workers publish every few seconds) are removed.
    """
    with contextlib.suppress(OSError):
        now = time.time()
        for old in root.iterdir():
            if old.is_dir() and now - _last_write(old) > STALE_RUN:
                shutil.rmtree(old, ignore_errors=True)
    # Made by the first snapshot: an unusable cache directory is the storage check's to report.
    return root / f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


def _last_write(directory: Path) -> float:
    times = [directory.stat().st_mtime]
    for path in directory.iterdir():
        with contextlib.suppress(OSError):
            times.append(path.stat().st_mtime)
    return max(times)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def merge(own: Snapshot, others: list[tuple[Snapshot, bool]]) -> list[Family]:
    """Sum same-labelled samples family by family, as each family's merge rule says."""
    merged: dict[str, Family] = {}
    for snapshot, alive, is_own in [(own, True, True)] + [(s, a, False) for s, a in others]:
        for family in snapshot.families:
            if (family.merge == "live" and not alive) or (family.merge == "own" and not is_own):
                continue
            into = merged.get(family.name)
            if into is None:
                merged[family.name] = msgspec.structs.replace(
                    family, samples=list(family.samples), buckets=list(family.buckets)
                )
                continue
            into.samples = _summed(into.samples, family.samples)
            into.buckets = _summed_buckets(into.buckets, family.buckets)
    return list(merged.values())


def _summed(
    a: list[tuple[Labels, float]], b: list[tuple[Labels, float]]
) -> list[tuple[Labels, float]]:
    totals = dict(a)
    for key, value in b:
        totals[tuple(key)] = totals.get(tuple(key), 0.0) + value
    return list(totals.items())


def _summed_buckets(
    a: list[tuple[Labels, list[int], float]], b: list[tuple[Labels, list[int], float]]
) -> list[tuple[Labels, list[int], float]]:
    totals = {tuple(key): (list(counts), total) for key, counts, total in a}
    for key, counts, total in b:
        held = totals.get(tuple(key))
        if held is None or len(held[0]) != len(counts):
            totals[tuple(key)] = (list(counts), total)
        else:
            totals[tuple(key)] = (
                [x + y for x, y in zip(held[0], counts, strict=True)],
                held[1] + total,
            )
    return [(key, counts, total) for key, (counts, total) in totals.items()]


def to_prometheus(families: Iterable[Family]) -> Iterator[Metric]:
    """prometheus_client metric families, ready for ``generate_latest``."""
    for family in families:
        if family.kind == "histogram":
            histograms = HistogramMetricFamily(family.name, family.help, labels=family.labels)
            for key, counts, total in sorted(family.buckets):
                histograms.add_metric(list(key), _cumulative(counts), total)
            yield histograms
            continue
        maker = CounterMetricFamily if family.kind == "counter" else GaugeMetricFamily
        metric = maker(family.name, family.help, labels=family.labels)
        for key, value in sorted(family.samples):
            metric.add_metric(list(key), value)
        yield metric


def _cumulative(counts: list[int]) -> list[tuple[str, float]]:
    bounds = [*(repr(float(b)) for b in DURATION_BUCKETS), "+Inf"]
    running, out = 0, []
    for bound, count in zip(bounds, counts, strict=False):
        running += count
        out.append((bound, float(running)))
    return out
