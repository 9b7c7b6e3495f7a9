"""S3-only behaviour: startup diagnostics, presigned URLs, outages, replicas."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import hashlib
import logging
import os
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from miniopy_async.api import Minio
from multidict import CIMultiDict

from groxpi.config import S3Config
from groxpi.storage import StorageError
from groxpi.storage.s3 import S3Storage, endpoint_of
from tests.storage.conftest import unique_bucket
from tests.support.moto import ACCESS_KEY, SECRET_KEY, MotoServer, free_port

Spool = Callable[[bytes], Path]
KEY = "demo/demo-1.0+local.tar.gz"
DATA = b"groxpi s3 test payload " * 100

# What tells the three start-up failures apart in the one-line message.
MISSING, CREDENTIALS, UNREACHABLE = "GROXPI_S3_CREATE_BUCKET", "credentials rejected", "unreachable"


@pytest.fixture
def own_moto() -> Iterator[MotoServer]:
    """A server of this test's own, free to be stopped, paused and restarted."""
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="module")
def moto_auth() -> Iterator[MotoServer]:
    """A server that checks signatures; it knows no access keys, so all are wrong."""
    with MotoServer(auth=True) as server:
        yield server


@pytest.fixture
async def s3(s3_config: S3Config) -> AsyncIterator[S3Storage]:
    store = S3Storage(s3_config)
    await store.start()
    yield store
    await store.close()


async def read_all(store: S3Storage, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.read(key)])


async def start_error(config: S3Config) -> str:
    store = S3Storage(config, connect_timeout=2)
    try:
        with pytest.raises(StorageError) as caught:
            await store.start()
    finally:
        await store.close()
    message = str(caught.value)
    assert "\n" not in message
    assert config.secret_key is None or config.secret_key not in message
    return message


# --- configuration -------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "use_ssl", "expected"),
    [
        ("http://127.0.0.1:9000", True, ("127.0.0.1:9000", False)),
        ("http://127.0.0.1:9000/", True, ("127.0.0.1:9000", False)),
        ("https://minio.example:9000", True, ("minio.example:9000", True)),
        ("https://minio.example", False, ("minio.example", False)),
        ("minio.example:9000", True, ("minio.example:9000", True)),
        ("minio.example:9000", False, ("minio.example:9000", False)),
        (None, True, ("s3.amazonaws.com", True)),
    ],
)
def test_endpoint_scheme_and_ssl(
    moto_s3: MotoServer, endpoint: str | None, use_ssl: bool, expected: tuple[str, bool]
) -> None:
    config = moto_s3.config("bucket", endpoint_url=endpoint, use_ssl=use_ssl)
    assert endpoint_of(config) == expected


@pytest.mark.parametrize("endpoint", ["http://minio:9000/some/path", "ftp://minio:21"])
def test_bad_endpoint_is_rejected_early(moto_s3: MotoServer, endpoint: str) -> None:
    with pytest.raises(StorageError, match="AWS_ENDPOINT_URL"):
        S3Storage(moto_s3.config("bucket", endpoint_url=endpoint))


def test_bad_bucket_name_is_rejected_early(moto_s3: MotoServer) -> None:
    with pytest.raises(StorageError, match="GROXPI_S3_BUCKET"):
        S3Storage(moto_s3.config("No_Such!Bucket"))


# --- start-up diagnostics ------------------------------------------------------------


async def test_start_missing_bucket(moto_s3: MotoServer) -> None:
    message = await start_error(moto_s3.config(unique_bucket()))
    assert "does not exist" in message and "GROXPI_S3_CREATE_BUCKET=true" in message
    assert CREDENTIALS not in message and UNREACHABLE not in message


async def test_start_wrong_credentials(moto_auth: MotoServer) -> None:
    config = moto_auth.config(unique_bucket(), access_key="AKIAWRONGKEY", secret_key="wrong")
    message = await start_error(config)
    assert CREDENTIALS in message and "AWS_ACCESS_KEY_ID" in message
    assert MISSING not in message and UNREACHABLE not in message


async def test_start_endpoint_down(moto_s3: MotoServer) -> None:
    config = moto_s3.config(unique_bucket(), endpoint_url=f"http://127.0.0.1:{free_port()}")
    message = await start_error(config)
    assert UNREACHABLE in message and "127.0.0.1" in message
    assert MISSING not in message and CREDENTIALS not in message


async def test_create_bucket(moto_s3: MotoServer, spool: Spool) -> None:
    bucket = unique_bucket()
    creator = S3Storage(moto_s3.config(bucket, create_bucket=True))
    await creator.start()
    await creator.start()  # already there: still fine
    await creator.close()
    plain = S3Storage(moto_s3.config(bucket))
    await plain.start()
    await plain.put(KEY, spool(DATA), None)
    assert await read_all(plain, KEY) == DATA
    await plain.close()


# --- objects ----------------------------------------------------------------


@asynccontextmanager
async def raw_client(server: MotoServer) -> AsyncIterator[Minio]:
    """A plain client to look at the bucket the way another tool would."""
    async with aiohttp.ClientSession() as session:
        yield Minio(
            f"127.0.0.1:{server.port}",
            ACCESS_KEY,
            SECRET_KEY,
            secure=False,
            region="us-east-1",
            session=session,
        )


async def test_objects_live_under_prefix_files(
    s3: S3Storage, s3_config: S3Config, moto_s3: MotoServer, spool: Spool
) -> None:
    digest = hashlib.sha256(DATA).hexdigest()
    await s3.put(KEY, spool(DATA), digest)
    async with raw_client(moto_s3) as raw:
        obj = await raw.stat_object(s3.bucket, f"{s3_config.prefix}/files/{KEY}")
        names = [o.object_name async for o in raw.list_objects(s3.bucket, recursive=True)]
    assert obj.size == len(DATA)
    assert names == [f"groxpi/files/{KEY}"]
    assert obj.metadata is not None
    assert CIMultiDict(obj.metadata).get("x-amz-meta-sha256") == digest


async def test_large_upload_is_multipart(s3: S3Storage, moto_s3: MotoServer, spool: Spool) -> None:
    data = os.urandom(20 * 1024 * 1024 + 5)
    digest = hashlib.sha256(data).hexdigest()
    await s3.put(KEY, spool(data), digest)
    async with raw_client(moto_s3) as raw:
        obj = await raw.stat_object(s3.bucket, f"groxpi/files/{KEY}")
    assert obj.etag is not None and obj.etag.endswith("-3")  # three parts
    stat = await s3.stat(KEY)
    assert stat is not None and (stat.size, stat.sha256) == (len(data), digest)
    assert hashlib.sha256(b"".join([c async for c in s3.read(KEY)])).hexdigest() == digest


async def test_sha256_round_trip(s3: S3Storage, spool: Spool) -> None:
    digest = hashlib.sha256(DATA).hexdigest()
    await s3.put(KEY, spool(DATA), digest)
    stat = await s3.stat(KEY)
    assert stat is not None and stat.sha256 == digest


async def test_other_prefixes_are_not_listed(s3_config: S3Config, spool: Spool) -> None:
    mine = S3Storage(s3_config)
    other = S3Storage(dataclasses.replace(s3_config, prefix="elsewhere"))
    try:
        await mine.put(KEY, spool(DATA), None)
        await other.put("x/x-1.0.tar.gz", spool(b"x"), None)
        assert [o.key for o in await mine.list()] == [KEY]
        assert [o.key for o in await other.list()] == ["x/x-1.0.tar.gz"]
        assert await other.stat(KEY) is None
    finally:
        await mine.close()
        await other.close()


async def test_list_paginates(s3: S3Storage, spool: Spool) -> None:
    """S3 returns at most 1000 keys a page; all of them must come back."""
    semaphore = asyncio.Semaphore(32)

    async def put(i: int) -> None:
        async with semaphore:
            await s3.put(f"many/many-{i}.tar.gz", spool(b"x" * (i % 7)), None)

    await asyncio.gather(*(put(i) for i in range(1010)))
    listed = {o.key: o.size for o in await s3.list()}
    assert len(listed) == 1010
    assert listed["many/many-1009.tar.gz"] == 1009 % 7


async def test_presigned_url_serves_the_bytes(s3_config: S3Config, spool: Spool) -> None:
    store = S3Storage(dataclasses.replace(s3_config, redirect=True))
    await store.start()
    try:
        await store.put(KEY, spool(DATA), None)
        url = await store.presigned_url(KEY)
        assert url is not None and "X-Amz-Signature=" in url
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert response.status == 200
            assert await response.read() == DATA
    finally:
        await store.close()


async def test_replicas_share_the_bucket(s3_config: S3Config, spool: Spool) -> None:
    first, second = S3Storage(s3_config), S3Storage(s3_config)
    await first.start()
    await second.start()
    try:
        digest = hashlib.sha256(DATA).hexdigest()
        await first.put(KEY, spool(DATA), digest)
        seen = await second.stat(KEY)
        assert seen is not None and (seen.size, seen.sha256) == (len(DATA), digest)
        assert await read_all(second, KEY) == DATA
        assert [o.key for o in await second.list()] == [KEY]
        await second.delete(KEY)
        assert await first.stat(KEY) is None
    finally:
        await first.close()
        await second.close()


# --- outages -------------------------------------------------------------------


async def assert_every_operation_fails(store: S3Storage, spool: Spool) -> None:
    """Each operation fails with StorageError; writes go to a key of their own, as
    requests that timed out on our side may still be carried out later."""
    other = "other/other-1.0.tar.gz"
    with pytest.raises(StorageError):
        await store.stat(KEY)
    with pytest.raises(StorageError):
        await read_all(store, KEY)
    source = spool(DATA)
    with pytest.raises(StorageError):
        await store.put(other, source, None)
    assert not source.exists()  # consumed even on failure
    with pytest.raises(StorageError):
        await store.delete(other)
    with pytest.raises(StorageError):
        await store.list()
    health = await store.health()
    assert health != "ok" and "\n" not in health


async def test_endpoint_down_then_back(own_moto: MotoServer, spool: Spool) -> None:
    bucket = unique_bucket()
    own_moto.create_bucket(bucket)
    store = S3Storage(own_moto.config(bucket), connect_timeout=2)
    await store.start()
    try:
        await store.put(KEY, spool(DATA), None)
        assert await read_all(store, KEY) == DATA

        own_moto.stop()
        await assert_every_operation_fails(store, spool)
        assert "unavailable" in await store.health()

        own_moto.start()  # same port, empty state
        own_moto.create_bucket(bucket)
        assert await store.health() == "ok"
        assert await store.stat(KEY) is None
        await store.put(KEY, spool(DATA), None)
        assert await read_all(store, KEY) == DATA
        assert [o.key for o in await store.list()] == [KEY]
    finally:
        await store.close()


async def test_endpoint_hangs_then_recovers(own_moto: MotoServer, spool: Spool) -> None:
    """A frozen endpoint accepts connections but never answers: timeouts, not hangs."""
    bucket = unique_bucket()
    own_moto.create_bucket(bucket)
    store = S3Storage(own_moto.config(bucket), connect_timeout=0.5, read_timeout=0.5)
    await store.start()
    try:
        await store.put(KEY, spool(DATA), None)
        own_moto.pause()
        try:
            async with asyncio.timeout(30):
                await assert_every_operation_fails(store, spool)
        finally:
            own_moto.resume()
        assert await store.health() == "ok"
        assert await read_all(store, KEY) == DATA
    finally:
        await store.close()


async def test_bucket_removed_at_runtime(own_moto: MotoServer, spool: Spool) -> None:
    bucket = unique_bucket()
    own_moto.create_bucket(bucket)
    store = S3Storage(own_moto.config(bucket))
    await store.start()
    try:
        own_moto.restart()  # forgets the bucket
        assert bucket in await store.health()
        with pytest.raises(StorageError, match="NoSuchBucket"):
            await store.put(KEY, spool(DATA), None)
        with pytest.raises(StorageError):
            await store.list()
    finally:
        await store.close()


# --- lifecycle ------------------------------------------------------------------


async def test_close_leaves_no_unclosed_session(
    s3_config: S3Config, spool: Spool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="asyncio")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = S3Storage(s3_config)
        await store.start()
        await store.put(KEY, spool(DATA), None)
        reader = store.read(KEY)
        assert await anext(reader)
        await reader.aclose()  # type: ignore[attr-defined]
        await store.close()
        await store.close()  # twice is fine
        del store, reader
        await asyncio.sleep(0)
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert "Unclosed" not in caplog.text


async def test_close_without_start(s3_config: S3Config) -> None:
    await S3Storage(s3_config).close()


async def test_local_path_is_none(s3: S3Storage, spool: Spool) -> None:
    await s3.put(KEY, spool(DATA), None)
    assert s3.local_path(KEY) is None
