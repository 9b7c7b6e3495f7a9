"""PEP 792 quarantine: a project its index has quarantined offers no files."""

from __future__ import annotations

import msgspec

from ..models import ProjectPage
from ..pagestore import Validators
from .base import Fetched, Wrapper


class Quarantine(Wrapper):
    """Empty the file list of a quarantined project; its status stays on the page."""

    async def project_page(
        self, name: str, validators: Validators | None = None
    ) -> Fetched[ProjectPage]:
        fetched = await self.inner.project_page(name, validators)
        page = fetched.value
        if not page.quarantined or not page.files:
            return fetched
        return fetched.with_value(msgspec.structs.replace(page, files=[]))
