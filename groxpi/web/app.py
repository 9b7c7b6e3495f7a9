"""Application factory: wires config, upstream client, caches and routes together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from ..config import Config
from ..distributions import Distributions
from ..files import FileCache
from ..index import IndexCache
from ..shared_bodies import SharedBodies
from ..sources import build_sources
from ..storage import create_storage
from ..upstream import Reachability, UpstreamClient
from . import admin, auth, files, metrics, simple
from .state import SERVICES, Services
from .worker_metrics import WorkerMetrics, run_directory

log = logging.getLogger(__name__)


def build_services(config: Config) -> Services:
    client = UpstreamClient(config)
    storage = create_storage(config)
    sources = build_sources(config, client, storage)
    shared = SharedBodies(config.cache_dir / "rendered")
    shared.sweep_leftovers()
    index = IndexCache(sources.pages, negative_ttl=config.negative_ttl, shared=shared)
    file_cache = FileCache(storage, client, config.cache_dir / "spool", config.cache_size)
    distributions = Distributions(
        index, file_cache, sources.pages, config.download_timeout, offline=config.offline
    )
    cache_private = "private, " if config.auth_file is not None else ""
    return Services(
        config=config,
        client=client,
        index=index,
        files=file_cache,
        storage=storage,
        sources=sources,
        distributions=distributions,
        cache_private=cache_private,
        file_headers={**files.FILE_HEADERS, "Cache-Control": cache_private + files.IMMUTABLE},
    )


def create_app(config: Config, metrics_dir: Path | None = None) -> web.Application:
    """The application of one worker; ``metrics_dir`` is where the server's workers
    leave the numbers each adds up with its siblings' (a new one when not given)."""
    app = web.Application(client_max_size=64 * 1024)
    services = build_services(config)
    app[SERVICES] = services
    app[admin.REACHABILITY] = Reachability(services.client)
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
        autoescape=True,
    )
    simple.add_routes(app)  # first: aiohttp tries routes in the order they were added
    files.add_routes(app)
    if metrics_dir is None:
        metrics_dir = run_directory(config.cache_dir / "metrics")
    metrics.setup(app, WorkerMetrics(metrics_dir))
    admin.add_routes(app)
    if config.auth_file is not None:
        auth.setup(app, config.auth_file, open_handlers(config))
    app.cleanup_ctx.append(_lifecycle)
    app.on_shutdown.append(_mark_stopping)
    return app


def open_handlers(config: Config) -> list[auth.AnyHandler]:
    """What needs no Basic credentials: probes, and the cache control endpoints when
    the admin token guards them (one Authorization header cannot carry both)."""
    handlers: list[auth.AnyHandler] = [admin.health]
    if not config.auth_metrics:
        handlers.append(metrics.metrics)
    if config.admin_token is not None:
        handlers += [admin.drop_project_list, admin.drop_project]
    return handlers


async def _mark_stopping(app: web.Application) -> None:
    app[SERVICES].stopping = True


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Start the client and caches before serving; close them after the last response."""
    services = app[SERVICES]
    await services.client.start()
    try:
        await services.files.start()
        yield
    finally:
        await services.files.close(services.config.shutdown_timeout)
        services.index.close()
        await services.storage.close()
        await services.client.close()
