"""Cold pages: the request that fetched a page gets its variant first, the rest follow."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import zlib
from pathlib import Path

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from groxpi import variants
from groxpi.variants import HTML, JSON, KEYS, RenderedPage
from groxpi.web.state import SERVICES
from tests.support.encodes import REAL_ENCODE, Encodes, until
from tests.support.fake_index import FakeIndex
from tests.web.conftest import JSON as JSON_TYPE
from tests.web.conftest import ClientFactory


def headers(fmt: str, coding: str) -> dict[str, str]:
    return {"Accept": JSON_TYPE if fmt == JSON else "text/html", "Accept-Encoding": coding}


async def get(client: TestClient, project: str, fmt: str, coding: str) -> ClientResponse:
    return await client.get(
        f"/simple/{project}/", headers=headers(fmt, coding), auto_decompress=False
    )


async def decoded(response: ClientResponse) -> bytes:
    """The body with its Content-Encoding undone by the standard library."""
    assert response.status == 200
    body = await response.read()
    coding = response.headers.get("Content-Encoding")
    if coding == "gzip":
        return gzip.decompress(body)
    return zlib.decompress(body) if coding == "deflate" else body


async def rendered(client: TestClient, project: str) -> RenderedPage:
    assert client.server.app is not None
    return (await client.server.app[SERVICES].index.project(project)).rendered


def ready(page: RenderedPage) -> list[tuple[str, str]]:
    return [key for key in KEYS if page.ready(*key) is not None]


async def test_the_fetching_request_is_answered_before_the_other_variants(
    client: TestClient, encodes: Encodes
) -> None:
    encodes.hold = lambda fmt, coding: (fmt, coding) != (JSON, "gzip")
    response = await asyncio.wait_for(get(client, "beta", JSON, "gzip"), 5)
    assert response.headers["Content-Encoding"] == "gzip"
    assert json.loads(await decoded(response))["name"] == "beta"
    page = await rendered(client, "beta")
    await asyncio.to_thread(encodes.held.wait, 5)  # the background is at the others, held
    assert ready(page) == [(JSON, "gzip")]  # answered while none of them was done
    encodes.release.set()
    await until(lambda: ready(page) == list(KEYS))
    identity = {
        fmt: await decoded(await get(client, "beta", fmt, "identity")) for fmt in (JSON, HTML)
    }
    for fmt, coding in KEYS:
        assert await decoded(await get(client, "beta", fmt, coding)) == identity[fmt]
    assert encodes.calls == dict.fromkeys(KEYS, 1)  # warm requests encoded nothing again


async def test_concurrent_cold_requests_for_every_variant(
    client: TestClient, fake_index: FakeIndex, encodes: Encodes
) -> None:
    fake_index.add_many_files("many", 300)
    asked = [key for key in KEYS for _ in range(3)]
    responses = await asyncio.gather(*(get(client, "many", *key) for key in asked))
    bodies = [await decoded(response) for response in responses]
    for (fmt, _), body in zip(asked, bodies, strict=True):
        if fmt == JSON:
            assert len(json.loads(body)["files"]) == 300
        else:
            assert body.decode().count("<a ") == 300
    for fmt in (JSON, HTML):
        assert len({body for (f, _), body in zip(asked, bodies, strict=True) if f == fmt}) == 1
    page = await rendered(client, "many")
    await until(lambda: ready(page) == list(KEYS))
    assert encodes.calls == dict.fromkeys(KEYS, 1)


async def test_a_failing_background_encode_leaves_the_served_variant_alone(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def failing(body: bytes, coding: str) -> bytes:
        if coding == "deflate":
            raise RuntimeError("encoder broke")
        return REAL_ENCODE(body, coding)

    monkeypatch.setattr(variants, "encode_body", failing)
    first = await get(client, "beta", JSON, "gzip")
    served = await decoded(first)
    page = await rendered(client, "beta")
    await until(lambda: len(ready(page)) == 4)
    failed = [r.getMessage() for r in caplog.records if r.name == "groxpi.variants"]
    assert failed == [
        "encoding the json/deflate variant of a page failed",
        "encoding the html/deflate variant of a page failed",
    ]
    assert all(r.exc_info for r in caplog.records if r.name == "groxpi.variants")
    again = await get(client, "beta", JSON, "gzip")
    assert await decoded(again) == served and again.headers["ETag"] == first.headers["ETag"]
    with caplog.at_level(logging.CRITICAL):
        assert (await get(client, "beta", JSON, "deflate")).status == 500
    monkeypatch.setattr(variants, "encode_body", REAL_ENCODE)  # the failure was not kept
    assert await decoded(await get(client, "beta", JSON, "deflate")) == served


async def test_etags_hold_across_processes_and_a_cold_page_answers_304(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    first = await make_client()
    warm = await get(first, "beta", JSON, "gzip")
    etag = warm.headers["ETag"]
    other = await make_client(GROXPI_CACHE_DIR=tmp_path / "other")  # its page is cold
    cached = await other.get(
        "/simple/beta/", headers={**headers(JSON, "gzip"), "If-None-Match": etag}
    )
    assert cached.status == 304 and cached.headers["ETag"] == etag
    head = await other.head("/simple/delta/", headers=headers(HTML, "gzip"))
    assert head.status == 200 and head.headers["Content-Encoding"] == "gzip"
    body = await (await get(other, "delta", HTML, "gzip")).read()
    assert int(head.headers["Content-Length"]) == len(body)
