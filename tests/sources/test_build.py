"""build_sources: the one place that stacks the indexes and policies, in a fixed order."""

from __future__ import annotations

from pathlib import Path

from groxpi.config import load_config
from groxpi.sources import (
    Cooldown,
    IndexSource,
    Merged,
    PageSource,
    Pinned,
    ProjectFilter,
    Quarantine,
    StoredPages,
    build_sources,
)
from groxpi.storage import LocalStorage
from groxpi.upstream import UpstreamClient

MAIN = "https://pypi.example/simple/"
PRIVATE = "https://private.example/simple/"


def chain(source: PageSource) -> list[type]:
    kinds = []
    while True:
        kinds.append(type(source))
        inner = getattr(source, "inner", None) or getattr(source, "fallback", None)
        if inner is None:
            return kinds
        source = inner


def test_every_policy_in_its_place(tmp_path: Path) -> None:
    config = load_config(
        {
            "GROXPI_INDEX_URL": MAIN,
            "GROXPI_EXTRA_INDEX_URLS": PRIVATE,
            "GROXPI_PROJECT_INDEXES": f"corp-*={PRIVATE}",
            "GROXPI_DENY_PROJECTS": "evil",
            "GROXPI_MIN_RELEASE_AGE": "1d",
        }
    )
    sources = build_sources(config, UpstreamClient(config), LocalStorage(tmp_path / "files"))
    assert chain(sources.pages) == [
        ProjectFilter, Cooldown, Quarantine, StoredPages, Pinned, Merged
    ]  # fmt: skip
    assert sources.cooldown is not None and sources.cooldown.min_age == 86400
    pinned = sources.stored.inner
    target = pinned.source_for("corp-x")
    assert isinstance(target, IndexSource) and str(target.upstream.url) == PRIVATE
    assert [str(s.upstream.url) for s in pinned.fallback.sources] == [MAIN, PRIVATE]


def test_without_policies_the_store_and_quarantine_wrap_the_merge(tmp_path: Path) -> None:
    config = load_config({"GROXPI_INDEX_URL": MAIN})
    sources = build_sources(config, UpstreamClient(config), LocalStorage(tmp_path / "files"))
    assert chain(sources.pages) == [Quarantine, StoredPages, Merged]
    assert sources.cooldown is None
