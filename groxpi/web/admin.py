"""Home page, health check and the cache-invalidation endpoints."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import os
import time
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from .. import __version__
from ..index import LIST_KEY
from ..names import normalize_project
from ..upstream import Reachability
from .errors import answers_errors
from .state import SERVICES, Services

REACHABILITY = web.AppKey("reachability", Reachability)
HOME_PROJECTS = 50
"""Pages in memory the home page offers to invalidate, the most recently refreshed."""


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def human_duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h {minutes}m {secs}s" if days else f"{hours}h {minutes}m {secs}s"


@answers_errors
@aiohttp_jinja2.template("home.html")
async def home(request: web.Request) -> dict[str, Any]:
    services = request.app[SERVICES]
    files, index = services.files, services.index
    return {
        "version": __version__,
        "index_url": f"{request.scheme}://{request.host}/simple/",
        "uptime": human_duration(services.uptime),
        "storage_kind": services.storage.kind,
        "storage_status": await services.storage.health(),
        "cache_bytes": human_size(files.lru.total),
        "cache_limit": human_size(files.lru.limit),
        "file_count": len(files.lru),
        "index_entries": len(index),
        "index_hits": index.stats.hits,
        "index_misses": index.stats.misses,
        "file_hits": files.stats.hits,
        "file_misses": files.stats.misses,
        "upstreams": services.config.upstreams,
        "pages_note": pages_note(services),
        # Cache control: with the token the page asks for it; without, only loopback may.
        "admin_token_set": services.config.admin_token is not None,
        "viewer_is_loopback": is_loopback(request.remote),
        "port": services.config.port,
        "held_projects": index.held_projects(HOME_PROJECTS),
    }


STALE_WINDOW = 60.0
"""Seconds after a stale page was served that health still reports it."""


def pages_note(services: Services) -> str | None:
    """Why pages may be out of date right now (offline, or upstream failing), if so."""
    if services.config.offline:
        return "offline mode: serving only what the page and file stores hold"
    index_stale = services.index.stats.last_stale_at
    stored_stale = services.sources.stored.last_stale_at
    recent = (index_stale is not None and services.index.clock() - index_stale < STALE_WINDOW) or (
        stored_stale is not None and time.time() - stored_stale < STALE_WINDOW
    )
    return "serving stale pages: upstream refreshes are failing" if recent else None


@answers_errors
async def health(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    reachability = request.app[REACHABILITY]
    upstreams = services.config.upstreams
    offline = services.config.offline  # then upstream is never contacted, not even here
    checks = () if offline else (reachability.check(up.url) for up in upstreams)
    storage_status, *reachable = await asyncio.gather(services.storage.health(), *checks)
    note = pages_note(services)
    status, code, reason = _status(services, storage_status, all(reachable), note)
    return web.json_response(
        status=code,
        data={
            "status": status,
            "reason": reason,
            "version": __version__,
            "uptime": round(services.uptime, 1),
            "worker": os.getpid(),  # which process answered (GROXPI_WORKERS > 1)
            "offline": offline,
            "pages": note or "fresh",
            "storage": {"type": services.storage.kind, "status": storage_status},
            "upstreams": [
                {"url": up.display_url, "reachable": None if offline else reachable[i]}
                for i, up in enumerate(upstreams)
            ],
            "cache": {
                "files": len(services.files.lru),
                "bytes": services.files.lru.total,
                "downloads": services.files.active_downloads,
            },
        },
    )


def is_loopback(remote: str | None) -> bool:
    """The peer is this machine (``::ffff:127.0.0.1`` too, as a dual-stack socket shows it)."""
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return False
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def _status(
    services: Services, storage_status: str, reachable: bool, pages: str | None
) -> tuple[str, int, str | None]:
    """Status, HTTP code and why: ``ok``/``degraded`` (200) while groxpi can serve,
    ``unavailable`` (503) when it cannot, so a load balancer or Docker's
    HEALTHCHECK takes the instance out."""
    if services.stopping:
        return "unavailable", 503, "shutting down"
    if storage_status != "ok":
        return "unavailable", 503, f"storage: {storage_status}"
    if not reachable:
        return "degraded", 200, "an upstream index is unreachable"
    if pages is not None and not services.config.offline:
        return "degraded", 200, pages
    return "ok", 200, None


def authorize(request: web.Request) -> None:
    """Admin token when configured (constant-time compare), from any address; otherwise
    loopback only. With GROXPI_AUTH_FILE a Basic user is not enough: the token is needed
    (then these routes skip the Basic check), or, without a token, a user on loopback."""
    token = request.app[SERVICES].config.admin_token
    if token is not None:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
            raise web.HTTPUnauthorized(
                text="401 Unauthorized: a valid admin bearer token is required\n",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return
    if not is_loopback(request.remote):
        raise web.HTTPForbidden(text="403 Forbidden: cache control is allowed from loopback only\n")


async def _admin_request(request: web.Request) -> None:
    """Bound the body (413 past the app's client_max_size), then check who is asking."""
    await request.read()
    authorize(request)


@answers_errors
async def drop_project_list(request: web.Request) -> web.Response:
    await _admin_request(request)
    services = request.app[SERVICES]
    stored = await services.sources.stored.forget(LIST_KEY)
    dropped = services.index.invalidate(LIST_KEY) or stored
    return invalidated({"dropped": dropped})


@answers_errors
async def drop_project(request: web.Request) -> web.Response:
    await _admin_request(request)
    project = normalize_project(request.match_info["project"])
    if project is None:
        raise web.HTTPBadRequest(text="400 Bad Request: invalid project name\n")
    services = request.app[SERVICES]
    stored = await services.sources.stored.forget(project)
    dropped = services.index.invalidate(project) or stored
    return invalidated({"project": project, "dropped": dropped})


def invalidated(detail: dict[str, object]) -> web.Response:
    """proxpi's answer shape, which its users' scripts check, plus what was dropped."""
    return web.json_response({"status": "success", "data": None, **detail})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", home)
    app.router.add_get("/health", health)
    app.router.add_delete("/cache/list", drop_project_list)
    # A project named "list" has only this URL; /cache/{project} is proxpi's.
    app.router.add_delete("/cache/project/{project}", drop_project)
    app.router.add_delete("/cache/{project}", drop_project)
