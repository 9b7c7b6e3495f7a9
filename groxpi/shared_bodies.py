"""Big encoded pages held once for all workers: files every worker maps.

PyPI's project list renders to about 130 MB of variants (JSON and HTML,
identity and compressed). Held as bytes, every worker keeps its own copy.
Written to a file named by its content and mapped read-only, the kernel keeps
one copy in its page cache, shared by every worker that maps the same file.
A file is removed when the page that created it is dropped; mappings made
before stay valid, as mappings of a removed file do. An encode can outlive its
page (its client hung up, the page was replaced meanwhile): a file it shares
after the page is dropped is removed at once, not left until the sweep.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import threading
import time
import uuid
from pathlib import Path

SHARE_FROM = 1024 * 1024
"""Bodies at least this large are shared; smaller ones stay plain bytes."""
LEFTOVER_AGE = 86400.0
"""Seconds after which a file nobody removed (its process was killed) is swept."""


class SharedBodies:
    """Content-addressed body files under ``root``, mapped by whoever needs them."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def share(self, body: bytes, name: str) -> tuple[memoryview, Path] | None:
        """``body`` as a read-only mapping of the file ``name`` (written if missing),
        and the file's path; None when it cannot be shared (then keep the bytes)."""
        path = self.root / name
        try:
            fd = _open_or_write(path, body)
        except OSError:
            return None
        try:
            if os.fstat(fd).st_size != len(body):  # not ours after all: keep the bytes
                return None
            mapped = mmap.mmap(fd, len(body), prot=mmap.PROT_READ)
        except (OSError, ValueError):
            return None
        finally:
            os.close(fd)
        return memoryview(mapped), path

    def sweep_leftovers(self, now: float | None = None) -> None:
        """Remove files older than LEFTOVER_AGE (left by processes that were killed)."""
        cutoff = (time.time() if now is None else now) - LEFTOVER_AGE
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.root):
                with contextlib.suppress(OSError):
                    if entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)


def _open_or_write(path: Path, body: bytes) -> int:
    try:
        return os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    try:
        temp.write_bytes(body)
        os.replace(temp, path)  # whole or not at all, for the other workers
    finally:
        temp.unlink(missing_ok=True)
    return os.open(path, os.O_RDONLY)


class PageFiles:
    """The files one page's big bodies are shared in, all removed by :meth:`close`
    (when the page is dropped). A body shared after that is not left behind."""

    __slots__ = ("_closed", "_lock", "_paths", "_shared")

    def __init__(self, shared: SharedBodies) -> None:
        self._shared = shared
        self._paths: list[Path] = []
        self._lock = threading.Lock()  # encodes run in worker threads
        self._closed = False

    def share(self, body: bytes, name: str) -> memoryview | None:
        """``body`` as a mapping of a file removed with the page; None when it
        cannot be shared, or the page is gone already (then keep the bytes)."""
        if self._closed:
            return None
        mapped = self._shared.share(body, name)
        if mapped is None:
            return None
        view, path = mapped
        with self._lock:
            if not self._closed:
                self._paths.append(path)
                return view
        _remove(path)  # closed while it was written: the mapping stays valid
        return view

    def close(self) -> None:
        with self._lock:
            self._closed = True
            paths, self._paths = self._paths, []
        for path in paths:
            _remove(path)


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
