"""File cache: one download per file, streamed to every waiting client as it arrives.

A download writes to a spool file; clients read that file behind the writer
(each at its own pace, so a slow client holds no memory and stalls nobody).
The bytes are checked against the index's sha256 and only then handed to the
store, which makes them visible atomically. A failed download leaves nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import logging
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from .errors import NotFound, UpstreamError
from .lru import LRUSizes
from .spool import Spool
from .storage import Storage, StorageError, StoredObject
from .upstream import UpstreamClient

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
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


class Download:
    """One upstream transfer into a spool file, readable while it is written."""

    def __init__(self, key: str, url: str, sha256: str | None, spool: Path) -> None:
        self.key = key
        self.url = url
        self.sha256 = sha256
        self.path = spool / f"{uuid.uuid4().hex}.part"
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            raise StorageError(f"cannot create a spool file: {exc.strerror or exc}") from exc
        self.written = 0
        self.size: int | None = None
        self.error: BaseException | None = None
        self.verified = False
        self.started = asyncio.Event()
        self.done = asyncio.Event()
        self._progress = asyncio.Event()

    def append(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        try:
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError as exc:  # disk full, I/O error: a storage fault, not an upstream one
            raise StorageError(f"cannot write the spool file: {exc.strerror or exc}") from exc
        self.written += len(chunk)
        self.started.set()
        self._notify()

    def mark_verified(self) -> None:
        """The bytes are complete and match the index: let readers take the last one."""
        self.verified = True
        self._notify()

    def finish(self, error: BaseException | None) -> None:
        self.error = error
        self.started.set()
        self.done.set()
        self._notify()

    def _notify(self) -> None:
        self._progress.set()
        self._progress = asyncio.Event()

    def failure(self) -> BaseException:
        """A fresh copy of the error for one waiter: one shared exception object
        raised in many tasks would collect all their tracebacks."""
        assert self.error is not None
        return copy.copy(self.error).with_traceback(None)

    async def progress(self) -> None:
        """Wait for more bytes or the end of the download."""
        await self._progress.wait()

    async def wait_started(self, timeout: float) -> bool:
        """True once a byte (or the outcome) is in; False if ``timeout`` passed first."""
        if timeout <= 0:
            await self.started.wait()
            return True
        try:
            await asyncio.wait_for(self.started.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def reader(self) -> SpoolReader:
        """A reader of the spool file; take it before awaiting, as the file may be renamed."""
        try:
            return SpoolReader(self, os.dup(self.fd))
        except OSError as exc:  # out of file descriptors
            raise StorageError(f"cannot open the spool file: {exc.strerror or exc}") from exc


class SpoolReader:
    """One client's view of a download, with its own descriptor (valid after rename)."""

    def __init__(self, download: Download, fd: int) -> None:
        self.download = download
        self._fd = fd

    def __enter__(self) -> SpoolReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    async def chunks(self) -> AsyncIterator[bytes]:
        """Yield the file from the start as it is written; raise if the download fails."""
        download = self.download
        offset = 0
        while True:
            if download.error is not None and not download.verified:
                raise download.failure()
            # The last byte is held back until the sha256 is verified, so a client
            # can never receive a complete-looking copy of a bad download.
            limit = download.written if download.verified else download.written - 1
            if offset < limit:
                data = os.pread(self._fd, min(CHUNK, limit - offset), offset)
                offset += len(data)
                yield data
            elif download.verified:
                return
            else:
                await download.progress()


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

    def download(self, key: str, url: str, sha256: str | None) -> Download:
        """Join the running download of ``key`` or start one."""
        running = self._downloads.get(key)
        if running is not None:
            return running
        self.stats.misses += 1
        try:
            spool = self.spool.ensure()
        except OSError as exc:
            raise StorageError(f"cannot create the spool directory: {exc.strerror or exc}") from exc
        download = Download(key, url, sha256, spool)
        self._downloads[key] = download
        task = asyncio.create_task(self._run(download), name=f"download {key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return download

    async def _run(self, download: Download) -> None:
        error: BaseException | None = None
        try:
            await self._fetch(download)
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

    @staticmethod
    async def _sync(download: Download) -> None:
        """Make the spool file durable before the store makes it visible."""
        try:
            await asyncio.to_thread(os.fsync, download.fd)
        except OSError as exc:
            raise StorageError(f"cannot write the spool file: {exc.strerror or exc}") from exc

    async def _fetch(self, download: Download) -> None:
        hasher = hashlib.sha256()
        async with self._slots, self.client.open_file(download.url) as response:
            download.size = response.content_length
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
