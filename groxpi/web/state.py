"""The services one server process shares between its request handlers."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiohttp import web

from ..config import Config
from ..distributions import Distributions
from ..files import FileCache
from ..index import IndexCache
from ..sources import Sources
from ..storage import Storage
from ..upstream import UpstreamClient


@dataclass
class Services:
    config: Config
    client: UpstreamClient
    index: IndexCache
    files: FileCache
    storage: Storage
    sources: Sources
    distributions: Distributions
    cache_private: str
    """``"private, "`` with GROXPI_AUTH_FILE, else empty: how every Cache-Control starts, so
    that a shared cache in front (which keys on the URL, not on who asked) keeps nothing."""
    file_headers: Mapping[str, str]  # of every file and metadata answer, Cache-Control included
    started_at: float = field(default_factory=time.time)
    bytes_served: int = 0
    stopping: bool = False  # set when shutdown begins: health answers 503 from then on

    @property
    def uptime(self) -> float:
        return time.time() - self.started_at


SERVICES = web.AppKey("services", Services)
