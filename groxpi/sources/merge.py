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

from ..errors import NotFound, NotModified, UpstreamError
from ..models import File, Meta, ProjectEntry, ProjectList, ProjectPage
from ..pagestore import Validators
from ..render import api_minor
from ..versions import merged_versions
from .base import Fetched, Refused
from .index import IndexSource

log = logging.getLogger(__name__)

T = TypeVar("T")

PARTIAL_TTL = 10.0
"""Seconds a page missing a failed extra index's files is served before a retry."""
BIG_LIST = 10_000
"""Project lists longer than this are merged in a worker thread (PyPI's: ~0.3 s)."""


class Merged:
    """The union of several indexes' pages, in index order (the first one wins ties).

    Revalidation: when every index that had the page confirms it (304) and no
    other index now has it, the merged page is unchanged (``NotModified``);
    when only some confirm, those are asked again in full, as their part of
    the page is not at hand.
    """

    def __init__(self, sources: Sequence[IndexSource]) -> None:
        if not sources:
            raise ValueError("Merged needs at least one index")
        self.sources = tuple(sources)

    async def project_page(
        self, name: str, validators: Validators | None = None
    ) -> Fetched[ProjectPage]:
        pages, partial = await self._ask_all(
            lambda source, known: source.project_page(name, known), validators
        )
        if not pages:
            if partial:  # it may exist only on the index that failed: not a "no such project"
                raise UpstreamError(f"an extra index failed for {name}")
            raise NotFound(name)
        merged = merge_pages(name, [page.value for page in pages])
        return _combined(merged, pages, partial)

    async def project_list(self, validators: Validators | None = None) -> Fetched[ProjectList]:
        lists, partial = await self._ask_all(
            lambda source, known: source.project_list(known), validators
        )
        if not lists:
            raise NotFound("project list")
        values = [fetched.value for fetched in lists]
        big = sum(len(listing.projects) for listing in values) > BIG_LIST
        projects = await asyncio.to_thread(_union, values) if big else _union(values)
        return _combined(ProjectList(meta=lists[0].value.meta, projects=projects), lists, partial)

    def refusal(self, name: str) -> Refused | None:
        return None

    async def _ask_all(
        self,
        ask: Callable[[IndexSource, Validators | None], Awaitable[Fetched[T]]],
        validators: Validators | None,
    ) -> tuple[list[Fetched[T]], bool]:
        """The answers of every index that had one, and whether an extra one failed."""
        results = list(
            await asyncio.gather(
                *(ask(source, validators) for source in self.sources), return_exceptions=True
            )
        )
        confirmed = [i for i, result in enumerate(results) if isinstance(result, NotModified)]
        if confirmed:
            answered = any(isinstance(result, Fetched) for result in results)
            if not answered and {self.sources[i].key for i in confirmed} == set(validators or {}):
                ttls = [t for i in confirmed if (t := _ttl_of(results[i])) is not None]
                raise NotModified(
                    "every index confirmed its part of the page", min(ttls, default=None)
                )
            again = await asyncio.gather(
                *(ask(self.sources[i], None) for i in confirmed), return_exceptions=True
            )
            for i, result in zip(confirmed, again, strict=True):
                results[i] = result
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


def _union(lists: list[ProjectList]) -> list[ProjectEntry]:
    """Each project once, in index order (the first index's entry wins)."""
    merged: dict[str, ProjectEntry] = {}
    for listing in lists:
        for entry in listing.projects:
            merged.setdefault(entry.name, entry)
    return list(merged.values())


def _ttl_of(result: object) -> float | None:
    return result.ttl if isinstance(result, NotModified) else None


def _combined(value: T, answers: list[Fetched[T]], partial: bool) -> Fetched[T]:
    validators: Validators = {}
    for answer in answers:
        validators.update(answer.validators)
    ttl = _ttl([answer.ttl for answer in answers], partial)
    return Fetched(value, ttl, complete=not partial, validators=validators)


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
