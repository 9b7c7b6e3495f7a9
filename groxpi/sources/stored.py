"""StoredPages: the indexes' answers persisted, so pages survive restarts and outages.

On a miss the record in the page store is read first (lazily: nothing is
loaded at start-up). A record still within its TTL is served without asking
upstream, whichever process or replica stored it; an expired one is
revalidated with its validators, and a 304 only extends its life. When
upstream fails, the stored page is served stale. In offline mode upstream is
never asked: the store is all there is.

With leases (processes sharing a cache directory), one process at a time
refreshes a page; the others wait for it and read what it stored, so
concurrent misses across workers make one upstream request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import msgspec

from ..errors import NotFound, NotModified, UpstreamError
from ..leases import Leases
from ..models import ProjectList, ProjectPage
from ..pagestore import LIST_NAME, RECORD_FORMAT, PageRecord, PageStore, Validators
from . import base
from .base import Fetched, PageSource, Refused

log = logging.getLogger(__name__)

T = TypeVar("T", ProjectPage, ProjectList)

OFFLINE_TTL = 60.0
"""Seconds an offline page is kept in memory before the store is read again."""


class StoredPages:
    """Pages from the page store while fresh, else from ``inner``, stored on the way."""

    def __init__(
        self,
        inner: PageSource,
        store: PageStore,
        offline: bool = False,
        leases: Leases | None = None,
        lease_wait: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.inner = inner
        self.store = store
        self.offline = offline
        self.leases = leases
        self.lease_wait = lease_wait
        self.clock = clock
        self.stale_served = 0
        self.last_stale_at: float | None = None
        self.revalidated = 0

    def refusal(self, name: str) -> Refused | None:
        return self.inner.refusal(name)

    async def forget(self, name: str) -> bool:
        """Drop the stored page of ``name`` (LIST_NAME: the list); True if there was one."""
        return await self.store.delete(name)

    async def project_page(
        self, name: str, validators: Validators | None = None
    ) -> Fetched[ProjectPage]:
        return await self._get(name, lambda known: self.inner.project_page(name, known), _page)

    async def project_list(self, validators: Validators | None = None) -> Fetched[ProjectList]:
        return await self._get(LIST_NAME, self.inner.project_list, _listing)

    async def _get(
        self,
        key: str,
        ask: Callable[[Validators | None], Awaitable[Fetched[T]]],
        value_of: Callable[[PageRecord], T | None],
    ) -> Fetched[T]:
        record, value, fresh = await self._load(key, value_of)
        if fresh is not None:
            return fresh
        if self.offline:
            if record is None or value is None:
                what = "the project list" if key == LIST_NAME else f"project {key}"
                raise Refused(key, f"offline mode (GROXPI_OFFLINE): {what} is not in the cache")
            return Fetched(
                value, OFFLINE_TTL, validators=record.validators, unchanged=True, stale=True
            )
        if self.leases is None:
            return await self._refresh(key, ask, record, value)
        async with self.leases.hold(key, self.lease_wait) as waited:
            if waited:  # another worker just refreshed it, most likely
                before = None if record is None else record.fetched_at
                record, value, fresh = await self._load(key, value_of)
                if fresh is not None:
                    return fresh
                if record is not None and value is not None and record.fetched_at == before:
                    return self._stale(key, record, value, "another worker's refresh failed")
            return await self._refresh(key, ask, record, value)

    async def _load(
        self, key: str, value_of: Callable[[PageRecord], T | None]
    ) -> tuple[PageRecord | None, T | None, Fetched[T] | None]:
        """The stored record and its page, and that page as an answer if still fresh."""
        record = await self.store.load(key)
        value = None if record is None else value_of(record)
        if record is None or value is None:
            return None, None, None
        age = self.clock() - record.fetched_at
        if 0 <= age < record.ttl:  # stored by us before, or by another process
            return record, value, Fetched(value, record.ttl - age, validators=record.validators)
        return record, value, None

    async def _refresh(
        self,
        key: str,
        ask: Callable[[Validators | None], Awaitable[Fetched[T]]],
        record: PageRecord | None,
        value: T | None,
    ) -> Fetched[T]:
        """Ask upstream (conditionally when a page is stored) and store its answer."""
        now = self.clock()
        try:
            fetched = await ask(None if record is None else record.validators)
        except NotModified as confirmed:
            assert record is not None and value is not None
            self.revalidated += 1
            ttl = record.ttl if confirmed.ttl is None else confirmed.ttl
            await self.store.save(key, msgspec.structs.replace(record, fetched_at=now, ttl=ttl))
            return Fetched(value, ttl, validators=record.validators, unchanged=True)
        except NotFound:
            if record is not None:
                await self.store.delete(key)
            raise
        except UpstreamError as exc:
            if record is None or value is None:
                raise
            return self._stale(key, record, value, f"upstream refresh failed: {exc}")
        if fetched.complete:  # a page missing a failed index's files is not kept
            await self.store.save(key, _record(fetched, now))
        return fetched

    def _stale(self, key: str, record: PageRecord, value: T, why: str) -> Fetched[T]:
        self.stale_served += 1
        self.last_stale_at = self.clock()
        log.warning("serving stale page for %r: %s", key, why)
        retry = base.RETRY_AFTER_ERROR
        return Fetched(value, retry, validators=record.validators, unchanged=True, stale=True)


def _page(record: PageRecord) -> ProjectPage | None:
    return record.page


def _listing(record: PageRecord) -> ProjectList | None:
    return record.listing


def _record(fetched: Fetched[ProjectPage] | Fetched[ProjectList], now: float) -> PageRecord:
    value = fetched.value
    return PageRecord(
        format=RECORD_FORMAT,
        fetched_at=now,
        ttl=fetched.ttl,
        validators=dict(fetched.validators),
        page=value if isinstance(value, ProjectPage) else None,
        listing=value if isinstance(value, ProjectList) else None,
    )
