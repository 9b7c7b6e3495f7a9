"""Allow and deny lists: which projects this proxy serves at all."""

from __future__ import annotations

import asyncio

from packaging.utils import canonicalize_name

from ..models import ProjectList, ProjectPage
from ..pagestore import Validators
from .base import Fetched, NamePatterns, PageSource, Refused, Wrapper


class ProjectFilter(Wrapper):
    """Serve only allowed, undenied projects; a refused one never reaches an index.

    With an allow list, only names matching it are served; a deny list then
    removes names from what is left. Refused projects are left out of the
    project list and their cached files are no longer served.
    """

    def __init__(
        self, inner: PageSource, allow: NamePatterns, deny: NamePatterns, status: int = 404
    ) -> None:
        super().__init__(inner)
        self.allow = allow
        self.deny = deny
        self.status = status

    def refusal(self, name: str) -> Refused | None:
        reason = self._reason(name)
        if reason is not None:
            return Refused(name, f"project {name} is {reason}", self.status)
        return self.inner.refusal(name)

    def _reason(self, name: str) -> str | None:
        if self.allow and not self.allow.match(name):
            return "not on this index's allow list (GROXPI_ALLOW_PROJECTS)"
        if self.deny.match(name):
            return "on this index's deny list (GROXPI_DENY_PROJECTS)"
        return None

    async def project_page(
        self, name: str, validators: Validators | None = None
    ) -> Fetched[ProjectPage]:
        refused = self.refusal(name)
        if refused is not None:
            raise refused
        return await self.inner.project_page(name, validators)

    async def project_list(self, validators: Validators | None = None) -> Fetched[ProjectList]:
        fetched = await self.inner.project_list(validators)
        # PyPI lists ~930k names: filtering them takes a while, so not on the loop.
        return fetched.with_value(await asyncio.to_thread(self._filter, fetched.value))

    def _filter(self, listing: ProjectList) -> ProjectList:
        kept = [p for p in listing.projects if self._reason(canonicalize_name(p.name)) is None]
        return ProjectList(meta=listing.meta, projects=kept)
