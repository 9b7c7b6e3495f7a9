"""File cache: one download per file, streamed to every waiting client as it arrives.

A download writes to a spool file; clients read that file behind the writer
(each at its own pace, so a slow client holds no memory and stalls nobody).
The bytes are checked against the index's sha256 and only then handed to the
store, which makes them visible atomically. A failed download leaves nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .download import CHUNK, Download
from .errors import NotFound, UpstreamError
from .follow import Followed, note_of, open_followed, tail_until_stored
from .leases import KeyLease, sweep_unheld
from .lru import LRUSizes
from .spool import Spool
from .storage import Storage, StorageError, StoredObject
from .upstream import UpstreamClient

log = logging.getLogger(__name__)

MAX_DOWNLOADS = 64
"""Upstream file transfers running at once; more wait for a slot."""
RESYNC_INTERVAL = 60.0
"""Seconds between checks of the store's real size (other processes add files too)."""


class IntegrityError(UpstreamError):
    """Downloaded bytes do not match what the index promised."""


@dataclass(slots=True)
class FileStats:
    hits: int = 0
    misses: int = 0
    failures: int = 0
    evictions: int = 0
    followed: int = 0  # misses served by following another process's download


class FileCache:
    """Cached files in a store, bounded by an LRU byte limit, filled on demand."""

    def __init__(
        self,
        storage: Storage,
        client: UpstreamClient,
        spool_root: Path,
        limit: int,
    ) -> None:
        self.storage = storage
        self.client = client
        self.spool = Spool(spool_root)
        # One download per file across the processes sharing the cache directory.
        self.leases_root = spool_root.parent / "leases" / "files"
        self.lru = LRUSizes(limit)
        self.stats = FileStats()
        self._downloads: dict[str, Download] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._resync_task: asyncio.Task[None] | None = None
        self._added_during_list: set[str] | None = None  # set while a resync lists
        # Bounded upstream transfers: a burst of cold files queues (its clients
        # are redirected upstream after GROXPI_DOWNLOAD_TIMEOUT) instead of
        # opening connections and descriptors without limit.
        self._slots = asyncio.Semaphore(MAX_DOWNLOADS)

    async def start(self) -> None:
        """Clear spool leftovers of dead processes and learn what is already stored."""
        try:
            self.spool.open()
            sweep_unheld(self.leases_root)
        except OSError as exc:
            raise StorageError(f"cannot create spool directory {self.spool.path}: {exc}") from exc
        await self.storage.start()
        await self.resync()
        log.info("file cache holds %d files, %d bytes", len(self.lru), self.lru.total)
        self._resync_task = asyncio.create_task(self._resync_forever(), name="cache resync")

    async def resync(self) -> None:
        """Match the LRU to the store's real contents and evict past the size limit.

        Needed because workers and replicas sharing a store each see only their
        own downloads; run at start-up and every RESYNC_INTERVAL seconds.
        """
        self._added_during_list = set()
        try:
            stored = await self.storage.list()
        finally:
            added, self._added_during_list = self._added_during_list, None
        evicted = self.lru.resync(
            ((o.key, o.size, o.last_used) for o in stored), keep=frozenset(added)
        )
        for key in evicted:
            await self._evict(key)

    async def _resync_forever(self) -> None:
        while True:
            await asyncio.sleep(RESYNC_INTERVAL)
            try:
                await self.resync()
            except Exception as exc:  # keep resyncing: the store may come back
                log.warning("cache resync failed: %s", exc)

    async def close(self, timeout: float) -> None:
        """Let running downloads finish (bounded), then drop what is unfinished."""
        if self._resync_task is not None:
            self._resync_task.cancel()
            await asyncio.gather(self._resync_task, return_exceptions=True)
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=timeout)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        self.spool.close()

    @property
    def active_downloads(self) -> int:
        return len(self._downloads)

    async def touch_stored(self, key: str) -> StoredObject | None:
        """The stored object, counted as a hit and marked recently used (tracking a
        file another process stored may evict others); None when it must be fetched."""
        if key in self._downloads:
            return None
        tracked = self.lru.touch(key)
        obj = await self.storage.stat(key)
        if obj is None:
            if tracked:
                self.lru.remove(key)
            return None
        if not tracked:  # stored by another replica, or before the LRU knew it
            await self._track(obj)
        self.stats.hits += 1
        return obj

    async def download(self, key: str, url: str, sha256: str | None) -> Download | None:
        """Join the running download of ``key``: ours, another process's (followed),
        or a new one. None when another process has just stored it: look again."""
        running = self._downloads.get(key)
        if running is not None:
            return running
        self.stats.misses += 1
        try:
            spool = self.spool.ensure()
        except OSError as exc:
            raise StorageError(f"cannot create the spool directory: {exc.strerror or exc}") from exc
        lease_path = KeyLease.path_of(self.leases_root, key)
        try:
            lease = KeyLease.take(self.leases_root, key)
        except OSError:  # no lease to be had: download alone
            lease = None
        else:
            if lease is None:  # another process is downloading it
                return await self._follow(key, url, sha256, lease_path)
            if await self._stored_meanwhile(key, lease):
                return None
        try:
            download = Download.in_spool(key, url, sha256, spool)
        except BaseException:
            if lease is not None:
                lease.release()
            raise
        self._downloads[key] = download
        if lease is not None:
            lease.write_note(note_of(download.path, None))
        self._start(self._run(download, lease), key)
        return download

    async def _stored_meanwhile(self, key: str, lease: KeyLease) -> bool:
        """Whether the previous holder stored the file just before we took over."""
        try:
            stored = await self.storage.stat(key)
        except BaseException:
            lease.release()
            raise
        if stored is not None:
            lease.release()
        return stored is not None

    async def _follow(
        self, key: str, url: str, sha256: str | None, lease_path: Path
    ) -> Download | None:
        opened = await open_followed(key, url, sha256, lease_path)
        joined = self._downloads.get(key)  # another request got here while we read the note
        if joined is not None:
            if opened is not None:
                os.close(opened.fd)
            return joined
        if opened is None:
            return None
        self.stats.followed += 1
        self._downloads[key] = opened
        self._start(self._run_followed(opened, lease_path), key)
        return opened

    async def _run_followed(self, download: Followed, lease_path: Path) -> None:
        try:
            await tail_until_stored(download, lease_path, self.storage)
        finally:
            if self._downloads.get(download.key) is download:
                del self._downloads[download.key]

    def _start(self, work: Coroutine[Any, Any, None], key: str) -> None:
        task = asyncio.create_task(work, name=f"download {key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, download: Download, lease: KeyLease | None) -> None:
        error: BaseException | None = None
        try:
            await self._fetch(download, lease)
            download.mark_verified()
            await self._sync(download)
            obj = await self.storage.put(download.key, download.path, download.sha256)
            await self._track(obj)
        except asyncio.CancelledError:
            error = UpstreamError("download cancelled: server shutting down", status=503)
            raise
        except (UpstreamError, NotFound, StorageError) as exc:
            error = exc
            log.warning("download of %s failed: %s", download.key, exc)
        except Exception as exc:  # a bug: its waiters answer 500, and the trace is logged
            error = exc
            log.exception("download of %s failed unexpectedly", download.key)
        finally:
            if error is not None:
                self.stats.failures += 1
                with contextlib.suppress(FileNotFoundError):
                    download.path.unlink()
            os.close(download.fd)
            self._downloads.pop(download.key, None)
            download.finish(error)
            if lease is not None:  # followers look in the store once it is let go
                lease.release()

    @staticmethod
    async def _sync(download: Download) -> None:
        """Make the spool file durable before the store makes it visible."""
        try:
            await asyncio.to_thread(os.fsync, download.fd)
        except OSError as exc:
            raise StorageError(f"cannot write the spool file: {exc.strerror or exc}") from exc

    async def _fetch(self, download: Download, lease: KeyLease | None) -> None:
        hasher = hashlib.sha256()
        async with self._slots, self.client.open_file(download.url) as response:
            download.size = response.content_length
            if lease is not None and download.size is not None:
                lease.write_note(note_of(download.path, download.size))
            async for chunk in response.content.iter_chunked(CHUNK):
                hasher.update(chunk)
                download.append(chunk)
                # Reads return at once while aiohttp has data buffered: yield so
                # waiting clients get the first bytes now, not after the burst.
                await asyncio.sleep(0)
        if download.size is not None and download.written != download.size:
            raise IntegrityError(
                f"upstream sent {download.written} of {download.size} bytes for {download.key}"
            )
        if download.sha256 and hasher.hexdigest() != download.sha256.lower():
            raise IntegrityError(f"sha256 mismatch for {download.key}; not cached")
        download.size = download.written

    async def _track(self, obj: StoredObject) -> None:
        if self._added_during_list is not None:
            self._added_during_list.add(obj.key)
        for key in self.lru.add(obj.key, obj.size):
            await self._evict(key)

    async def _evict(self, key: str) -> None:
        self.stats.evictions += 1
        log.info("evicting %s to stay within the cache size", key)
        try:
            await self.storage.delete(key)
        except StorageError as exc:
            log.warning("could not evict %s: %s", key, exc)
