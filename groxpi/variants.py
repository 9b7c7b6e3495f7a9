"""The encoded variants of one page, each made on first need, off the event loop.

A page has six variants (JSON and HTML, each identity, gzip or deflate).
Encoding them all before answering made the request that fetched a page wait
for five encodings it did not want. Here each variant is encoded when first
asked for, in a worker thread, and concurrent first requests for it share
that one encoding; after the first answer one background thread fills in the
rest, so later requests find plain bytes, looked up without an await.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Generic, TypeVar

from . import compress
from .coalesce import SingleFlight
from .shared_bodies import SHARE_FROM, PageFiles, SharedBodies

log = logging.getLogger(__name__)

T = TypeVar("T")

JSON = "json"
HTML = "html"
CODINGS = ("gzip", "deflate", "identity")
KEYS = tuple((fmt, coding) for fmt in (JSON, HTML) for coding in CODINGS)
"""Every (format, coding), in the order the background fills them: JSON first (what
installers ask for), and the HTML body, the slowest to make, last."""
_ETAG_SUFFIX = {"gzip": "-gz", "deflate": "-df", "identity": ""}


class Once(Generic[T]):
    """A value made by the first thread that needs it; others needing it meanwhile
    wait for that one. A failure is not kept: the next caller tries again."""

    __slots__ = ("_done", "_lock", "_make", "_value")

    def __init__(self, make: Callable[[], T]) -> None:
        self._make: Callable[[], T] | None = make
        self._lock = threading.Lock()
        self._done = False

    def get(self) -> T:
        if not self._done:
            with self._lock:
                if not self._done:
                    assert self._make is not None
                    self._value = self._make()
                    self._make = None  # let go of what it was made from
                    self._done = True
        return self._value


def encode_body(body: bytes, coding: str) -> bytes:
    """``body`` in ``coding`` (tests replace this to hold encodings back)."""
    if coding == "gzip":
        return compress.gzip_body(body)
    if coding == "deflate":
        return compress.deflate_body(body)
    return body


class Variant:
    """One encoded body with its ETag."""

    __slots__ = ("body", "etag")

    def __init__(self, body: bytes | memoryview, etag: str) -> None:
        self.body = body
        self.etag = etag


class Background:
    """One thread for the encodings no request waits for, so they take one core at
    most and never queue ahead of a request's own (those use the default pool)."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="groxpi-encode")

    def submit(self, work: Callable[[], None]) -> None:
        with contextlib.suppress(RuntimeError):  # closed: shutting down, nothing to fill
            self._executor.submit(work)

    def close(self) -> None:
        """Drop the work not started; the one encoding under way finishes on its own."""
        self._executor.shutdown(wait=False, cancel_futures=True)


class RenderedPage:
    """A page's variants, each encoded once, from bodies made once.

    ``json_body`` and ``html_body`` make the identity bodies (in whichever
    thread first needs them). With ``shared``, big bodies live in files every
    worker maps (one copy in memory for all of them), removed when this page
    is dropped (one that an encode still under way writes later, as soon as
    it is written). With ``background``, :meth:`fill_in_background` encodes
    the variants nobody asked for yet.
    """

    __slots__ = ("__weakref__", "_background", "_cells", "_flight", "_ready")

    def __init__(
        self,
        json_body: Callable[[], bytes],
        html_body: Callable[[], bytes],
        shared: SharedBodies | None = None,
        background: Background | None = None,
    ) -> None:
        self._ready: dict[tuple[str, str], Variant] = {}
        files = PageFiles(shared) if shared is not None else None
        if files is not None:
            weakref.finalize(self, files.close)
        bodies = {
            JSON: Once(partial(_digested, json_body)),
            HTML: Once(partial(_digested, html_body)),
        }
        self._cells = {
            (fmt, coding): Once(partial(_encode, fmt, coding, bodies[fmt], self._ready, files))
            for fmt, coding in KEYS
        }
        self._flight: SingleFlight[tuple[str, str], Variant] = SingleFlight()
        self._background = background

    def ready(self, fmt: str, coding: str) -> Variant | None:
        """The variant if already encoded: the warm path, one dict look-up."""
        return self._ready.get((fmt, coding))

    async def encoded(self, fmt: str, coding: str) -> Variant:
        """The variant, encoded in a worker thread if need be; concurrent callers
        share one encoding, and one leaving does not cancel it for the others."""
        key = (fmt, coding)
        variant = self._ready.get(key)
        if variant is not None:
            return variant
        return await self._flight.run(key, partial(asyncio.to_thread, self._cells[key].get))

    def fill_in_background(self) -> None:
        """Have the background thread encode the variants not asked for yet (once;
        one variant at a time, skipped if this page is dropped meanwhile)."""
        background, self._background = self._background, None
        if background is not None:
            page = weakref.ref(self)
            for key in KEYS:
                if key not in self._ready:
                    background.submit(partial(_fill, page, key))

    def _fill(self, key: tuple[str, str]) -> None:
        """Encode ``key`` if nobody has; a failure is logged and leaves it to be
        tried again when asked for."""
        if key in self._ready:
            return
        try:
            self._cells[key].get()
        except Exception:
            log.exception("encoding the %s/%s variant of a page failed", *key)


def _fill(page: weakref.ref[RenderedPage], key: tuple[str, str]) -> None:
    alive = page()
    if alive is not None:
        alive._fill(key)


def _digested(make: Callable[[], bytes]) -> tuple[bytes, str]:
    """A body and the digest its variants' ETags are made from."""
    body = make()
    return body, hashlib.blake2b(body, digest_size=12).hexdigest()


def _encode(
    fmt: str,
    coding: str,
    body: Once[tuple[bytes, str]],
    ready: dict[tuple[str, str], Variant],
    files: PageFiles | None,
) -> Variant:
    """Encode one variant, share it if big, and publish it to the warm path."""
    data, digest = body.get()
    tag = f"{digest}{_ETAG_SUFFIX[coding]}"
    encoded = encode_body(data, coding)
    variant = Variant(encoded, f'"{tag}"')
    if files is not None and len(encoded) >= SHARE_FROM:
        mapped = files.share(encoded, f"{tag}.{fmt}")
        if mapped is not None:
            variant.body = mapped
    ready[fmt, coding] = variant
    return variant
