"""A stand-in for groxpi.variants.encode_body: counts encodes, holds some back."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable

from groxpi import variants
from groxpi.variants import HTML, JSON, KEYS, RenderedPage, Variant

REAL_ENCODE = variants.encode_body


def fmt_of(body: bytes) -> str:
    return JSON if body.startswith(b"{") else HTML


class Encodes:
    """encode_body, counted per (format, coding); ``hold`` ones wait for ``release``."""

    def __init__(self, hold: Callable[[str, str], bool] = lambda fmt, coding: False) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.hold = hold
        self.held = threading.Event()  # set once an encode is waiting
        self.release = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, body: bytes, coding: str) -> bytes:
        key = (fmt_of(body), coding)
        with self._lock:
            self.calls[key] += 1
        if self.hold(*key):
            self.held.set()
            assert self.release.wait(10), "never released"
        return REAL_ENCODE(body, coding)


async def until(done: Callable[[], object], timeout: float = 5.0) -> None:
    """Wait (polling) until ``done()`` is true."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def encoded(page: RenderedPage, fmt: str, coding: str) -> Variant:
    """``page.encoded(fmt, coding)``, as a request gets it, from a test without a loop."""
    return asyncio.run(page.encoded(fmt, coding))


def every_variant(page: RenderedPage) -> dict[tuple[str, str], Variant]:
    """Every variant of ``page``, got as requests get them (:meth:`RenderedPage.encoded`)."""

    async def get_all() -> list[Variant]:
        return await asyncio.gather(*(page.encoded(*key) for key in KEYS))

    return dict(zip(KEYS, asyncio.run(get_all()), strict=True))
