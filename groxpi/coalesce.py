"""Single-flight: concurrent callers for one key share one in-flight call."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """Run ``fetch`` once per key at a time; every waiter gets its result or error.

    The call runs in its own task, so a waiter that is cancelled (client hung up)
    does not cancel it for the others. Nothing is cached after the call ends.
    """

    def __init__(self) -> None:
        self._inflight: dict[K, asyncio.Future[V]] = {}

    def __len__(self) -> int:
        return len(self._inflight)

    async def run(self, key: K, fetch: Callable[[], Awaitable[V]]) -> V:
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.ensure_future(fetch())
            self._inflight[key] = future
            future.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(future)

    def _finished(self, key: K, future: asyncio.Future[V]) -> None:
        self._inflight.pop(key, None)
        if not future.cancelled():
            future.exception()  # retrieved: waiters that left must not cause a warning
