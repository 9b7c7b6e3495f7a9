"""Self-tests of the fake upstream: other tests trust what it serves and its faults."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import subprocess
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from email.message import Message
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support import wheels
from tests.support.fake_index import JSON_TYPE, FakeIndex, Fault, Release
from tests.support.installers import make_venv, pip_install, uv_install
from tests.support.server import GroxpiProcess, GroxpiStartError

ACCEPT_JSON = "application/vnd.pypi.simple.v1+json"
PIP_ACCEPT = f"{ACCEPT_JSON}, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def fetch(
    url: str, accept: str | None = None, method: str = "GET", timeout: float = 10
) -> tuple[int, Message, bytes]:
    req = urllib.request.Request(url, method=method)
    if accept:
        req.add_header("Accept", accept)
    try:
        with _opener.open(req, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[dict[str, str | None]] = []
        self.metas: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append(dict(attrs))
        elif tag == "meta":
            d = dict(attrs)
            self.metas[d["name"] or ""] = d.get("content")


def parse_html(body: bytes) -> _Anchors:
    parser = _Anchors()
    parser.feed(body.decode())
    return parser


def test_json_page_is_pep691_and_hashes_match(fake_index: FakeIndex) -> None:
    status, headers, body = fetch(fake_index.index_url + "alpha/", PIP_ACCEPT)
    assert status == 200
    assert headers["Content-Type"] == JSON_TYPE
    doc = json.loads(body)
    assert doc["meta"]["api-version"] == "1.1"
    assert isinstance(doc["meta"]["_last-serial"], int)
    assert doc["name"] == "alpha" and doc["versions"] == ["1.0"]
    (entry,) = doc["files"]
    assert entry["filename"] == "alpha-1.0-py3-none-any.whl"
    assert entry["url"].startswith(fake_index.files_url + "/packages/")
    assert entry["yanked"] is False and entry["requires-python"] is None
    assert entry["upload-time"].endswith("Z")
    data = fetch(entry["url"])[2]
    assert entry["size"] == len(data)
    assert entry["hashes"] == {"sha256": sha256(data)}
    meta = fetch(entry["url"] + ".metadata")[2]
    assert entry["core-metadata"] == entry["data-dist-info-metadata"] == {"sha256": sha256(meta)}
    assert b"Requires-Dist: beta>=1.0" in meta


def test_html_page_is_pep503_and_hashes_match(fake_index: FakeIndex) -> None:
    status, headers, body = fetch(fake_index.index_url + "delta/")
    assert status == 200 and headers["Content-Type"] == "text/html"
    assert 'data-requires-python="&gt;=3.8"' in body.decode()
    page = parse_html(body)
    assert page.metas["pypi:repository-version"] == "1.1"
    (anchor,) = page.anchors
    url, _, fragment = (anchor["href"] or "").partition("#sha256=")
    data = fetch(url)[2]
    assert fragment == sha256(data)
    assert anchor["data-requires-python"] == ">=3.8"
    meta_hash = sha256(fetch(url + ".metadata")[2])
    assert (
        anchor["data-core-metadata"] == anchor["data-dist-info-metadata"] == (f"sha256={meta_hash}")
    )


def test_html_mode_ignores_json_accept(tmp_path: Path) -> None:
    with FakeIndex(tmp_path, mode="html") as index:
        index.add_project("solo", [Release("1.0")])
        _, headers, body = fetch(index.index_url + "solo/", ACCEPT_JSON)
        assert headers["Content-Type"] == "text/html"
        assert body.startswith(b"<!DOCTYPE html>")


def test_project_list_in_both_formats(fake_index: FakeIndex) -> None:
    _, headers, body = fetch(fake_index.index_url, ACCEPT_JSON)
    assert headers["Content-Type"] == JSON_TYPE
    names = [p["name"] for p in json.loads(body)["projects"]]
    assert names == ["alpha", "beta", "delta", "gamma", "Zeta_Pkg"]
    hrefs = [a["href"] for a in parse_html(fetch(fake_index.index_url, "*/*")[2]).anchors]
    assert "/simple/zeta-pkg/" in hrefs


def test_yanked_release(fake_index: FakeIndex) -> None:
    doc = json.loads(fetch(fake_index.index_url + "beta/", ACCEPT_JSON)[2])
    yanked = {f["filename"]: f["yanked"] for f in doc["files"]}
    assert yanked == {"beta-1.0-py3-none-any.whl": False, "beta-2.0-py3-none-any.whl": "broken"}
    anchors = parse_html(fetch(fake_index.index_url + "beta/")[2]).anchors
    assert [a.get("data-yanked") for a in anchors] == [None, "broken"]


def test_gamma_has_wheel_and_sdist(fake_index: FakeIndex) -> None:
    doc = json.loads(fetch(fake_index.index_url + "gamma/", ACCEPT_JSON)[2])
    by_name = {f["filename"]: f for f in doc["files"]}
    sdist = by_name["gamma-0.1.tar.gz"]
    assert sdist["core-metadata"] is False
    with tarfile.open(fileobj=io.BytesIO(fetch(sdist["url"])[2])) as tf:
        assert {"gamma-0.1/PKG-INFO", "gamma-0.1/pyproject.toml"} <= set(tf.getnames())


def test_redirects_and_not_found(fake_index: FakeIndex) -> None:
    status, headers, _ = fetch(fake_index.index_url + "alpha")
    assert status == 301 and headers["Location"].endswith("/simple/alpha/")
    status, headers, _ = fetch(fake_index.index_url + "Zeta_Pkg/")
    assert status == 301 and headers["Location"] == "/simple/zeta-pkg/"
    assert fetch(fake_index.index_url + "zeta-pkg/", ACCEPT_JSON)[0] == 200
    assert fetch(fake_index.index_url + "nope/")[0] == 404
    assert fetch(fake_index.files_url + "/packages/00/00/nope-1.0.tar.gz")[0] == 404


def test_relative_urls_resolve_against_the_page(tmp_path: Path) -> None:
    with FakeIndex(tmp_path, relative_urls=True) as index:
        index.add_project("solo", [Release("1.0")])
        page_url = index.index_url + "solo/"
        doc = json.loads(fetch(page_url, ACCEPT_JSON)[2])
        href = parse_html(fetch(page_url)[2]).anchors[0]["href"] or ""
        for ref in (doc["files"][0]["url"], href):
            assert not ref.startswith("http")
            url, _, _ = urllib.parse.urljoin(page_url, ref).partition("#")
            assert sha256(fetch(url)[2]) == doc["files"][0]["hashes"]["sha256"]


def test_project_status(fake_index: FakeIndex) -> None:
    fake_index.set_status("alpha", "quarantined")
    doc = json.loads(fetch(fake_index.index_url + "alpha/", ACCEPT_JSON)[2])
    assert doc["meta"]["api-version"] == "1.4"
    assert doc["project-status"] == {"status": "quarantined"}
    page = parse_html(fetch(fake_index.index_url + "alpha/")[2])
    assert page.metas["pypi:project-status"] == "quarantined"


def test_files_host_head(fake_index: FakeIndex) -> None:
    dist = fake_index.files("beta")[0]
    status, headers, body = fetch(fake_index.file_url(dist.filename), method="HEAD")
    assert status == 200 and body == b""
    assert headers["Content-Length"] == str(dist.size)
    assert headers["Content-Type"] == "application/octet-stream"


def test_many_files(fake_index: FakeIndex) -> None:
    fake_index.add_many_files("big", 3000)
    doc = json.loads(fetch(fake_index.index_url + "big/", ACCEPT_JSON)[2])
    assert len(doc["files"]) == 3000 and len(doc["versions"]) == 1500
    last = doc["files"][-1]
    assert sha256(fetch(last["url"])[2]) == last["hashes"]["sha256"]


@pytest.mark.parametrize("code", [500, 502, 503, 404])
def test_status_fault(fake_index: FakeIndex, code: int) -> None:
    dist = fake_index.files("alpha")[0]
    fake_index.set_fault("alpha", Fault.status(code))
    fake_index.set_fault(dist.filename, Fault.status(code))
    assert fetch(fake_index.index_url + "alpha/")[0] == code
    assert fetch(fake_index.file_url(dist.filename))[0] == code
    assert fetch(fake_index.index_url + "beta/")[0] == 200


def test_fault_times_and_clear(fake_index: FakeIndex) -> None:
    fake_index.set_fault("*index*", Fault.status(503, times=2))
    assert [fetch(fake_index.index_url + "beta/")[0] for _ in range(3)] == [503, 503, 200]
    fake_index.set_fault("*files*", Fault.status(500))
    dist = fake_index.files("beta")[0]
    assert fetch(fake_index.file_url(dist.filename))[0] == 500
    fake_index.clear_faults()
    assert fetch(fake_index.file_url(dist.filename))[0] == 200


def test_delay_then_normal_answer(fake_index: FakeIndex) -> None:
    fake_index.set_fault("beta", Fault.delay(0.3))
    start = time.monotonic()
    status, _, body = fetch(fake_index.index_url + "beta/", ACCEPT_JSON)
    assert time.monotonic() - start >= 0.3
    assert status == 200 and json.loads(body)["name"] == "beta"


def test_cut_gives_short_body(fake_index: FakeIndex) -> None:
    dist = fake_index.files("alpha")[0]
    fake_index.set_fault(dist.filename, Fault.cut(100))
    with pytest.raises(http.client.IncompleteRead) as info:
        fetch(fake_index.file_url(dist.filename))
    assert len(info.value.partial) == 100
    assert info.value.expected == dist.size - 100


def test_wrong_bytes_breaks_the_hash(fake_index: FakeIndex) -> None:
    dist = fake_index.files("alpha")[0]
    fake_index.set_fault("*files*", Fault.wrong_bytes())
    status, _, body = fetch(fake_index.file_url(dist.filename))
    assert status == 200 and len(body) == dist.size
    assert sha256(body) != dist.sha256


def test_hang_times_out_client_and_stop_is_quick(tmp_path: Path) -> None:
    index = FakeIndex(tmp_path).start()
    index.add_project("solo", [Release("1.0")])
    index.set_fault("solo", Fault.hang())
    with pytest.raises(TimeoutError):
        fetch(index.index_url + "solo/", timeout=0.3)
    start = time.monotonic()
    index.stop()
    assert time.monotonic() - start < 2


def test_slow_trickles_the_body(fake_index: FakeIndex) -> None:
    dist = fake_index.files("alpha")[0]
    fake_index.set_fault(dist.filename, Fault.slow(dist.size // 4 + 1, 0.1))
    start = time.monotonic()
    body = fetch(fake_index.file_url(dist.filename))[2]
    assert time.monotonic() - start >= 0.3
    assert sha256(body) == dist.sha256


def test_malformed_pages(fake_index: FakeIndex) -> None:
    fake_index.set_fault("alpha", Fault.malformed())
    status, headers, body = fetch(fake_index.index_url + "alpha/", ACCEPT_JSON)
    assert status == 200 and headers["Content-Type"] == JSON_TYPE
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    assert parse_html(fetch(fake_index.index_url + "alpha/")[2]).anchors == []


def test_counters(fake_index: FakeIndex) -> None:
    dist = fake_index.files("alpha")[0]
    fetch(fake_index.index_url + "alpha/")
    fetch(fake_index.index_url + "alpha/", ACCEPT_JSON)
    fetch(fake_index.index_url + "beta/")
    fetch(fake_index.file_url(dist.filename))
    fetch(fake_index.file_url(dist.filename) + ".metadata")
    assert fake_index.index_requests() == 3
    assert fake_index.index_requests("/simple/alpha/") == 2
    assert fake_index.file_requests(dist.filename) == 1
    assert fake_index.file_requests() == 2
    fake_index.reset_counts()
    assert fake_index.index_requests() == fake_index.file_requests() == 0


async def test_usable_from_async_tests(fake_index: FakeIndex) -> None:
    dist = fake_index.files("alpha")[0]
    fake_index.set_fault(dist.filename, Fault.cut(10, times=1))
    async with aiohttp.ClientSession() as session:
        async with session.get(
            fake_index.index_url + "alpha/", headers={"Accept": ACCEPT_JSON}
        ) as resp:
            assert resp.content_type == JSON_TYPE
            assert (await resp.json(content_type=None))["name"] == "alpha"
        with pytest.raises(aiohttp.ClientPayloadError):
            async with session.get(fake_index.file_url(dist.filename)) as resp:
                await resp.read()
        async with session.get(fake_index.file_url(dist.filename)) as resp:
            assert sha256(await resp.read()) == dist.sha256


def test_wheels_are_deterministic_with_valid_record(tmp_path: Path) -> None:
    one = wheels.build_wheel(tmp_path / "a", "Zeta_Pkg", "1.0", ["beta>=1"], ">=3.8")
    two = wheels.build_wheel(tmp_path / "b", "Zeta_Pkg", "1.0", ["beta>=1"], ">=3.8")
    assert one.name == "zeta_pkg-1.0-py3-none-any.whl"
    assert one.read_bytes() == two.read_bytes()
    assert wheels.build_sdist(tmp_path / "a", "gamma", "0.1").read_bytes() == (
        wheels.build_sdist(tmp_path / "b", "gamma", "0.1").read_bytes()
    )
    with zipfile.ZipFile(one) as zf:
        record = zf.read("zeta_pkg-1.0.dist-info/RECORD").decode().splitlines()
        for line in record:
            arcname, digest, size = line.rsplit(",", 2)
            if digest:
                data = zf.read(arcname)
                assert digest == wheels._record_hash(data) and int(size) == len(data)
        assert {r.split(",")[0] for r in record} == set(zf.namelist())
    meta = wheels.wheel_metadata(one).decode()
    assert "Name: Zeta_Pkg" in meta and "Requires-Python: >=3.8" in meta


def _installed_versions(python: Path) -> str:
    code = "import alpha, beta; print(alpha.__version__, beta.__version__)"
    return subprocess.run(
        [str(python), "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["json", "html"])
def test_pip_installs_directly_from_fake(tmp_path: Path, mode: str) -> None:
    with FakeIndex(tmp_path / "index", mode=mode) as index:  # type: ignore[arg-type]
        index.add_default_projects()
        python = make_venv(tmp_path / "venv", with_pip=True)
        pip_install(python, index.index_url, "alpha")
        assert _installed_versions(python) == "1.0 1.0"
        assert index.file_requests("beta-2.0-py3-none-any.whl") == 0


@pytest.mark.slow
def test_uv_installs_directly_from_fake(fake_index: FakeIndex, tmp_path: Path) -> None:
    python = make_venv(tmp_path / "uv-venv", with_pip=False)
    uv_install(python, fake_index.index_url, "alpha", "gamma", "Zeta_Pkg")
    assert _installed_versions(python) == "1.0 1.0"


def test_groxpi_runner_starts_and_stops(groxpi_server: Any) -> None:
    proc: GroxpiProcess = groxpi_server()
    status, _, body = fetch(proc.url + "/health")
    assert status == 200 and json.loads(body)["status"]
    assert proc.stop() == 0
    assert not proc.running()


def test_groxpi_runner_reports_startup_failure(tmp_path: Path) -> None:
    proc = GroxpiProcess({"GROXPI_CACHE_SIZE": "5XB"}, tmp_path / "cache")
    with pytest.raises(GroxpiStartError, match="GROXPI_CACHE_SIZE"):
        proc.start(timeout=10)
    assert not proc.running()
