"""Shared bodies: big pages in files every worker maps, removed with their page."""

from __future__ import annotations

import asyncio
import gc
import gzip
import os
import time
import traceback
import weakref
from pathlib import Path

import pytest

from groxpi import variants
from groxpi.models import File, Meta, ProjectPage
from groxpi.render import render_project
from groxpi.shared_bodies import LEFTOVER_AGE, SHARE_FROM, PageFiles, SharedBodies
from groxpi.variants import HTML, JSON, RenderedPage, Variant
from tests.support.encodes import Encodes, encoded, every_variant


def big_page() -> ProjectPage:
    files = [
        File(
            filename=f"demo-1.{i}.tar.gz",
            url=f"https://files.example/demo-1.{i}.tar.gz",
            hashes={"sha256": f"{i:064x}"},
            size=i,
        )
        for i in range(12_000)
    ]
    return ProjectPage(meta=Meta(api_version="1.1"), name="demo", files=files)


def test_big_bodies_are_mapped_from_one_file_per_content(tmp_path: Path) -> None:
    shared = SharedBodies(tmp_path / "rendered")
    plain = render_project(big_page())
    first = render_project(big_page(), shared)  # one worker
    second = render_project(big_page(), shared)  # another, same content
    unshared, ours = every_variant(plain), every_variant(first)
    every_variant(second)
    identity = ours[JSON, "identity"].body
    assert isinstance(identity, memoryview) and len(identity) >= SHARE_FROM
    for fmt in (JSON, HTML):
        assert bytes(ours[fmt, "identity"].body) == unshared[fmt, "identity"].body
        assert ours[fmt, "identity"].etag == unshared[fmt, "identity"].etag
    gz = ours[JSON, "gzip"].body
    assert isinstance(gz, bytes)  # compressed, it is small: kept as bytes
    assert gzip.decompress(gz) == bytes(identity)
    files = sorted((tmp_path / "rendered").iterdir())
    assert sorted(f.suffix for f in files) == [".html", ".json"]  # shared, not one per render
    del first, second
    gc.collect()
    assert list((tmp_path / "rendered").iterdir()) == []  # removed with their pages
    assert bytes(identity) == unshared[JSON, "identity"].body  # a live mapping stays valid


async def test_an_encode_that_outlives_its_page_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    encodes = Encodes(hold=lambda fmt, coding: (fmt, coding) == (JSON, "identity"))
    monkeypatch.setattr(variants, "encode_body", encodes)
    root = tmp_path / "rendered"
    big = b"{" + b" " * SHARE_FROM + b"}"
    page = RenderedPage(lambda: big, lambda: b"<html></html>", SharedBodies(root))
    dropped = weakref.ref(page)
    try:
        request = asyncio.ensure_future(page.encoded(JSON, "identity"))
        assert await asyncio.to_thread(encodes.held.wait, 5)
        (encode,) = asyncio.all_tasks() - {asyncio.current_task(), request}
        request.cancel()  # the client hung up
        try:
            await request
        except asyncio.CancelledError as hung_up:
            # Its traceback is kept until the encode ends (asyncio.shield keeps the
            # error) and happens to hold the page: nothing else should have to.
            traceback.clear_frames(hung_up.__traceback__)
        del request, page  # and the page was replaced meanwhile
        gc.collect()
        assert dropped() is None
        encodes.release.set()
        variant: Variant = await encode
    finally:
        encodes.release.set()
    assert bytes(variant.body) == big
    assert not root.exists() or list(root.iterdir()) == []


def test_a_body_shared_as_its_page_is_dropped_is_removed(tmp_path: Path) -> None:
    class DroppedMeanwhile(SharedBodies):
        def share(self, body: bytes, name: str) -> tuple[memoryview, Path] | None:
            shared = super().share(body, name)
            files.close()  # in another thread, while this one wrote the file
            return shared

    files = PageFiles(DroppedMeanwhile(tmp_path))
    view = files.share(b"body", "a.json")
    assert view is not None and bytes(view) == b"body"  # still served to whoever waits
    assert list(tmp_path.iterdir()) == []
    assert files.share(b"body", "a.json") is None  # closed: not written at all
    assert list(tmp_path.iterdir()) == []


def test_files_are_removed_when_closed(tmp_path: Path) -> None:
    files = PageFiles(SharedBodies(tmp_path))
    assert files.share(b"json", "a.json") is not None
    assert files.share(b"html", "a.html") is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.html", "a.json"]
    files.close()
    assert list(tmp_path.iterdir()) == []


def test_small_pages_stay_bytes(tmp_path: Path) -> None:
    page = ProjectPage(meta=Meta(api_version="1.1"), name="demo", files=[])
    rendered = render_project(page, SharedBodies(tmp_path))
    assert isinstance(encoded(rendered, JSON, "identity").body, bytes)
    assert list(tmp_path.iterdir()) == []


def test_leftovers_of_killed_processes_are_swept(tmp_path: Path) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_bytes(b"x")
    new.write_bytes(b"y")
    past = time.time() - LEFTOVER_AGE - 1
    os.utime(old, (past, past))
    SharedBodies(tmp_path).sweep_leftovers()
    assert list(tmp_path.iterdir()) == [new]
