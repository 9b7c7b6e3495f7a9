"""Leases across processes: one worker fetches a page while the others wait for it.

A lease is an ``flock`` on a lock file in a local directory that every worker
(and every process sharing the cache directory) sees. Keys hash onto a fixed
set of lock files, so the directory never grows. Within one process a lock
file is opened once and shared, so two keys that share one never wait for each
other here (the same key is already coalesced by the index cache); only other
processes wait. Waiting polls without blocking, so it never stalls the event
loop, and gives up after a bound (then the waiter works alone). The kernel
drops a lease when its holder dies, so a killed worker never blocks the rest.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

STRIPES = 1024
POLL = 0.01


@dataclass(slots=True)
class _Stripe:
    """One lock file as this process holds it: one descriptor, many holders."""

    fd: int
    acquired: asyncio.Future[bool]
    holders: int = 0


class Leases:
    """``async with leases.hold(key, wait) as waited:`` holds ``key`` against other processes."""

    def __init__(self, root: Path, stripes: int = STRIPES) -> None:
        self.root = root
        self.stripes = stripes
        self.waits = 0
        self._held: dict[Path, _Stripe] = {}

    def _path(self, key: str) -> Path:
        digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
        return self.root / f"{int.from_bytes(digest) % self.stripes:04d}.lock"

    @asynccontextmanager
    async def hold(self, key: str, wait: float) -> AsyncIterator[bool]:
        """Hold the lease on ``key``; ``waited`` is True when another process held it
        first (it has probably just done the work). After ``wait`` seconds the
        block runs without the lease rather than not at all."""
        path = self._path(key)
        stripe = self._held.get(path)
        if stripe is None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError:
                yield False  # no lease to be had (read-only disk): work alone
                return
            acquired = asyncio.ensure_future(self._acquire(fd, wait))
            stripe = self._held[path] = _Stripe(fd, acquired)
        stripe.holders += 1
        try:
            yield await asyncio.shield(stripe.acquired)
        finally:
            stripe.holders -= 1
            if stripe.holders == 0:
                del self._held[path]
                stripe.acquired.cancel()
                os.close(stripe.fd)  # closing releases the lock

    async def _acquire(self, fd: int, wait: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return waited
            except BlockingIOError:
                if not waited:
                    self.waits += 1
                waited = True
                if loop.time() >= deadline:
                    return waited
                await asyncio.sleep(POLL)


def sweep_unheld(root: Path) -> None:
    """Remove lock files no process holds (left by processes that were killed)."""
    try:
        paths = list(root.glob("*.lock"))
    except OSError:
        return
    for path in paths:
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            path.unlink(missing_ok=True)  # while locked: nobody takes it meanwhile
        except OSError:
            pass  # held by a live process
        finally:
            os.close(fd)


class KeyLease:
    """A lease on one key, held for as long as a task runs (a file download).

    Its lock file carries a note for the processes that find it held (where
    the holder's spool file is). The holder removes the file before letting go,
    so lock files do not pile up; a taker checks that the file it locked is
    still the one at the path (else it was just removed: it tries again).
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    @staticmethod
    def path_of(root: Path, key: str) -> Path:
        return root / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.lock"

    @classmethod
    def take(cls, root: Path, key: str) -> KeyLease | None:
        """The lease, or None when another process holds it (raises OSError if no disk)."""
        path = cls.path_of(root, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(10):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if os.fstat(fd).st_ino == os.stat(path).st_ino:
                    os.ftruncate(fd, 0)
                    return cls(path, fd)
            except BlockingIOError:
                os.close(fd)
                return None
            except FileNotFoundError:
                pass  # removed by its holder between open and stat: try again
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
        raise OSError(f"cannot take the lease file {path}")

    def write_note(self, note: str) -> None:
        """Replace the note (followers retry on the empty moment in between)."""
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, note.encode(), 0)
        except OSError:
            pass  # followers then find no note and download for themselves

    def release(self) -> None:
        if self._fd >= 0:
            self.path.unlink(missing_ok=True)  # while still held: nobody locks a dead file
            os.close(self._fd)
            self._fd = -1

    @staticmethod
    def held(path: Path) -> bool:
        """Whether some process holds the lease at ``path`` right now."""
        return locked(path)


def locked(path: Path) -> bool:
    """Whether some process holds an ``flock`` on the file or directory at ``path``."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False  # gone (or unreadable): nobody we could wait for
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the probe's own lock
    return False
