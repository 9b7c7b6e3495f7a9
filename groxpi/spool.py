"""Spool directories: where downloads in progress are written, one per process.

Each process locks its own directory (``flock`` on the directory itself) for
as long as it lives, so workers and replicas sharing a cache directory never
touch each other's downloads, and at start-up any unlocked directory is known
to be a leftover of a process that died (even in containers, where every
replica may have the same PID).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
import uuid
from pathlib import Path

from .leases import locked


class Spool:
    """This process's spool directory, locked while it is in use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / uuid.uuid4().hex
        self._lock_fd = -1

    def open(self) -> None:
        """Remove abandoned spools, then create and lock this one (raises OSError)."""
        remove_abandoned(self.root)
        self.ensure()

    def ensure(self) -> Path:
        """The directory, re-created (and re-locked) if something removed it."""
        for _ in range(5):
            if self._lock_fd >= 0 and self._holds_lock():
                return self.path
            self._release()
            # Another process's clean-up may remove the directory between mkdir
            # and flock; then the locked inode is not the one at the path: retry.
            self.path.mkdir(parents=True, exist_ok=True)
            fd = -1
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BaseException as exc:
                if fd >= 0:
                    os.close(fd)
                if not isinstance(exc, FileNotFoundError | BlockingIOError):
                    raise
                time.sleep(0.001)  # another process is checking or removing it
                continue
            self._lock_fd = fd
        if self._lock_fd >= 0 and self._holds_lock():
            return self.path
        raise OSError(f"cannot create and lock the spool directory {self.path}")

    def _holds_lock(self) -> bool:
        """Whether the locked directory is still the one at ``path``."""
        try:
            return os.stat(self.path).st_ino == os.fstat(self._lock_fd).st_ino
        except FileNotFoundError:
            return False

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self._release()

    def _release(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


def remove_abandoned(root: Path) -> None:
    """Delete spool directories no live process holds locked, and stray files."""
    try:
        entries = list(root.iterdir())
    except OSError:
        return
    for entry in entries:
        if not entry.is_dir():
            entry.unlink(missing_ok=True)
        elif not locked(entry):
            shutil.rmtree(entry, ignore_errors=True)
