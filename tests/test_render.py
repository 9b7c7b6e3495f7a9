"""Rendering merged pages: honest api-version, local URLs, escaping, both forms."""

from __future__ import annotations

import gzip
import json
import zlib
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from groxpi.models import File, Meta, ProjectPage, ProjectStatus
from groxpi.names import PLAIN_FILENAME_RE, valid_filename
from groxpi.render import api_version, local_url, render_project
from groxpi.variants import HTML, JSON
from groxpi.versions import versions_of
from tests.support.encodes import encoded, every_variant


def page(files: list[File], version: str = "1.3", **extra: object) -> ProjectPage:
    return ProjectPage(meta=Meta(api_version=version), name="demo", files=files, **extra)


def wheel(name: str = "demo-1.0-py3-none-any.whl", **fields: object) -> File:
    return File(filename=name, url=f"https://files.example/{name}", hashes={"sha256": "ab"},
                **fields)  # fmt: skip


def test_api_version_is_1_0_without_sizes_and_capped_otherwise() -> None:
    assert api_version(page([wheel()])) == "1.0"
    assert api_version(page([wheel(size=3)], "1.3")) == "1.3"
    assert api_version(page([wheel(size=3)], "1.9")) == "1.4"
    assert api_version(page([wheel(size=3)], "1.0")) == "1.1"  # sizes present: PEP 700 holds


def test_versions_from_filenames_when_upstream_gives_none() -> None:
    files = [wheel("demo-1.0-py3-none-any.whl"), wheel("demo-2.0.tar.gz"), wheel("junk.exe")]
    assert versions_of(files) == ["1.0", "2.0"]


def test_urls_are_local_single_segments_and_html_is_escaped() -> None:
    evil = wheel("demo-1.0-py3-none-any.whl", requires_python="<4&>=3",
                 yanked="<b>bad</b>", core_metadata={"sha256": "cd"})  # fmt: skip
    unservable = wheel('demo-2.0-py3-none-any.whl"><script>')  # the file route would refuse it
    rendered = render_project(page([evil, unservable]))
    document = json.loads(encoded(rendered, JSON, "identity").body)
    (file,) = document["files"]
    assert "/" not in file["url"] and "files.example" not in file["url"]
    assert file["core-metadata"] == {"sha256": "cd"}
    assert "dist-info-metadata" not in file  # pip 22.3-23.1 crash on its dict form (PEP 714)
    html = encoded(rendered, HTML, "identity").body.decode()
    assert "<script>" not in html and "<b>" not in html
    assert 'data-requires-python="&lt;4&amp;&gt;=3"' in html


def test_project_status_is_carried_into_both_forms() -> None:
    rendered = render_project(page([], project_status=ProjectStatus(
        status="quarantined", reason="malware")))  # fmt: skip
    document = json.loads(encoded(rendered, JSON, "identity").body)
    assert document["project-status"] == {"status": "quarantined", "reason": "malware"}
    html = encoded(rendered, HTML, "identity").body.decode()
    assert '<meta name="pypi:project-status" content="quarantined">' in html
    assert '<meta name="pypi:project-status-reason" content="malware">' in html


def test_both_forms_decode_from_their_compressed_variants() -> None:
    rendered = every_variant(render_project(page([wheel(size=1)])))
    for fmt in (JSON, HTML):
        identity = rendered[fmt, "identity"].body
        assert gzip.decompress(rendered[fmt, "gzip"].body) == identity
        assert zlib.decompress(rendered[fmt, "deflate"].body) == identity


@given(
    st.text(alphabet='aZ09_.-~+!=/%#?&"<>é \n', max_size=12)
    | st.text(alphabet="a+", min_size=195, max_size=205)  # around the length limit
)
def test_local_urls_are_the_quoted_names_the_file_route_serves(name: str) -> None:
    assert local_url(name) == (quote(name, safe="") if valid_filename(name) else None)


def test_plain_filenames_are_the_valid_ones_quote_leaves_alone() -> None:
    for name in (c for code in range(256) for c in (chr(code), f"a{chr(code)}")):
        plain = bool(PLAIN_FILENAME_RE.fullmatch(name))
        assert plain == (valid_filename(name) and quote(name, safe="") == name), repr(name)
