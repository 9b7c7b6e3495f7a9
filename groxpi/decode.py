"""Upstream index bodies (PEP 691 JSON or PEP 503 HTML) into the models, off the event loop.

A cold project list is ~40 MB: decoded on the event loop, every request (even
``/health``) would wait for it. Bodies above :data:`INLINE_LIMIT` are decoded in
a worker thread, and in steps short enough that the GIL is free between them:
HTML in pieces (:mod:`groxpi.htmlparse`), and a JSON document's big array (the
projects, or a page's files) a piece at a time, since one msgspec call holds
the GIL until it returns (~150 ms for PyPI's list in one call).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, TypeVar

import msgspec
from yarl import URL

from .htmlparse import parse_project_list, parse_project_page
from .models import (
    JSON_V1,
    File,
    ProjectEntry,
    ProjectList,
    ProjectPage,
    project_list_decoder,
    project_page_decoder,
)

INLINE_LIMIT = 32 * 1024
"""Bodies up to this size are decoded on the loop: at most ~1.5 ms (HTML), less
than a thread hop may cost when the default executor is busy with storage work."""
PIECE = 256 * 1024
"""Bytes of a JSON array decoded per msgspec call (a few ms with the GIL held)."""

T = TypeVar("T")

_ELEMENT_END = re.compile(rb"\}\s*,\s*(?=\{)")
"""Where one object of an array may end and the next begin."""
_MAX_MISSES = 16


class _ListParts(ProjectList):
    projects: msgspec.Raw  # type: ignore[assignment]


class _PageParts(ProjectPage):
    files: msgspec.Raw  # type: ignore[assignment]


_list_parts = msgspec.json.Decoder(_ListParts)
_page_parts = msgspec.json.Decoder(_PageParts)
_entries = msgspec.json.Decoder(list[ProjectEntry])
_files = msgspec.json.Decoder(list[File])


def _decode_array(raw: msgspec.Raw, decoder: msgspec.json.Decoder[list[T]]) -> list[T]:
    """A JSON array of objects, decoded about :data:`PIECE` bytes at a time.

    A piece ends at a ``},{``. If that ``}`` is inside a string or a nested
    value, the piece ends inside it and cannot decode, so it is tried again up
    to the next one: pieces that decode are exactly the array's elements. Too
    many misses, or a real error, decode the array whole (the right result, or
    the real error).
    """
    data = memoryview(raw)
    if len(data) <= PIECE or data[:1].tobytes() != b"[":
        return decoder.decode(data)
    items: list[T] = []
    start, end, misses = 1, 1 + PIECE, 0
    while True:
        match = _ELEMENT_END.search(data, end)
        if match is None:  # the rest, with its closing "]"
            try:
                items += decoder.decode(b"".join((b"[", data[start:])))
            except msgspec.DecodeError:
                return decoder.decode(data)
            return items
        try:
            items += decoder.decode(b"".join((b"[", data[start : match.start() + 1], b"]")))
        except msgspec.DecodeError:
            misses += 1
            if misses > _MAX_MISSES:
                return decoder.decode(data)
            end = match.start() + 1  # not an element's end: try the next one
            continue
        start, end, misses = match.end(), match.end() + PIECE, 0


def _whole(parts: msgspec.Struct, **replaced: Any) -> dict[str, Any]:
    """The fields of ``parts`` as keyword arguments, some replaced."""
    return {**msgspec.structs.asdict(parts), **replaced}


def json_project_list(body: bytes) -> ProjectList:
    if len(body) <= PIECE:
        return project_list_decoder.decode(body)
    parts = _list_parts.decode(body)
    return ProjectList(**_whole(parts, projects=_decode_array(parts.projects, _entries)))


def json_project_page(body: bytes) -> ProjectPage:
    if len(body) <= PIECE:
        return project_page_decoder.decode(body)
    parts = _page_parts.decode(body)
    return ProjectPage(**_whole(parts, files=_decode_array(parts.files, _files)))


def decode_project_page(body: bytes, content_type: str, base: URL, name: str) -> ProjectPage:
    """A project page with absolute file URLs (resolved against ``base``)."""
    if content_type != JSON_V1:
        return parse_project_page(body, base, name)
    page = json_project_page(body)
    resolve_urls(page.files, base)
    return page


_ABSOLUTE = re.compile(r"(https?://[^/?#]+)(/[A-Za-z0-9._~!$&'()*+,;=:@/-]*)?", re.ASCII)
"""An http(s) URL whose path yarl would leave as it is (no %, query or fragment)."""


def resolve_urls(files: list[File], base: URL) -> None:
    """Make every file's URL absolute, resolved against ``base`` as yarl does.

    yarl takes ~10 µs a URL (30 ms for a 3,000-file page). A page's URLs are
    nearly all absolute, on one host, with plain paths: such a URL is kept as
    it is once yarl has confirmed its scheme and authority (once per host)
    and its path has no dot segment; anything else goes through yarl.
    """
    authorities: dict[str, bool] = {}
    for file in files:
        url = file.url
        match = _ABSOLUTE.fullmatch(url)
        if match is not None and not _dot_segments(match[2] or ""):
            authority = match[1]
            plain = authorities.get(authority)
            if plain is None:
                plain = authorities[authority] = _kept_by_yarl(authority)
            if plain:
                continue
        file.url = str(base.join(URL(url)))


def _dot_segments(path: str) -> bool:
    return "/./" in path or "/../" in path or path.endswith(("/.", "/.."))


def _kept_by_yarl(authority: str) -> bool:
    """Whether yarl writes ``authority`` (``scheme://host[:port]``) back as it is."""
    try:
        return str(URL(f"{authority}/")) == f"{authority}/"
    except ValueError:
        return False


def decode_project_list(body: bytes, content_type: str) -> ProjectList:
    if content_type == JSON_V1:
        return json_project_list(body)
    return parse_project_list(body)


async def project_page(body: bytes, content_type: str, base: URL, name: str) -> ProjectPage:
    """:func:`decode_project_page`, in a worker thread for a big body."""
    if len(body) <= INLINE_LIMIT:
        return decode_project_page(body, content_type, base, name)
    return await asyncio.to_thread(decode_project_page, body, content_type, base, name)


async def project_list(body: bytes, content_type: str) -> ProjectList:
    """:func:`decode_project_list`, in a worker thread for a big body."""
    if len(body) <= INLINE_LIMIT:
        return decode_project_list(body, content_type)
    return await asyncio.to_thread(decode_project_list, body, content_type)
