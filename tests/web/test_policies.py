"""Policies through the web layer: pinning, allow/deny and cooldown, against the fake index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp.test_utils import TestClient

from tests.support.fake_index import FakeIndex, Release
from tests.web.conftest import JSON, ClientFactory, wait_idle


async def page_json(client: TestClient, project: str) -> dict[str, object]:
    response = await client.get(f"/simple/{project}/", headers={"Accept": JSON})
    assert response.status == 200, await response.text()
    document: dict[str, object] = await response.json(content_type=None)
    return document


def filenames(document: dict[str, object]) -> set[str]:
    return {f["filename"] for f in document["files"]}  # type: ignore[attr-defined]


async def test_pinned_project_ignores_a_higher_versioned_impostor(
    make_client: ClientFactory, fake_index: FakeIndex, tmp_path: Path
) -> None:
    fake_index.add_project("mycorp-tools", [Release("99.0")])  # published on the public index
    with FakeIndex(tmp_path / "private") as private:
        private.add_project("mycorp-tools", [Release("1.0")])
        private.add_project("beta", [Release("7.0")])  # unpinned names still merge
        client = await make_client(
            GROXPI_EXTRA_INDEX_URLS=private.index_url,
            GROXPI_PROJECT_INDEXES=f"MyCorp_*={private.index_url}",
        )
        document = await page_json(client, "mycorp-tools")
        assert filenames(document) == {"mycorp_tools-1.0-py3-none-any.whl"}
        assert document["versions"] == ["1.0"]
        assert fake_index.index_requests("/simple/mycorp-tools/") == 0
        impostor = fake_index.files("mycorp-tools")[0].filename
        assert (await client.get(f"/simple/mycorp-tools/{impostor}")).status == 404
        assert fake_index.file_requests() == 0
        assert "beta-7.0-py3-none-any.whl" in filenames(await page_json(client, "beta"))


async def test_denied_project_is_refused_unlisted_and_its_cached_files_not_served(
    make_client: ClientFactory, fake_index: FakeIndex
) -> None:
    wheel = fake_index.files("gamma")[0]
    warm = await make_client()
    assert (await warm.get(f"/simple/gamma/{wheel.filename}")).status == 200
    await wait_idle(warm)
    fake_index.reset_counts()
    client = await make_client(GROXPI_DENY_PROJECTS="gam*", GROXPI_DENY_STATUS="403")
    for path in ("/simple/gamma/", f"/simple/gamma/{wheel.filename}"):
        response = await client.get(path)
        assert response.status == 403
        body = await response.text()
        assert "GROXPI_DENY_PROJECTS" in body and len(body.splitlines()) == 1
    listing = await (await client.get("/simple/")).text()
    assert "gamma" not in listing and "alpha" in listing
    assert fake_index.index_requests("/simple/gamma/") == 0
    assert fake_index.file_requests() == 0


async def test_allow_list_serves_only_matching_projects(
    make_client: ClientFactory, fake_index: FakeIndex
) -> None:
    client = await make_client(GROXPI_ALLOW_PROJECTS="alpha,beta")
    assert (await client.get("/simple/alpha/")).status == 200
    refused = await client.get("/simple/gamma/")
    assert refused.status == 404
    assert "GROXPI_ALLOW_PROJECTS" in await refused.text()
    assert fake_index.index_requests("/simple/gamma/") == 0


async def test_cooldown_hides_young_files_and_their_urls(
    make_client: ClientFactory, fake_index: FakeIndex
) -> None:
    fresh = (datetime.now(UTC) - timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    fake_index.add_project("beta", [Release("3.0", uploaded=fresh)])
    client = await make_client(GROXPI_MIN_RELEASE_AGE="7d")
    document = await page_json(client, "beta")
    assert "beta-3.0-py3-none-any.whl" not in filenames(document)
    assert document["versions"] == ["1.0", "2.0"]
    html = await (await client.get("/simple/beta/")).text()
    assert "beta-3.0" not in html and "beta-1.0" in html
    for suffix in ("", ".metadata"):
        response = await client.get(f"/simple/beta/beta-3.0-py3-none-any.whl{suffix}")
        assert response.status == 404
    assert fake_index.file_requests() == 0
    metrics = await (await client.get("/metrics")).text()
    assert "groxpi_cooldown_files_hidden_total 1.0" in metrics
    exempt = await make_client(GROXPI_MIN_RELEASE_AGE="7d", GROXPI_MIN_RELEASE_AGE_EXEMPT="beta")
    assert "beta-3.0-py3-none-any.whl" in filenames(await page_json(exempt, "beta"))
