"""Domain errors; the web layer maps them to HTTP answers with short messages."""

from __future__ import annotations


class NotFound(Exception):
    """The project or file does not exist upstream (answered 404)."""


class NotModified(Exception):
    """Upstream confirmed, with a 304, that the page we hold is still current;
    ``ttl`` is how long it is now fresh for (the index's current TTL)."""

    def __init__(self, message: str, ttl: float | None = None) -> None:
        super().__init__(message)
        self.ttl = ttl


class UpstreamError(Exception):
    """Upstream failed; ``status`` is the 502/503/504 to answer with."""

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.status = status
