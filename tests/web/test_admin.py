"""Home page, /health and the cache-invalidation endpoints."""

from __future__ import annotations

import shutil
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request

from groxpi.storage import LocalStorage
from groxpi.web.admin import authorize
from groxpi.web.state import SERVICES
from tests.support.fake_index import FakeIndex, Release
from tests.web.conftest import JSON, ClientFactory, wait_idle


async def test_home_page_shows_stats(client: TestClient, fake_index: FakeIndex) -> None:
    await client.get("/simple/alpha/")
    await client.get("/simple/alpha/")
    await (await client.get("/simple/alpha/alpha-1.0-py3-none-any.whl")).read()
    await wait_idle(client)
    response = await client.get("/")
    assert response.status == 200
    html = await response.text()
    assert "groxpi 0.1.0" in html
    assert fake_index.index_url in html
    assert "Index hits / misses</th><td>2 / 1" in html
    assert "File hits / misses</th><td>0 / 1" in html
    assert "Cached files</th><td>1" in html
    assert "local (ok)" in html


async def test_health(client: TestClient, fake_index: FakeIndex) -> None:
    response = await client.get("/health")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ok" and body["reason"] is None
    assert body["storage"] == {"type": "local", "status": "ok"}
    assert body["upstreams"] == [{"url": fake_index.index_url, "reachable": True}]
    assert body["version"] == "0.1.0"


async def test_health_reports_unreachable_upstream(make_client: ClientFactory) -> None:
    client = await make_client(GROXPI_INDEX_URL="http://127.0.0.1:9/simple/")
    response = await client.get("/health")
    body = await response.json()
    assert response.status == 200  # degraded still serves what it holds
    assert body["status"] == "degraded"
    assert body["reason"] == "an upstream index is unreachable"
    assert body["upstreams"][0]["reachable"] is False


async def test_health_is_503_when_storage_is_gone(client: TestClient) -> None:
    storage = client.server.app[SERVICES].storage
    assert isinstance(storage, LocalStorage)
    shutil.rmtree(storage.root)
    response = await client.get("/health")
    assert response.status == 503
    body = await response.json()
    assert body["status"] == "unavailable"
    assert "not writable" in body["storage"]["status"]


async def test_health_is_503_once_shutdown_begins(client: TestClient) -> None:
    assert (await client.get("/health")).status == 200
    await client.server.app.shutdown()  # what the runner does on SIGTERM, before draining
    response = await client.get("/health")
    assert response.status == 503
    assert (await response.json())["reason"] == "shutting down"


async def test_delete_project_drops_cached_page(client: TestClient, fake_index: FakeIndex) -> None:
    await client.get("/simple/alpha/")
    fake_index.add_project("alpha", [Release("2.0")])
    page = await (await client.get("/simple/alpha/", headers={"Accept": JSON})).json(
        content_type=None
    )
    assert "2.0" not in page["versions"]  # still the cached page
    dropped = await client.delete("/cache/Alpha")
    assert dropped.status == 200
    assert await dropped.json() == {
        "status": "success",  # proxpi's shape: scripts written for it check this
        "data": None,
        "project": "alpha",
        "dropped": True,
    }
    page = await (await client.get("/simple/alpha/", headers={"Accept": JSON})).json(
        content_type=None
    )
    assert "2.0" in page["versions"]
    assert (await client.delete("/cache/-bad-")).status == 400


async def test_delete_list(client: TestClient, fake_index: FakeIndex) -> None:
    await client.get("/simple/")
    fake_index.add_project("brand-new", [Release("1.0")])
    assert "brand-new" not in await (await client.get("/simple/")).text()
    dropped = await client.delete("/cache/list")
    assert dropped.status == 200
    assert await dropped.json() == {"status": "success", "data": None, "dropped": True}
    assert "brand-new" in await (await client.get("/simple/")).text()


async def test_admin_token_required_when_set(make_client: ClientFactory) -> None:
    client = await make_client(GROXPI_ADMIN_TOKEN="s3cret")
    assert (await client.delete("/cache/list")).status == 401
    wrong = await client.delete("/cache/list", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    right = await client.delete("/cache/list", headers={"Authorization": "Bearer s3cret"})
    assert right.status == 200


async def test_non_loopback_client_is_forbidden_without_token(client: TestClient) -> None:
    forwarded = await client.delete("/cache/list", headers={"X-Forwarded-For": "8.8.8.8"})
    assert forwarded.status == 200  # forwarded headers are not trusted: the peer is loopback
    transport = mock.Mock()
    transport.get_extra_info.return_value = ("203.0.113.9", 4000)
    request = make_mocked_request(
        "DELETE", "/cache/list", app=client.server.app, transport=transport
    )
    with pytest.raises(web.HTTPForbidden):
        authorize(request)
