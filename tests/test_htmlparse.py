"""PEP 503 HTML from upstream into the PEP 691 models: every attribute, and cut pages refused."""

from __future__ import annotations

import pytest
from yarl import URL

from groxpi.htmlparse import parse_project_list, parse_project_page
from groxpi.models import UNSET, ProjectStatus

BASE = URL("https://upstream.example/simple/pkg/")
DIGEST = "ab" * 32


def page(body: str, head: str = "") -> str:
    return f"<!DOCTYPE html><html><head>{head}<title>Links</title></head><body>{body}</body></html>"


def test_every_pep_503_attribute() -> None:
    html = page(
        f'<a href="../../files/pkg-1.0.tar.gz#sha256={DIGEST}" '
        'data-requires-python="&gt;=3.8,&lt;4" data-yanked="" '
        f'data-core-metadata="sha256={DIGEST}" data-gpg-sig="true" '
        'data-provenance="https://upstream.example/p.json">pkg-1.0.tar.gz</a><br/>\n'
        '<a href="https://files.example/pkg-2.0-py3-none-any.whl" data-yanked="broken"'
        ' data-dist-info-metadata="true" data-gpg-sig="false">pkg-2.0-py3-none-any.whl</a>\n'
    )
    first, second = parse_project_page(html, BASE, "pkg").files
    assert first.filename == "pkg-1.0.tar.gz"
    assert first.url == "https://upstream.example/files/pkg-1.0.tar.gz"  # fragment dropped
    assert first.hashes == {"sha256": DIGEST}
    assert first.requires_python == ">=3.8,<4"  # entities decoded
    assert first.yanked is True
    assert first.core_metadata == {"sha256": DIGEST}
    assert first.gpg_sig is True
    assert first.provenance == "https://upstream.example/p.json"
    assert second.url == "https://files.example/pkg-2.0-py3-none-any.whl"
    assert second.hashes == {}
    assert second.yanked == "broken"
    assert second.core_metadata is True  # the PEP 714 old name
    assert second.gpg_sig is False
    assert second.requires_python is UNSET and second.provenance is UNSET


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ('data-core-metadata="true"', True),
        ('data-core-metadata="TRUE"', True),
        ('data-core-metadata="false"', False),
        ('data-core-metadata="sha256=12ab"', {"sha256": "12ab"}),
        ('data-dist-info-metadata="sha256=12ab"', {"sha256": "12ab"}),
        ('data-core-metadata="true" data-dist-info-metadata="false"', True),
        ("", UNSET),
    ],
)
def test_metadata_flag(attribute: str, expected: object) -> None:
    (file,) = parse_project_page(page(f'<a href="a.whl" {attribute}>a.whl</a>'), BASE, "p").files
    assert file.core_metadata == expected


def test_empty_attributes_and_names() -> None:
    html = page(
        '<a href="a-1.whl" data-requires-python="" data-yanked>a-1.whl</a>'
        '<a href="sub/b-1.tar.gz#md5=00ff">  </a>'  # no text: the URL's name
        "<a>no href</a><a href>empty href</a>"
    )
    first, second = parse_project_page(html, BASE, "p").files
    assert first.requires_python is None and first.yanked is True
    assert second.filename == "b-1.tar.gz" and second.hashes == {"md5": "00ff"}
    assert second.url == "https://upstream.example/simple/pkg/sub/b-1.tar.gz"


def test_anchor_text_is_decoded_and_stripped() -> None:
    html = page('<a href="x">\n  pkg&#45;1.0<span>.tar</span>.gz \n</a>')
    assert parse_project_page(html, BASE, "p").files[0].filename == "pkg-1.0.tar.gz"


def test_project_status_meta() -> None:
    head = (
        '<meta name="pypi:repository-version" content="1.4">'
        '<meta name="pypi:project-status" content="quarantined">'
        '<meta name="pypi:project-status-reason" content="malware &amp; more">'
    )
    parsed = parse_project_page(page("", head), BASE, "pkg")
    assert parsed.name == "pkg" and parsed.files == []
    assert parsed.project_status == ProjectStatus(status="quarantined", reason="malware & more")
    archived = page("", '<meta name="pypi:project-status" content="archived">')
    plain = parse_project_page(archived, BASE, "p")
    assert plain.project_status == ProjectStatus(status="archived")
    assert parse_project_page(page(""), BASE, "p").project_status is UNSET


def test_project_list() -> None:
    html = page('<a href="/simple/a/">A</a>\n<a href="/simple/b/"> b.c </a><a href="/x/"></a>')
    listing = parse_project_list(html)
    assert [p.name for p in listing.projects] == ["A", "b.c"]
    assert listing.meta.api_version == "1.0"


def test_bytes_and_str_parse_alike() -> None:
    html = page('<a href="x">caf\u00e9-1.0.tar.gz</a>')
    assert parse_project_page(html.encode(), BASE, "p") == parse_project_page(html, BASE, "p")


@pytest.mark.parametrize(
    "tail",
    [
        *("<", "<a", '<a href="x', "<a href=x", '<a href="x" ', "</bo", "<!--", "<!-- x", "<!DOC"),
        '<a href="b.whl" data-requires-python=">=3',  # a ">" in the cut attribute value
        "<!-- a > b",
        "<script>if (a > b",
        '<a href="b.whl">b.wh',  # inside the text of a link
    ],
)
def test_page_cut_inside_markup_is_refused(tail: str) -> None:
    html = page('<a href="a.whl">a.whl</a>').removesuffix("</body></html>") + tail
    with pytest.raises(ValueError):
        parse_project_page(html, BASE, "p")
    with pytest.raises(ValueError):
        parse_project_list(html)


@pytest.mark.parametrize("tail", ["", "\n", "a < b", "</body>", "<br>"])
def test_complete_page_is_accepted(tail: str) -> None:
    html = page('<a href="a.whl">a.whl</a>').removesuffix("</body></html>") + tail
    assert len(parse_project_page(html, BASE, "p").files) == 1


def test_garbage_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_project_page("<html><body><<<</not a simple page", BASE, "p")


def test_big_documents_parse_in_pieces_like_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    links = "".join(
        f'<a href="p{n}-1.0.tar.gz#sha256={DIGEST}" data-requires-python="&gt;=3.{n}">'
        f"p{n}-1.0.tar.gz</A >\n"
        for n in range(300)
    )
    html = page(links, '<meta name="pypi:project-status" content="archived">')
    whole = parse_project_page(html, BASE, "p")
    names = [p.name for p in parse_project_list(html).projects]
    monkeypatch.setattr("groxpi.htmlparse.PIECE", 100)  # about one link a piece
    assert parse_project_page(html, BASE, "p") == whole
    assert [p.name for p in parse_project_list(html).projects] == names
    assert len(names) == 300 and whole.files[299].requires_python == ">=3.299"
    assert whole.project_status == ProjectStatus(status="archived")
    with pytest.raises(ValueError):
        parse_project_list(html[:-30])
