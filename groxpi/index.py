"""In-memory index cache: TTL, coalesced refreshes, negative caching, stale-if-error."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from packaging.version import InvalidVersion, Version

from .coalesce import SingleFlight
from .config import Upstream
from .errors import NotFound, UpstreamError
from .models import File, Meta, ProjectList, ProjectPage
from .render import RenderedPage, api_minor, render_project, render_project_list, versions_of
from .upstream import UpstreamClient

log = logging.getLogger(__name__)

LIST_KEY = ""
"""Cache key of the project list (no project name is empty)."""

RETRY_AFTER_ERROR = 10.0
"""Seconds a failed refresh is not retried while a stale page is served."""

STALE_GRACE = 3.0
"""Seconds a request holding a stale page waits for its refresh before serving it."""

MAX_ENTRIES = 20_000
"""Pages kept in memory; past it the least recently refreshed are dropped."""


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
    max_entries: int = MAX_ENTRIES
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
        if entry is not None and now < entry.expires_at:
            self.stats.hits += 1
            return entry.value
        if entry is not None and now < entry.retry_at:  # backing off: stale, no attempt
            self.stats.stale_served += 1
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
            log.warning("serving stale page for %r: upstream refresh failed", key or "/")
        except TimeoutError:
            log.warning("serving stale page for %r: upstream refresh is slow", key or "/")
        self.stats.stale_served += 1
        return entry.value

    async def _refresh(self, key: str, fetch: Callable[[], Awaitable[_Entry]]) -> _Entry:
        try:
            fresh = await fetch()
        except UpstreamError:
            # Back off here, not in a waiter: a slow failure lands after every
            # waiter has already been given the stale page.
            entry = self._entries.get(key)
            if entry is not None and entry.value is not None:
                entry.retry_at = self.clock() + min(RETRY_AFTER_ERROR, max(self.ttl, 1.0))
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

    async def _fetch_project(self, name: str) -> _Entry:
        results = await asyncio.gather(
            *(self.client.project_page(up.url, name) for up in self.upstreams),
            return_exceptions=True,
        )
        pages: list[ProjectPage] = []
        partial = False  # an extra index failed: its files are missing for now
        for upstream, result in zip(self.upstreams, results, strict=True):
            if isinstance(result, NotFound):
                continue
            if isinstance(result, BaseException):
                _raise_unless_extra(upstream, self.upstreams[0], result)
                partial = True
                continue
            pages.append(result)
        now = self.clock()
        if not pages:
            if partial:  # maybe it exists only there: not a "no such project"
                raise UpstreamError(f"extra index failed for {name}")
            return _Entry(None, now + self.negative_ttl)
        merged = merge_pages(name, pages)
        files = {file.filename: file for file in merged.files}
        rendered = await asyncio.to_thread(render_project, merged)  # big pages take a while
        cached = CachedProject(name, rendered, files, merged.quarantined)
        return _Entry(cached, now + (RETRY_AFTER_ERROR if partial else self.ttl))

    async def _fetch_list(self) -> _Entry:
        results = await asyncio.gather(
            *(self.client.project_list(up.url) for up in self.upstreams),
            return_exceptions=True,
        )
        seen: dict[str, None] = {}
        merged: ProjectList | None = None
        for upstream, result in zip(self.upstreams, results, strict=True):
            if isinstance(result, BaseException):
                _raise_unless_extra(upstream, self.upstreams[0], result)
                continue
            if merged is None:
                merged = ProjectList(meta=result.meta, projects=[])
            for entry in result.projects:
                if entry.name not in seen:
                    seen[entry.name] = None
                    merged.projects.append(entry)
        assert merged is not None  # the primary index answered
        rendered = await asyncio.to_thread(render_project_list, merged)
        return _Entry(rendered, self.clock() + self.ttl)


def _raise_unless_extra(upstream: Upstream, primary: Upstream, error: BaseException) -> None:
    """The primary index failing fails the page; an extra index only loses its files."""
    if upstream is primary:
        if isinstance(error, UpstreamError | NotFound):
            raise error
        raise UpstreamError("upstream failed") from error
    log.warning("extra index %s left out: %s", upstream.display_url, error)


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


def merged_versions(pages: list[ProjectPage]) -> list[str]:
    """Every version any index listed (PEP 700 ``versions`` may name releases
    without files), from filenames for an index that sent none; sorted, so the
    page does not depend on which index answered first."""
    seen: dict[str, None] = {}
    for page in pages:
        listed = page.versions if isinstance(page.versions, list) else versions_of(page.files)
        seen.update(dict.fromkeys(listed))
    return sorted(seen, key=_version_order)


def _version_order(version: str) -> tuple[int, Version | str]:
    """PEP 440 order; anything unparsable after every valid version, by name."""
    try:
        return (0, Version(version))
    except InvalidVersion:
        return (1, version)
