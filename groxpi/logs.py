"""Log output on stderr: readable text by default, or one JSON object a line for collectors.

In JSON every line parses on its own: tracebacks go into an ``exception`` field
and anything a caller passes with ``extra=`` becomes a field (the access log's
method, path, status and timing), so collectors never have to parse messages.
"""

from __future__ import annotations

import datetime
import logging
import sys
from types import TracebackType
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:  # aiohttp is imported by the web stack, not by every command
    from aiohttp.web_request import BaseRequest
    from aiohttp.web_response import StreamResponse

TEXT_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"
ACCESS_LINE = '%s "%s %s HTTP/%d.%d" %d %d "%s" %.1fms'
"""remote, request line, status, bytes, User-Agent (shortened), duration."""
TEXT_USER_AGENT = 80
JSON_USER_AGENT = 512

# What every record carries; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}
_encode = msgspec.json.Encoder(enc_hook=repr).encode
_json = False


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON: timestamp, level, logger, message, worker, extras."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "timestamp": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "worker": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in out:
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return _encode(out).decode()


def configure(level: str, log_format: str) -> None:
    """Send every logger to stderr in ``log_format`` (text or json)."""
    global _json
    _json = log_format == "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if _json else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    if _json:  # warnings and uncaught exceptions would print plain text otherwise
        logging.captureWarnings(True)
        sys.excepthook = _log_uncaught


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    logging.getLogger("groxpi").critical("uncaught exception", exc_info=(kind, exc, tb))


def fatal(message: str, json: bool | None = None) -> None:
    """The one line an error that stops groxpi leaves: ``groxpi: message``, or JSON.

    ``json`` overrides the configured format (before the configuration is known).
    """
    if _json if json is None else json:
        record = logging.LogRecord("groxpi", logging.CRITICAL, __file__, 0, message, None, None)
        line = JsonFormatter().format(record)
    else:
        line = f"groxpi: {message}"
    print(line, file=sys.stderr, flush=True)


def short_user_agent(agent: str) -> str:
    """pip and uv append a JSON blob of ~500 characters to their name: keep the name."""
    name, blob, _ = agent.partition(" {")
    if blob:
        agent = name
    return agent if len(agent) <= TEXT_USER_AGENT else agent[: TEXT_USER_AGENT - 3] + "..."


def log_access(
    logger: logging.Logger, request: BaseRequest, response: StreamResponse, seconds: float
) -> None:
    """One access line: text for people, the same as fields for the JSON formatter."""
    agent = request.headers.get("User-Agent", "-")
    remote = request.remote or "-"
    method, path, status = request.method, request.path_qs, response.status
    size, milliseconds = response.body_length, seconds * 1000
    fields = {
        "method": method,
        "path": path,
        "status": status,
        "bytes": size,
        "duration_ms": round(milliseconds, 3),
        "user_agent": agent[:JSON_USER_AGENT],
        "remote": remote,
    }
    version = request.version
    logger.info(
        ACCESS_LINE,
        remote,
        method,
        path,
        version.major,
        version.minor,
        status,
        size,
        short_user_agent(agent),
        milliseconds,
        extra=fields,
    )
