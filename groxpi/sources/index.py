"""One upstream simple index as a page source, with that index's TTL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..config import Upstream, without_credentials
from ..errors import NotModified
from ..models import ProjectList, ProjectPage
from ..pagestore import Validator, Validators
from ..upstream import UpstreamClient
from .base import Fetched, Refused


class IndexSource:
    """Pages from one index, fresh for that index's TTL; every project is admitted.

    Given the validators it sent last time, it asks conditionally, and a 304
    comes out as ``NotModified``.
    """

    def __init__(self, client: UpstreamClient, upstream: Upstream) -> None:
        self.client = client
        self.upstream = upstream
        self.key = str(without_credentials(upstream.url))
        """Names this index's validators in a stored page."""

    async def project_page(
        self, name: str, validators: Validators | None = None
    ) -> Fetched[ProjectPage]:
        with self._fresh_for_ttl():
            page, validator = await self.client.project_page(
                self.upstream.url, name, self._known(validators)
            )
        return Fetched(page, self.upstream.ttl, validators=self._own(validator))

    async def project_list(self, validators: Validators | None = None) -> Fetched[ProjectList]:
        with self._fresh_for_ttl():
            listing, validator = await self.client.project_list(
                self.upstream.url, self._known(validators)
            )
        return Fetched(listing, self.upstream.ttl, validators=self._own(validator))

    @contextmanager
    def _fresh_for_ttl(self) -> Iterator[None]:
        """A 304 makes the page fresh for this index's TTL as configured now."""
        try:
            yield
        except NotModified as exc:
            exc.ttl = self.upstream.ttl
            raise

    def refusal(self, name: str) -> Refused | None:
        return None

    def _known(self, validators: Validators | None) -> Validator | None:
        return None if validators is None else validators.get(self.key)

    def _own(self, validator: Validator | None) -> Validators:
        """This index's part of a page's validators; present (maybe empty) whenever
        it contributed, so a later 404 from it is seen as a change."""
        return {self.key: validator or Validator()}

    def __repr__(self) -> str:
        return f"IndexSource({self.key})"
