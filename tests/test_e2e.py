"""End to end: real pip and uv installs through a groxpi subprocess."""

from __future__ import annotations

import hashlib
import json
import re
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import GroxpiFactory
from tests.support.fake_index import FakeIndex, Fault
from tests.support.installers import installed_version, make_venv, pip_install, uv_install


@pytest.mark.slow
def test_pip_install_then_second_install_from_cache(
    groxpi_server: GroxpiFactory, fake_index: FakeIndex, tmp_path: Path
) -> None:
    server = groxpi_server()
    index = f"{server.url}/simple/"
    first = make_venv(tmp_path / "venv1", with_pip=True)
    pip_install(first, index, "alpha", "gamma")
    assert installed_version(first, "beta") == "1.0"  # 2.0 is yanked
    assert fake_index.file_requests("beta-2.0-py3-none-any.whl") == 0
    downloads = fake_index.file_requests()
    assert downloads > 0
    second = make_venv(tmp_path / "venv2", with_pip=True)
    pip_install(second, index, "alpha", "gamma")
    assert installed_version(second, "alpha") == "1.0"
    assert fake_index.file_requests() == downloads  # zero new upstream file requests


@pytest.mark.slow
def test_uv_install_then_second_install_from_cache(
    groxpi_server: GroxpiFactory, fake_index: FakeIndex, tmp_path: Path
) -> None:
    server = groxpi_server()
    index = f"{server.url}/simple/"
    first = make_venv(tmp_path / "venv1", with_pip=False)
    uv_install(first, index, "alpha", "delta", "zeta-pkg")
    assert installed_version(first, "beta") == "1.0"
    downloads = fake_index.file_requests()
    second = make_venv(tmp_path / "venv2", with_pip=False)
    uv_install(second, index, "alpha", "delta", "zeta-pkg")
    assert installed_version(second, "delta") == "1.0"
    assert fake_index.file_requests() == downloads


@pytest.mark.slow
def test_uv_installs_while_files_host_is_down_after_warmup(
    groxpi_server: GroxpiFactory, fake_index: FakeIndex, tmp_path: Path
) -> None:
    server = groxpi_server()
    index = f"{server.url}/simple/"
    uv_install(make_venv(tmp_path / "warm", with_pip=False), index, "alpha")
    fake_index.set_fault("*files*", Fault.status(503))
    uv_install(make_venv(tmp_path / "cold", with_pip=False), index, "alpha")


def fetch(url: str, accept: str = "text/html") -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read()


def test_files_are_byte_exact(groxpi_server: GroxpiFactory, fake_index: FakeIndex) -> None:
    server = groxpi_server()
    for project in ("alpha", "beta", "gamma", "delta"):
        for dist in fake_index.files(project):
            for _ in range(2):  # streamed while downloading, then from the cache
                status, body = fetch(f"{server.url}/simple/{project}/{dist.filename}")
                assert status == 200
                assert hashlib.sha256(body).hexdigest() == dist.sha256


def test_hundred_concurrent_requests_make_one_upstream_request(
    groxpi_server: GroxpiFactory, fake_index: FakeIndex
) -> None:
    server = groxpi_server()
    fake_index.set_fault("gamma", Fault.delay(0.5))
    fake_index.set_fault("gamma-0.1.tar.gz", Fault.slow(512, 0.01))
    accepts = ["application/vnd.pypi.simple.v1+json", "text/html"] * 50
    with ThreadPoolExecutor(max_workers=100) as pool:
        pages = list(pool.map(lambda a: fetch(f"{server.url}/simple/gamma/", a), accepts))
        assert {status for status, _ in pages} == {200}
        assert fake_index.index_requests("/simple/gamma/") == 1
        sdist = fake_index.file("gamma-0.1.tar.gz")
        url = f"{server.url}/simple/gamma/{sdist.filename}"
        files = list(pool.map(lambda _: fetch(url), range(100)))
    assert all(body == sdist.data for _, body in files)
    assert fake_index.file_requests(sdist.filename) == 1
    print(
        f"\n100 concurrent page requests -> {fake_index.index_requests('/simple/gamma/')} "
        f"upstream request; 100 concurrent file requests -> "
        f"{fake_index.file_requests(sdist.filename)} upstream request"
    )


def test_sigterm_exits_zero(groxpi_server: GroxpiFactory) -> None:
    server = groxpi_server()
    assert fetch(f"{server.url}/health")[0] == 200
    assert server.stop() == 0


def test_concurrent_misses_across_two_workers_make_one_upstream_request(
    groxpi_server: GroxpiFactory, fake_index: FakeIndex
) -> None:
    server = groxpi_server(GROXPI_WORKERS=2, GROXPI_ACCESS_LOG="true")
    workers: set[int] = set()
    deadline = time.monotonic() + 30
    while len(workers) < 2 and time.monotonic() < deadline:  # both accepting connections
        workers.add(json.loads(fetch(f"{server.url}/health")[1])["worker"])
    fake_index.set_fault("gamma", Fault.delay(0.5))
    accepts = ["application/vnd.pypi.simple.v1+json", "text/html"] * 50
    with ThreadPoolExecutor(max_workers=100) as pool:
        pages = list(pool.map(lambda a: fetch(f"{server.url}/simple/gamma/", a), accepts))
    assert {status for status, _ in pages} == {200}
    assert fake_index.index_requests("/simple/gamma/") == 1
    access = [line for line in server.log_text().splitlines() if "GET /simple/gamma/" in line]
    assert len({re.search(r"\[(\d+)\]", line).group(1) for line in access}) == 2  # type: ignore[union-attr]
    print(
        "\n100 concurrent page requests over 2 workers -> "
        f"{fake_index.index_requests('/simple/gamma/')} upstream request"
    )


def test_concurrent_misses_for_a_file_across_two_workers_make_one_download(
    groxpi_server: GroxpiFactory, fake_index: FakeIndex
) -> None:
    server = groxpi_server(GROXPI_WORKERS=2, GROXPI_ACCESS_LOG="true", GROXPI_DOWNLOAD_TIMEOUT=0)
    workers: set[int] = set()
    deadline = time.monotonic() + 30
    while len(workers) < 2 and time.monotonic() < deadline:
        workers.add(json.loads(fetch(f"{server.url}/health")[1])["worker"])
    sdist = fake_index.file("gamma-0.1.tar.gz")
    assert fetch(f"{server.url}/simple/gamma/")[0] == 200
    fake_index.set_fault(sdist.filename, Fault.slow(256, 0.01))
    url = f"{server.url}/simple/gamma/{sdist.filename}"
    with ThreadPoolExecutor(max_workers=100) as pool:
        files = list(pool.map(lambda _: fetch(url), range(100)))
    assert all(body == sdist.data for _, body in files)
    assert fake_index.file_requests(sdist.filename) == 1
    access = [
        line
        for line in server.log_text().splitlines()
        if f"GET /simple/gamma/{sdist.filename}" in line
    ]
    assert len({re.search(r"\[(\d+)\]", line).group(1) for line in access}) == 2  # type: ignore[union-attr]
    print(
        "\n100 concurrent file requests over 2 workers -> "
        f"{fake_index.file_requests(sdist.filename)} upstream request"
    )
