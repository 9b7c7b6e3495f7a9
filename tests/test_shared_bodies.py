"""Shared bodies: big pages in files every worker maps, removed with their page."""

from __future__ import annotations

import gc
import gzip
import os
import time
from pathlib import Path

from groxpi.models import File, Meta, ProjectPage
from groxpi.render import render_project
from groxpi.shared_bodies import LEFTOVER_AGE, SHARE_FROM, SharedBodies
from groxpi.variants import HTML, JSON
from tests.support.encodes import encoded, every_variant


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
