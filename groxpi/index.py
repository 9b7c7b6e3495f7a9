"""In-memory index cache: TTL, coalesced refreshes, negative caching, stale-if-error."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .coalesce import SingleFlight
from .config import Upstream
from .errors import NotFound, UpstreamError
from .models import File, Meta, ProjectList, ProjectPage
from .render import RenderedPage, render_project, render_project_list
from .upstream import UpstreamClient

log = logging.getLogger(__name__)

LIST_KEY = ""
"""Cache key of the project list (no project name is empty)."""

RETRY_AFTER_ERROR = 10.0
"""Seconds a failed refresh is not retried while a stale page is served."""


@dataclass(slots=True)
class CachedProject:
    """One project's merged page: rendered bytes plus the upstream file URLs."""

    name: str
    rendered: RenderedPage
    files: dict[str, File]
    quarantined: bool = False


@dataclass(slots=True)
class _Entry:
    value: CachedProject | RenderedPage | None  # None: upstream said 404
    expires_at: float
    retry_at: float = 0.0


@dataclass(slots=True)
class IndexStats:
    hits: int = 0
    misses: int = 0
    stale_served: int = 0


@dataclass
class IndexCache:
    """Project pages and the project list, fetched from every upstream on a miss.

    All upstreams are asked concurrently; files are merged in upstream order
    (first index wins on a duplicate filename). A refresh that fails keeps the
    last good page in service and is retried after a short back-off.
    """

    client: UpstreamClient
    upstreams: tuple[Upstream, ...]
    negative_ttl: float = 60.0
    clock: Callable[[], float] = time.monotonic
    stats: IndexStats = field(default_factory=IndexStats)
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _flight: SingleFlight[str, _Entry] = field(default_factory=SingleFlight)
    _negatives: deque[str] = field(default_factory=deque)  # in expiry order (one TTL)

    @property
    def ttl(self) -> float:
        return min(upstream.ttl for upstream in self.upstreams)

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

    def peek(self, name: str) -> CachedProject | None:
        """The project as last seen (fresh or stale), without any fetch.

        None when it is not in memory; NotFound when upstream last said it does
        not exist, so files of deleted projects stop being served from the cache.
        """
        entry = self._entries.get(name)
        if entry is None:
            return None
        if entry.value is None:
            raise NotFound(name)
        assert isinstance(entry.value, CachedProject)
        return entry.value

    def invalidate(self, name: str) -> bool:
        return self._entries.pop(name, None) is not None

    async def _get(
        self, key: str, fetch: Callable[[], Awaitable[_Entry]]
    ) -> CachedProject | RenderedPage | None:
        now = self.clock()
        entry = self._entries.get(key)
        if entry is not None and (now < entry.expires_at or now < entry.retry_at):
            self.stats.hits += 1
            return entry.value
        self.stats.misses += 1
        try:
            fresh = await self._flight.run(key, fetch)
        except UpstreamError:
            if entry is None or entry.value is None:
                raise
            entry.retry_at = self.clock() + min(RETRY_AFTER_ERROR, max(self.ttl, 1.0))
            self.stats.stale_served += 1
            log.warning("serving stale page for %r: upstream refresh failed", key or "/")
            return entry.value
        if fresh.value is None and self._entries.get(key) is not fresh:
            self._forget_expired_negatives()
            self._negatives.append(key)
        self._entries[key] = fresh
        return fresh.value

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

    async def _fetch_project(self, name: str) -> _Entry:
        results = await asyncio.gather(
            *(self.client.project_page(up.url, name) for up in self.upstreams),
            return_exceptions=True,
        )
        pages: list[ProjectPage] = []
        for result in results:
            if isinstance(result, NotFound):
                continue
            if isinstance(result, BaseException):
                if isinstance(result, UpstreamError):
                    raise result
                raise UpstreamError("upstream failed") from result
            pages.append(result)
        now = self.clock()
        if not pages:
            return _Entry(None, now + self.negative_ttl)
        merged = merge_pages(name, pages)
        files = {file.filename: file for file in merged.files}
        cached = CachedProject(name, render_project(merged), files, merged.quarantined)
        return _Entry(cached, now + self.ttl)

    async def _fetch_list(self) -> _Entry:
        lists = await asyncio.gather(
            *(self.client.project_list(up.url) for up in self.upstreams),
        )
        seen: dict[str, None] = {}
        merged = ProjectList(meta=lists[0].meta, projects=[])
        for project_list in lists:
            for entry in project_list.projects:
                if entry.name not in seen:
                    seen[entry.name] = None
                    merged.projects.append(entry)
        return _Entry(render_project_list(merged), self.clock() + self.ttl)


def merge_pages(name: str, pages: list[ProjectPage]) -> ProjectPage:
    """One page from several indexes; the first index's metadata and files win."""
    first = pages[0]
    if len(pages) == 1:
        return first
    files: dict[str, File] = {}
    for page in pages:
        for file in page.files:
            files.setdefault(file.filename, file)
    lowest = min(page.meta.api_version for page in pages)
    return ProjectPage(
        meta=Meta(api_version=lowest, last_serial=first.meta.last_serial),
        name=first.name or name,
        files=list(files.values()),
        project_status=first.project_status,
    )
