"""Adding up workers' snapshots: counters over every worker, gauges over the living."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from groxpi.instruments import Histogram, Histograms
from groxpi.web.worker_metrics import (
    Snapshot,
    WorkerMetrics,
    counter,
    gauge,
    histogram,
    merge,
    server_directory,
)


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def worker(pid: int, requests: float, downloads: float, cache: float, seconds: float) -> Snapshot:
    durations = Histograms({("/simple/{project}/",): Histogram()})
    durations[("/simple/{project}/",)].observe(seconds)
    return Snapshot(
        pid,
        [
            counter("groxpi_http_requests", "h", ("route",), [(("/simple/",), requests)]),
            gauge("groxpi_downloads_in_progress", "h", downloads, "live"),
            gauge("groxpi_cache_bytes", "h", cache),
            histogram("groxpi_http_request_duration_seconds", "h", ("route",), durations),
        ],
    )


def by_name(families: list) -> dict:  # type: ignore[type-arg]
    return {family.name: family for family in families}


def test_counters_sum_over_every_worker_gauges_over_the_living_and_own_figures_stay_own() -> None:
    own = worker(1, requests=3, downloads=1, cache=100, seconds=0.002)
    living = worker(2, requests=4, downloads=2, cache=999, seconds=0.2)
    dead = worker(3, requests=5, downloads=7, cache=999, seconds=0.002)
    merged = by_name(merge(own, [(living, True), (dead, False)]))
    assert merged["groxpi_http_requests"].samples == [(("/simple/",), 12)]
    assert merged["groxpi_downloads_in_progress"].samples == [((), 3)]  # the dead one's 7 left out
    assert merged["groxpi_cache_bytes"].samples == [((), 100)]  # one cache, not three
    [(labels, counts, total)] = merged["groxpi_http_request_duration_seconds"].buckets
    assert labels == ("/simple/{project}/",) and sum(counts) == 3
    assert abs(total - 0.204) < 1e-9


def test_gather_reads_siblings_files_and_each_share_only_grows(tmp_path: Path) -> None:
    directory = server_directory(tmp_path / "metrics", 4242)
    first, second = WorkerMetrics(directory, pid=dead_pid()), WorkerMetrics(directory)
    first.publish(worker(first.pid, requests=10, downloads=5, cache=1, seconds=0.01))
    seen = by_name(
        second.gather(worker(second.pid, requests=1, downloads=1, cache=1, seconds=0.01))
    )
    assert seen["groxpi_http_requests"].samples == [(("/simple/",), 11)]
    assert seen["groxpi_downloads_in_progress"].samples == [((), 1)]  # first's pid is not running
    (directory / "garbage.msgpack").write_bytes(b"\x00 not a snapshot")
    again = by_name(
        second.gather(worker(second.pid, requests=2, downloads=0, cache=1, seconds=0.01))
    )
    assert again["groxpi_http_requests"].samples == [(("/simple/",), 12)]


def test_directories_of_servers_no_longer_running_are_swept(tmp_path: Path) -> None:
    root = tmp_path / "metrics"
    gone = root / str(dead_pid())
    gone.mkdir(parents=True)
    (gone / "1.msgpack").write_bytes(b"")
    mine = server_directory(root, 4242)
    assert not gone.exists()
    assert mine == root / "4242"
