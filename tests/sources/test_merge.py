"""Merged: several indexes as one page, each page as fresh as the indexes that made it."""

from __future__ import annotations

import threading

import pytest

from groxpi.errors import NotFound, UpstreamError
from groxpi.sources import Merged, merge
from groxpi.sources.merge import PARTIAL_TTL
from tests.sources.fakes import FakeSource, dist, page


def sources() -> tuple[FakeSource, FakeSource]:
    main = FakeSource("main", ttl=1800).add(page("demo", dist("demo-1.0.tar.gz")))
    extra = FakeSource("extra", ttl=180)
    return main, extra


async def test_extra_index_ttl_cuts_only_the_pages_it_contributes_to() -> None:
    main, extra = sources()
    extra.add(page("private", dist("private-1.0.tar.gz")))
    merged = Merged([main, extra])
    assert (await merged.project_page("demo")).ttl == 1800  # the extra has no such project
    assert (await merged.project_page("private")).ttl == 180
    extra.add(page("demo", dist("demo-2.0.tar.gz")))
    both = await merged.project_page("demo")
    assert both.ttl == 180
    assert [f.filename for f in both.value.files] == ["demo-1.0.tar.gz", "demo-2.0.tar.gz"]


async def test_first_index_wins_a_duplicate_filename() -> None:
    main, extra = sources()
    extra.add(page("demo", dist("demo-1.0.tar.gz", size=9)))
    (file,) = (await Merged([main, extra]).project_page("demo")).value.files
    assert file.url == "https://files.example/demo-1.0.tar.gz" and file.size != 9


async def test_versions_are_the_union_in_pep440_order() -> None:
    main, extra = sources()
    main.add(page("demo", dist("demo-1.0.tar.gz"), versions=["0.9", "1.0"]))
    extra.add(page("demo", dist("demo-1.10.tar.gz"), dist("demo-1.2.tar.gz")))  # no versions
    merged = await Merged([main, extra]).project_page("demo")
    assert merged.value.versions == ["0.9", "1.0", "1.2", "1.10"]


async def test_failing_extra_index_loses_only_its_files_for_a_short_while() -> None:
    main, extra = sources()
    extra.failing = True
    fetched = await Merged([main, extra]).project_page("demo")
    assert [f.filename for f in fetched.value.files] == ["demo-1.0.tar.gz"]
    assert fetched.ttl == PARTIAL_TTL


async def test_project_only_on_a_failing_extra_index_is_an_error_not_a_404() -> None:
    main, extra = sources()
    extra.failing = True
    with pytest.raises(UpstreamError):
        await Merged([main, extra]).project_page("private")
    extra.failing = False
    with pytest.raises(NotFound):
        await Merged([main, extra]).project_page("private")


async def test_failing_primary_fails_the_page_and_the_list() -> None:
    main, extra = sources()
    extra.add(page("demo", dist("demo-2.0.tar.gz")))
    main.failing = True
    with pytest.raises(UpstreamError):
        await Merged([main, extra]).project_page("demo")
    with pytest.raises(UpstreamError):
        await Merged([main, extra]).project_list()


async def test_project_list_is_the_union_in_index_order() -> None:
    main, extra = sources()
    extra.add(page("private", dist("private-1.0.tar.gz"))).add(page("demo"))
    listing = await Merged([main, extra]).project_list()
    assert [entry.name for entry in listing.value.projects] == ["demo", "private"]
    assert listing.ttl == 180


async def test_a_big_project_list_is_merged_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    main, extra = sources()
    extra.add(page("private")).add(page("demo"))
    threads: list[int] = []
    union = merge._union

    def recording(lists: list[merge.ProjectList]) -> list[merge.ProjectEntry]:
        threads.append(threading.get_ident())
        return union(lists)

    monkeypatch.setattr(merge, "_union", recording)
    monkeypatch.setattr(merge, "BIG_LIST", 2)
    listing = await Merged([main, extra]).project_list()
    assert [entry.name for entry in listing.value.projects] == ["demo", "private"]
    assert threads and threads[0] != threading.get_ident()
