"""Warm requests are answered while a big upstream page is still being decoded.

The decode is held on a threading.Event, so nothing here depends on timing:
if it ran on the event loop, the warm requests could not be answered until it
gave up waiting (5 s), and the test fails.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from groxpi import decode
from tests.support.fake_index import FakeIndex
from tests.web.conftest import JSON, ClientFactory

HOLD = 5.0  # seconds the held decode waits before giving up (failure case only)

TARGETS = {  # what groxpi calls to decode each kind of body
    ("html", "list"): "parse_project_list",
    ("json", "list"): "json_project_list",
    ("html", "page"): "parse_project_page",
    ("json", "page"): "json_project_page",
}


class Held:
    """Wraps a decode function: it waits for :attr:`release` before decoding."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.entered = threading.Event()
        self.holding = threading.Event()
        self.release = threading.Event()

    def __call__(self, *args: Any) -> Any:
        self.entered.set()
        self.holding.set()
        self.release.wait(HOLD)
        self.holding.clear()
        return self.real(*args)

    async def wait_entered(self) -> None:
        for _ in range(int(HOLD * 100)):
            if self.entered.is_set():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the decode was never called")


@pytest.mark.parametrize(("mode", "what"), list(TARGETS))
async def test_warm_requests_answered_during_a_decode(
    tmp_path: Path,
    make_client: ClientFactory,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    what: str,
) -> None:
    with FakeIndex(tmp_path / "upstream", mode=mode) as upstream:  # type: ignore[arg-type]
        upstream.add_default_projects()
        client = await make_client(GROXPI_INDEX_URL=upstream.index_url)
        assert (await client.get("/simple/alpha/")).status == 200  # now warm
        held = Held(getattr(decode, TARGETS[mode, what]))
        monkeypatch.setattr(decode, TARGETS[mode, what], held)
        monkeypatch.setattr(decode, "INLINE_LIMIT", 0)  # every body counts as big
        cold = asyncio.create_task(
            client.get("/simple/" if what == "list" else "/simple/gamma/", headers={"Accept": JSON})
        )
        await held.wait_entered()

        warm = await client.get("/simple/alpha/", headers={"Accept": JSON})
        health = await client.get("/health")
        assert warm.status == 200 and health.status == 200
        assert (await warm.json(content_type=None))["name"] == "alpha"
        assert held.holding.is_set(), "answered only after the decode gave up waiting"

        held.release.set()
        response = await cold
        assert response.status == 200
        body = await response.json(content_type=None)
        if what == "list":
            names = {p["name"].lower().replace("_", "-") for p in body["projects"]}
            assert names == {"alpha", "beta", "gamma", "delta", "zeta-pkg"}
        else:
            assert {f["filename"] for f in body["files"]} == {
                f.filename for f in upstream.files("gamma")
            }
