"""Domain errors become short plain-text answers; nothing leaks a stack trace.

A decorator on each handler rather than a middleware: aiohttp rebuilds the
middleware chain on every request, which measurably slowed cached pages.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Concatenate, ParamSpec

from aiohttp import web

from ..errors import NotFound, UpstreamError
from ..sources import Refused
from ..storage import StorageError

log = logging.getLogger(__name__)
P = ParamSpec("P")


def plain(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=f"{status} {message}\n")


def answers_errors(
    handler: Callable[Concatenate[web.Request, P], Awaitable[web.StreamResponse]],
) -> Callable[Concatenate[web.Request, P], Awaitable[web.StreamResponse]]:
    """Wrap a handler so domain errors map to 404/502/503/504 and anything else to 500."""

    @functools.wraps(handler)
    async def wrapper(
        request: web.Request, /, *args: P.args, **kwargs: P.kwargs
    ) -> web.StreamResponse:
        try:
            return await handler(request, *args, **kwargs)
        except web.HTTPException:
            raise
        except Refused as exc:
            return plain(
                exc.status, f"{'Forbidden' if exc.status == 403 else 'Not Found'}: {exc.reason}"
            )
        except NotFound:
            return plain(404, "Not Found")
        except UpstreamError as exc:
            return plain(exc.status, f"Upstream error: {exc}")
        except StorageError as exc:
            log.warning("storage error on %s: %s", request.path, exc)
            return plain(503, f"Storage unavailable: {exc}")
        except ConnectionError:
            raise
        except Exception:
            log.exception("unexpected error on %s %s", request.method, request.path)
            return plain(500, "Internal Server Error")

    return wrapper
