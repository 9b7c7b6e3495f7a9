"""Index routes: the project list and project pages, PEP 503 / PEP 691."""

from __future__ import annotations

from aiohttp import web

from ..names import normalize_project
from ..negotiate import choose_coding, choose_media
from ..render import RenderedPage
from .errors import answers_errors
from .state import SERVICES

NOT_ACCEPTABLE = (
    "406 Not Acceptable: this index offers application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html and text/html\n"
)
VARY = "Accept, Accept-Encoding"


def page_response(request: web.Request, page: RenderedPage) -> web.Response:
    """The pre-encoded variant the client asked for, or 304 / 406."""
    chosen = choose_media(request.headers.get("Accept"), request.query.get("format"))
    if chosen is None:
        return web.Response(status=406, text=NOT_ACCEPTABLE, headers={"Vary": VARY})
    fmt, content_type = chosen
    coding = choose_coding(request.headers.get("Accept-Encoding"))
    variant = page.variant(fmt, coding)
    headers = {"Vary": VARY, "ETag": variant.etag}
    if _etag_matches(request.headers.get("If-None-Match"), variant.etag):
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = content_type
    if coding != "identity":
        headers["Content-Encoding"] = coding
    return web.Response(body=variant.body, headers=headers)


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


@answers_errors
async def project_list(request: web.Request) -> web.Response:
    page = await request.app[SERVICES].index.project_list()
    return page_response(request, page)


@answers_errors
async def project_page(request: web.Request) -> web.StreamResponse:
    raw = request.match_info["project"]
    project = normalize_project(raw)
    if project is None:
        raise web.HTTPNotFound(text="404 Not Found: invalid project name\n")
    if project != raw or not request.path.endswith("/"):
        # Relative, so the redirect also works behind a proxy that mounts us under a prefix.
        up = "../" if request.path.endswith("/") else ""
        query = f"?{request.query_string}" if request.query_string else ""
        raise web.HTTPMovedPermanently(location=f"{up}{project}/{query}")
    cached = await request.app[SERVICES].index.project(project)
    return page_response(request, cached.rendered)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/simple/", project_list)
    app.router.add_get("/simple", _to_slash)
    app.router.add_get("/index/{tail:.*}", _from_proxpi_path)
    app.router.add_get("/simple/{project}/", project_page)
    app.router.add_get("/simple/{project}", project_page)


async def _to_slash(request: web.Request) -> web.Response:
    raise web.HTTPMovedPermanently(location="simple/")


async def _from_proxpi_path(request: web.Request) -> web.Response:
    """proxpi served the index under /index/; keep its users' URLs working."""
    query = f"?{request.query_string}" if request.query_string else ""
    raise web.HTTPMovedPermanently(location=f"/simple/{request.match_info['tail']}{query}")
