"""Client for upstream simple indexes: PEP 691 JSON preferred, PEP 503 HTML fallback."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType

import aiohttp
import msgspec
from yarl import URL

from . import __version__, decode
from .config import Config, without_credentials
from .errors import NotFound, NotModified, UpstreamError
from .instruments import Histograms
from .models import JSON_V1, ProjectList, ProjectPage
from .pagestore import Validator

log = logging.getLogger(__name__)

ACCEPT = f"{JSON_V1}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"
USER_AGENT = f"groxpi/{__version__}"
MAX_PAGE_BYTES = 512 * 1024 * 1024
"""Upper bound on one decoded index page (PyPI's full project list is ~40 MB)."""


def _basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def _read_limited(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The decoded body, refusing to hold more than ``limit`` bytes in memory."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(256 * 1024):
        size += len(chunk)
        if size > limit:
            raise UpstreamError(f"upstream page is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class UpstreamClient:
    """Owns the one ClientSession used for every upstream request.

    Errors come out as :class:`UpstreamError` (with the status to answer) or
    :class:`NotFound`, never as raw aiohttp exceptions.
    """

    def __init__(self, config: Config) -> None:
        self._config = config
        self._session: aiohttp.ClientSession | None = None
        self._files_session: aiohttp.ClientSession | None = None
        self._credentials = {
            (up.url.host, up.url.port): _basic_auth(up.url.user, up.url.password or "")
            for up in reversed(config.upstreams)
            if up.url.user
        }
        # by (kind, upstream): kind is "page" or "file"; upstream the index URL for
        # pages, the files host for files (never with credentials)
        self.requests: Counter[tuple[str, str]] = Counter()
        self.errors: Counter[tuple[str, str]] = Counter()
        self.durations = Histograms()  # pages: until read whole; files: until headers

    async def __aenter__(self) -> UpstreamClient:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        # Pages and files get separate connection pools, so a burst of large
        # downloads never makes a page refresh wait for a free connection.
        self._session = self._new_session(limit=50)
        self._files_session = self._new_session(limit=100)

    def _new_session(self, limit: int) -> aiohttp.ClientSession:
        config = self._config
        return aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(
                total=None,
                connect=(config.connect_timeout * 2) or None,  # pool wait + DNS + connect
                sock_connect=config.connect_timeout or None,
                sock_read=config.read_timeout or None,
            ),
            connector=aiohttp.TCPConnector(
                limit=limit, ssl=bool(config.verify_ssl), ttl_dns_cache=300
            ),
            headers={"User-Agent": USER_AGENT},
        )

    async def close(self) -> None:
        for session in (self._session, self._files_session):
            if session is not None:
                await session.close()
        self._session = self._files_session = None

    @property
    def connect_timeout(self) -> float:
        return self._config.connect_timeout

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("UpstreamClient used before start()")
        return self._session

    @property
    def files_session(self) -> aiohttp.ClientSession:
        if self._files_session is None:
            raise RuntimeError("UpstreamClient used before start()")
        return self._files_session

    def _auth_headers(self, url: URL) -> dict[str, str]:
        """Index credentials for a URL on that index's host.

        Credentials in GROXPI_INDEX_URL must also reach file URLs on the same
        host, which pages list without them.
        """
        credentials = None if url.user else self._credentials.get((url.host, url.port))
        return {"Authorization": credentials} if credentials else {}

    async def project_page(
        self, index: URL, project: str, known: Validator | None = None
    ) -> tuple[ProjectPage, Validator | None]:
        """The project's page from one index, file URLs made absolute, and its validator.

        With ``known`` the request is conditional: a 304 raises NotModified.
        """
        url = index / project / ""
        body, content_type, final_url, validator = await self._get_page(url, known, index)
        try:
            return await decode.project_page(body, content_type, final_url, project), validator
        except (msgspec.DecodeError, ValueError) as exc:
            self.errors["page", str(without_credentials(index))] += 1
            log.warning("upstream %s sent a malformed page: %s", without_credentials(url), exc)
            raise UpstreamError(f"upstream sent a malformed page for {project}") from exc

    async def project_list(
        self, index: URL, known: Validator | None = None
    ) -> tuple[ProjectList, Validator | None]:
        body, content_type, _, validator = await self._get_page(index, known, index)
        try:
            return await decode.project_list(body, content_type), validator
        except (msgspec.DecodeError, ValueError) as exc:
            shown = without_credentials(index)
            self.errors["page", str(shown)] += 1
            log.warning("upstream %s sent a malformed project list: %s", shown, exc)
            raise UpstreamError("upstream sent a malformed project list") from exc

    async def _get_page(
        self, url: URL, known: Validator | None, index: URL
    ) -> tuple[bytes, str, URL, Validator | None]:
        labels = ("page", str(without_credentials(index)))
        self.requests[labels] += 1
        log.info("fetching %s", without_credentials(url))
        headers = {"Accept": ACCEPT, "Accept-Encoding": "gzip", **_conditions(known)}
        started = time.monotonic()
        try:
            async with self.session.get(url, headers=headers) as response:
                if response.status == 404:
                    raise NotFound(str(url))
                if response.status == 304 and known is not None:
                    raise NotModified(str(url))
                if response.status != 200:
                    self.errors[labels] += 1
                    shown = without_credentials(url)
                    log.warning("upstream %s answered %d", shown, response.status)
                    raise UpstreamError(f"upstream answered {response.status} for {url.path}")
                body = await _read_limited(response, MAX_PAGE_BYTES)
                self.durations.observe(labels, time.monotonic() - started)
                # No credentials in the base: links resolved against it must not carry
                # them to clients (they are added per host when fetching files).
                base = without_credentials(response.url)
                return body, response.content_type, base, _validator_of(response)
        except (NotFound, NotModified, UpstreamError):
            raise
        except Exception as exc:
            raise self.failure(labels, url, exc) from exc

    @asynccontextmanager
    async def open_file(self, url: str) -> AsyncIterator[aiohttp.ClientResponse]:
        """GET a distribution file; the body is the exact upstream bytes.

        Transport failures and timeouts, also while the caller reads the body
        inside the context, come out as :class:`UpstreamError`; the caller's own
        errors (a full disk, say) pass through.
        """
        parsed = URL(url)
        labels = ("file", _origin(parsed))
        self.requests[labels] += 1
        log.info("downloading %s", without_credentials(parsed))
        started = time.monotonic()
        try:
            async with self.files_session.get(
                parsed,
                headers={"Accept-Encoding": "identity", **self._auth_headers(parsed)},
                auto_decompress=False,
            ) as response:
                if response.status == 404:
                    raise NotFound(url)
                if response.status != 200:
                    raise UpstreamError(f"upstream answered {response.status} for a file")
                self.durations.observe(labels, time.monotonic() - started)
                yield response
        except (NotFound, UpstreamError):
            self.errors[labels] += 1
            raise
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self.failure(labels, parsed, exc) from exc

    def failure(self, labels: tuple[str, str], url: URL | str, exc: BaseException) -> UpstreamError:
        """Turn a transport exception into an answerable error, counted and logged once."""
        self.errors[labels] += 1
        url = without_credentials(URL(url))
        if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
            log.warning("upstream %s timed out", url)
            return UpstreamError("upstream timed out", status=504)
        if isinstance(exc, aiohttp.ClientConnectorError):
            log.warning("cannot connect to upstream %s: %s", url, exc)
            return UpstreamError("cannot connect to upstream", status=502)
        log.warning("upstream %s failed: %r", url, exc)
        return UpstreamError("upstream connection failed", status=502)


def _origin(url: URL) -> str:
    """scheme://host[:port], the label of a files host (anything else: its scheme)."""
    try:
        return str(url.origin())
    except ValueError:  # no host: never fetched, but still counted
        return f"{url.scheme}:"


def _conditions(known: Validator | None) -> dict[str, str]:
    """Conditional-request headers for a page we hold (RFC 9110)."""
    if known is None:
        return {}
    headers = {}
    if known.etag:
        headers["If-None-Match"] = known.etag
    if known.last_modified:
        headers["If-Modified-Since"] = known.last_modified
    return headers


def _validator_of(response: aiohttp.ClientResponse) -> Validator | None:
    etag = response.headers.get("ETag")
    last_modified = response.headers.get("Last-Modified")
    if not etag and not last_modified:
        return None
    return Validator(etag=etag, last_modified=last_modified)


class Reachability:
    """Remembers for a while whether each upstream answered, so health checks stay cheap."""

    def __init__(self, client: UpstreamClient, max_age: float = 30.0) -> None:
        self._client = client
        self._max_age = max_age
        self._seen: dict[str, tuple[float, bool]] = {}

    async def check(self, url: URL) -> bool:
        now = asyncio.get_running_loop().time()
        seen = self._seen.get(str(url))
        if seen is not None and now - seen[0] < self._max_age:
            return seen[1]
        try:
            async with self._client.session.head(
                url, timeout=aiohttp.ClientTimeout(total=self._client.connect_timeout + 2)
            ) as response:
                ok = response.status < 500
        except Exception:
            ok = False
        self._seen[str(url)] = (now, ok)
        return ok
