"""Quarantine (PEP 792): a quarantined project keeps its page and status, offers no files."""

from __future__ import annotations

from groxpi.models import ProjectStatus
from groxpi.sources import Quarantine
from tests.sources.fakes import FakeSource, dist, page


async def test_quarantined_project_offers_no_files_but_keeps_its_status() -> None:
    status = ProjectStatus(status="quarantined", reason="malware")
    source = FakeSource(ttl=42).add(page("bad", dist("bad-1.0.tar.gz"), project_status=status))
    fetched = await Quarantine(source).project_page("bad")
    assert fetched.value.files == [] and fetched.value.project_status == status
    assert fetched.ttl == 42


async def test_active_project_passes_unchanged() -> None:
    status = ProjectStatus(status="active")
    source = FakeSource().add(page("ok", dist("ok-1.0.tar.gz"), project_status=status))
    assert (await Quarantine(source).project_page("ok")).value is source.pages["ok"]
