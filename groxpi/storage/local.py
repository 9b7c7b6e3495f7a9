"""Local-disk store: sharded directories, atomic renames, sendfile-friendly."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from .base import StorageError, StoredObject

_CHUNK = 256 * 1024
StoredObjects = list[StoredObject]
# Every stored file ends in this suffix, so no stored file is ever the ``<name>.gz``
# sibling that aiohttp's FileResponse would serve gzip-encoded in its place.
SUFFIX = ".dist"


class LocalStorage:
    """Files under ``root/<shard>/<project>/<filename>.dist``.

    The shard is two hex digits of the project name's hash, so no directory
    grows to hundreds of thousands of entries. Files only ever appear through
    ``os.replace`` of a complete spool file, so a reader never sees a partial file.
    """

    kind = "local"

    def __init__(self, root: Path, blob_root: Path | None = None) -> None:
        self.root = root
        self.blob_root = blob_root or root.parent / "index"

    def _path(self, key: str) -> Path:
        project, _, filename = key.partition("/")
        shard = hashlib.sha256(project.encode()).hexdigest()[:2]
        return self.root / shard / project / (filename + SUFFIX)

    async def start(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StorageError(f"cache directory {self.root} is not writable: {exc}") from exc

    async def close(self) -> None:
        return None

    async def stat(self, key: str) -> StoredObject | None:
        try:
            st = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return StoredObject(key, st.st_size, None, st.st_atime)

    async def read(
        self, key: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        remaining = length
        with self._path(key).open("rb") as handle:
            handle.seek(offset)
            while remaining is None or remaining > 0:
                size = _CHUNK if remaining is None else min(_CHUNK, remaining)
                chunk = await asyncio.to_thread(handle.read, size)
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    async def presigned_url(self, key: str) -> str | None:
        return None

    async def put(self, key: str, source: Path, sha256: str | None) -> StoredObject:
        return await asyncio.to_thread(self._put, key, source, sha256)

    def _put(self, key: str, source: Path, sha256: str | None) -> StoredObject:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            size = source.stat().st_size
            os.replace(source, target)
        except OSError as exc:
            source.unlink(missing_ok=True)
            raise StorageError(f"cannot store {key}: {exc.strerror or exc}") from exc
        return StoredObject(key, size, sha256)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete {key}: {exc.strerror or exc}") from exc
        with contextlib.suppress(OSError):
            path.parent.rmdir()

    async def list(self) -> StoredObjects:
        return await asyncio.to_thread(self._scan)

    def _scan(self) -> StoredObjects:
        found: StoredObjects = []
        for shard in _subdirs(self.root):
            for project in _subdirs(shard):
                for entry in _entries(project):
                    if not entry.name.endswith(SUFFIX):
                        continue
                    try:  # another worker may evict it meanwhile
                        st = entry.stat()
                    except FileNotFoundError:
                        continue
                    key = f"{project.name}/{entry.name.removesuffix(SUFFIX)}"
                    found.append(StoredObject(key, st.st_size, None, st.st_atime))
        return found

    async def health(self) -> str:
        return "ok" if os.access(self.root, os.W_OK) else f"{self.root} is not writable"

    async def read_blob(self, name: str) -> bytes | None:
        return await asyncio.to_thread(self._read_blob, self.blob_root / name)

    @staticmethod
    def _read_blob(path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from exc

    async def write_blob(self, name: str, data: bytes) -> None:
        await asyncio.to_thread(self._write_blob, self.blob_root / name, data)

    @staticmethod
    def _write_blob(path: Path, data: bytes) -> None:
        """Write beside the target, then rename over it: never a torn record."""
        temp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temp.write_bytes(data)
            os.replace(temp, path)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from exc

    async def delete_blob(self, name: str) -> bool:
        return await asyncio.to_thread(self._delete_blob, self.blob_root / name)

    @staticmethod
    def _delete_blob(path: Path) -> bool:
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as exc:
            raise StorageError(f"cannot delete {path}: {exc.strerror or exc}") from exc
        return True


def _entries(path: Path) -> list[os.DirEntry[str]]:
    try:
        return [entry for entry in os.scandir(path) if entry.is_file()]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _subdirs(path: Path) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(path) if e.is_dir()]
    except FileNotFoundError:
        return []
