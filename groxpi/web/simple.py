"""Index routes: the project list and project pages, PEP 503 / PEP 691.

A fresh page in memory is answered without awaiting anything: negotiation is
one cached call and the bytes were encoded when the page was refreshed.
"""

from __future__ import annotations

from aiohttp import web

from ..index import LIST_KEY
from ..names import normalize_project
from ..negotiate import negotiate
from ..render import RenderedPage
from .errors import answers_errors
from .state import SERVICES

NOT_ACCEPTABLE = (
    "406 Not Acceptable: this index offers application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html and text/html\n"
)
VARY = "Accept, Accept-Encoding"


def page_response(request: web.Request, page: RenderedPage, fresh_for: float) -> web.Response:
    """The pre-encoded variant the client asked for, or 304 / 406.

    ``fresh_for`` (seconds the page has left) becomes ``Cache-Control: max-age``,
    so a CDN or nginx in front keeps it no longer than groxpi does.
    """
    headers = request.headers
    # Parsing the query costs more than the rest of negotiation: only when there is one.
    format_param = request.query.get("format") if request.query_string else None
    chosen = negotiate(headers.get("Accept"), headers.get("Accept-Encoding"), format_param)
    if chosen is None:
        return web.Response(status=406, text=NOT_ACCEPTABLE, headers={"Vary": VARY})
    fmt, content_type, coding = chosen
    variant = page.variant(fmt, coding)
    etag = variant.etag
    cache_control = f"max-age={int(fresh_for)}"
    if_none_match = headers.get("If-None-Match")
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
    if fresh is not None and isinstance(fresh[0], RenderedPage):
        return page_response(request, fresh[0], fresh[1])
    return await _project_list_refreshed(request)


@answers_errors
async def _project_list_refreshed(request: web.Request) -> web.StreamResponse:
    index = request.app[SERVICES].index
    page = await index.project_list()
    return page_response(request, page, index.seconds_left(LIST_KEY))


async def project_page(request: web.Request) -> web.StreamResponse:
    raw = request.match_info["project"]
    project = normalize_project(raw)
    if project is None:
        raise web.HTTPNotFound(text="404 Not Found: invalid project name\n")
    if project != raw:
        raise web.HTTPMovedPermanently(location=f"../{project}/{_query(request)}")
    fresh = request.app[SERVICES].index.fresh(project)
    if fresh is not None and not isinstance(fresh[0], RenderedPage):
        return page_response(request, fresh[0].rendered, fresh[1])
    return await _project_page_refreshed(request, project)


@answers_errors
async def _project_page_refreshed(request: web.Request, project: str) -> web.StreamResponse:
    index = request.app[SERVICES].index
    cached = await index.project(project)
    return page_response(request, cached.rendered, index.seconds_left(project))


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
