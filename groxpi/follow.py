"""Following a download another process runs: one upstream transfer for all workers.

When another worker holds a file's lease, this process does not download the
file again: it opens that worker's spool file (named in the lease's note) and
streams it to its own clients as it grows. The guarantees stay those of a
download of our own: the last byte is held back until the holder has stored
the file, which it does only after checking the sha256; a holder that fails or
dies leaves nothing stored, and our clients' transfers are cut, never ended as
if complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path

from .download import Download
from .errors import UpstreamError
from .leases import KeyLease
from .storage import Storage

POLL = 0.02
"""Seconds between looks at the holder's spool file."""
NOTE_WAIT = 1.0
"""Seconds to wait for a new holder to write its note."""


async def _stored_what_we_read(download: Followed, storage: Storage) -> bool:
    """Whether the holder stored the very bytes we streamed (it stores only after
    checking the sha256): the same file locally, the same hash and size on S3."""
    stored = await storage.stat(download.key)
    if stored is None or stored.size != download.written:
        return False
    local = storage.local_path(download.key)
    if local is not None:
        try:
            return local.stat().st_ino == os.fstat(download.fd).st_ino
        except FileNotFoundError:
            return False
    return download.sha256 is None or stored.sha256 in (None, download.sha256)


class Followed(Download):
    """Another process's download, as this process's clients read it."""

    def grew_to(self, size: int) -> None:
        if size > self.written:
            self.written = size
            self.started.set()
            self._notify()


def note_of(path: Path, size: int | None) -> str:
    """What a holder tells followers: where its spool file is, and how big it will be."""
    return json.dumps({"spool": str(path), "size": size})


def _read_note(lease_path: Path) -> dict[str, object] | None:
    try:
        note = json.loads(lease_path.read_bytes() or b"null")
    except (OSError, ValueError):
        return None
    return note if isinstance(note, dict) and isinstance(note.get("spool"), str) else None


async def open_followed(
    key: str, url: str, sha256: str | None, lease_path: Path
) -> Followed | None:
    """The holder's download to follow, or None when there is no holder or its
    spool file is gone (it has just finished: look in the store)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + NOTE_WAIT
    while True:
        note = _read_note(lease_path)  # a few hundred bytes on a local disk
        if note is not None:
            spool = Path(str(note["spool"]))
            try:
                fd = os.open(spool, os.O_RDONLY)
            except OSError:
                return None
            followed = Followed(key, url, sha256, spool, fd)
            size = note.get("size")
            followed.size = size if isinstance(size, int) else None
            return followed
        if not KeyLease.held(lease_path) or loop.time() >= deadline:
            return None
        await asyncio.sleep(POLL)


def _same_holder(lease_path: Path, download: Followed) -> bool:
    """Whether the download we follow is still running (its holder, not a new one)."""
    if not KeyLease.held(lease_path):
        return False
    note = _read_note(lease_path)
    return note is None or note["spool"] == str(download.path)


async def tail_until_stored(download: Followed, lease_path: Path, storage: Storage) -> None:
    """Report the spool file's growth while the holder works, then its outcome."""
    error: BaseException | None = None
    try:
        while _same_holder(lease_path, download):
            download.grew_to(os.fstat(download.fd).st_size)
            await asyncio.sleep(POLL)
        download.grew_to(os.fstat(download.fd).st_size)
        if await _stored_what_we_read(download, storage):
            download.mark_verified()
        else:
            error = UpstreamError("the download in another worker failed; not cached")
    except asyncio.CancelledError:
        error = UpstreamError("download cancelled: server shutting down", status=503)
        raise
    except Exception as exc:  # the store, the disk: whatever it is, cut the transfers
        error = UpstreamError(f"cannot follow another worker's download: {exc}")
    finally:
        with contextlib.suppress(OSError):
            os.close(download.fd)
        download.finish(error)
