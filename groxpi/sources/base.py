"""The page-source interface: where project pages come from, and the policies on them.

A :class:`PageSource` answers with models, never bytes. Wrappers take a source
and are one, so indexes and policies stack in an order fixed once by
:func:`groxpi.sources.build_sources`. Every answer carries how long it may be
cached, which comes from the indexes that produced it.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field, replace
from typing import Generic, Protocol, TypeVar

from ..errors import NotFound
from ..models import ProjectList, ProjectPage
from ..pagestore import Validators

T = TypeVar("T")

RETRY_AFTER_ERROR = 10.0
"""Seconds a stale page is served after a failed refresh before upstream is tried again
(read through the module, so tests can shorten it)."""


@dataclass(frozen=True, slots=True)
class Fetched(Generic[T]):
    """A page and the seconds it may be served before it is asked for again.

    ``complete`` is False when an index failed and its files are missing for
    now; ``validators`` identify each index's answer for revalidation;
    ``unchanged`` says the page is the stored one with these validators,
    confirmed (304) or served stale, so a render of it may be reused (a policy
    whose output changes with time clears it); ``stale`` that upstream failed
    and this is the last good page.
    """

    value: T
    ttl: float
    complete: bool = True
    validators: Validators = field(default_factory=dict)
    unchanged: bool = False
    stale: bool = False

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

    ``validators`` (from the page store) make the indexes revalidate: when every
    index confirms its answer, ``NotModified`` is raised instead of a page.
    ``project_page`` raises :class:`NotFound` for an unknown project (or
    :class:`Refused` when a policy turns it away) and ``UpstreamError`` when an
    index fails. ``refusal`` is the cheap check, made without any page, of
    whether the project may be served at all (cached files of a refused project
    are not): None when it may, else the Refused to raise.
    """

    async def project_page(
        self, name: str, validators: Validators | None = None
    ) -> Fetched[ProjectPage]: ...

    async def project_list(self, validators: Validators | None = None) -> Fetched[ProjectList]: ...

    def refusal(self, name: str) -> Refused | None: ...


class Wrapper:
    """A policy around another source that passes through what it does not change."""

    def __init__(self, inner: PageSource) -> None:
        self.inner = inner

    async def project_page(
        self, name: str, validators: Validators | None = None
    ) -> Fetched[ProjectPage]:
        return await self.inner.project_page(name, validators)

    async def project_list(self, validators: Validators | None = None) -> Fetched[ProjectList]:
        return await self.inner.project_list(validators)

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
