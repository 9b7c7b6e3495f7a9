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
