"""In-process groxpi app (aiohttp test client) against the fake upstream."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from groxpi.config import load_config
from groxpi.web.app import create_app
from groxpi.web.metrics import runner_options
from tests.support.fake_index import FakeIndex

ClientFactory = Callable[..., Awaitable[TestClient]]

JSON = "application/vnd.pypi.simple.v1+json"


@pytest.fixture
def make_client(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    fake_index: FakeIndex,
    tmp_path: Path,
) -> ClientFactory:
    """``await make_client(**env)``: a test client for groxpi configured from ``env``."""

    async def make(**env: object) -> TestClient:
        full = {
            "GROXPI_INDEX_URL": fake_index.index_url,
            "GROXPI_CACHE_DIR": str(tmp_path / "cache"),
            "GROXPI_CONNECT_TIMEOUT": "1",
            "GROXPI_READ_TIMEOUT": "2",
        }
        full.update({key: str(value) for key, value in env.items()})
        config = load_config(full)
        app = create_app(config)
        server = await aiohttp_server(app, **runner_options(app, config.access_log))
        return await aiohttp_client(server)

    return make


@pytest.fixture
async def client(make_client: ClientFactory) -> TestClient:
    return await make_client()


async def wait_idle(client: TestClient) -> None:
    """Wait until no download is in flight (files are committed just after the last byte)."""
    for _ in range(200):
        if (await (await client.get("/health")).json())["cache"]["downloads"] == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("downloads still running after 2 s")
