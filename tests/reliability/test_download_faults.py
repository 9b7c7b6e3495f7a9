"""Cut and corrupt downloads: nothing committed, started transfers fail, recovery is byte-exact.

tests/web/test_files.py covers one client of a JSON upstream with a Content-Length
(wrong bytes, and a cut). Here several clients are mid-transfer when the fault
hits, for JSON and HTML upstreams, with and without a Content-Length (chunked),
and including a chunked body that ends cleanly but early.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from tests.reliability.conftest import spool_files, stored_files
from tests.reliability.scripted import FilePlan, ScriptedUpstream
from tests.web.conftest import ClientFactory, wait_idle

SIZE = 600_000
FIRST = 200_000
WAITERS = 4
FILENAME = "blob-1.0-py3-none-any.whl"

CASES = [
    ("json", False, "cut"),
    ("json", False, "corrupt"),
    ("json", True, "cut"),
    ("json", True, "corrupt"),
    ("json", True, "short"),
    ("html", False, "cut"),
    ("html", False, "corrupt"),
    ("html", True, "cut"),
    ("html", True, "short"),
]


@pytest.fixture(params=["json", "html"])
def scripted(request: pytest.FixtureRequest) -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream(mode=request.param) as upstream:
        yield upstream


async def _start(client: TestClient, path: str) -> aiohttp.ClientResponse:
    response = await client.get(path)
    assert response.status == 200
    return response


async def _outcome(response: aiohttp.ClientResponse, size: int) -> tuple[str, int]:
    """('failed', n) when the transfer broke after n bytes, ('ended', n) when it ended cleanly."""
    received = 0
    try:
        async for chunk in response.content.iter_any():
            received += len(chunk)
    except aiohttp.ClientPayloadError:
        return "failed", received
    return "ended", received


@pytest.mark.parametrize(
    ("scripted", "chunked", "ending"),
    CASES,
    indirect=["scripted"],
    ids=[f"{m}-{'chunked' if c else 'length'}-{e}" for m, c, e in CASES],
)
async def test_started_transfers_fail_and_nothing_is_committed(
    scripted: ScriptedUpstream,
    chunked: bool,
    ending: str,
    make_client: ClientFactory,
    tmp_path: Path,
) -> None:
    data = os.urandom(SIZE)
    plan = scripted.publish(
        "blob",
        FILENAME,
        FilePlan(data, chunked=chunked, first=FIRST, ending=ending),  # type: ignore[arg-type]
    )
    client = await make_client(GROXPI_INDEX_URL=scripted.index_url, GROXPI_DOWNLOAD_TIMEOUT=0)
    path = f"/simple/blob/{FILENAME}"
    responses = [await _start(client, path) for _ in range(WAITERS)]
    for response in responses:  # every client is mid-transfer before the fault hits
        assert len(await response.content.readexactly(FIRST // 2)) == FIRST // 2
        assert "Content-Encoding" not in response.headers
        assert ("Content-Length" in response.headers) is not chunked
    plan.go.set()
    outcomes = await asyncio.gather(*(_outcome(r, SIZE) for r in responses))
    for state, received in outcomes:
        assert state == "failed", outcomes
        assert FIRST // 2 + received < SIZE
    await wait_idle(client)
    cache = tmp_path / "cache"
    assert stored_files(cache) == [] and spool_files(cache) == []

    # A client arriving after the failure starts a new download; upstream has recovered.
    scripted.publish("blob", FILENAME, FilePlan(data, chunked=chunked))
    good = await client.get(path)
    assert good.status == 200
    assert await good.read() == data
    await wait_idle(client)
    (stored,) = stored_files(cache)
    assert stored.read_bytes() == data
    assert scripted.requests(f"/files/blob/{FILENAME}") == 2


async def test_corrupt_file_is_never_complete_even_when_it_arrives_at_once(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    """No pause before the bad byte: the last byte is still held back until verified."""
    with ScriptedUpstream() as scripted:
        data = os.urandom(SIZE)
        scripted.publish("blob", FILENAME, FilePlan(data, ending="corrupt", first=0))
        scripted.files["blob"][FILENAME].go.set()
        client = await make_client(GROXPI_INDEX_URL=scripted.index_url, GROXPI_DOWNLOAD_TIMEOUT=0)
        results = await asyncio.gather(
            *(client.get(f"/simple/blob/{FILENAME}") for _ in range(WAITERS))
        )
        for response in results:
            if response.status == 200:
                state, received = await _outcome(response, SIZE)
                assert state == "failed" and received < SIZE
            else:
                assert response.status == 502
        await wait_idle(client)
        assert stored_files(tmp_path / "cache") == []


async def test_range_request_on_a_failing_cold_file_is_an_error(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    with ScriptedUpstream() as scripted:
        data = os.urandom(SIZE)
        plan = scripted.publish("blob", FILENAME, FilePlan(data, ending="cut", first=FIRST))
        client = await make_client(GROXPI_INDEX_URL=scripted.index_url)
        pending = asyncio.ensure_future(
            client.get(f"/simple/blob/{FILENAME}", headers={"Range": "bytes=0-99"})
        )
        await asyncio.sleep(0.1)
        plan.go.set()
        response = await pending
        assert response.status == 502
        assert len(await response.read()) < 200
        await wait_idle(client)
        assert stored_files(tmp_path / "cache") == []
