"""Cooldown: files younger than the minimum age stay hidden until they come of age."""

from __future__ import annotations

from datetime import UTC, datetime

from groxpi.sources import Cooldown, NamePatterns
from tests.sources.fakes import Clock, FakeSource, dist, page

DAY = 86400.0


def iso(clock: Clock, days_ago: float) -> str:
    return (
        datetime.fromtimestamp(clock.now - days_ago * DAY, UTC).isoformat().replace("+00:00", "Z")
    )


def setup(exempt: tuple[str, ...] = ()) -> tuple[Clock, FakeSource, Cooldown]:
    clock = Clock()
    source = FakeSource(ttl=1800)
    source.add(page(
        "demo",
        dist("demo-1.0-py3-none-any.whl", iso(clock, 30)),
        dist("demo-1.0.tar.gz", iso(clock, 30)),
        dist("demo-2.0-py3-none-any.whl", iso(clock, 2)),
        dist("demo-2.0.tar.gz", iso(clock, 30)),  # an old sdist keeps 2.0 listed
        dist("demo-3.0-py3-none-any.whl", iso(clock, 0.5)),
        versions=["1.0", "2.0", "3.0"],
    ))  # fmt: skip
    return clock, source, Cooldown(source, 7 * DAY, NamePatterns(exempt), clock=clock)


async def test_young_files_are_hidden_and_versions_left_without_files_dropped() -> None:
    _, _, cooldown = setup()
    fetched = await cooldown.project_page("demo")
    assert [f.filename for f in fetched.value.files] == [
        "demo-1.0-py3-none-any.whl",
        "demo-1.0.tar.gz",
        "demo-2.0.tar.gz",
    ]
    assert fetched.value.versions == ["1.0", "2.0"]
    assert cooldown.files_hidden == 2


async def test_page_expires_when_the_next_hidden_file_comes_of_age() -> None:
    clock, _, cooldown = setup()
    assert (await cooldown.project_page("demo")).ttl == 1800  # 2.0's wheel: 5 days away
    clock.advance(5 * DAY - 60)
    fetched = await cooldown.project_page("demo")
    assert fetched.ttl == 60
    clock.advance(60)
    names = [f.filename for f in (await cooldown.project_page("demo")).value.files]
    assert "demo-2.0-py3-none-any.whl" in names and "demo-3.0-py3-none-any.whl" not in names


async def test_exempt_projects_see_every_file() -> None:
    _, source, cooldown = setup(exempt=("de*",))
    assert (await cooldown.project_page("demo")).value is source.pages["demo"]


async def test_files_without_upload_time_are_kept_and_counted() -> None:
    clock = Clock()
    source = FakeSource().add(page("html-only", dist("html_only-1.0.tar.gz")))
    cooldown = Cooldown(source, DAY, NamePatterns(()), clock=clock)
    assert len((await cooldown.project_page("html-only")).value.files) == 1
    assert cooldown.files_without_upload_time == 1


async def test_upload_times_without_zone_are_utc_and_junk_is_kept() -> None:
    clock = Clock()
    naive = iso(clock, 0.1).removesuffix("Z")
    source = FakeSource().add(page(
        "demo", dist("demo-1.0.tar.gz", naive), dist("demo-0.9.tar.gz", "yesterday")
    ))  # fmt: skip
    cooldown = Cooldown(source, DAY, NamePatterns(()), clock=clock)
    assert [f.filename for f in (await cooldown.project_page("demo")).value.files] == [
        "demo-0.9.tar.gz"
    ]
