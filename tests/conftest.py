"""Shared fixtures: the fake upstream index and groxpi as a subprocess."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from groxpi import variants
from tests.support.encodes import Encodes
from tests.support.fake_index import FakeIndex
from tests.support.server import GroxpiProcess


@pytest.fixture
def fake_index(tmp_path: Path) -> Iterator[FakeIndex]:
    """A running fake upstream with the default catalogue (JSON mode)."""
    with FakeIndex(tmp_path / "fake-index") as index:
        index.add_default_projects()
        yield index


GroxpiFactory = Callable[..., GroxpiProcess]


@pytest.fixture
def groxpi_server(fake_index: FakeIndex, tmp_path: Path) -> Iterator[GroxpiFactory]:
    """Factory: ``groxpi_server(**env)`` starts groxpi against ``fake_index``.

    Env values are stringified; GROXPI_INDEX_URL and GROXPI_CACHE_DIR may be
    overridden (pass the same cache dir twice to test a restart). All started
    processes are stopped at teardown.
    """
    started: list[GroxpiProcess] = []

    def start(**env: object) -> GroxpiProcess:
        full = {"GROXPI_INDEX_URL": fake_index.index_url}
        full.update({k: str(v) for k, v in env.items()})
        cache_dir = Path(full.pop("GROXPI_CACHE_DIR", tmp_path / f"groxpi-cache-{len(started)}"))
        proc = GroxpiProcess(full, cache_dir)
        started.append(proc)
        return proc.start()

    yield start
    for proc in reversed(started):
        if proc.running():
            proc.stop()
        else:
            proc.kill()


@pytest.fixture
def encodes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Encodes]:
    """Counts (and can hold) every variant encode, in place of the real one."""
    counter = Encodes()
    monkeypatch.setattr(variants, "encode_body", counter)
    yield counter
    counter.release.set()  # no thread left waiting after a failed test
