"""Fixtures for the storage tests: a moto S3 endpoint and both backends."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from groxpi.config import S3Config
from groxpi.storage import LocalStorage, Storage
from groxpi.storage.s3 import S3Storage
from tests.support.moto import MotoServer


def unique_bucket() -> str:
    return f"groxpi-test-{uuid.uuid4().hex[:16]}"


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoServer]:
    """One moto_server for the session; tests that stop it start their own."""
    with MotoServer() as server:
        yield server


@pytest.fixture
def s3_config(moto_s3: MotoServer) -> S3Config:
    """Config for a fresh, empty bucket of its own on the shared server."""
    if not moto_s3.running:
        moto_s3.start()
    bucket = unique_bucket()
    moto_s3.create_bucket(bucket)
    return moto_s3.config(bucket)


@pytest.fixture(params=["local", "s3"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    """A started store of each kind, closed afterwards."""
    store: Storage
    if request.param == "local":
        store = LocalStorage(tmp_path / "store")
    else:
        store = S3Storage(request.getfixturevalue("s3_config"))
    await store.start()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def spool(tmp_path: Path) -> Callable[[bytes], Path]:
    """Factory writing bytes to a fresh spool file, as a finished download would."""
    directory = tmp_path / "spool"
    directory.mkdir()

    def write(data: bytes) -> Path:
        path = directory / uuid.uuid4().hex
        path.write_bytes(data)
        return path

    return write
