"""Index routes: the project list and project pages, PEP 503 / PEP 691.

A fresh page in memory is answered without awaiting anything: negotiation is
one cached call and the bytes of its variants were encoded before. A variant
not encoded yet (a page just refreshed) is encoded in a worker thread and sent
at once; the page's other variants are encoded after that answer.
"""

from __future__ import annotations

from aiohttp import web

from ..index import LIST_KEY
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
    variant is not encoded yet (then :func:`first_response` answers).

    ``fresh_for`` (seconds the page has left) becomes ``Cache-Control: max-age``,
    so a CDN or nginx in front keeps it no longer than groxpi does (and, with
    GROXPI_AUTH_FILE, ``private``: not at all).
    """
    chosen = _negotiated(request)
    if chosen is None:
        return web.Response(status=406, text=NOT_ACCEPTABLE, headers={"Vary": VARY})
    fmt, content_type, coding = chosen
    variant = page.ready(fmt, coding)
    if variant is None:
        return None
    return _variant_response(request, variant, content_type, coding, fresh_for)


@answers_errors
async def first_response(
    request: web.Request, page: RenderedPage, fresh_for: float
) -> web.StreamResponse:
    """The variant asked for (page_response found it acceptable), encoded now in a
    worker thread and sent at once; then the page's other variants are encoded,
    in the background."""
    try:
        chosen = _negotiated(request)
        assert chosen is not None
        fmt, content_type, coding = chosen
        variant = await page.encoded(fmt, coding)
        response = _variant_response(request, variant, content_type, coding, fresh_for)
        await response.prepare(request)  # sent before the other variants are encoded
        await response.write_eof()
        return response
    finally:
        page.fill_in_background()


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


async def project_list(request: web.Request) -> web.StreamResponse:
    fresh = request.app[SERVICES].index.fresh(LIST_KEY)
    if fresh is None or not isinstance(fresh[0], RenderedPage):
        return await _project_list_refreshed(request)
    page, fresh_for = fresh[0], fresh[1]
    response = page_response(request, page, fresh_for)
    return response if response is not None else await first_response(request, page, fresh_for)


@answers_errors
async def _project_list_refreshed(request: web.Request) -> web.StreamResponse:
    index = request.app[SERVICES].index
    page = await index.project_list()
    fresh_for = index.seconds_left(LIST_KEY)
    response = page_response(request, page, fresh_for)
    return response if response is not None else await first_response(request, page, fresh_for)


async def project_page(request: web.Request) -> web.StreamResponse:
    raw = request.match_info["project"]
    project = normalize_project(raw)
    if project is None:
        raise web.HTTPNotFound(text="404 Not Found: invalid project name\n")
    if project != raw:
        raise web.HTTPMovedPermanently(location=f"../{project}/{_query(request)}")
    fresh = request.app[SERVICES].index.fresh(project)
    if fresh is None or isinstance(fresh[0], RenderedPage):
        return await _project_page_refreshed(request, project)
    page, fresh_for = fresh[0].rendered, fresh[1]
    response = page_response(request, page, fresh_for)
    return response if response is not None else await first_response(request, page, fresh_for)


@answers_errors
async def _project_page_refreshed(request: web.Request, project: str) -> web.StreamResponse:
    index = request.app[SERVICES].index
    page = (await index.project(project)).rendered
    fresh_for = index.seconds_left(project)
    response = page_response(request, page, fresh_for)
    return response if response is not None else await first_response(request, page, fresh_for)


async def _project_without_slash(request: web.Request) -> web.StreamResponse:
    raw = request.match_info["project"]
    project = normalize_project(raw)
    if project is None:
        raise web.HTTPNotFound(text="404 Not Found: invalid project name\n")
    # Relative, so the redirect also works behind a proxy that mounts us under a prefix.
    raise web.HTTPMovedPermanently(location=f"{project}/{_query(request)}")


def _query(request: web.Request) -> str:
    return f"?{request.query_string}" if request.query_string else ""


def add_routes(app: web.Application) -> None:
    # Routes under one prefix are tried in the order added: the busiest first.
    app.router.add_get("/simple/{project}/", project_page)
    app.router.add_get("/simple/", project_list)
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
