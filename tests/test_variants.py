"""Variants made on first need: one encode each, shared by concurrent callers, filled in later."""

from __future__ import annotations

import asyncio
import gc
import gzip
import hashlib
import logging
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable

import pytest

from groxpi import variants
from groxpi.variants import HTML, JSON, KEYS, Background, RenderedPage
from tests.support.encodes import REAL_ENCODE, Encodes, encoded, every_variant, until

JSON_BODY = b'{"name": "demo", "files": []}' * 50
HTML_BODY = b"<!DOCTYPE html>\n<a href='x'>x</a>\n" * 50


def counted_page(made: Counter[str], background: Background | None = None) -> RenderedPage:
    def body(fmt: str, data: bytes) -> Callable[[], bytes]:
        def make() -> bytes:
            made[fmt] += 1
            return data

        return make

    return RenderedPage(body(JSON, JSON_BODY), body(HTML, HTML_BODY), background=background)


def test_only_the_variant_asked_for_is_made(encodes: Encodes) -> None:
    made: Counter[str] = Counter()
    page = counted_page(made)
    assert not made and not encodes.calls  # nothing up front
    assert page.ready(JSON, "gzip") is None
    variant = encoded(page, JSON, "gzip")
    assert gzip.decompress(variant.body) == JSON_BODY
    assert made == {JSON: 1} and encodes.calls == {(JSON, "gzip"): 1}
    assert page.ready(JSON, "gzip") is variant
    encoded(page, JSON, "identity")
    assert made == {JSON: 1}  # one body for every coding of a format


def test_etags_are_stable_and_differ_per_coding() -> None:
    digest = hashlib.blake2b(JSON_BODY, digest_size=12).hexdigest()
    first = every_variant(counted_page(Counter()))
    second = every_variant(counted_page(Counter()))
    tags = {coding: first[JSON, coding].etag for coding in variants.CODINGS}
    assert tags == {
        "identity": f'"{digest}"',
        "gzip": f'"{digest}-gz"',
        "deflate": f'"{digest}-df"',
    }
    assert {c: second[JSON, c].etag for c in variants.CODINGS} == tags
    assert first[HTML, "gzip"].etag != tags["gzip"]


async def test_concurrent_first_requests_share_one_encode(encodes: Encodes) -> None:
    encodes.hold = lambda fmt, coding: coding == "gzip"
    made: Counter[str] = Counter()
    page = counted_page(made)
    waiters = [asyncio.ensure_future(page.encoded(JSON, "gzip")) for _ in range(5)]
    await asyncio.to_thread(encodes.held.wait, 5)
    waiters[0].cancel()  # a client hanging up does not cancel it for the others
    other = await page.encoded(JSON, "identity")  # not held up by the gzip one
    assert other.body == JSON_BODY
    encodes.release.set()
    results = await asyncio.gather(*waiters[1:])
    assert all(r is results[0] for r in results)
    assert encodes.calls[JSON, "gzip"] == 1 and made[JSON] == 1


async def test_background_fills_in_the_rest_once(encodes: Encodes) -> None:
    background = Background()
    try:
        made: Counter[str] = Counter()
        page = counted_page(made, background)
        served = await page.encoded(JSON, "gzip")
        page.fill_in_background()
        page.fill_in_background()  # a second call adds nothing
        await until(lambda: all(page.ready(*key) for key in KEYS))
        assert encodes.calls == dict.fromkeys(KEYS, 1)  # each encoded once
        assert made == {JSON: 1, HTML: 1}
        assert page.ready(JSON, "gzip") is served
        assert zlib.decompress((await page.encoded(HTML, "deflate")).body) == HTML_BODY
    finally:
        background.close()


async def test_a_page_dropped_before_its_turn_is_not_encoded(encodes: Encodes) -> None:
    background = Background()
    try:
        busy = threading.Event()
        background.submit(lambda: assert_set(busy))  # the thread is busy with another page
        page = counted_page(Counter(), background)
        page.fill_in_background()
        del page
        gc.collect()
        busy.set()
        done = threading.Event()
        background.submit(done.set)
        assert await asyncio.to_thread(done.wait, 5)
        assert not encodes.calls
    finally:
        background.close()


def assert_set(event: threading.Event) -> None:
    assert event.wait(5)


async def test_a_failing_encode_is_logged_and_tried_again_when_asked(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    background = Background()
    page = counted_page(Counter(), background)
    served = await page.encoded(JSON, "gzip")

    def failing(body: bytes, coding: str) -> bytes:
        if coding == "deflate":
            raise MemoryError("no room")
        return REAL_ENCODE(body, coding)

    monkeypatch.setattr(variants, "encode_body", failing)
    try:
        with caplog.at_level(logging.ERROR, "groxpi.variants"):
            page.fill_in_background()
            done = threading.Event()
            background.submit(done.set)  # after the page's encodes: one thread, in order
            assert await asyncio.to_thread(done.wait, 5)
    finally:
        background.close()
    failed = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert failed == [
        "encoding the json/deflate variant of a page failed",
        "encoding the html/deflate variant of a page failed",
    ]
    assert page.ready(JSON, "deflate") is None and page.ready(HTML, "identity") is not None
    assert page.ready(JSON, "gzip") is served
    monkeypatch.setattr(variants, "encode_body", REAL_ENCODE)
    assert zlib.decompress((await page.encoded(JSON, "deflate")).body) == JSON_BODY


def test_a_closed_background_drops_work_quietly() -> None:
    background = Background()
    background.close()
    ran: list[int] = []
    background.submit(lambda: ran.append(1))
    time.sleep(0.05)
    assert ran == []
