"""The page store: upstream's pages kept beside the files, so they outlive the process.

Each project page and the project list is kept as one record: the page as the
indexes gave it (merged, before policies), when it was fetched (wall clock),
for how long it is fresh, and each index's validators (ETag / Last-Modified)
for revalidation. Records are compact msgpack, written atomically by the
store; a record that cannot be decoded is ignored (and refetched), never served.
Workers and replicas sharing a cache directory or bucket share the records.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Protocol

import msgspec

from .models import ProjectList, ProjectPage
from .storage import StorageError

log = logging.getLogger(__name__)

RECORD_FORMAT = 1
LIST_NAME = "_list"
"""The project list's record name (no project name starts with an underscore)."""
BIG_RECORD = 256 * 1024
"""Records larger than this are encoded and decoded in a worker thread."""


class Validator(msgspec.Struct, array_like=True, omit_defaults=True):
    """What an index said identifies its answer, for a conditional request."""

    etag: str | None = None
    last_modified: str | None = None


Validators = dict[str, Validator]
"""Validators by index URL (without credentials)."""


class PageRecord(msgspec.Struct, array_like=True, omit_defaults=True):
    format: int
    fetched_at: float
    ttl: float
    validators: Validators
    page: ProjectPage | None = None
    listing: ProjectList | None = None


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(PageRecord)


class Blobs(Protocol):
    """Where records live: small named byte strings, written atomically."""

    async def read_blob(self, name: str) -> bytes | None: ...

    async def write_blob(self, name: str, data: bytes) -> None: ...

    async def delete_blob(self, name: str) -> bool: ...


def namespace_of(parts: list[str]) -> str:
    """A short name for the configuration that shapes stored pages (indexes, pins),
    so a changed configuration never serves pages built under the old one."""
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=6).hexdigest()


class PageStore:
    """Load and save page records by project name (or :data:`LIST_NAME`)."""

    def __init__(self, blobs: Blobs, namespace: str) -> None:
        self.blobs = blobs
        self.namespace = namespace
        self.corrupt = 0

    def _name(self, key: str) -> str:
        shard = hashlib.sha256(key.encode()).hexdigest()[:2]
        return f"{self.namespace}/{shard}/{key}.page"

    async def load(self, key: str) -> PageRecord | None:
        """The stored record, or None when there is none or it is unreadable."""
        try:
            data = await self.blobs.read_blob(self._name(key))
        except StorageError as exc:
            log.warning("page store unavailable, reading %r: %s", key, exc)
            return None
        if data is None:
            return None
        try:
            record = (
                await asyncio.to_thread(_decoder.decode, data)
                if len(data) > BIG_RECORD
                else _decoder.decode(data)
            )
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.corrupt += 1
            log.warning("ignoring a corrupt page record for %r: %s", key, exc)
            return None
        if record.format != RECORD_FORMAT or (record.page is None) == (record.listing is None):
            self.corrupt += 1
            log.warning("ignoring a page record for %r in an unknown format", key)
            return None
        return record

    async def save(self, key: str, record: PageRecord) -> None:
        """Store the record; a failing store is logged, never fatal (pages still serve)."""
        page = record.page
        big = record.listing is not None or (page is not None and len(page.files) > 500)
        data = await asyncio.to_thread(_encoder.encode, record) if big else _encoder.encode(record)
        try:
            await self.blobs.write_blob(self._name(key), data)
        except StorageError as exc:
            log.warning("page store unavailable, writing %r: %s", key, exc)

    async def delete(self, key: str) -> bool:
        """Remove the record; True if there was one."""
        try:
            return await self.blobs.delete_blob(self._name(key))
        except StorageError as exc:
            log.warning("page store unavailable, deleting %r: %s", key, exc)
            return False
