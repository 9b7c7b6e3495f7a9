"""Several indexes as one source: every index asked at once, their pages merged.

The first index is the primary: if it fails, the page fails. An extra index
that fails only loses its files, and the page then expires soon so they come
back. A merged page is fresh for the shortest TTL of the indexes that had the
project, so an extra index's short TTL cuts only the pages it contributes to.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from ..errors import NotFound, UpstreamError
from ..models import File, Meta, ProjectList, ProjectPage
from ..render import api_minor
from ..versions import merged_versions
from .base import Fetched, PageSource, Refused

log = logging.getLogger(__name__)

T = TypeVar("T")

PARTIAL_TTL = 10.0
"""Seconds a page missing a failed extra index's files is served before a retry."""


class Merged:
    """The union of several sources' pages, in source order (the first one wins ties)."""

    def __init__(self, sources: Sequence[PageSource]) -> None:
        if not sources:
            raise ValueError("Merged needs at least one source")
        self.sources = tuple(sources)

    async def project_page(self, name: str) -> Fetched[ProjectPage]:
        pages, partial = await self._ask_all(lambda source: source.project_page(name))
        if not pages:
            if partial:  # it may exist only on the index that failed: not a "no such project"
                raise UpstreamError(f"an extra index failed for {name}")
            raise NotFound(name)
        merged = merge_pages(name, [page.value for page in pages])
        return Fetched(merged, _ttl([page.ttl for page in pages], partial), complete=not partial)

    async def project_list(self) -> Fetched[ProjectList]:
        lists, partial = await self._ask_all(lambda source: source.project_list())
        if not lists:
            raise NotFound("project list")
        seen: dict[str, None] = {}
        projects = []
        for fetched in lists:
            for entry in fetched.value.projects:
                if entry.name not in seen:
                    seen[entry.name] = None
                    projects.append(entry)
        merged = ProjectList(meta=lists[0].value.meta, projects=projects)
        ttl = _ttl([fetched.ttl for fetched in lists], partial)
        return Fetched(merged, ttl, complete=not partial)

    def refusal(self, name: str) -> Refused | None:
        return None

    async def _ask_all(
        self, ask: Callable[[PageSource], Awaitable[Fetched[T]]]
    ) -> tuple[list[Fetched[T]], bool]:
        """The answers of every source that had one, and whether an extra one failed."""
        results = await asyncio.gather(
            *(ask(source) for source in self.sources), return_exceptions=True
        )
        answers: list[Fetched[T]] = []
        partial = False
        for source, result in zip(self.sources, results, strict=True):
            if isinstance(result, NotFound):
                continue
            if isinstance(result, BaseException):
                if source is self.sources[0] or not isinstance(result, UpstreamError):
                    raise result  # the primary failing fails the page; a bug is a bug
                log.warning("extra index %r left out: %s", source, result)
                partial = True
                continue
            answers.append(result)
        return answers, partial


def _ttl(ttls: list[float], partial: bool) -> float:
    """The shortest TTL of the indexes that answered; short when one failed."""
    return min([*ttls, PARTIAL_TTL]) if partial else min(ttls)


def merge_pages(name: str, pages: list[ProjectPage]) -> ProjectPage:
    """One page from several indexes; the first index's metadata and files win."""
    first = pages[0]
    if len(pages) == 1:
        return first
    files: dict[str, File] = {}
    for page in pages:
        for file in page.files:
            files.setdefault(file.filename, file)
    lowest = min((page.meta.api_version for page in pages), key=api_minor)
    return ProjectPage(
        meta=Meta(api_version=lowest, last_serial=first.meta.last_serial),
        name=first.name or name,
        files=list(files.values()),
        versions=merged_versions(pages),
        project_status=first.project_status,
        alternate_locations=first.alternate_locations,
        tracks=first.tracks,
    )
