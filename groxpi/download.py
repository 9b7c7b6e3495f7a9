"""A download readable while it is written: the spool file and its readers.

Readers follow the writer at their own pace; the last byte is released only
once the download is verified, so no reader ever receives a complete-looking
copy of a bad download.
"""

from __future__ import annotations

import asyncio
import copy
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from .storage import StorageError

CHUNK = 256 * 1024


class Download:
    """One upstream transfer into a spool file, readable while it is written."""

    def __init__(self, key: str, url: str, sha256: str | None, path: Path, fd: int) -> None:
        self.key = key
        self.url = url
        self.sha256 = sha256
        self.path = path
        self.fd = fd
        self.written = 0
        self.size: int | None = None
        self.error: BaseException | None = None
        self.verified = False
        self.started = asyncio.Event()
        self.done = asyncio.Event()
        self._progress = asyncio.Event()

    @classmethod
    def in_spool(cls, key: str, url: str, sha256: str | None, spool: Path) -> Download:
        """A new download into a fresh file of this process's spool directory."""
        path = spool / f"{uuid.uuid4().hex}.part"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            raise StorageError(f"cannot create a spool file: {exc.strerror or exc}") from exc
        return cls(key, url, sha256, path, fd)

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
