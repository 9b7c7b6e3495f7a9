"""Adding up workers' snapshots: counters over every worker, gauges over the living."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from groxpi.instruments import Histogram, Histograms
from groxpi.web.worker_metrics import (
    STALE_RUN,
    Snapshot,
    WorkerMetrics,
    counter,
    gauge,
    histogram,
    merge,
    run_directory,
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
    directory = run_directory(tmp_path / "metrics")
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


def test_each_run_gets_its_own_directory_and_stale_ones_are_swept(tmp_path: Path) -> None:
    root = tmp_path / "metrics"
    first = run_directory(root)
    WorkerMetrics(first).publish(worker(os.getpid(), 1, 0, 0, 0.01))
    second = run_directory(root)  # a restart with the same pid (pid 1 in a container)
    WorkerMetrics(second).publish(worker(os.getpid(), 1, 0, 0, 0.01))
    assert second != first and first.exists()  # written to just now: maybe still running
    old = time.time() - STALE_RUN - 1
    for path in (first, *first.iterdir()):
        os.utime(path, (old, old))
    third = run_directory(root)
    assert not first.exists() and second.exists() and third not in (first, second)


def test_an_older_snapshot_never_replaces_a_newer_one(tmp_path: Path) -> None:
    shared = WorkerMetrics(tmp_path / "run")
    newer = worker(shared.pid, requests=9, downloads=0, cache=0, seconds=0.01)
    older = worker(shared.pid, requests=5, downloads=0, cache=0, seconds=0.01)
    newer.taken, older.taken = 2, 1
    shared.publish(newer)
    shared.publish(older)  # its thread ran late
    reader = WorkerMetrics(tmp_path / "run", pid=dead_pid())
    seen = by_name(reader.gather(Snapshot(reader.pid, [])))
    assert seen["groxpi_http_requests"].samples == [(("/simple/",), 9)]
    left = {p.name for p in (tmp_path / "run").iterdir()}
    assert left == {f"{reader.pid}.msgpack", f"{shared.pid}.msgpack"}  # no temporary files


def test_concurrent_publishes_never_leave_a_torn_file(tmp_path: Path) -> None:
    shared = WorkerMetrics(tmp_path / "run")
    reader = WorkerMetrics(tmp_path / "run", pid=dead_pid())
    stop = threading.Event()
    errors: list[BaseException] = []

    def publish_forever(n: int) -> None:
        taken = 0
        while not stop.is_set():
            taken += 1
            snapshot = worker(shared.pid, requests=taken, downloads=0, cache=0, seconds=0.01)
            snapshot.taken = taken * 2 + n
            try:
                shared.publish(snapshot)
            except BaseException as exc:
                errors.append(exc)

    shared.publish(worker(shared.pid, requests=0, downloads=0, cache=0, seconds=0.01))
    threads = [threading.Thread(target=publish_forever, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(300):
            seen = by_name(reader.gather(Snapshot(reader.pid, [])))
            assert "groxpi_http_requests" in seen  # the writer's file was always readable
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == []
