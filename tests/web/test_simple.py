"""Project list and project pages: negotiation, encodings, ETags, redirects, merging."""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib

from aiohttp.test_utils import TestClient
from yarl import URL

from tests.support.fake_index import FakeIndex, Fault, Release
from tests.web.conftest import JSON, ClientFactory

PIP_ACCEPT = f"{JSON}, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"


async def test_json_page_keeps_pep_691_700_fields(
    client: TestClient, fake_index: FakeIndex
) -> None:
    response = await client.get("/simple/beta/", headers={"Accept": PIP_ACCEPT})
    assert response.status == 200
    assert response.headers["Content-Type"] == JSON
    assert response.headers["Vary"] == "Accept, Accept-Encoding"
    page = await response.json(content_type=None)
    assert page["meta"]["api-version"] == "1.1"
    assert page["name"] == "beta"
    assert page["versions"] == ["1.0", "2.0"]
    files = {f["filename"]: f for f in page["files"]}
    upstream = {f.filename: f for f in fake_index.files("beta")}
    assert files.keys() == upstream.keys()
    for name, file in files.items():
        assert file["url"] == name  # relative: served by groxpi, not the files host
        assert file["hashes"] == {"sha256": upstream[name].sha256}
        assert file["size"] == upstream[name].size
        assert file["upload-time"] == upstream[name].upload_time
        metadata = {"sha256": upstream[name].metadata_sha256}
        assert file["core-metadata"] == metadata
        assert "dist-info-metadata" not in file  # PEP 714: pip 22.3-23.1 crash on it
    assert files["beta-2.0-py3-none-any.whl"]["yanked"] == "broken"
    assert files["beta-1.0-py3-none-any.whl"]["yanked"] is False


async def test_html_page_attributes(client: TestClient, fake_index: FakeIndex) -> None:
    response = await client.get("/simple/delta/")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/html")
    html = await response.text()
    delta = fake_index.files("delta")[0]
    assert '<meta name="pypi:repository-version" content="1.1">' in html
    assert f'href="{delta.filename}#sha256={delta.sha256}"' in html
    assert 'data-requires-python="&gt;=3.8"' in html
    assert f'data-core-metadata="sha256={delta.metadata_sha256}"' in html
    assert f'data-dist-info-metadata="sha256={delta.metadata_sha256}"' in html
    beta = await (await client.get("/simple/beta/")).text()
    assert 'data-yanked="broken"' in beta


async def test_media_types_and_406(client: TestClient) -> None:
    v1html = await client.get(
        "/simple/alpha/", headers={"Accept": "application/vnd.pypi.simple.v1+html"}
    )
    assert v1html.headers["Content-Type"] == "application/vnd.pypi.simple.v1+html"
    star = await client.get("/simple/alpha/", headers={"Accept": "*/*"})
    assert star.headers["Content-Type"].startswith("text/html")
    latest = await client.get(
        "/simple/alpha/", headers={"Accept": "application/vnd.pypi.simple.latest+json"}
    )
    assert latest.headers["Content-Type"] == JSON
    query = await client.get(
        "/simple/alpha/", params={"format": JSON}, headers={"Accept": "text/html"}
    )
    assert query.headers["Content-Type"] == JSON
    refused = await client.get("/simple/alpha/", headers={"Accept": "application/json"})
    assert refused.status == 406


async def test_406_whether_the_page_is_fetched_now_or_in_memory(client: TestClient) -> None:
    for path in ("/simple/gamma/", "/simple/"):
        for _ in ("fetched now", "in memory"):
            refused = await client.get(path, headers={"Accept": "application/json"})
            assert refused.status == 406, path
            assert refused.headers["Vary"] == "Accept, Accept-Encoding"
            assert (await refused.text()).startswith("406 Not Acceptable")
        assert (await client.get(path)).status == 200


async def test_gzip_deflate_and_etag(client: TestClient) -> None:
    plain = await client.get(
        "/simple/beta/", headers={"Accept": JSON, "Accept-Encoding": "identity"}
    )
    body = await plain.read()
    assert "Content-Encoding" not in plain.headers
    gz = await client.get(
        "/simple/beta/", headers={"Accept": JSON, "Accept-Encoding": "gzip"}, auto_decompress=False
    )
    assert gz.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(await gz.read()) == body
    df = await client.get(
        "/simple/beta/",
        headers={"Accept": JSON, "Accept-Encoding": "deflate"},
        auto_decompress=False,
    )
    assert zlib.decompress(await df.read()) == body
    etag = plain.headers["ETag"]
    assert etag != gz.headers["ETag"]
    cached = await client.get(
        "/simple/beta/",
        headers={"Accept": JSON, "Accept-Encoding": "identity", "If-None-Match": f'"x", {etag}'},
    )
    assert cached.status == 304
    assert await cached.read() == b""
    assert cached.headers["ETag"] == etag
    stale = await client.get(
        "/simple/beta/",
        headers={"Accept": JSON, "Accept-Encoding": "identity", "If-None-Match": '"other"'},
    )
    assert stale.status == 200


def resolved_location(path: str, location: str) -> str:
    """Where a client goes: Location resolved against the request URL."""
    return str(URL("http://groxpi" + path).join(URL(location)).relative())


async def test_redirects_to_normalized_name(client: TestClient) -> None:
    for path in ("/simple/Zeta_Pkg/", "/simple/zeta.pkg", "/simple/ZETA-PKG/?format=text/html"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 301, path
        assert not response.headers["Location"].startswith("/")  # prefix-safe
        assert resolved_location(path, response.headers["Location"]).startswith("/simple/zeta-pkg/")
    path = "/simple/ZETA-PKG/?format=text/html"
    location = (await client.get(path, allow_redirects=False)).headers["Location"]
    assert resolved_location(path, location) == "/simple/zeta-pkg/?format=text/html"
    followed = await client.get("/simple/Zeta_Pkg/")
    assert followed.status == 200
    location = (await client.get("/simple", allow_redirects=False)).headers["Location"]
    assert resolved_location("/simple", location) == "/simple/"


async def test_unknown_and_invalid_projects(client: TestClient, fake_index: FakeIndex) -> None:
    assert (await client.get("/simple/no-such-project/")).status == 404
    fake_index.reset_counts()
    for path in ("/simple/-bad-/", "/simple/a%20b/", "/simple/..%2f..%2fetc/", "/simple/%00/",
                 "/simple/-bad-", "/simple/a%20b"):  # fmt: skip
        response = await client.get(path, allow_redirects=False)
        assert response.status in (400, 404), path
    assert fake_index.index_requests() == 0


async def test_head_works_like_get(client: TestClient) -> None:
    response = await client.head("/simple/alpha/", headers={"Accept": JSON})
    assert response.status == 200
    assert response.headers["Content-Type"] == JSON
    assert await response.read() == b""


async def test_project_list(client: TestClient, fake_index: FakeIndex) -> None:
    html = await (await client.get("/simple/")).text()
    assert '<a href="zeta-pkg/">Zeta_Pkg</a>' in html
    page = await (await client.get("/simple/", headers={"Accept": JSON})).json(content_type=None)
    names = {p["name"] for p in page["projects"]}
    assert {"alpha", "beta", "gamma", "delta", "Zeta_Pkg"} <= names


async def test_index_ttl_caches_then_refreshes(
    make_client: ClientFactory, fake_index: FakeIndex
) -> None:
    client = await make_client(GROXPI_INDEX_TTL=1)
    await client.get("/simple/alpha/")
    await client.get("/simple/alpha/", headers={"Accept": JSON})
    assert fake_index.index_requests("/simple/alpha/") == 1
    fake_index.add_project("alpha", [Release("1.1")])
    await asyncio.sleep(1.1)
    page = await (await client.get("/simple/alpha/", headers={"Accept": JSON})).json(
        content_type=None
    )
    assert "1.1" in page["versions"]
    assert fake_index.index_requests("/simple/alpha/") == 2


async def test_pages_may_be_cached_in_front_for_the_ttl_they_have_left(
    make_client: ClientFactory,
) -> None:
    client = await make_client(GROXPI_INDEX_TTL=600)
    cold = await client.get("/simple/alpha/")
    assert cold.headers["Cache-Control"] in ("max-age=600", "max-age=599")
    await asyncio.sleep(1.1)
    warm = await client.get("/simple/alpha/", headers={"Accept": JSON})
    assert int(warm.headers["Cache-Control"].removeprefix("max-age=")) in range(590, 599)
    etag = warm.headers["ETag"]
    confirmed = await client.get("/simple/alpha/", headers={"Accept": JSON, "If-None-Match": etag})
    assert confirmed.status == 304 and confirmed.headers["Cache-Control"].startswith("max-age=")
    listing = await client.get("/simple/")
    assert listing.headers["Cache-Control"].startswith("max-age=")


async def test_coalesces_concurrent_misses(client: TestClient, fake_index: FakeIndex) -> None:
    fake_index.set_fault("gamma", Fault.delay(0.3))
    accepts = [JSON, "text/html"] * 50
    responses = await asyncio.gather(
        *(client.get("/simple/gamma/", headers={"Accept": a}) for a in accepts)
    )
    assert [r.status for r in responses] == [200] * 100
    assert fake_index.index_requests("/simple/gamma/") == 1


async def test_upstream_failure_is_a_short_5xx(
    make_client: ClientFactory, fake_index: FakeIndex
) -> None:
    client = await make_client(GROXPI_READ_TIMEOUT=0.5)
    fake_index.set_fault("alpha", Fault.status(500))
    response = await client.get("/simple/alpha/")
    assert response.status == 502
    text = await response.text()
    assert "500" in text and "Traceback" not in text and len(text) < 200
    fake_index.set_fault("alpha", Fault.malformed())
    assert (await client.get("/simple/alpha/")).status == 502
    fake_index.set_fault("alpha", Fault.hang())
    assert (await client.get("/simple/alpha/")).status == 504
    fake_index.clear_faults()
    assert (await client.get("/simple/alpha/")).status == 200  # failures are not cached


async def test_stale_page_served_when_refresh_fails(
    make_client: ClientFactory, fake_index: FakeIndex
) -> None:
    client = await make_client(GROXPI_INDEX_TTL=0.2)
    first = await (await client.get("/simple/alpha/")).text()
    fake_index.set_fault("alpha", Fault.status(503))
    await asyncio.sleep(0.3)
    again = await client.get("/simple/alpha/")
    assert again.status == 200
    assert await again.text() == first
    before = fake_index.index_requests("/simple/alpha/")
    for _ in range(5):  # within the back-off: no new upstream attempt per request
        assert (await client.get("/simple/alpha/")).status == 200
    assert fake_index.index_requests("/simple/alpha/") == before


async def test_not_found_is_cached_briefly(
    make_client: ClientFactory, fake_index: FakeIndex
) -> None:
    client = await make_client(GROXPI_NEGATIVE_TTL=30)
    for _ in range(5):
        assert (await client.get("/simple/missing-project/")).status == 404
    assert fake_index.index_requests("/simple/missing-project/") == 1


async def test_html_only_upstream(tmp_path, make_client: ClientFactory) -> None:  # type: ignore[no-untyped-def]
    with FakeIndex(tmp_path / "html-index", mode="html", relative_urls=True) as html_index:
        html_index.add_default_projects()
        client = await make_client(GROXPI_INDEX_URL=html_index.index_url)
        page = await (await client.get("/simple/delta/", headers={"Accept": JSON})).json(
            content_type=None
        )
        delta = html_index.files("delta")[0]
        assert page["meta"]["api-version"] == "1.0"  # no sizes in HTML
        (file,) = page["files"]
        assert file["hashes"] == {"sha256": delta.sha256}
        assert file["requires-python"] == ">=3.8"
        assert file["core-metadata"] == {"sha256": delta.metadata_sha256}
        response = await client.get(f"/simple/delta/{delta.filename}")
        assert await response.read() == delta.data
        projects = await (await client.get("/simple/", headers={"Accept": JSON})).json(
            content_type=None
        )
        assert "alpha" in {p["name"] for p in projects["projects"]}


async def test_extra_index_files_are_merged(
    tmp_path,
    make_client: ClientFactory,  # type: ignore[no-untyped-def]
    fake_index: FakeIndex,
) -> None:
    with FakeIndex(tmp_path / "extra") as extra:
        extra.add_project("alpha", [Release("9.0")])
        extra.add_project("only-extra", [Release("0.5")])
        client = await make_client(
            GROXPI_EXTRA_INDEX_URLS=extra.index_url, GROXPI_EXTRA_INDEX_TTLS="60"
        )
        page = await (await client.get("/simple/alpha/", headers={"Accept": JSON})).json(
            content_type=None
        )
        assert {f["filename"] for f in page["files"]} == {
            "alpha-1.0-py3-none-any.whl",
            "alpha-9.0-py3-none-any.whl",
        }
        wheel = extra.files("alpha")[0]
        assert await (await client.get(f"/simple/alpha/{wheel.filename}")).read() == wheel.data
        assert (await client.get("/simple/only-extra/")).status == 200


async def test_merged_page_lists_the_union_of_the_indexes_versions(
    tmp_path,
    make_client: ClientFactory,  # type: ignore[no-untyped-def]
    fake_index: FakeIndex,
) -> None:
    # PEP 700: the main index lists 1.23.0 although none of its files is left.
    fake_index.add_project("numeric", [Release("1.23.0", wheel=False), Release("1.23.1")])
    with (
        FakeIndex(tmp_path / "extra") as extra,
        FakeIndex(tmp_path / "html-extra", mode="html") as html_extra,  # sends no versions
    ):
        extra.add_project("numeric", [Release("1.23.1")])
        html_extra.add_project("numeric", [Release("2.0"), Release("1.10")])
        client = await make_client(
            GROXPI_EXTRA_INDEX_URLS=f"{extra.index_url},{html_extra.index_url}"
        )
        page = await (await client.get("/simple/numeric/", headers={"Accept": JSON})).json(
            content_type=None
        )
    assert page["versions"] == ["1.10", "1.23.0", "1.23.1", "2.0"]
    assert {f["filename"] for f in page["files"]} == {
        "numeric-1.23.1-py3-none-any.whl",
        "numeric-2.0-py3-none-any.whl",
        "numeric-1.10-py3-none-any.whl",
    }


async def test_quarantined_project_offers_no_files(
    client: TestClient, fake_index: FakeIndex
) -> None:
    fake_index.set_status("gamma", "quarantined")
    page = await (await client.get("/simple/gamma/", headers={"Accept": JSON})).json(
        content_type=None
    )
    assert page["files"] == []
    assert page["project-status"]["status"] == "quarantined"
    html = await (await client.get("/simple/gamma/")).text()
    assert '<meta name="pypi:project-status" content="quarantined">' in html
    wheel = fake_index.files("gamma")[0]
    assert (await client.get(f"/simple/gamma/{wheel.filename}")).status == 404
    assert fake_index.file_requests() == 0


async def test_proxpi_index_paths_redirect(client: TestClient) -> None:
    response = await client.get("/index/alpha/?format=text/html", allow_redirects=False)
    assert response.status == 301
    assert response.headers["Location"] == "/simple/alpha/?format=text/html"
    assert (await client.get("/index/")).status == 200


async def test_big_pages_are_served_from_shared_files(
    make_client: ClientFactory,  # type: ignore[no-untyped-def]
    fake_index: FakeIndex,
    tmp_path,
) -> None:
    fake_index.add_many_files("huge", 8000)
    client = await make_client()
    response = await client.get(
        "/simple/huge/", headers={"Accept": JSON, "Accept-Encoding": "identity"}
    )
    assert response.status == 200
    assert response.headers["Content-Type"] == JSON
    body = await response.read()
    assert int(response.headers["Content-Length"]) == len(body) > 1024 * 1024
    assert len(json.loads(body)["files"]) == 8000
    html = await client.get("/simple/huge/", headers={"Accept-Encoding": "identity"})
    assert (await html.text()).count("<a ") == 8000
    shared = sorted(p.suffix for p in (tmp_path / "cache" / "rendered").iterdir())
    assert shared == [".html", ".json"]  # mapped by every worker, held once
