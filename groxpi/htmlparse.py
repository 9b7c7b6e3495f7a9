"""PEP 503 HTML pages from upstream, parsed into the PEP 691 models.

Used only when an upstream index does not speak PEP 691 JSON. Lexbor (through
selectolax) parses with the GIL released, but handing out the elements it found
holds the GIL, about a microsecond each, and PyPI's project list has ~930,000
links: a big document is parsed in pieces of about :data:`PIECE` bytes, each
cut just after a ``</a>``, so a worker thread parsing it lets the event loop run
between pieces.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from selectolax.lexbor import LexborHTMLParser, LexborNode
from yarl import URL

from .models import UNSET, File, Meta, ProjectEntry, ProjectList, ProjectPage, ProjectStatus

PIECE = 256 * 1024
"""Bytes parsed at a time: collecting one piece's links holds the GIL a few ms."""

Attributes = dict[str, str | None]

_LINK_END = re.compile(rb"</a\s*>", re.IGNORECASE)
_LINK_TAG = re.compile(rb"<(/?)a[\s/>]", re.IGNORECASE)
_TAG_OPEN = frozenset(b"!/?abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# Appended to the document: it parses as this bare link only if the document
# ended where new markup can start, not inside a tag, comment or script.
_SENTINEL = b"<a data-groxpi-end></a>"
_SENTINEL_ATTRS: Attributes = {"data-groxpi-end": None}


class _Collected:
    """The links (text, and attributes if asked) and ``<meta name=pypi:*>`` of a document."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.attributes: list[Attributes] = []
        self.meta: dict[str, str] = {}


def _check_complete(data: bytes) -> None:
    """A page cut off in transit must not pass for a shorter page: ValueError."""
    lt = data.rfind(b"<")
    if lt > data.rfind(b">") and (lt + 1 == len(data) or data[lt + 1] in _TAG_OPEN):
        raise ValueError("the page ends inside a tag (truncated or not HTML)")
    if _ends_inside_link(data):
        raise ValueError("the page ends inside a link (truncated)")


def _ends_inside_link(data: bytes) -> bool:
    """Whether the last ``<a`` has no ``</a>`` after it (looking back only as far as needed)."""
    window = 4096
    while True:
        tags = _LINK_TAG.findall(data, max(0, len(data) - window))
        if tags or window >= len(data):
            return bool(tags) and tags[-1] == b""
        window *= 16


def _pieces(data: bytes) -> Iterator[tuple[bytes, bool]]:
    """``(piece, is_last)``: cut after a ``</a>``, where the parser is between tags."""
    start = 0
    while len(data) - start > PIECE:
        match = _LINK_END.search(data, start + PIECE)
        if match is None:
            break
        yield data[start : match.end()], False
        start = match.end()
    yield data[start:] + _SENTINEL, True


def _links(parser: LexborHTMLParser, last: bool) -> list[LexborNode]:
    links = parser.tags("a")
    if last:
        for i in range(len(links) - 1, -1, -1):
            if links[i].attributes == _SENTINEL_ATTRS:
                del links[i]
                break
        else:
            raise ValueError("the page ends inside a tag, comment or script (truncated)")
    return links


def _collect(html: str | bytes, with_attributes: bool = True) -> _Collected:
    """Every link and pypi meta tag of ``html``; a document cut off: ValueError."""
    data = html.encode("utf-8", "replace") if isinstance(html, str) else html
    _check_complete(data)
    collected = _Collected()
    for piece, last in _pieces(data):
        parser = LexborHTMLParser(piece)
        for node in parser.tags("meta"):
            name, content = node.attributes.get("name"), node.attributes.get("content")
            if name and name.startswith("pypi:") and content is not None:
                collected.meta[name] = content
        links = _links(parser, last)
        collected.texts += [node.text().strip() for node in links]
        if with_attributes:
            collected.attributes += [node.attributes for node in links]
        del links, parser  # free this piece's tree before parsing the next
    return collected


def _metadata_flag(value: str | None) -> bool | dict[str, str]:
    """``data-core-metadata="sha256=..."`` → hashes; ``"true"`` → True."""
    if value is None:
        return False
    algorithm, sep, digest = value.partition("=")
    if sep and digest:
        return {algorithm.strip(): digest.strip()}
    return value.strip().lower() != "false"


def _file_from_anchor(attrs: Attributes, text: str, base: URL) -> File | None:
    href = attrs.get("href")
    if not href:
        return None
    url = base.join(URL(href))
    hashes: dict[str, str] = {}
    algorithm, sep, digest = url.fragment.partition("=")
    if sep and digest:
        hashes[algorithm] = digest
    url = url.with_fragment(None)
    filename = text or url.name
    file = File(filename=filename, url=str(url), hashes=hashes)
    if "data-requires-python" in attrs:
        file.requires_python = attrs["data-requires-python"] or None
    if "data-yanked" in attrs:
        file.yanked = attrs["data-yanked"] or True
    metadata = attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata"))
    if metadata is not None:
        file.core_metadata = _metadata_flag(metadata)
    if attrs.get("data-gpg-sig") is not None:
        file.gpg_sig = attrs["data-gpg-sig"] == "true"
    if attrs.get("data-provenance"):
        file.provenance = attrs["data-provenance"]
    return file


def parse_project_page(html: str | bytes, page_url: URL, name: str) -> ProjectPage:
    """Parse a PEP 503 project page (bytes: UTF-8); relative hrefs resolve against ``page_url``."""
    collected = _collect(html)
    files = [
        file
        for attrs, text in zip(collected.attributes, collected.texts, strict=True)
        if (file := _file_from_anchor(attrs, text, page_url)) is not None
    ]
    page = ProjectPage(meta=Meta(api_version="1.0"), name=name, files=files)
    status = collected.meta.get("pypi:project-status")
    if status:
        reason = collected.meta.get("pypi:project-status-reason", UNSET)
        page.project_status = ProjectStatus(status=status, reason=reason)
    return page


def parse_project_list(html: str | bytes) -> ProjectList:
    """Parse a PEP 503 project list: each link's text names a project."""
    collected = _collect(html, with_attributes=False)
    projects = [ProjectEntry(name=text) for text in collected.texts if text]
    return ProjectList(meta=Meta(api_version="1.0"), projects=projects)
