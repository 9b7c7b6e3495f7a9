"""The page-source interface: where project pages come from, and the policies on them.

A :class:`PageSource` answers with models, never bytes. Wrappers take a source
and are one, so indexes and policies stack in an order fixed once by
:func:`groxpi.sources.build_sources`. Every answer carries how long it may be
cached, which comes from the indexes that produced it.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, replace
from typing import Generic, Protocol, TypeVar

from ..errors import NotFound
from ..models import ProjectList, ProjectPage

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Fetched(Generic[T]):
    """A page and the seconds it may be served before it is asked for again.

    ``complete`` is False when an index failed and its files are missing for now.
    """

    value: T
    ttl: float
    complete: bool = True

    def with_value(self, value: T) -> Fetched[T]:
        return replace(self, value=value)


class Refused(NotFound):
    """A policy will not serve this project: answered with ``status`` and ``reason``."""

    def __init__(self, project: str, reason: str, status: int = 404) -> None:
        super().__init__(project)
        self.reason = reason
        self.status = status


class PageSource(Protocol):
    """Project pages and the project list, from an index or through a policy.

    ``project_page`` raises :class:`NotFound` for an unknown project (or
    :class:`Refused` when a policy turns it away) and ``UpstreamError`` when an
    index fails. ``refusal`` is the cheap check, made without any page, of
    whether the project may be served at all (cached files of a refused project
    are not): None when it may, else the Refused to raise.
    """

    async def project_page(self, name: str) -> Fetched[ProjectPage]: ...

    async def project_list(self) -> Fetched[ProjectList]: ...

    def refusal(self, name: str) -> Refused | None: ...


class Wrapper:
    """A policy around another source that passes through what it does not change."""

    def __init__(self, inner: PageSource) -> None:
        self.inner = inner

    async def project_page(self, name: str) -> Fetched[ProjectPage]:
        return await self.inner.project_page(name)

    async def project_list(self) -> Fetched[ProjectList]:
        return await self.inner.project_list()

    def refusal(self, name: str) -> Refused | None:
        return self.inner.refusal(name)


class NamePatterns:
    """Globs on PEP 503-normalized project names (``mycorp-*``, ``internal-lib``)."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.patterns = patterns
        self._regex = (
            re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))
            if patterns
            else None
        )

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def match(self, name: str) -> bool:
        return self._regex is not None and self._regex.match(name) is not None
