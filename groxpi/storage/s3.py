"""S3 store (AWS, MinIO, Ceph, ...) on miniopy-async, shareable by several replicas.

Objects live at ``<prefix>/files/<project>/<filename>``. The verified sha256 is
kept as user metadata so any replica can trust an object it did not upload.
Every library, network and S3 failure surfaces as :class:`StorageError`, so the
web layer can answer 502/503 instead of crashing on a foreign exception.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import os
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import aiohttp
from miniopy_async.api import Minio
from miniopy_async.error import InvalidResponseError, MinioException, S3Error, ServerError
from miniopy_async.helpers import DictType, check_bucket_name
from multidict import CIMultiDict

from ..config import S3Config
from .base import StorageError, StoredObject

_CHUNK = 256 * 1024
# Files up to this size go up in one request; larger ones in parts of this size,
# each held in memory while it is sent (S3 wants parts of at least 5 MiB).
_PART_SIZE = 8 * 1024 * 1024
_MAX_PARTS = 10_000
_PRESIGN_EXPIRY = timedelta(hours=1)
_SHA256_META = "x-amz-meta-sha256"
_AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "InvalidSecurity",
    }
)
_REGION_CODES = frozenset({"AuthorizationHeaderMalformed", "PermanentRedirect", "Redirect"})
_CLIENT_ERRORS = (MinioException, aiohttp.ClientError, OSError, TimeoutError, ValueError)


def endpoint_of(config: S3Config) -> tuple[str, bool]:
    """``host[:port]`` and whether to use TLS.

    An explicit ``http://``/``https://`` scheme decides TLS; GROXPI_S3_USE_SSL=false
    always forces plain HTTP (its default, true, cannot be told apart from unset).
    """
    raw = (config.endpoint_url or "").strip()
    if not raw:
        return "s3.amazonaws.com", config.use_ssl
    parts = urlsplit(raw if "://" in raw else f"//{raw}")
    if parts.scheme not in ("", "http", "https") or not parts.netloc:
        raise StorageError(f"AWS_ENDPOINT_URL: {raw!r} is not an http(s) URL")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise StorageError(f"AWS_ENDPOINT_URL: {raw!r} must not have a path or query")
    secure = config.use_ssl and parts.scheme != "http"
    return parts.netloc, secure


def _reason(exc: BaseException) -> str:
    """A one-line, credential-free description of a client failure."""
    if isinstance(exc, S3Error):
        return f"{exc.code}: {exc.message}" if exc.message else str(exc.code)
    if isinstance(exc, ServerError):
        return f"HTTP {exc.status_code}"
    if isinstance(exc, InvalidResponseError):
        return str(exc).split(", Body:", 1)[0]
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


class S3Storage:
    """Files as objects in one bucket; sizes, hashes and listings come from S3."""

    kind = "s3"

    def __init__(
        self,
        config: S3Config,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
    ) -> None:
        if not config.bucket:
            raise StorageError("GROXPI_S3_BUCKET: required when GROXPI_STORAGE_TYPE is s3")
        try:
            check_bucket_name(config.bucket)
        except ValueError as exc:
            raise StorageError(f"GROXPI_S3_BUCKET: {exc}") from None
        self.config = config
        self.bucket: str = config.bucket
        host, secure = endpoint_of(config)
        self.endpoint = f"{'https' if secure else 'http'}://{host}"
        prefix = config.prefix.strip("/")
        self._root = f"{prefix}/files/" if prefix else "files/"
        self._blob_root = f"{prefix}/index/" if prefix else "index/"
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout, sock_read=read_timeout
        )
        self._health_timeout = connect_timeout + 2.0
        self._session: aiohttp.ClientSession | None = None
        try:
            self._client = Minio(
                host,
                access_key=config.access_key or None,
                secret_key=config.secret_key,
                secure=secure,
                region=config.region,
            )
        except ValueError as exc:
            raise StorageError(f"S3 client configuration: {exc}") from None
        if config.force_path_style:
            self._client.disable_virtual_style_endpoint()  # type: ignore[no-untyped-call]

    def _name(self, key: str) -> str:
        return self._root + key

    def _minio(self) -> Minio:
        """The client, with a session of our own (timeouts, no silent retries).

        Created lazily so the session belongs to the running loop; a session
        closed under us (never by design) is replaced rather than left broken.
        """
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=64),
            )
            self._client.set_session(self._session)
        return self._client

    @contextmanager
    def _translate(self, action: str, key: str | None = None) -> Iterator[None]:
        """Turn any client failure inside the block into a StorageError."""
        try:
            yield
        except _CLIENT_ERRORS as exc:
            target = f" {key}" if key else ""
            raise StorageError(
                f"S3 {action}{target} failed at {self.endpoint}: {_reason(exc)}"
            ) from exc

    async def start(self) -> None:
        """Probe with a listing: unlike a HEAD, its error body names the problem."""
        try:
            try:
                await self._probe()
            except S3Error as exc:
                if exc.code != "NoSuchBucket" or not self.config.create_bucket:
                    raise
                await self._create_bucket()
                await self._probe()
        except _CLIENT_ERRORS as exc:
            raise StorageError(self._startup_message(exc)) from exc

    async def _probe(self) -> None:
        """Read the first page of the listing (needs the bucket and read access)."""
        listing = self._minio().list_objects(self.bucket, prefix=self._root)
        try:
            async for _ in listing:
                break
        finally:
            if listing.iterator is not None:
                await listing.iterator.aclose()

    async def _create_bucket(self) -> None:
        try:
            await self._minio().make_bucket(self.bucket)
        except S3Error as exc:
            # Another replica may have created it a moment ago.
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise

    def _startup_message(self, exc: BaseException) -> str:
        where = f"S3 bucket {self.bucket!r} at {self.endpoint}"
        if isinstance(exc, S3Error) and exc.code == "NoSuchBucket":
            return f"{where} does not exist; create it or set GROXPI_S3_CREATE_BUCKET=true"
        if isinstance(exc, S3Error) and exc.code == "AccessDenied":
            return (
                f"{where}: access denied ({_reason(exc)}); check the credentials "
                "and that they may read and write the bucket"
            )
        if isinstance(exc, S3Error) and exc.code in _AUTH_CODES:
            return (
                f"{where}: credentials rejected ({_reason(exc)}); check "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        if isinstance(exc, S3Error) and exc.code in _REGION_CODES:
            return f"{where}: wrong region {self.config.region!r} ({_reason(exc)}); set AWS_REGION"
        if isinstance(exc, aiohttp.ClientError | OSError | TimeoutError):
            return f"S3 endpoint {self.endpoint} is unreachable: {_reason(exc)}"
        return f"{where} is not usable: {_reason(exc)}"

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def stat(self, key: str) -> StoredObject | None:
        with self._translate("stat", key):
            try:
                obj = await self._minio().stat_object(self.bucket, self._name(key))
            except S3Error as exc:
                if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                    return None
                raise
        sha256 = CIMultiDict(obj.metadata or {}).get(_SHA256_META)
        return StoredObject(key, obj.size or 0, sha256 or None, _timestamp(obj.last_modified))

    async def read(
        self, key: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        """Stream the object; a missing key raises FileNotFoundError, as locally."""
        if length is not None and length <= 0:
            return
        response: aiohttp.ClientResponse | None = None
        with self._translate("read", key):
            try:
                response = await self._minio().get_object(
                    self.bucket, self._name(key), offset=offset, length=length or 0
                )
            except S3Error as exc:
                if exc.code == "InvalidRange":  # offset at or past the end
                    return
                if exc.code != "NoSuchKey":
                    raise
        if response is None:
            raise FileNotFoundError(f"{key} is not stored")
        try:
            with self._translate("read", key):
                async for chunk in response.content.iter_chunked(_CHUNK):
                    yield chunk
        finally:
            # Returns the connection to the pool, or drops it if left unread.
            response.release()

    def local_path(self, key: str) -> Path | None:
        return None

    async def presigned_url(self, key: str) -> str | None:
        if not self.config.redirect:
            return None
        with self._translate("presign", key):
            url: str = await self._minio().presigned_get_object(
                self.bucket, self._name(key), expires=_PRESIGN_EXPIRY
            )
            return url

    async def put(self, key: str, source: Path, sha256: str | None) -> StoredObject:
        """Upload the spool file, multipart when large; ``source`` is removed either way."""
        metadata: DictType | None = {_SHA256_META: sha256} if sha256 else None
        try:
            with self._translate("upload", key), source.open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size <= _PART_SIZE:
                    # One request; aiohttp streams the body from the file.
                    await self._minio().put_object(
                        self.bucket,
                        self._name(key),
                        handle,
                        size,
                        metadata=metadata,
                        part_size=size,  # equal to the length: a plain PUT of the handle
                    )
                else:
                    part_size = max(_PART_SIZE, -(-size // _MAX_PARTS))
                    await self._put_parts(key, handle, part_size, metadata)
        finally:
            with suppress(FileNotFoundError):
                os.unlink(source)
        return StoredObject(key, size, sha256, time.time())

    async def _put_parts(
        self, key: str, handle: BinaryIO, part_size: int, metadata: DictType | None
    ) -> None:
        """Multipart upload, one part in memory at a time, read off the loop.

        (``put_object`` would read every part into memory up front when parallel,
        and hands aiohttp raw bytes, which it warns may block the loop.)
        """
        uploader = self._minio().multipart_uploader(self.bucket, self._name(key), metadata=metadata)
        started = False
        try:
            for number in itertools.count(1):
                part = await asyncio.to_thread(handle.read, part_size)
                if not part:
                    break
                await uploader.upload_part(io.BytesIO(part), number)
                started = True
            await uploader.complete()
        except BaseException:
            if started:  # leave no orphaned parts behind (a failed part aborts itself)
                with suppress(*_CLIENT_ERRORS):
                    await uploader.abort()  # type: ignore[no-untyped-call]
            raise

    async def delete(self, key: str) -> None:
        with self._translate("delete", key):
            await self._minio().remove_object(self.bucket, self._name(key))

    async def list(self) -> list[StoredObject]:
        found: list[StoredObject] = []
        with self._translate("list"):
            async for obj in self._minio().list_objects(
                self.bucket, prefix=self._root, recursive=True
            ):
                name = obj.object_name or ""
                if obj.is_dir or not name.startswith(self._root):
                    continue
                key = name[len(self._root) :]
                found.append(StoredObject(key, obj.size or 0, None, _timestamp(obj.last_modified)))
        return found

    async def health(self) -> str:
        try:
            async with asyncio.timeout(self._health_timeout):
                exists = await self._minio().bucket_exists(self.bucket)
        except _CLIENT_ERRORS as exc:
            return f"S3 {self.endpoint} unavailable: {_reason(exc)}"
        except Exception as exc:  # health must never raise
            return f"S3 check failed: {_reason(exc)}"
        return "ok" if exists else f"S3 bucket {self.bucket!r} does not exist"

    async def read_blob(self, name: str) -> bytes | None:
        chunks = []
        with self._translate("read", name):
            try:
                response = await self._minio().get_object(self.bucket, self._blob_root + name)
            except S3Error as exc:
                if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                    return None
                raise
            try:
                async for chunk in response.content.iter_chunked(_CHUNK):
                    chunks.append(chunk)
            finally:
                response.release()
        return b"".join(chunks)

    async def write_blob(self, name: str, data: bytes) -> None:
        """One PUT: S3 makes the object visible whole, or not at all."""
        with self._translate("upload", name):
            await self._minio().put_object(
                self.bucket, self._blob_root + name, io.BytesIO(data), len(data)
            )

    async def delete_blob(self, name: str) -> bool:
        with self._translate("delete", name):
            try:
                await self._minio().stat_object(self.bucket, self._blob_root + name)
            except S3Error as exc:
                if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                    return False
                raise
            await self._minio().remove_object(self.bucket, self._blob_root + name)
        return True


def _timestamp(value: datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0
