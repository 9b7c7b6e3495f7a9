"""Index routes: the project list and project pages, PEP 503 / PEP 691.

A fresh page in memory is answered without awaiting anything: negotiation is
one cached call and the bytes of its variants were encoded before. A variant
not encoded yet (a page just refreshed) is encoded in a worker thread and sent
at once; the page's other variants are encoded after that answer.
"""

from __future__ import annotations

from typing import NoReturn

from aiohttp import web

from ..index import LIST_KEY, CachedProject
from ..names import normalize_project
from ..negotiate import Negotiated, negotiate
from ..variants import RenderedPage, Variant
from .errors import answers_errors
from .state import SERVICES

NOT_ACCEPTABLE = (
    "406 Not Acceptable: this index offers application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html and text/html\n"
)
VARY = "Accept, Accept-Encoding"


def page_response(
    request: web.Request, page: RenderedPage, fresh_for: float
) -> web.Response | None:
    """The pre-encoded variant the client asked for, or 304 / 406; None when that
    variant is not encoded yet (then :func:`_cold_response` answers).

    ``fresh_for`` (seconds the page has left) becomes ``Cache-Control: max-age``,
    so a CDN or nginx in front keeps it no longer than groxpi does (and, with
    GROXPI_AUTH_FILE, ``private``: not at all).
    """
    chosen = _negotiated(request)
    if chosen is None:
        return _not_acceptable()
    fmt, content_type, coding = chosen
    variant = page.ready(fmt, coding)
    if variant is None:
        return None
    return _variant_response(request, variant, content_type, coding, fresh_for)


async def index_page(request: web.Request) -> web.StreamResponse:
    """``/simple/`` and ``/simple/{project}/``: a fresh page in memory whose variant
    is encoded is answered here, awaiting nothing; any other by :func:`_cold_response`."""
    raw = request.match_info.get("project")
    if raw is None:
        key = LIST_KEY
    else:
        if normalize_project(raw) != raw:  # invalid (None), or not normalized
            _to_normalized(request, raw, "../")
        key = raw
    fresh = request.app[SERVICES].index.fresh(key)
    if fresh is not None:
        value, fresh_for = fresh
        page = value.rendered if isinstance(value, CachedProject) else value
        response = page_response(request, page, fresh_for)
        if response is not None:
            return response
    return await _cold_response(request, key, fresh)


@answers_errors
async def _cold_response(
    request: web.Request, key: str, fresh: tuple[CachedProject | RenderedPage, float] | None
) -> web.StreamResponse:
    """The page under ``key`` (fetched now unless ``fresh`` holds it) in the variant
    asked for, encoded now in a worker thread if need be and sent at once; then the
    page's other variants are encoded, in the background."""
    index = request.app[SERVICES].index
    value: CachedProject | RenderedPage
    if fresh is not None:
        value, fresh_for = fresh
    else:
        value = await (index.project_list() if key == LIST_KEY else index.project(key))
        fresh_for = index.seconds_left(key)
    page = value.rendered if isinstance(value, CachedProject) else value
    chosen = _negotiated(request)
    if chosen is None:
        return _not_acceptable()
    fmt, content_type, coding = chosen
    try:
        variant = await page.encoded(fmt, coding)
        response = _variant_response(request, variant, content_type, coding, fresh_for)
        await response.prepare(request)  # sent before the other variants are encoded
        await response.write_eof()
        return response
    finally:
        page.fill_in_background()


def _not_acceptable() -> web.Response:
    return web.Response(status=406, text=NOT_ACCEPTABLE, headers={"Vary": VARY})


def _negotiated(request: web.Request) -> Negotiated | None:
    headers = request.headers
    # Parsing the query costs more than the rest of negotiation: only when there is one.
    format_param = request.query.get("format") if request.query_string else None
    return negotiate(headers.get("Accept"), headers.get("Accept-Encoding"), format_param)


def _variant_response(
    request: web.Request, variant: Variant, content_type: str, coding: str, fresh_for: float
) -> web.Response:
    etag = variant.etag
    cache_control = f"{request.app[SERVICES].cache_private}max-age={int(fresh_for)}"
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match and _etag_matches(if_none_match, etag):
        return web.Response(
            status=304, headers={"Vary": VARY, "ETag": etag, "Cache-Control": cache_control}
        )
    out = {"Vary": VARY, "ETag": etag, "Cache-Control": cache_control, "Content-Type": content_type}
    if coding != "identity":
        out["Content-Encoding"] = coding
    return web.Response(body=variant.body, headers=out)


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


async def _project_without_slash(request: web.Request) -> web.StreamResponse:
    # Relative, so the redirect also works behind a proxy that mounts us under a prefix.
    _to_normalized(request, request.match_info["project"], "")


def _to_normalized(request: web.Request, raw: str, base: str) -> NoReturn:
    """Redirect to the page of the normalized name (``base`` + name + "/"), or 404
    for an invalid name."""
    project = normalize_project(raw)
    if project is None:
        raise web.HTTPNotFound(text="404 Not Found: invalid project name\n")
    raise web.HTTPMovedPermanently(location=f"{base}{project}/{_query(request)}")


def _query(request: web.Request) -> str:
    return f"?{request.query_string}" if request.query_string else ""


def add_routes(app: web.Application) -> None:
    # Routes under one prefix are tried in the order added: the busiest first.
    app.router.add_get("/simple/{project}/", index_page)
    app.router.add_get("/simple/", index_page)
    app.router.add_get("/simple", _to_slash)
    app.router.add_get("/index/{tail:.*}", _from_proxpi_path)
    app.router.add_get("/simple/{project}", _project_without_slash)


async def _to_slash(request: web.Request) -> web.Response:
    raise web.HTTPMovedPermanently(location="simple/")


async def _from_proxpi_path(request: web.Request) -> web.Response:
    """proxpi served the index under /index/; keep its users' URLs working."""
    raise web.HTTPMovedPermanently(
        location=f"/simple/{request.match_info['tail']}{_query(request)}"
    )
