"""Big encoded pages held once for all workers: files every worker maps.

PyPI's project list renders to about 130 MB of variants (JSON and HTML,
identity and compressed). Held as bytes, every worker keeps its own copy.
Written to a file named by its content and mapped read-only, the kernel keeps
one copy in its page cache, shared by every worker that maps the same file.
A file is removed when the page that created it is dropped; mappings made
before stay valid, as mappings of a removed file do.
"""

from __future__ import annotations

import contextlib
import mmap
import os
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


def remove_files(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()
