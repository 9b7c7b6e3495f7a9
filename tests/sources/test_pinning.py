"""Pinned: a private name is asked of its own index only, whatever the others hold."""

from __future__ import annotations

import pytest

from groxpi.errors import NotFound
from groxpi.sources import Merged, NamePatterns, Pinned
from tests.sources.fakes import FakeSource, dist, page


def setup() -> tuple[FakeSource, FakeSource, Pinned]:
    public = FakeSource("public")
    private = FakeSource("private")
    public.add(page("mycorp-tools", dist("mycorp_tools-99.0-py3-none-any.whl")))  # the impostor
    public.add(page("requests", dist("requests-2.0-py3-none-any.whl")))
    private.add(page("mycorp-tools", dist("mycorp_tools-1.0-py3-none-any.whl")))
    rules = [(NamePatterns(("mycorp-*",)), private), (NamePatterns(("mycorp-tools",)), public)]
    return public, private, Pinned(rules, fallback=Merged([public, private]))


async def test_pinned_name_comes_only_from_its_index() -> None:
    public, private, pinned = setup()
    fetched = await pinned.project_page("mycorp-tools")
    assert [f.filename for f in fetched.value.files] == ["mycorp_tools-1.0-py3-none-any.whl"]
    assert public.asked["mycorp-tools"] == 0  # never even asked: the name does not leak
    assert private.asked["mycorp-tools"] == 1


async def test_first_matching_rule_wins() -> None:
    _, private, pinned = setup()
    assert pinned.source_for("mycorp-tools") is private


async def test_pinned_name_missing_on_its_index_is_not_found_elsewhere() -> None:
    public, _, pinned = setup()
    public.add(page("mycorp-secret", dist("mycorp_secret-5.0.tar.gz")))
    with pytest.raises(NotFound):
        await pinned.project_page("mycorp-secret")
    assert public.asked["mycorp-secret"] == 0


async def test_unpinned_names_merge_every_index() -> None:
    public, private, pinned = setup()
    private.add(page("requests", dist("requests-2.1-py3-none-any.whl")))
    files = (await pinned.project_page("requests")).value.files
    assert {f.filename for f in files} == {
        "requests-2.0-py3-none-any.whl",
        "requests-2.1-py3-none-any.whl",
    }
    assert public.asked["requests"] == private.asked["requests"] == 1
