"""Index pages under upstream faults: stale-if-error with back-off, clean 5xx, negative caching.

tests/web/test_simple.py already checks a never-cached page answering 502/504 for
a 500, a malformed JSON body and a hang, and a stale page surviving a 503; here
every fault kind (including refused connections and malformed HTML) is injected
for real, with timing, logging, back-off and recovery checked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from groxpi.sources import base as source_base
from groxpi.web.state import SERVICES
from tests.conftest import GroxpiFactory
from tests.reliability.conftest import raw_get, raw_request
from tests.reliability.scripted import TcpGate
from tests.support.fake_index import FakeIndex, Fault, Release
from tests.web.conftest import JSON, ClientFactory

TIMEOUT = 0.5  # connect and read timeout given to groxpi in these tests
BACKOFF = 0.4  # RETRY_AFTER_ERROR, shortened so the retry is observable quickly
TTL = 0.2
FAULTS = ["status-500", "status-503", "hang", "refused", "malformed-json", "malformed-html"]


@pytest.fixture
def gated_index(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[FakeIndex, TcpGate]]:
    """A fake index (JSON or HTML, from the test's ``mode``) behind a gate that can refuse."""
    mode = getattr(request, "param", "json")
    with FakeIndex(tmp_path / "gated", mode=mode) as upstream:
        upstream.add_project("alpha", [Release("1.0")])
        gate = TcpGate(int(upstream.index_host.rsplit(":", 1)[1])).open()
        try:
            yield upstream, gate
        finally:
            gate.close()


def inject(fault: str, upstream: FakeIndex, gate: TcpGate, target: str = "alpha") -> None:
    if fault.startswith("status-"):
        upstream.set_fault(target, Fault.status(int(fault.removeprefix("status-"))))
    elif fault == "hang":
        upstream.set_fault(target, Fault.hang())
    elif fault.startswith("malformed"):
        upstream.set_fault(target, Fault.malformed())
    elif fault == "refused":
        gate.close()


def recover(fault: str, upstream: FakeIndex, gate: TcpGate) -> None:
    upstream.clear_faults()
    if fault == "refused":
        gate.open()


@pytest.mark.parametrize(
    ("fault", "gated_index"),
    [(f, "html" if f == "malformed-html" else "json") for f in FAULTS],
    indirect=["gated_index"],
    ids=FAULTS,
)
async def test_stale_if_error_backoff_and_recovery(
    fault: str,
    gated_index: tuple[FakeIndex, TcpGate],
    make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    upstream, gate = gated_index
    monkeypatch.setattr(source_base, "RETRY_AFTER_ERROR", BACKOFF)
    client = await make_client(
        GROXPI_INDEX_URL=gate.url(),
        GROXPI_INDEX_TTL=TTL,
        GROXPI_CONNECT_TIMEOUT=TIMEOUT,
        GROXPI_READ_TIMEOUT=TIMEOUT,
    )
    attempts = client.server.app[SERVICES].client
    good_html = await (await client.get("/simple/alpha/")).text()
    good_json = await (await client.get("/simple/alpha/", headers={"Accept": JSON})).read()
    upstream.add_project("alpha", [Release("2.0")])  # only a successful refresh shows it
    inject(fault, upstream, gate)
    await asyncio.sleep(TTL + 0.05)

    with caplog.at_level(logging.WARNING, logger="groxpi"):
        started = time.monotonic()
        stale = await client.get("/simple/alpha/")
        elapsed = time.monotonic() - started
        assert stale.status == 200
        assert await stale.text() == good_html
        assert elapsed < TIMEOUT + 0.5, f"stale page took {elapsed:.2f}s"
    assert "serving stale page for 'alpha'" in caplog.text

    # Within the back-off every request is answered from memory, with no upstream attempt.
    tried = sum(attempts.requests.values())
    for accept in ("text/html", JSON) * 5:
        again = await client.get("/simple/alpha/", headers={"Accept": accept})
        assert again.status == 200
        assert await again.read() == (good_json if accept == JSON else good_html.encode())
    assert sum(attempts.requests.values()) == tried

    # After the back-off upstream is tried once more; still failing, still stale.
    await asyncio.sleep(BACKOFF + 0.05)
    assert await (await client.get("/simple/alpha/")).text() == good_html
    assert sum(attempts.requests.values()) == tried + 1

    # Upstream recovers: the next attempt after the back-off brings the new release in.
    recover(fault, upstream, gate)
    await asyncio.sleep(BACKOFF + 0.05)
    page = await (await client.get("/simple/alpha/", headers={"Accept": JSON})).json(
        content_type=None
    )
    assert "2.0" in page["versions"]


async def test_stale_project_list_survives_malformed_list(
    fake_index: FakeIndex, make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source_base, "RETRY_AFTER_ERROR", BACKOFF)
    client = await make_client(GROXPI_INDEX_TTL=TTL)
    good = await (await client.get("/simple/", headers={"Accept": JSON})).read()
    fake_index.set_fault("*index*", Fault.malformed())
    await asyncio.sleep(TTL + 0.05)
    for _ in range(3):
        response = await client.get("/simple/", headers={"Accept": JSON})
        assert response.status == 200
        assert await response.read() == good
    assert fake_index.index_requests("/simple/") == 2  # the first fetch and one refresh


async def test_stale_page_is_served_to_concurrent_clients_with_one_attempt(
    fake_index: FakeIndex, make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source_base, "RETRY_AFTER_ERROR", BACKOFF)
    client = await make_client(
        GROXPI_INDEX_TTL=TTL, GROXPI_CONNECT_TIMEOUT=TIMEOUT, GROXPI_READ_TIMEOUT=TIMEOUT
    )
    good = await (await client.get("/simple/beta/")).text()
    fake_index.set_fault("beta", Fault.hang())
    await asyncio.sleep(TTL + 0.05)
    fake_index.reset_counts()
    started = time.monotonic()
    responses = await asyncio.gather(*(client.get("/simple/beta/") for _ in range(50)))
    assert time.monotonic() - started < TIMEOUT + 0.5
    assert [r.status for r in responses] == [200] * 50
    assert {await r.text() for r in responses} == {good}
    assert fake_index.index_requests("/simple/beta/") == 1


def _plain_5xx(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status in (502, 503, 504), (status, body)
    assert headers["content-type"].startswith("text/plain")
    text = body.decode()
    assert len(text) < 200 and text.count("\n") == 1, text
    assert text.startswith(f"{status} ") and "Traceback" not in text


def test_never_cached_page_with_failing_upstream_is_a_short_5xx(
    fake_index: FakeIndex, groxpi_server: GroxpiFactory, tmp_path: Path
) -> None:
    """Every fault on a cold page gives a one-line 502/504; the server keeps serving."""
    gate = TcpGate(int(fake_index.index_host.rsplit(":", 1)[1])).open()
    with FakeIndex(tmp_path / "html-up", mode="html") as html_upstream:
        html_upstream.add_default_projects()
        html_gate = TcpGate(int(html_upstream.index_host.rsplit(":", 1)[1])).open()
        try:
            server = groxpi_server(
                GROXPI_INDEX_URL=gate.url(),
                GROXPI_CONNECT_TIMEOUT=TIMEOUT,
                GROXPI_READ_TIMEOUT=TIMEOUT,
            )
            html_server = groxpi_server(
                GROXPI_INDEX_URL=html_gate.url(), GROXPI_READ_TIMEOUT=TIMEOUT
            )
            expected = {"hang": 504}
            for fault in FAULTS:
                target, up, g = (
                    (html_server, html_upstream, html_gate)
                    if fault == "malformed-html"
                    else (server, fake_index, gate)
                )
                inject(fault, up, g, target="gamma")
                for path in ("/simple/gamma/", "/simple/gamma/gamma-0.1.tar.gz"):
                    response = raw_get(target.port, path)
                    _plain_5xx(response.status, response.headers, response.body)
                    assert response.status == expected.get(fault, 502), (fault, path)
                recover(fault, up, g)
                assert raw_get(target.port, "/simple/gamma/").status == 200  # nothing cached
                forget = b"DELETE /cache/gamma HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                assert raw_request(target.port, forget).status == 200
            for proc in (server, html_server):
                assert proc.running()
                assert raw_get(proc.port, "/health").status == 200
                log = proc.log_text()
                assert "Traceback" not in log and "unexpected error" not in log
        finally:
            html_gate.close()
            gate.close()


async def test_negative_caching_absorbs_a_flood(
    fake_index: FakeIndex, make_client: ClientFactory
) -> None:
    client = await make_client(GROXPI_NEGATIVE_TTL=0.5)
    path = "/simple/no-such-thing/"
    flood = await asyncio.gather(
        *(client.get(path, headers={"Accept": a}) for a in (JSON, "text/html") * 100)
    )
    assert {r.status for r in flood} == {404}
    for _ in range(100):
        assert (await client.get(path)).status == 404
        assert (await client.head(path)).status == 404
    assert fake_index.index_requests(path) == 1
    # File requests under the missing project are answered from the same entry.
    assert (await client.get(path + "no_such_thing-1.0-py3-none-any.whl")).status == 404
    assert fake_index.index_requests(path) == 1
    assert fake_index.file_requests() == 0
    # The name is published upstream: visible once the negative entry expires.
    fake_index.add_project("no-such-thing", [Release("1.0")])
    assert (await client.get(path)).status == 404
    await asyncio.sleep(0.55)
    assert (await client.get(path)).status == 200
    assert fake_index.index_requests(path) == 2


async def test_negative_ttl_zero_disables_negative_caching(
    fake_index: FakeIndex, make_client: ClientFactory
) -> None:
    client = await make_client(GROXPI_NEGATIVE_TTL=0)
    for _ in range(3):
        assert (await client.get("/simple/nothing-here/")).status == 404
    assert fake_index.index_requests("/simple/nothing-here/") == 3


async def test_made_up_names_do_not_grow_memory_without_bound(
    fake_index: FakeIndex, make_client: ClientFactory
) -> None:
    """Each distinct missing name is remembered only for the negative TTL."""
    client = await make_client(GROXPI_NEGATIVE_TTL=0.3)
    index = client.server.app[SERVICES].index
    assert (await client.get("/simple/alpha/")).status == 200
    for batch in range(3):
        names = [f"made-up-{batch}-{n}" for n in range(150)]
        responses = await asyncio.gather(*(client.get(f"/simple/{n}/") for n in names))
        assert {r.status for r in responses} == {404}
        assert len(index) <= 1 + 150  # alpha, and at most the names still remembered
        await asyncio.sleep(0.35)
    assert (await client.get("/simple/made-up-last/")).status == 404
    assert len(index) == 2  # alpha's page and the one live negative entry
    assert (await client.get("/simple/alpha/")).status == 200
