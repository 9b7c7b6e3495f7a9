"""CPU and memory of a server's processes, sampled with psutil in a background thread.

Each server's process tree (the top-level pids and their children, so gunicorn
and groxpi workers and nginx's worker count) is sampled every ``interval``
seconds. :meth:`Monitor.phase` brackets one scenario run and returns its mean
CPU (percent of one core, summed over processes), peak RSS and the CPU seconds
the tree used in between (read from the kernel's counters at both ends, so a
short run is not at the mercy of the sampling interval).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil

MB = 1024 * 1024


@dataclass
class Usage:
    cpu_mean_pct: float = 0.0
    rss_peak_mb: float = 0.0
    samples: int = 0
    cpu_s: float = 0.0  # user + system seconds of the process tree during the phase


class Monitor:
    def __init__(self, pids: list[int], interval: float = 0.2) -> None:
        self._roots = [psutil.Process(pid) for pid in pids if psutil.pid_exists(pid)]
        self._procs: dict[int, psutil.Process] = {}
        self._interval = interval
        self._lock = threading.Lock()
        self._samples: list[tuple[float, float, float]] = []  # (time, cpu %, rss MB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-monitor", daemon=True)

    @property
    def active(self) -> bool:
        return bool(self._roots)

    def start(self) -> Monitor:
        if self._roots:
            self._sample()  # primes cpu_percent
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _tree(self) -> list[psutil.Process]:
        found: list[psutil.Process] = []
        for root in self._roots:
            try:
                found.append(root)
                found.extend(root.children(recursive=True))
            except psutil.Error:
                continue
        return found

    def _sample(self) -> None:
        cpu = rss = 0.0
        for proc in self._tree():
            known = self._procs.setdefault(proc.pid, proc)
            try:
                with known.oneshot():
                    cpu += known.cpu_percent(None)
                    rss += known.memory_info().rss / MB
            except psutil.Error:
                self._procs.pop(proc.pid, None)
        with self._lock:
            self._samples.append((time.monotonic(), cpu, rss))

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def rss_now_mb(self) -> float:
        total = 0.0
        for proc in self._tree():
            try:
                total += proc.memory_info().rss / MB
            except psutil.Error:
                continue
        return total

    def cpu_times(self) -> dict[int, float]:
        """Each live process's user + system CPU seconds so far, by pid."""
        times: dict[int, float] = {}
        for proc in self._tree():
            try:
                t = psutil.Process(proc.pid).cpu_times()
            except psutil.Error:
                continue
            times[proc.pid] = t.user + t.system
        return times

    def usage(self, start: float, end: float) -> Usage:
        with self._lock:
            window = [s for s in self._samples if start < s[0] <= end]
        if not window:
            return Usage()
        return Usage(
            cpu_mean_pct=sum(s[1] for s in window) / len(window),
            rss_peak_mb=max(s[2] for s in window),
            samples=len(window),
        )

    def overall(self) -> Usage:
        return self.usage(0.0, float("inf"))

    @contextmanager
    def phase(self) -> Iterator[Usage]:
        """Yields a :class:`Usage` that is filled in when the block ends."""
        result = Usage()
        before = self.cpu_times() if self._roots else {}
        start = time.monotonic()
        try:
            yield result
        finally:
            if self._roots:
                self._sample()
                got = self.usage(start, time.monotonic())
                result.cpu_mean_pct, result.rss_peak_mb = got.cpu_mean_pct, got.rss_peak_mb
                result.samples = got.samples
                # A process that started during the phase counts from zero.
                after = self.cpu_times()
                result.cpu_s = sum(t - before.get(pid, 0.0) for pid, t in after.items())
