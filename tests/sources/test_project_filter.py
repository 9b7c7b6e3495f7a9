"""ProjectFilter: allow and deny lists refuse projects before any index hears of them."""

from __future__ import annotations

import pytest

from groxpi.sources import NamePatterns, ProjectFilter, Refused
from tests.sources.fakes import FakeSource, dist, page


def inner() -> FakeSource:
    source = FakeSource()
    for name in ("requests", "requests-oauthlib", "evil-pkg", "numpy"):
        source.add(page(name, dist(f"{name}-1.0.tar.gz")))
    return source


async def test_denied_project_is_refused_without_asking_the_index() -> None:
    source = inner()
    policy = ProjectFilter(source, NamePatterns(()), NamePatterns(("evil-*",)))
    with pytest.raises(Refused) as refused:
        await policy.project_page("evil-pkg")
    assert refused.value.status == 404
    assert "GROXPI_DENY_PROJECTS" in refused.value.reason
    assert source.asked["evil-pkg"] == 0
    assert policy.refusal("evil-pkg") is not None and policy.refusal("numpy") is None
    assert (await policy.project_page("numpy")).value.name == "numpy"


async def test_allow_list_serves_only_matching_projects_and_deny_still_applies() -> None:
    source = inner()
    allow = NamePatterns(("requests*", "evil-pkg"))
    policy = ProjectFilter(source, allow, NamePatterns(("evil-pkg",)), status=403)
    assert (await policy.project_page("requests-oauthlib")).value.files
    for name in ("numpy", "evil-pkg"):
        with pytest.raises(Refused) as refused:
            await policy.project_page(name)
        assert refused.value.status == 403
    assert source.asked["numpy"] == 0


async def test_refused_projects_are_left_out_of_the_project_list() -> None:
    policy = ProjectFilter(inner(), NamePatterns(()), NamePatterns(("evil-*", "numpy")))
    listing = await policy.project_list()
    assert [p.name for p in listing.value.projects] == ["requests", "requests-oauthlib"]


async def test_list_names_are_normalized_before_matching() -> None:
    source = FakeSource().add(page("Evil_Pkg")).add(page("Fine.Pkg"))
    policy = ProjectFilter(source, NamePatterns(()), NamePatterns(("evil-pkg",)))
    assert [p.name for p in (await policy.project_list()).value.projects] == ["Fine.Pkg"]
