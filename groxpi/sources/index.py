"""One upstream simple index as a page source, with that index's TTL."""

from __future__ import annotations

from ..config import Upstream
from ..models import ProjectList, ProjectPage
from ..upstream import UpstreamClient
from .base import Fetched, Refused


class IndexSource:
    """Pages from one index, fresh for that index's TTL; every project is admitted."""

    def __init__(self, client: UpstreamClient, upstream: Upstream) -> None:
        self.client = client
        self.upstream = upstream

    async def project_page(self, name: str) -> Fetched[ProjectPage]:
        page = await self.client.project_page(self.upstream.url, name)
        return Fetched(page, self.upstream.ttl)

    async def project_list(self) -> Fetched[ProjectList]:
        return Fetched(await self.client.project_list(self.upstream.url), self.upstream.ttl)

    def refusal(self, name: str) -> Refused | None:
        return None

    def __repr__(self) -> str:
        return f"IndexSource({self.upstream.display_url})"
