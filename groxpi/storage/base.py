"""The contract every file store implements.

Keys are relative POSIX paths built only from validated names
(``<project>/<filename>``); stores may shard or prefix them as they like.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable


class StorageError(Exception):
    """The store cannot be reached or used; callers answer 502/503."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    """What a store knows about one cached file."""

    key: str
    size: int
    sha256: str | None = None
    last_used: float = 0.0


@runtime_checkable
class Storage(Protocol):
    """Async file store for distribution files and metadata."""

    kind: str

    async def start(self) -> None:
        """Check the store is usable and clean up leftovers; raise StorageError if not."""

    async def close(self) -> None:
        """Release clients and sessions."""

    async def stat(self, key: str) -> StoredObject | None:
        """Return the object's info, or None when it is not stored."""

    async def read(
        self, key: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        """Yield the object's bytes from ``offset`` (``length`` bytes, or to the end)."""
        yield b""  # pragma: no cover

    def local_path(self, key: str) -> Path | None:
        """A file path the server may sendfile() from, if the store is local."""

    async def presigned_url(self, key: str) -> str | None:
        """A URL clients may be redirected to instead of streaming, if enabled."""

    async def put(self, key: str, source: Path, sha256: str | None) -> StoredObject:
        """Store a complete, verified spool file under ``key``; consumes ``source``."""

    async def delete(self, key: str) -> None:
        """Remove the object; missing objects are not an error."""

    async def list(self) -> list[StoredObject]:
        """Every stored object with its size (used to seed the LRU at start-up)."""

    async def health(self) -> str:
        """``ok`` or a short reason the store is unusable right now."""

    # Named blobs for the page store, apart from the files: never listed,
    # counted or evicted with them.

    async def read_blob(self, name: str) -> bytes | None:
        """The blob's bytes, or None when there is none."""

    async def write_blob(self, name: str, data: bytes) -> None:
        """Store the blob atomically: readers see the old bytes or the new, whole."""

    async def delete_blob(self, name: str) -> bool:
        """Remove the blob; True if there was one (a missing one is not an error)."""
