"""Index cache: pages from the page-source pipeline, kept in memory, rendered once.

Caching only: each page's TTL (from the source that produced it), coalesced
refreshes, negative caching, stale-if-error. A refreshed page is stored as
soon as it is fetched: its variants are encoded when first asked for, off the
event loop (:mod:`groxpi.variants`).
Where pages come from and which policies apply is the pipeline's business
(:mod:`groxpi.sources`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .coalesce import SingleFlight
from .errors import NotFound, UpstreamError
from .models import File, ProjectList, ProjectPage
from .pagestore import LIST_NAME, Validators
from .render import render_project, render_project_list
from .shared_bodies import SharedBodies
from .sources import Fetched, PageSource, Refused
from .sources import base as source_base
from .variants import Background, RenderedPage

log = logging.getLogger(__name__)

LIST_KEY = LIST_NAME
"""Cache key of the project list (no project name starts with an underscore)."""

STALE_GRACE = 3.0
"""Seconds a request holding a stale page waits for its refresh before serving it."""

MAX_ENTRIES = 20_000
"""Pages kept in memory; past it the least recently refreshed are dropped."""


@dataclass(slots=True)
class CachedProject:
    """One project's page as served: rendered bytes plus the files it lists."""

    name: str
    rendered: RenderedPage
    files: dict[str, File]
    complete: bool = True  # False: an index failed, its files are missing for now


@dataclass(slots=True)
class _Entry:
    value: CachedProject | RenderedPage | None  # None: no such project
    ttl: float
    expires_at: float
    retry_at: float = 0.0
    validators: Validators | None = None  # of the page rendered, to know it again


@dataclass(slots=True)
class IndexStats:
    hits: int = 0
    misses: int = 0
    stale_served: int = 0
    last_stale_at: float | None = None  # on the cache's clock


@dataclass
class IndexCache:
    """Project pages and the project list, asked of ``source`` on a miss or expiry.

    A refresh that fails keeps the last good page in service and is retried
    after a short back-off.
    """

    source: PageSource
    negative_ttl: float = 60.0
    max_entries: int = MAX_ENTRIES
    clock: Callable[[], float] = time.monotonic
    shared: SharedBodies | None = None  # where big pages are held once for all workers
    background: Background = field(default_factory=Background)  # encodes nobody waits for
    stats: IndexStats = field(default_factory=IndexStats)
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _flight: SingleFlight[str, _Entry] = field(default_factory=SingleFlight)
    _negatives: deque[str] = field(default_factory=deque)  # in expiry order (one TTL)

    def __len__(self) -> int:
        return len(self._entries)

    async def project(self, name: str) -> CachedProject:
        """The cached project (``name`` already normalized); raises NotFound/UpstreamError."""
        value = await self._get(name, lambda: self._fetch_project(name))
        if value is None:
            raise NotFound(name)
        assert isinstance(value, CachedProject)
        return value

    async def project_list(self) -> RenderedPage:
        value = await self._get(LIST_KEY, self._fetch_list)
        assert isinstance(value, RenderedPage)
        return value

    def fresh(self, key: str) -> tuple[CachedProject | RenderedPage, float] | None:
        """The page under ``key`` and its seconds left, when in memory and fresh.

        The warm path: no coroutine, no closure, nothing but two look-ups.
        """
        entry = self._entries.get(key)
        if entry is None or entry.value is None:
            return None
        left = entry.expires_at - self.clock()
        if left <= 0:
            return None
        self.stats.hits += 1
        return entry.value, left

    def seconds_left(self, key: str) -> float:
        """How long the page under ``key`` stays fresh (0 when expired or unknown)."""
        entry = self._entries.get(key)
        return 0.0 if entry is None else max(entry.expires_at - self.clock(), 0.0)

    def known_files(self, name: str) -> dict[str, File] | None:
        """The files the last page seen (fresh or stale) lists, without any fetch.

        None when no page is in memory; empty when the project has none or
        upstream last said it does not exist.
        """
        entry = self._entries.get(name)
        if entry is None:
            return None
        return entry.value.files if isinstance(entry.value, CachedProject) else {}

    def invalidate(self, name: str) -> bool:
        return self._entries.pop(name, None) is not None

    def held_projects(self, limit: int) -> list[str]:
        """Projects whose page is in memory, the most recently refreshed first."""
        entries = self._entries
        held = (key for key in reversed(entries) if isinstance(entries[key].value, CachedProject))
        return list(itertools.islice(held, limit))

    def close(self) -> None:
        """Stop filling in variants (at shutdown)."""
        self.background.close()

    async def _get(
        self, key: str, fetch: Callable[[], Awaitable[_Entry]]
    ) -> CachedProject | RenderedPage | None:
        now = self.clock()
        entry = self._entries.get(key)
        if entry is not None and now < entry.expires_at:
            self.stats.hits += 1
            return entry.value
        if entry is not None and now < entry.retry_at:  # backing off: stale, no attempt
            self.stats.stale_served += 1
            self.stats.last_stale_at = now
            return entry.value
        self.stats.misses += 1
        refresh = self._flight.run(key, lambda: self._refresh(key, fetch))
        if entry is None or entry.value is None:
            return (await refresh).value
        try:
            # A stale page is in hand: wait for the refresh only briefly; a slow
            # one goes on in the background and is stored when it lands.
            return (await asyncio.wait_for(refresh, STALE_GRACE)).value
        except UpstreamError:
            log.warning("serving stale page for %r: upstream refresh failed", key)
        except TimeoutError:
            log.warning("serving stale page for %r: upstream refresh is slow", key)
        self.stats.stale_served += 1
        self.stats.last_stale_at = now
        return entry.value

    async def _refresh(self, key: str, fetch: Callable[[], Awaitable[_Entry]]) -> _Entry:
        try:
            fresh = await fetch()
        except UpstreamError:
            # Back off here, not in a waiter: a slow failure lands after every
            # waiter has already been given the stale page.
            entry = self._entries.get(key)
            if entry is not None and entry.value is not None:
                retry = source_base.RETRY_AFTER_ERROR
                entry.retry_at = self.clock() + min(retry, max(entry.ttl, 1.0))
            raise
        if fresh.value is None:
            self._forget_expired_negatives()
            self._negatives.append(key)
        self._entries.pop(key, None)  # re-inserted last: the dict is in refresh order
        self._entries[key] = fresh
        while len(self._entries) > self.max_entries:
            del self._entries[next(iter(self._entries))]
        return fresh

    def _forget_expired_negatives(self) -> None:
        """Drop expired "no such project" entries, so a stream of made-up names
        cannot grow memory without bound (live ones are kept: they absorb floods)."""
        now = self.clock()
        while self._negatives:
            entry = self._entries.get(self._negatives[0])
            if entry is not None and entry.value is None and now < entry.expires_at:
                return
            key = self._negatives.popleft()
            if entry is not None and entry.value is None:
                del self._entries[key]

    def _entry(
        self,
        value: CachedProject | RenderedPage | None,
        fetched: Fetched[ProjectPage] | Fetched[ProjectList] | None = None,
    ) -> _Entry:
        ttl = self.negative_ttl if fetched is None else fetched.ttl
        validators = None if fetched is None else fetched.validators
        return _Entry(value, ttl, self.clock() + ttl, validators=validators)

    async def _fetch_project(self, name: str) -> _Entry:
        try:
            fetched = await self.source.project_page(name)
        except Refused:
            raise  # a policy's answer, not upstream's: nothing to remember
        except NotFound:
            return self._entry(None)
        held = self._kept(name, fetched)
        if isinstance(held, CachedProject):
            return self._entry(held, fetched)
        page = fetched.value
        rendered = render_project(page, self.shared, self.background)  # encoded when asked for
        files = {file.filename: file for file in page.files}
        cached = CachedProject(name, rendered, files, fetched.complete)
        return self._entry(cached, fetched)

    async def _fetch_list(self) -> _Entry:
        fetched = await self.source.project_list()
        held = self._kept(LIST_KEY, fetched)
        if isinstance(held, RenderedPage):
            return self._entry(held, fetched)
        rendered = render_project_list(fetched.value, self.shared, self.background)
        return self._entry(rendered, fetched)

    def _kept(
        self, key: str, fetched: Fetched[ProjectPage] | Fetched[ProjectList]
    ) -> CachedProject | RenderedPage | None:
        """The page in memory, when it was rendered from the very page now confirmed
        (304) or served stale: nothing to render again."""
        if fetched.stale:
            self.stats.stale_served += 1
            self.stats.last_stale_at = self.clock()
        entry = self._entries.get(key)
        if entry is None or not fetched.unchanged or not fetched.validators:
            return None
        return entry.value if entry.validators == fetched.validators else None
