"""Distribution files and PEP 658 metadata: streaming, caching, integrity, ranges."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import NoReturn

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from groxpi.web.sendfile import STATS
from groxpi.web.state import SERVICES
from tests.support.fake_index import FakeIndex, Fault, Release
from tests.web.conftest import ClientFactory, wait_idle

WHEEL = "alpha-1.0-py3-none-any.whl"
SDIST = "gamma-0.1.tar.gz"


def cached_files(cache: Path) -> list[Path]:
    return [p for p in (cache / "files").rglob("*") if p.is_file()]


def spool_files(cache: Path) -> list[Path]:
    return list((cache / "spool").rglob("*.part"))


async def test_file_is_byte_exact_and_cached(
    client: TestClient, fake_index: FakeIndex, tmp_path: Path
) -> None:
    wheel = fake_index.file(WHEEL)
    first = await client.get(f"/simple/alpha/{WHEEL}")
    assert first.status == 200
    assert await first.read() == wheel.data
    assert first.headers["Content-Type"] == "application/octet-stream"
    assert first.headers["Cache-Control"] == "max-age=31536000, immutable"  # streamed in
    assert "Content-Encoding" not in first.headers
    await wait_idle(client)
    second = await client.get(f"/simple/alpha/{WHEEL}", headers={"Accept-Encoding": "gzip"})
    assert await second.read() == wheel.data
    assert "Content-Encoding" not in second.headers
    assert second.headers["Cache-Control"] == "max-age=31536000, immutable"  # from the cache
    assert fake_index.file_requests(WHEEL) == 1
    await wait_idle(client)
    assert len(cached_files(tmp_path / "cache")) == 1


async def test_sdist_never_gets_content_encoding(client: TestClient, fake_index: FakeIndex) -> None:
    sdist = fake_index.file(SDIST)
    for _ in range(2):  # cold (streamed) then warm (sendfile)
        response = await client.get(
            f"/simple/gamma/{SDIST}", headers={"Accept-Encoding": "gzip, br"}, auto_decompress=False
        )
        assert "Content-Encoding" not in response.headers
        assert await response.read() == sdist.data


async def test_metadata_file(client: TestClient, fake_index: FakeIndex) -> None:
    wheel = fake_index.file(WHEEL)
    response = await client.get(f"/simple/alpha/{WHEEL}.metadata")
    assert response.status == 200
    assert await response.read() == wheel.metadata
    assert (await client.get(f"/simple/gamma/{SDIST}.metadata")).status == 404


async def test_unlisted_files_are_404_without_upstream_request(
    client: TestClient, fake_index: FakeIndex
) -> None:
    await client.get("/simple/alpha/")
    fake_index.reset_counts()
    for path in (
        "/simple/alpha/alpha-9.9-py3-none-any.whl",
        "/simple/alpha/beta-1.0-py3-none-any.whl",  # listed, but for another project
        "/simple/alpha/..%2F..%2Fetc%2Fpasswd",
        "/simple/alpha/.hidden",
        "/simple/alpha/a%5Cb.whl",
        "/simple/alpha/%00.whl",
        "/simple/-x-/file.whl",
        "/simple/alpha/" + "a" * 300 + ".whl",
    ):
        response = await client.get(path)
        assert response.status in (400, 404), path
    assert fake_index.file_requests() == 0
    assert fake_index.index_requests() == 0


async def test_concurrent_cold_requests_share_one_download(
    client: TestClient, fake_index: FakeIndex
) -> None:
    wheel = fake_index.file(WHEEL)
    fake_index.set_fault(WHEEL, Fault.slow(200, 0.02))
    bodies = await asyncio.gather(*(_read(client, f"/simple/alpha/{WHEEL}") for _ in range(100)))
    assert all(body == wheel.data for body in bodies)
    assert fake_index.file_requests(WHEEL) == 1


async def _read(client: TestClient, path: str) -> bytes:
    response = await client.get(path)
    assert response.status == 200
    return await response.read()


async def test_wrong_hash_is_not_cached_and_client_transfer_fails(
    client: TestClient, fake_index: FakeIndex, tmp_path: Path
) -> None:
    fake_index.set_fault(WHEEL, Fault.wrong_bytes(times=1))
    response = await client.get(f"/simple/alpha/{WHEEL}")
    if response.status == 200:  # streaming had started: the transfer must be cut
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    else:  # the failure was known before the answer: an honest 502
        assert response.status == 502
        assert "sha256 mismatch" in await response.text()
    await wait_idle(client)
    assert cached_files(tmp_path / "cache") == []
    assert spool_files(tmp_path / "cache") == []
    good = await client.get(f"/simple/alpha/{WHEEL}")
    assert await good.read() == fake_index.file(WHEEL).data
    assert fake_index.file_requests(WHEEL) == 2


async def test_cut_download_is_not_cached(
    client: TestClient, fake_index: FakeIndex, tmp_path: Path
) -> None:
    fake_index.set_fault(SDIST, Fault.cut(100, times=1))
    response = await client.get(f"/simple/gamma/{SDIST}")
    body = b""
    with contextlib.suppress(aiohttp.ClientPayloadError):
        body = await response.read()
    assert body != fake_index.file(SDIST).data
    await wait_idle(client)
    assert cached_files(tmp_path / "cache") == [] and spool_files(tmp_path / "cache") == []
    assert await (await client.get(f"/simple/gamma/{SDIST}")).read() == fake_index.file(SDIST).data


async def test_upstream_file_error_is_502(client: TestClient, fake_index: FakeIndex) -> None:
    fake_index.set_fault(WHEEL, Fault.status(500, times=1))
    response = await client.get(f"/simple/alpha/{WHEEL}")
    assert response.status == 502
    assert "Traceback" not in await response.text()


async def test_slow_upstream_redirects_but_keeps_downloading(
    make_client: ClientFactory, fake_index: FakeIndex
) -> None:
    client = await make_client(GROXPI_DOWNLOAD_TIMEOUT=0.1)
    fake_index.set_fault(WHEEL, Fault.delay(0.5, times=1))
    response = await client.get(f"/simple/alpha/{WHEEL}", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == fake_index.file_url(WHEEL)
    assert "groxpi_upstream_redirects_total 1.0" in await (await client.get("/metrics")).text()
    await wait_idle(client)
    cached = await client.get(f"/simple/alpha/{WHEEL}")
    assert await cached.read() == fake_index.file(WHEEL).data
    assert fake_index.file_requests(WHEEL) == 1


async def test_download_timeout_zero_waits(
    make_client: ClientFactory, fake_index: FakeIndex
) -> None:
    client = await make_client(GROXPI_DOWNLOAD_TIMEOUT=0)
    fake_index.set_fault(WHEEL, Fault.delay(0.3, times=1))
    response = await client.get(f"/simple/alpha/{WHEEL}", allow_redirects=False)
    assert response.status == 200
    assert await response.read() == fake_index.file(WHEEL).data


async def test_client_hangup_does_not_cancel_download(
    client: TestClient, fake_index: FakeIndex
) -> None:
    fake_index.set_fault(SDIST, Fault.slow(64, 0.01))
    response = await client.get(f"/simple/gamma/{SDIST}")
    await response.content.read(10)
    response.close()
    await asyncio.sleep(0.1)
    other = await client.get(f"/simple/gamma/{SDIST}")
    assert await other.read() == fake_index.file(SDIST).data
    assert fake_index.file_requests(SDIST) == 1


async def test_range_requests(client: TestClient, fake_index: FakeIndex) -> None:
    data = fake_index.file(WHEEL).data
    cold = await client.get(f"/simple/alpha/{WHEEL}", headers={"Range": "bytes=10-19"})
    assert cold.status == 206
    assert await cold.read() == data[10:20]
    warm = await client.get(f"/simple/alpha/{WHEEL}", headers={"Range": "bytes=-5"})
    assert warm.status == 206
    assert await warm.read() == data[-5:]
    assert cold.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    bad = await client.get(f"/simple/alpha/{WHEEL}", headers={"Range": f"bytes={len(data)}-"})
    assert bad.status == 416


async def test_head_on_cold_and_warm_file(client: TestClient, fake_index: FakeIndex) -> None:
    size = fake_index.file(WHEEL).size
    for _ in range(2):
        response = await client.head(f"/simple/alpha/{WHEEL}")
        assert response.status == 200
        assert int(response.headers["Content-Length"]) == size


async def test_cached_files_go_out_by_zero_copy_and_are_counted(
    client: TestClient, fake_index: FakeIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = fake_index.add_file(
        "alpha", "1.1", "alpha-1.1-py3-none-any.whl", os.urandom(3 * 1024 * 1024)
    )
    url = f"/simple/alpha/{big.filename}"
    assert await (await client.get(url)).read() == big.data  # cold: streamed from upstream
    await wait_idle(client)

    def refuse_copy(*args: object) -> NoReturn:
        raise AssertionError("a cached file was copied through Python")

    monkeypatch.setattr(web.FileResponse, "_sendfile_fallback", refuse_copy)
    before = STATS.zero_copy
    assert await (await client.get(url)).read() == big.data
    tail = await client.get(url, headers={"Range": "bytes=-100"})
    assert await tail.read() == big.data[-100:]
    assert (await client.head(url)).status == 200
    assert STATS.zero_copy == before + 2
    assert client.server.app[SERVICES].bytes_served == 2 * big.size + 100


async def test_lru_evicts_past_cache_size(
    make_client: ClientFactory, fake_index: FakeIndex, tmp_path: Path
) -> None:
    alpha, beta = fake_index.file(WHEEL), fake_index.file("beta-1.0-py3-none-any.whl")
    client = await make_client(GROXPI_CACHE_SIZE=alpha.size + beta.size - 1)
    await _read(client, f"/simple/alpha/{WHEEL}")
    await wait_idle(client)  # alpha is committed (and so older) before beta
    await _read(client, f"/simple/beta/{beta.filename}")
    await wait_idle(client)
    stored = cached_files(tmp_path / "cache")
    assert [p.name for p in stored] == [beta.filename + ".dist"]
    assert await _read(client, f"/simple/alpha/{WHEEL}") == alpha.data
    assert fake_index.file_requests(WHEEL) == 2


async def test_cached_files_survive_restart_with_upstream_down(
    make_client: ClientFactory, fake_index: FakeIndex
) -> None:
    first = await make_client()
    await _read(first, f"/simple/alpha/{WHEEL}")
    await first.close()
    fake_index.set_fault("*files*", Fault.status(503))
    fake_index.set_fault("*index*", Fault.status(503))
    second = await make_client()
    assert await _read(second, f"/simple/alpha/{WHEEL}") == fake_index.file(WHEEL).data


async def test_cached_file_not_served_once_quarantined(
    make_client: ClientFactory, fake_index: FakeIndex
) -> None:
    client = await make_client(GROXPI_INDEX_TTL=0.1)
    assert await _read(client, f"/simple/alpha/{WHEEL}") == fake_index.file(WHEEL).data
    fake_index.set_status("alpha", "quarantined")
    await asyncio.sleep(0.2)
    await client.get("/simple/alpha/")  # the refresh sees the quarantine
    assert (await client.get(f"/simple/alpha/{WHEEL}")).status == 404
    assert (await client.get(f"/simple/alpha/{WHEEL}.metadata")).status == 404


async def test_file_released_after_the_page_expired_is_served(
    make_client: ClientFactory, fake_index: FakeIndex
) -> None:
    client = await make_client(GROXPI_INDEX_TTL=0.1)
    await client.get("/simple/alpha/")
    (added,) = fake_index.add_project("alpha", [Release("1.1")])
    assert (await client.get(f"/simple/alpha/{added.filename}")).status == 404  # page fresh
    await asyncio.sleep(0.2)  # a lockfile install asks for the file, not the page
    assert await _read(client, f"/simple/alpha/{added.filename}") == added.data


async def test_cached_files_of_a_failing_extra_index_keep_flowing(
    make_client: ClientFactory, fake_index: FakeIndex, tmp_path: Path
) -> None:
    with FakeIndex(tmp_path / "extra") as extra:
        (private,) = extra.add_project("private-pkg", [Release("1.0")])
        env = {"GROXPI_EXTRA_INDEX_URLS": extra.index_url, "GROXPI_EXTRA_INDEX_TTLS": "0.1"}
        client = await make_client(**env)
        path = f"/simple/private-pkg/{private.filename}"
        assert await _read(client, path) == private.data
        await wait_idle(client)
        fake_index.add_project("private-pkg", [Release("0.1")])  # now on the main index too
        extra.set_fault("*index*", Fault.status(503))
        await asyncio.sleep(0.2)
        page = await (await client.get("/simple/private-pkg/")).text()
        assert private.filename not in page  # a partial page, for now
        assert await _read(client, path) == private.data  # but the cached file still flows


async def test_cold_range_request_redirects_when_upstream_is_slow(
    make_client: ClientFactory, fake_index: FakeIndex
) -> None:
    client = await make_client(GROXPI_DOWNLOAD_TIMEOUT=0.1)
    fake_index.set_fault(WHEEL, Fault.delay(0.5, times=1))
    response = await client.get(
        f"/simple/alpha/{WHEEL}", headers={"Range": "bytes=0-9"}, allow_redirects=False
    )
    assert response.status == 302


async def test_downloads_beyond_the_cap_queue_and_redirect(
    make_client: ClientFactory, fake_index: FakeIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("groxpi.files.MAX_DOWNLOADS", 1)
    client = await make_client(GROXPI_DOWNLOAD_TIMEOUT=0.2)
    fake_index.set_fault(SDIST, Fault.slow(16, 0.05))  # about a second
    first = await client.get(f"/simple/gamma/{SDIST}")  # holds the only slot
    queued = await client.get(f"/simple/alpha/{WHEEL}", allow_redirects=False)
    assert queued.status == 302
    assert await first.read() == fake_index.file(SDIST).data
    await wait_idle(client)
    assert await _read(client, f"/simple/alpha/{WHEEL}") == fake_index.file(WHEEL).data
    assert fake_index.file_requests(WHEEL) == 1  # the queued download still completed
