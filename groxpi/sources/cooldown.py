"""Release cooldown: files younger than a minimum age are not offered yet.

A compromised or broken release is usually caught within days; a cooldown
keeps builds off it until then. Files without a PEP 700 ``upload-time`` (HTML
upstreams) cannot be judged and are kept, and counted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import msgspec

from ..models import File, ProjectPage
from ..pagestore import Validators
from ..versions import normalize_version, version_of
from .base import Fetched, NamePatterns, PageSource, Wrapper


class Cooldown(Wrapper):
    """Hide files uploaded less than ``min_age`` seconds ago, except for exempt projects.

    The page expires when its youngest hidden file comes of age, so it shows up
    then rather than one TTL later. ``versions`` loses the versions whose every
    file is hidden.
    """

    def __init__(
        self,
        inner: PageSource,
        min_age: float,
        exempt: NamePatterns,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(inner)
        self.min_age = min_age
        self.exempt = exempt
        self.clock = clock
        self.files_without_upload_time = 0
        self.files_hidden = 0

    async def project_page(
        self, name: str, validators: Validators | None = None
    ) -> Fetched[ProjectPage]:
        fetched = await self.inner.project_page(name, validators)
        if self.exempt.match(name):
            return fetched
        # What is hidden depends on the clock, not only on upstream: a page
        # upstream confirmed unchanged must still be filtered and shown anew.
        fetched = replace(fetched, unchanged=False)
        page = fetched.value
        cutoff = self.clock() - self.min_age
        kept: list[File] = []
        hidden: list[File] = []
        matures_in = fetched.ttl
        for file in page.files:
            uploaded = _timestamp(file.upload_time)
            if uploaded is None:
                self.files_without_upload_time += 1
                kept.append(file)
            elif uploaded > cutoff:
                hidden.append(file)
                matures_in = min(matures_in, uploaded - cutoff)
            else:
                kept.append(file)
        if not hidden:
            return fetched
        self.files_hidden += len(hidden)
        # Parsing every kept filename for its version takes a while on big pages.
        shown = await asyncio.to_thread(_without, page, kept, hidden)
        return replace(fetched, value=shown, ttl=max(matures_in, 1.0))


def _without(page: ProjectPage, kept: list[File], hidden: list[File]) -> ProjectPage:
    """``page`` with only the ``kept`` files, and without versions left with none."""
    still_offered = {version_of(file.filename) for file in kept}
    gone = {version_of(file.filename) for file in hidden} - still_offered
    versions = page.versions
    if isinstance(versions, list):
        versions = [v for v in versions if normalize_version(v) not in gone]
    return msgspec.structs.replace(page, files=kept, versions=versions)


def _timestamp(upload_time: object) -> float | None:
    """Seconds since the epoch of an ISO 8601 ``upload-time``; None if absent or unreadable."""
    if not isinstance(upload_time, str):
        return None
    try:
        parsed = datetime.fromisoformat(upload_time)
    except ValueError:
        return None
    if parsed.tzinfo is None:  # PEP 700 says UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
