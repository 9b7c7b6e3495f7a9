"""groxpi killed, stopped or started on a bad disk, as a real subprocess.

tests/web/test_files.py shows cached files surviving an in-process restart, and
tests/test_main.py a cache path that is not a directory; here the process is
SIGKILLed mid-download, SIGTERMed under load, and started on a read-only mount.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from tests.conftest import GroxpiFactory
from tests.reliability.conftest import (
    add_blob,
    mounted_tmpfs,
    raw_get,
    remount,
    spool_files,
    stored_files,
    wait_for,
)
from tests.support.fake_index import FakeIndex, Fault
from tests.support.server import REPO_ROOT, GroxpiProcess, _clean_environ, free_port

WHEEL = "alpha-1.0-py3-none-any.whl"


class Fetch(threading.Thread):
    """Download ``url`` in the background, recording status, bytes and how it ended."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.status = 0
        self.body = b""
        self.error: BaseException | None = None
        self.first_bytes = threading.Event()

    def run(self) -> None:
        try:
            with urllib.request.urlopen(self.url, timeout=30) as response:
                self.status = response.status
                chunks = [response.read(1024)]
                self.first_bytes.set()
                while chunk := response.read(65536):
                    chunks.append(chunk)
                self.body = b"".join(chunks)
                length = response.headers.get("Content-Length")
                if length is not None and int(length) != len(self.body):
                    # http.client's read(n) does not raise on a short body: check it here.
                    raise http.client.IncompleteRead(self.body, int(length) - len(self.body))
        except urllib.error.HTTPError as exc:
            self.status = exc.code
        except Exception as exc:  # IncompleteRead, ConnectionReset: a failed transfer
            self.error = exc
        finally:
            self.first_bytes.set()


def stored_bytes(cache: Path) -> dict[str, bytes]:
    return {p.name.removesuffix(".dist"): p.read_bytes() for p in stored_files(cache)}


def test_sigkill_mid_download_then_restart(
    fake_index: FakeIndex, groxpi_server: GroxpiFactory, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    blob = add_blob(fake_index, "slowpkg", 400_000)
    server = groxpi_server(GROXPI_CACHE_DIR=cache, GROXPI_DOWNLOAD_TIMEOUT=0)
    committed = raw_get(server.port, f"/simple/alpha/{WHEEL}")
    assert committed.body == fake_index.file(WHEEL).data
    wait_for(lambda: len(stored_files(cache)) == 1)

    fake_index.set_fault(blob.filename, Fault.slow(4096, 0.05))
    fetch = Fetch(f"{server.url}/simple/slowpkg/{blob.filename}")
    fetch.start()
    assert fetch.first_bytes.wait(10) and fetch.status == 200
    assert [p.suffix for p in spool_files(cache)] == [".part"]  # mid-download
    server.stop(signal.SIGKILL)
    fetch.join(10)
    assert fetch.error is not None or len(fetch.body) < blob.size
    assert [p.name for p in stored_files(cache)] == [WHEEL + ".dist"]

    # Restart on the same cache with upstream entirely down (the page is in the page store).
    fake_index.clear_faults()
    fake_index.set_fault("*index*", Fault.status(503))
    fake_index.set_fault("*files*", Fault.status(503))
    restarted = groxpi_server(GROXPI_CACHE_DIR=cache, GROXPI_DOWNLOAD_TIMEOUT=0)
    assert spool_files(cache) == []  # leftovers of the killed run were removed at start-up
    assert raw_get(restarted.port, f"/simple/alpha/{WHEEL}").body == fake_index.file(WHEEL).data
    partial = raw_get(restarted.port, f"/simple/slowpkg/{blob.filename}")
    assert partial.status == 502 and blob.data[:1000] not in partial.body
    ranged = raw_get(restarted.port, f"/simple/slowpkg/{blob.filename}", {"Range": "bytes=0-9"})
    assert ranged.status == 502

    # Upstream back: the interrupted file is fetched whole.
    fake_index.clear_faults()
    assert raw_get(restarted.port, f"/simple/slowpkg/{blob.filename}").body == blob.data
    wait_for(lambda: stored_bytes(cache).get(blob.filename) == blob.data)


def _start_downloads(server: GroxpiProcess, fake_index: FakeIndex, blobs: list) -> list[Fetch]:  # type: ignore[type-arg]
    fetches = []
    for blob in blobs:
        fake_index.set_fault(blob.filename, Fault.slow(16_384, 0.03))
        for _ in range(2):  # two clients per file: one download, two transfers
            fetch = Fetch(f"{server.url}/simple/{blob.project}/{blob.filename}")
            fetch.start()
            fetches.append(fetch)
    for fetch in fetches:
        assert fetch.first_bytes.wait(10) and fetch.status == 200
    return fetches


def test_sigterm_under_load_finishes_downloads_and_loses_nothing(
    fake_index: FakeIndex, groxpi_server: GroxpiFactory, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    blobs = [add_blob(fake_index, f"load{n}", 300_000) for n in range(4)]
    server = groxpi_server(GROXPI_CACHE_DIR=cache, GROXPI_DOWNLOAD_TIMEOUT=0)
    fetches = _start_downloads(server, fake_index, blobs)
    assert len(spool_files(cache)) == len(blobs)
    started = time.monotonic()
    assert server.stop(signal.SIGTERM, timeout=15) == 0
    assert time.monotonic() - started < 10
    for fetch in fetches:
        fetch.join(10)
    by_name = {b.filename: b.data for b in blobs}
    for fetch in fetches:  # in-flight responses were finished, not cut
        assert fetch.error is None and fetch.body == by_name[fetch.url.rsplit("/", 1)[1]]
    assert stored_bytes(cache) == by_name  # every download committed, byte-exact
    assert spool_files(cache) == []
    assert "Traceback" not in server.log_text()

    fake_index.set_fault("*index*", Fault.status(503))
    fake_index.set_fault("*files*", Fault.status(503))
    restarted = groxpi_server(GROXPI_CACHE_DIR=cache)
    for blob in blobs:
        response = raw_get(restarted.port, f"/simple/{blob.project}/{blob.filename}")
        assert hashlib.sha256(response.body).hexdigest() == blob.sha256


def test_sigterm_past_the_shutdown_timeout_commits_no_partial_file(
    fake_index: FakeIndex, groxpi_server: GroxpiFactory, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    blobs = [add_blob(fake_index, f"stuck{n}", 300_000) for n in range(2)]
    server = groxpi_server(
        GROXPI_CACHE_DIR=cache, GROXPI_DOWNLOAD_TIMEOUT=0, GROXPI_SHUTDOWN_TIMEOUT=0.5
    )
    for blob in blobs:
        fake_index.set_fault(blob.filename, Fault.slow(1024, 0.05))  # ~15 s per file
    fetches = [Fetch(f"{server.url}/simple/{b.project}/{b.filename}") for b in blobs]
    for fetch in fetches:
        fetch.start()
        assert fetch.first_bytes.wait(10)
    started = time.monotonic()
    assert server.stop(signal.SIGTERM, timeout=15) == 0
    assert time.monotonic() - started < 5
    for fetch in fetches:
        fetch.join(10)
        assert fetch.error is not None  # aborted, never a complete-looking short file
    assert stored_files(cache) == [] and spool_files(cache) == []
    fake_index.clear_faults()
    restarted = groxpi_server(GROXPI_CACHE_DIR=cache)
    for blob in blobs:
        assert raw_get(restarted.port, f"/simple/{blob.project}/{blob.filename}").body == blob.data


def test_sigterm_while_workers_start_is_a_clean_exit(fake_index: FakeIndex, tmp_path: Path) -> None:
    """A stop signal in the window before each worker's event loop is up."""
    for attempt in range(3):
        proc = GroxpiProcess(
            {"GROXPI_INDEX_URL": fake_index.index_url, "GROXPI_WORKERS": "2"},
            tmp_path / f"cache-{attempt}",
        )
        proc.cache_dir.mkdir(parents=True)
        log = proc.log_path.open("wb")
        popen = subprocess.Popen(
            [sys.executable, "-m", "groxpi"],
            env=proc.env,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            parent = psutil.Process(popen.pid)
            wait_for(lambda p=parent: len(p.children()) == 2, timeout=10, interval=0.001)
            time.sleep(0.01 * attempt)
            popen.send_signal(signal.SIGTERM)
            assert popen.wait(15) == 0, proc.log_path.read_text()
        finally:
            if popen.poll() is None:
                popen.kill()
            log.close()
        assert "Traceback" not in proc.log_path.read_text()


def run_groxpi_cli(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "groxpi"],
        env={**_clean_environ(), "GROXPI_HOST": "127.0.0.1", "PORT": str(free_port()), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_workers_that_keep_failing_at_start_up_make_the_server_exit_1(tmp_path: Path) -> None:
    """Each worker finds its cache directory unusable: bounded restarts, then exit 1."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run_groxpi_cli(GROXPI_WORKERS="2", GROXPI_CACHE_DIR=str(blocker / "cache"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].endswith(
        "groxpi.supervisor: workers keep failing at start-up: exiting with status 1"
    )
    attempts = [line for line in lines if line.startswith("groxpi: storage unusable:")]
    assert 5 <= len(attempts) <= 10  # five starts per worker at most
    delays = re.findall(
        r"exited with status 1 after [\d.]+ s; restarting it in ([\d.]+) s", result.stderr
    )
    assert sorted(set(delays), key=float) == ["0.5", "1.0", "2.0", "4.0"]
    assert re.search(
        r"worker \d+ exited with status 1 after [\d.]+ s: 5 early exits in a row, "
        r"giving up and stopping the other workers",
        result.stderr,
    )
    assert "Traceback" not in result.stderr


def test_read_only_cache_dir_stops_startup_with_one_line(tmp_path: Path) -> None:
    with mounted_tmpfs(tmp_path / "ro", "size=1m") as mount:
        (mount / "cache").mkdir()
        remount(mount, "ro")
        result = run_groxpi_cli(GROXPI_CACHE_DIR=str(mount / "cache"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert (
        lines[-1].startswith("groxpi: storage unusable:") and "Read-only file system" in lines[-1]
    )
    assert "Traceback" not in result.stderr


def test_full_disk_at_startup_stops_startup_with_one_line(tmp_path: Path) -> None:
    with mounted_tmpfs(tmp_path / "full", "size=64k,nr_inodes=3") as mount:
        (mount / "cache").mkdir()
        (mount / "filler").write_bytes(b"")  # the last free inode
        result = run_groxpi_cli(GROXPI_CACHE_DIR=str(mount / "cache"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("groxpi: storage unusable:") and "No space left" in lines[-1]
    assert "Traceback" not in result.stderr
