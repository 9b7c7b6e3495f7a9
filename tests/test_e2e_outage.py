"""Surviving an outage: restarts, offline mode and revalidation, with real pip and uv."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import GroxpiFactory
from tests.support.fake_index import FakeIndex
from tests.support.installers import installed_version, make_venv, pip_install, uv_install
from tests.support.nginx import StaticIndex


def get(url: str, accept: str = "text/html") -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def warm(server_url: str, tmp_path: Path) -> None:
    """What a team's CI did yesterday: install through groxpi."""
    python = make_venv(tmp_path / "warm", with_pip=False)
    uv_install(python, f"{server_url}/simple/", "alpha", "delta")
    get(f"{server_url}/simple/")


@pytest.mark.slow
def test_restart_with_upstream_down_installs_from_the_stores(
    groxpi_server: GroxpiFactory, fake_index: FakeIndex, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    first = groxpi_server(GROXPI_CACHE_DIR=cache, GROXPI_INDEX_TTL=1)
    warm(first.url, tmp_path)
    assert first.stop() == 0
    fake_index.stop()  # the upstream now refuses connections
    time.sleep(1)  # and every stored page has expired
    server = groxpi_server(GROXPI_CACHE_DIR=cache, GROXPI_INDEX_TTL=1)
    index = f"{server.url}/simple/"
    started = time.monotonic()
    with_pip = make_venv(tmp_path / "pip", with_pip=True)
    pip_install(with_pip, index, "alpha", "delta")
    with_uv = make_venv(tmp_path / "uv", with_pip=False)
    uv_install(with_uv, index, "alpha", "delta")
    print(f"\npip and uv installs through the outage took {time.monotonic() - started:.1f} s")
    for python in (with_pip, with_uv):
        assert installed_version(python, "alpha") == installed_version(python, "beta") == "1.0"
    status, body, _ = get(f"{server.url}/health")
    health = json.loads(body)
    assert status == 200 and health["status"] == "degraded"
    assert health["pages"].startswith("serving stale pages")
    assert b"serving stale pages" in get(f"{server.url}/")[1]
    assert b"alpha" in get(index)[1]  # the project list too


@pytest.mark.slow
def test_offline_mode_never_asks_upstream(
    groxpi_server: GroxpiFactory, fake_index: FakeIndex, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    warm(groxpi_server(GROXPI_CACHE_DIR=cache).url, tmp_path)
    fake_index.reset_counts()
    server = groxpi_server(GROXPI_CACHE_DIR=cache, GROXPI_OFFLINE="true")
    python = make_venv(tmp_path / "offline", with_pip=True)
    pip_install(python, f"{server.url}/simple/", "alpha", "delta")
    status, body, _ = get(f"{server.url}/simple/gamma/")
    assert status == 404 and b"offline mode (GROXPI_OFFLINE)" in body
    gamma = fake_index.files("gamma")[0].filename
    assert get(f"{server.url}/simple/gamma/{gamma}")[0] == 404
    health = json.loads(get(f"{server.url}/health")[1])
    assert health["offline"] is True and health["upstreams"][0]["reachable"] is None
    assert fake_index.index_requests() == 0 and fake_index.file_requests() == 0


def test_a_corrupt_page_record_is_refetched_not_served(
    groxpi_server: GroxpiFactory, fake_index: FakeIndex, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    first = groxpi_server(GROXPI_CACHE_DIR=cache)
    assert get(f"{first.url}/simple/alpha/")[0] == 200
    first.stop()
    (record,) = (cache / "index").rglob("alpha.page")
    record.write_bytes(record.read_bytes()[:20])  # torn, as by a crash mid-write
    server = groxpi_server(GROXPI_CACHE_DIR=cache)
    status, body, _ = get(f"{server.url}/simple/alpha/")
    assert status == 200 and b"alpha-1.0-py3-none-any.whl" in body
    assert fake_index.index_requests("/simple/alpha/") == 2  # refetched, never served torn
    assert "ignoring a corrupt page record" in server.log_path.read_text()


def test_expired_pages_are_revalidated_against_nginx(
    groxpi_server: GroxpiFactory, tmp_path: Path
) -> None:
    with StaticIndex(tmp_path / "static") as static:
        wheel = static.publish("alpha", "1.0")
        server = groxpi_server(GROXPI_INDEX_URL=static.url, GROXPI_INDEX_TTL="0.3")
        page = f"{server.url}/simple/alpha/"
        first = get(page)
        time.sleep(0.4)
        second = get(page)
        assert static.statuses("/simple/alpha/") == [200, 304]  # If-None-Match was sent
        assert second[1] == first[1] and second[2]["ETag"] == first[2]["ETag"]
        static.publish("alpha", "2.0")
        time.sleep(0.4)
        third = get(page)
        assert static.statuses("/simple/alpha/") == [200, 304, 200]
        assert b"alpha-2.0-py3-none-any.whl" in third[1]
        python = make_venv(tmp_path / "venv", with_pip=False)
        uv_install(python, f"{server.url}/simple/", "alpha==1.0")
        assert get(f"{server.url}/simple/alpha/alpha-1.0-py3-none-any.whl")[1] == wheel
