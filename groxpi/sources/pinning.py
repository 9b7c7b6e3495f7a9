"""Pinning: private names come only from their own index (the dependency-confusion guard).

Merging every index into one page lets anyone who publishes a private
project's name on a public index, with a higher version, win the resolution.
A pinned project is asked of its index alone: no other index ever hears its
name, and none of its files or versions can come from anywhere else.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..models import ProjectList, ProjectPage
from ..pagestore import Validators
from .base import Fetched, NamePatterns, PageSource, Refused


class Pinned:
    """Pinned names go to their index (first matching rule wins); others to ``fallback``.

    The project list stays the fallback's union of every index: a name listed
    there still gets its page, versions and files from its pinned index only.
    """

    def __init__(
        self, rules: Sequence[tuple[NamePatterns, PageSource]], fallback: PageSource
    ) -> None:
        self.rules = tuple(rules)
        self.fallback = fallback

    def source_for(self, name: str) -> PageSource:
        for patterns, source in self.rules:
            if patterns.match(name):
                return source
        return self.fallback

    async def project_page(
        self, name: str, validators: Validators | None = None
    ) -> Fetched[ProjectPage]:
        return await self.source_for(name).project_page(name, validators)

    async def project_list(self, validators: Validators | None = None) -> Fetched[ProjectList]:
        return await self.fallback.project_list(validators)

    def refusal(self, name: str) -> Refused | None:
        return self.source_for(name).refusal(name)
