"""Typed configuration read from the environment.

Every ``GROXPI_X`` falls back to ``PROXPI_X`` so proxpi deployments migrate
without edits. Bad values raise :class:`ConfigError` naming the variable, which
the CLI prints as one line before exiting.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from yarl import URL

from .environment import ConfigError as ConfigError
from .environment import Env as _Env
from .htpasswd import HtpasswdError, read_htpasswd

DEFAULT_INDEX_URL = "https://pypi.org/simple/"

_SIZE_UNITS = {
    "": 1,
    "B": 1,
    "K": 1000,
    "KB": 1000,
    "M": 1000**2,
    "MB": 1000**2,
    "G": 1000**3,
    "GB": 1000**3,
    "T": 1000**4,
    "TB": 1000**4,
    "KIB": 1024,
    "MIB": 1024**2,
    "GIB": 1024**3,
    "TIB": 1024**4,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def without_credentials(url: URL) -> URL:
    """The URL without user and password, for logs, pages and comparisons."""
    return url.with_user(None) if url.user is not None else url


@dataclass(frozen=True, slots=True)
class Upstream:
    """One upstream simple index and how long its pages stay fresh."""

    url: URL
    ttl: float

    @property
    def display_url(self) -> str:
        """The URL without credentials, for logs and status pages."""
        return str(without_credentials(self.url))


@dataclass(frozen=True, slots=True)
class S3Config:
    endpoint_url: str | None
    access_key: str | None
    secret_key: str | None
    region: str
    bucket: str | None
    prefix: str
    use_ssl: bool
    force_path_style: bool
    redirect: bool
    create_bucket: bool


@dataclass(frozen=True, slots=True)
class Pin:
    """Projects matching ``pattern`` are served from ``upstreams[index]`` alone."""

    pattern: str
    index: int


@dataclass(frozen=True, slots=True)
class Policies:
    """Which projects and files are served (GROXPI_PROJECT_INDEXES and friends)."""

    pins: tuple[Pin, ...] = ()
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    deny_status: int = 404
    min_release_age: float = 0.0
    min_release_age_exempt: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Config:
    host: str = "0.0.0.0"
    port: int = 5000
    workers: int = 1
    upstreams: tuple[Upstream, ...] = (Upstream(URL(DEFAULT_INDEX_URL), 1800.0),)
    cache_size: int = 5 * 1000**3
    cache_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "groxpi")
    storage_type: str = "local"
    s3: S3Config | None = None
    download_timeout: float = 0.9
    connect_timeout: float = 3.1
    read_timeout: float = 20.0
    verify_ssl: bool = True
    logging_level: str = "INFO"
    log_format: str = "text"
    access_log: bool = False
    admin_token: str | None = None
    auth_file: Path | None = None  # htpasswd file: clients need HTTP Basic credentials
    auth_metrics: bool = False  # /metrics needs them too (/health never does)
    negative_ttl: float = 60.0
    shutdown_timeout: float = 10.0
    policies: Policies = Policies()
    offline: bool = False

    @property
    def index(self) -> Upstream:
        """The primary upstream index."""
        return self.upstreams[0]


def parse_size(text: str) -> int:
    """Parse ``5GB``, ``500MiB`` or a plain byte count into bytes."""
    match = _SIZE_RE.match(text)
    unit = match.group(2).upper() if match else ""
    if not match or unit not in _SIZE_UNITS:
        raise ValueError(f'cannot parse "{text}" as a size')
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f'cannot parse "{text}" as a boolean (use true or false)')


def parse_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f'cannot parse "{text}" as a number of seconds') from None
    if value < 0 or value != value:
        raise ValueError(f'"{text}" must be zero or more seconds')
    return value


def parse_url(text: str) -> URL:
    url = URL(text.strip())
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f'"{text}" is not an http(s) URL')
    if not url.path.endswith("/"):
        url = url.with_path(url.path + "/")
    return url


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PATTERN_RE = re.compile(r"^[a-z0-9*?\[\]!-]+$")


def parse_duration(text: str) -> float:
    """Parse ``7d``, ``36h``, ``90m``, ``30s`` or plain seconds."""
    match = _DURATION_RE.match(text)
    if not match:
        raise ValueError(f'cannot parse "{text}" as a duration (e.g. 7d, 36h, 90m or seconds)')
    return float(match.group(1)) * _DURATION_UNITS[match.group(2).lower()]


def parse_pattern(text: str) -> str:
    """A glob on PEP 503-normalized names, normalized likewise (``My_Corp*`` is ``my-corp*``)."""
    pattern = re.sub(r"[-_.]+", "-", text.strip().lower())
    if not _PATTERN_RE.match(pattern):
        raise ValueError(
            f'"{text}" is not a project name pattern (letters, digits, -_. and * ? [])'
        )
    return pattern


def parse_patterns(text: str) -> tuple[str, ...]:
    return tuple(parse_pattern(part) for part in text.split(",") if part.strip())


def _parse_deny_status(text: str) -> int:
    if text.strip() not in ("403", "404"):
        raise ValueError(f'"{text}" must be 404 or 403')
    return int(text)


def _parse_port(text: str) -> int:
    port = int(text) if text.strip().isdigit() else -1
    if not 0 < port < 65536:
        raise ValueError(f'"{text}" is not a port number (1-65535)')
    return port


def _parse_workers(text: str) -> int:
    workers = int(text) if text.strip().isdigit() else 0
    if workers < 1:
        raise ValueError(f'"{text}" must be a whole number of at least 1')
    return workers


def _parse_level(text: str) -> str:
    level = text.strip().upper()
    if level not in logging.getLevelNamesMapping():
        raise ValueError(f'"{text}" is not a logging level (DEBUG, INFO, WARNING, ERROR)')
    return level


LOG_FORMATS = ("text", "json")


def parse_log_format(text: str) -> str:
    kind = text.strip().lower()
    if kind not in LOG_FORMATS:
        raise ValueError(f'"{text}" is not a log format (text or json)')
    return kind


def _parse_storage(text: str) -> str:
    kind = text.strip().lower()
    if kind not in ("local", "s3"):
        raise ValueError(f'"{text}" is not a storage type (local or s3)')
    return kind


def _upstreams(env: _Env) -> tuple[Upstream, ...]:
    index = Upstream(
        env.get("GROXPI_INDEX_URL", parse_url, URL(DEFAULT_INDEX_URL)),
        env.get("GROXPI_INDEX_TTL", parse_seconds, 1800.0),
    )
    extra_raw = env.raw("GROXPI_EXTRA_INDEX_URLS") or ""
    extra_urls = [part for part in extra_raw.split(",") if part.strip()]
    ttl_raw = env.raw("GROXPI_EXTRA_INDEX_TTLS") or ""
    ttl_parts = [part for part in ttl_raw.split(",") if part.strip()]
    if ttl_parts and len(ttl_parts) != len(extra_urls):
        raise ConfigError(
            f"GROXPI_EXTRA_INDEX_TTLS: {len(ttl_parts)} TTLs given for "
            f"{len(extra_urls)} extra index URLs"
        )
    ttls = [env.parse("GROXPI_EXTRA_INDEX_TTLS", parse_seconds, t) for t in ttl_parts]
    extras = [
        Upstream(
            env.parse("GROXPI_EXTRA_INDEX_URLS", parse_url, raw_url),
            ttls[i] if ttls else 180.0,
        )
        for i, raw_url in enumerate(extra_urls)
    ]
    return (index, *extras)


def _pins(env: _Env, upstreams: tuple[Upstream, ...]) -> tuple[Pin, ...]:
    """``pattern=index-url`` pairs; each URL must be a configured index."""
    name = "GROXPI_PROJECT_INDEXES"
    configured = {str(without_credentials(up.url)): i for i, up in enumerate(upstreams)}
    pins = []
    for part in (env.raw(name) or "").split(","):
        if not part.strip():
            continue
        pattern, sep, raw_url = part.partition("=")
        if not sep:
            raise ConfigError(f'{name}: "{part.strip()}" is not pattern=index-url')
        url = str(without_credentials(env.parse(name, parse_url, raw_url)))
        if url not in configured:
            raise ConfigError(
                f"{name}: {url} is not GROXPI_INDEX_URL or one of GROXPI_EXTRA_INDEX_URLS"
            )
        pins.append(Pin(env.parse(name, parse_pattern, pattern), configured[url]))
    return tuple(pins)


def _policies(env: _Env, upstreams: tuple[Upstream, ...]) -> Policies:
    return Policies(
        pins=_pins(env, upstreams),
        allow=env.get("GROXPI_ALLOW_PROJECTS", parse_patterns, ()),
        deny=env.get("GROXPI_DENY_PROJECTS", parse_patterns, ()),
        deny_status=env.get("GROXPI_DENY_STATUS", _parse_deny_status, 404),
        min_release_age=env.get("GROXPI_MIN_RELEASE_AGE", parse_duration, 0.0),
        min_release_age_exempt=env.get("GROXPI_MIN_RELEASE_AGE_EXEMPT", parse_patterns, ()),
    )


def _s3(env: _Env) -> S3Config:
    bucket = env.raw("GROXPI_S3_BUCKET")
    if not bucket:
        raise ConfigError("GROXPI_S3_BUCKET: required when GROXPI_STORAGE_TYPE is s3")
    return S3Config(
        endpoint_url=env.raw("AWS_ENDPOINT_URL") or None,
        access_key=env.secret("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID_FILE"),
        secret_key=env.secret("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY_FILE"),
        region=env.raw("AWS_REGION") or env.raw("AWS_DEFAULT_REGION") or "us-east-1",
        bucket=bucket,
        prefix=(env.raw("GROXPI_S3_PREFIX") or "groxpi").strip("/"),
        use_ssl=env.get("GROXPI_S3_USE_SSL", parse_bool, True),
        force_path_style=env.get("GROXPI_S3_FORCE_PATH_STYLE", parse_bool, False),
        redirect=env.get("GROXPI_S3_REDIRECT", parse_bool, False),
        create_bucket=env.get("GROXPI_S3_CREATE_BUCKET", parse_bool, False),
    )


def _auth(env: _Env) -> tuple[Path | None, bool]:
    """The htpasswd file, read once here so a bad one stops start-up, and AUTH_METRICS."""
    raw = env.raw("GROXPI_AUTH_FILE")
    metrics = env.get("GROXPI_AUTH_METRICS", parse_bool, False)
    if not raw:
        if metrics:
            raise ConfigError("GROXPI_AUTH_METRICS: needs GROXPI_AUTH_FILE, which is not set")
        return None, False
    path = Path(raw)
    try:
        if not read_htpasswd(path):
            raise HtpasswdError(f"{path} has no users")
    except HtpasswdError as exc:
        raise ConfigError(f"GROXPI_AUTH_FILE: {exc}") from None
    return path, metrics


def requested_log_format(environ: Mapping[str, str]) -> str:
    """GROXPI_LOG_FORMAT if valid, else text: how to report a configuration error."""
    try:
        return _Env(environ).get("GROXPI_LOG_FORMAT", parse_log_format, "text")
    except ConfigError:
        return "text"


def load_config(environ: Mapping[str, str]) -> Config:
    """Build a validated :class:`Config` from an environment mapping."""
    env = _Env(environ)
    d = Config()  # the defaults
    storage_type = env.get("GROXPI_STORAGE_TYPE", _parse_storage, d.storage_type)
    cache_dir = env.raw("GROXPI_CACHE_DIR")
    upstreams = _upstreams(env)
    auth_file, auth_metrics = _auth(env)
    return Config(
        host=env.raw("GROXPI_HOST") or d.host,
        port=env.get("PORT", _parse_port, d.port),
        workers=env.get("GROXPI_WORKERS", _parse_workers, d.workers),
        upstreams=upstreams,
        cache_size=env.get("GROXPI_CACHE_SIZE", parse_size, d.cache_size),
        cache_dir=Path(cache_dir) if cache_dir else d.cache_dir,
        storage_type=storage_type,
        s3=_s3(env) if storage_type == "s3" else None,
        download_timeout=env.get("GROXPI_DOWNLOAD_TIMEOUT", parse_seconds, d.download_timeout),
        connect_timeout=env.get("GROXPI_CONNECT_TIMEOUT", parse_seconds, d.connect_timeout),
        read_timeout=env.get("GROXPI_READ_TIMEOUT", parse_seconds, d.read_timeout),
        verify_ssl=not env.get(
            "GROXPI_DISABLE_INDEX_SSL_VERIFICATION", parse_bool, not d.verify_ssl
        ),
        logging_level=env.get("GROXPI_LOGGING_LEVEL", _parse_level, d.logging_level),
        log_format=env.get("GROXPI_LOG_FORMAT", parse_log_format, d.log_format),
        access_log=env.get("GROXPI_ACCESS_LOG", parse_bool, d.access_log),
        admin_token=env.secret("GROXPI_ADMIN_TOKEN", "GROXPI_ADMIN_TOKEN_FILE") or d.admin_token,
        auth_file=auth_file,
        auth_metrics=auth_metrics,
        negative_ttl=env.get("GROXPI_NEGATIVE_TTL", parse_seconds, d.negative_ttl),
        shutdown_timeout=env.get("GROXPI_SHUTDOWN_TIMEOUT", parse_seconds, d.shutdown_timeout),
        policies=_policies(env, upstreams),
        offline=env.get("GROXPI_OFFLINE", parse_bool, d.offline),
    )
