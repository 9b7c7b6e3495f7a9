"""A cache disk that fills up or stops accepting writes while groxpi is running.

Start-up failures are in test_process_faults.py and tests/test_main.py.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

import aiohttp
import pytest

from tests.reliability.conftest import add_blob, mounted_tmpfs, spool_files, stored_files
from tests.support.fake_index import FakeIndex
from tests.web.conftest import ClientFactory, wait_idle

WHEEL = "alpha-1.0-py3-none-any.whl"


async def _fetch(client, path: str) -> tuple[int, bytes, bool]:  # type: ignore[no-untyped-def]
    """(status, body, transfer completed cleanly)."""
    response = await client.get(path)
    try:
        body = await response.read()
    except aiohttp.ClientPayloadError:
        return response.status, b"", False
    return response.status, body, True


async def test_disk_full_mid_download(
    fake_index: FakeIndex,
    make_client: ClientFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    blob = add_blob(fake_index, "bigpkg", 2_000_000)
    with mounted_tmpfs(tmp_path / "small-disk", "size=512k") as disk:
        cache = disk / "cache"
        client = await make_client(GROXPI_CACHE_DIR=cache, GROXPI_DOWNLOAD_TIMEOUT=0)
        wheel = fake_index.file(WHEEL).data
        assert (await _fetch(client, f"/simple/alpha/{WHEEL}"))[1] == wheel
        await wait_idle(client)
        with caplog.at_level(logging.WARNING, logger="groxpi"):
            status, body, clean = await _fetch(client, f"/simple/bigpkg/{blob.filename}")
            await wait_idle(client)
        assert status in (200, 503)
        assert not (clean and body == blob.data)  # never a complete-looking copy
        if status == 503:
            assert body.startswith(b"503 Storage unavailable") and len(body) < 300
        else:
            assert not clean
        assert "cannot write the spool file: No space left on device" in caplog.text
        assert "upstream" not in caplog.text  # a disk fault is not blamed on upstream
        assert [p.name for p in stored_files(cache)] == [WHEEL + ".dist"]
        assert spool_files(cache) == []  # the partial download was removed, space is back
        # Still serving what it has, and still fetching what fits.
        assert (await _fetch(client, f"/simple/alpha/{WHEEL}"))[1] == wheel
        beta = fake_index.file("beta-1.0-py3-none-any.whl")
        assert (await _fetch(client, f"/simple/beta/{beta.filename}"))[1] == beta.data
        assert (await client.get("/health")).status == 200


async def test_unwritable_store_serves_without_caching(
    fake_index: FakeIndex,
    make_client: ClientFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The project's shard directory is replaced by a file: even root cannot store there."""
    cache = tmp_path / "cache"
    client = await make_client(GROXPI_CACHE_DIR=cache)
    wheel = fake_index.file(WHEEL).data
    assert (await _fetch(client, f"/simple/alpha/{WHEEL}"))[1] == wheel
    await wait_idle(client)
    gamma = fake_index.file("gamma-0.1.tar.gz")
    shard = cache / "files" / hashlib.sha256(b"gamma").hexdigest()[:2]
    assert not shard.exists()  # gamma's shard is not alpha's
    shard.parent.mkdir(parents=True, exist_ok=True)
    shard.write_bytes(b"not a directory")
    with caplog.at_level(logging.WARNING, logger="groxpi"):
        for attempt in (1, 2):
            status, body, clean = await _fetch(client, f"/simple/gamma/{gamma.filename}")
            assert (status, body, clean) == (200, gamma.data, True)  # served, verified
            await wait_idle(client)
            assert fake_index.file_requests(gamma.filename) == attempt  # but not cached
    assert f"cannot store gamma/{gamma.filename}" in caplog.text
    assert spool_files(cache) == []
    assert (await _fetch(client, f"/simple/alpha/{WHEEL}"))[1] == wheel
    shard.unlink()  # the disk is fixed: the next download is committed again
    assert (await _fetch(client, f"/simple/gamma/{gamma.filename}"))[1] == gamma.data
    await wait_idle(client)
    assert any(p.name == gamma.filename + ".dist" for p in stored_files(cache))


async def test_spool_directory_gone_is_a_503_and_cached_files_still_served(
    fake_index: FakeIndex,
    make_client: ClientFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = tmp_path / "cache"
    client = await make_client(GROXPI_CACHE_DIR=cache)
    wheel = fake_index.file(WHEEL).data
    assert (await _fetch(client, f"/simple/alpha/{WHEEL}"))[1] == wheel
    await wait_idle(client)
    spool = cache / "spool"
    shutil.rmtree(spool)
    spool.write_bytes(b"a file where the spool directory was")
    with caplog.at_level(logging.WARNING, logger="groxpi"):
        response = await client.get("/simple/gamma/gamma-0.1.tar.gz")
        text = await response.text()
    assert response.status == 503, text
    assert text.startswith("503 Storage unavailable") and text.count("\n") == 1
    assert "Traceback" not in caplog.text
    assert (await _fetch(client, f"/simple/alpha/{WHEEL}"))[1] == wheel
    assert (await client.get("/health")).status == 200
