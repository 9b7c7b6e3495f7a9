"""Home page, /health and the cache-invalidation endpoints."""

from __future__ import annotations

import shutil
from pathlib import Path
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request

from groxpi.storage import LocalStorage
from groxpi.web.admin import authorize, home
from groxpi.web.state import SERVICES
from tests.support.fake_index import FakeIndex, Release
from tests.web.conftest import JSON, ClientFactory, wait_idle
from tests.web.test_auth import basic, write_htpasswd


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


async def test_a_project_named_list_has_an_unambiguous_url(
    client: TestClient, fake_index: FakeIndex
) -> None:
    fake_index.add_project("list", [Release("1.0")])
    for path in ("/simple/", "/simple/list/"):
        assert (await client.get(path)).status == 200
    html = await (await client.get("/")).text()
    assert 'data-project="list"' in html and 'id="invalidateList"' in html
    assert '"cache/project/" + encodeURIComponent(name)' in html
    assert 'invalidate("cache/list", "the project list", list)' in html
    requests = fake_index.index_requests()
    dropped = await client.delete("/cache/project/List")
    assert await dropped.json() == {
        "status": "success", "data": None, "project": "list", "dropped": True
    }  # fmt: skip
    assert (await client.get("/simple/")).status == 200  # the project list is still held
    assert fake_index.index_requests() == requests
    assert (await client.get("/simple/list/")).status == 200  # the project "list" was dropped
    assert fake_index.index_requests() == requests + 1
    assert await (await client.delete("/cache/project/alpha")).json() == {
        "status": "success", "data": None, "project": "alpha", "dropped": False
    }  # fmt: skip
    assert (await client.delete("/cache/project/-bad-")).status == 400
    assert (await client.delete("/cache/project/a/b")).status == 404


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


def _remote(client: TestClient, address: str, headers: dict[str, str] | None = None) -> web.Request:
    transport = mock.Mock()
    transport.get_extra_info.return_value = (address, 4000)
    return make_mocked_request(
        "DELETE", "/cache/list", headers=headers, app=client.server.app, transport=transport
    )


async def test_token_admits_any_address_and_loopback_needs_none(
    make_client: ClientFactory,
) -> None:
    client = await make_client(GROXPI_ADMIN_TOKEN="s3cret")
    authorize(_remote(client, "203.0.113.9", {"Authorization": "Bearer s3cret"}))
    authorize(_remote(client, "2001:db8::9", {"Authorization": "Bearer s3cret"}))
    for address in ("203.0.113.9", "127.0.0.1"):  # the token is needed from loopback too
        with pytest.raises(web.HTTPUnauthorized):
            authorize(_remote(client, address))
    without = await make_client()
    for address in ("127.0.0.1", "::1", "::ffff:127.0.0.1", "127.8.9.10"):
        authorize(_remote(without, address))
    for address in ("203.0.113.9", "::ffff:203.0.113.9", "10.0.0.1", ""):
        with pytest.raises(web.HTTPForbidden):
            authorize(_remote(without, address))


async def test_basic_user_needs_the_admin_token_to_delete(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    htpasswd = write_htpasswd(tmp_path / "htpasswd", alice="wonder land")
    user = {"Authorization": basic("alice", "wonder land")}
    client = await make_client(GROXPI_AUTH_FILE=htpasswd, GROXPI_ADMIN_TOKEN="s3cret")
    for path in ("/cache/list", "/cache/alpha", "/cache/project/alpha"):
        for headers in ({}, user, {"Authorization": "Bearer wrong"}):
            response = await client.delete(path, headers=headers)
            assert response.status == 401, (path, headers)
            assert response.headers["WWW-Authenticate"] == "Bearer"
        bearer = await client.delete(path, headers={"Authorization": "Bearer s3cret"})
        assert bearer.status == 200
    assert (await client.get("/", headers={"Authorization": "Bearer s3cret"})).status == 401
    # Without a token: a user of the file, and on loopback (the test client is).
    no_token = await make_client(GROXPI_AUTH_FILE=htpasswd)
    refused = await no_token.delete("/cache/list")
    assert refused.status == 401
    assert refused.headers["WWW-Authenticate"] == 'Basic realm="groxpi"'
    assert (await no_token.delete("/cache/list", headers=user)).status == 200


async def test_home_page_offers_invalidation_with_the_token(
    make_client: ClientFactory, fake_index: FakeIndex
) -> None:
    client = await make_client(GROXPI_ADMIN_TOKEN="s3cret")
    await client.get("/simple/alpha/")
    await client.get("/simple/beta/")
    await client.get("/simple/")
    html = await (await client.get("/")).text()
    assert 'id="adminToken" type="password"' in html
    assert 'id="invalidateList"' in html and 'id="invalidateProject"' in html
    assert html.index('data-project="beta"') < html.index('data-project="alpha"')
    assert '"Bearer " + token.value' in html and 'method: "DELETE"' in html
    assert "s3cret" not in html


async def test_home_page_without_token_offers_actions_to_loopback_only(
    make_client: ClientFactory,
) -> None:
    client = await make_client()
    await client.get("/simple/alpha/")
    html = await (await client.get("/")).text()
    assert 'data-project="alpha"' in html  # a loopback viewer needs no token
    assert 'id="adminToken"' not in html
    transport = mock.Mock()
    transport.get_extra_info.return_value = ("203.0.113.9", 4000)
    remote = make_mocked_request("GET", "/", app=client.server.app, transport=transport)
    response = await home(remote)
    assert isinstance(response, web.Response) and response.text is not None
    assert "data-project" not in response.text and "invalidateList" not in response.text
    assert "allowed from this machine only" in response.text
    assert "GROXPI_ADMIN_TOKEN" in response.text
