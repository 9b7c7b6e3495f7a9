"""HTTP Basic authentication against an htpasswd file (GROXPI_AUTH_FILE).

bcrypt costs 50-250 ms a check, so it runs neither on the event loop nor per
request: a verified Authorization header is remembered by its sha256 until the
file changes, and a request carrying it costs one hash and one dict look-up.
Unknown headers are checked in a small thread pool, one check per header at a
time, and a rejected header is remembered too (the answer cannot change until
the file does). A middleware, added only when auth is configured, so groxpi
without it pays nothing; aiohttp caches the chain per route.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import bcrypt
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from ..htpasswd import HtpasswdError, Users, read_htpasswd

log = logging.getLogger(__name__)

CHECK_EVERY = 2.0
"""Seconds between looks at the file's modification time."""
MAX_REMEMBERED = 1024
"""Headers remembered as accepted, and as rejected, each (the oldest go first)."""
MAX_PENDING = 64
"""bcrypt checks queued at once; past that, new headers get a 503 until they drain."""
MAX_PENDING_PER_CLIENT = 8
"""Of those, what one client address may have queued, so that one sending many bad
headers cannot take them all and lock everyone else's new logins out."""
BCRYPT_MAX_BYTES = 72  # bcrypt reads no further; htpasswd -B cuts there too
REALM = 'Basic realm="groxpi"'

AnyHandler = Callable[..., Awaitable[web.StreamResponse]]
Stamp = tuple[int, int, int]  # mtime_ns, size, inode: a rename over the file changes it too


Checker = Callable[[bytes, bytes], bool]
"""(password, hash) -> whether they match: bcrypt.checkpw, or a recorder in tests."""


@dataclass(frozen=True, slots=True)
class _Loaded:
    """Users of one version of the file, with dummy hashes for the timing defence."""

    users: Users
    dummies: dict[int, bytes]  # cost -> a hash of that cost, for every cost in the file's range
    stamp: Stamp
    names: tuple[bytes, ...]  # sha256 of each user name: compared at one length


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _stamp(path: Path) -> Stamp:
    st = path.stat()
    return st.st_mtime_ns, st.st_size, st.st_ino


def _dummy(cost: int) -> bytes:
    """A bcrypt hash of ``cost`` that no password matches, made without running bcrypt:
    checkpw hashes the password with its salt and cost, then compares all 31 characters."""
    return bcrypt.gensalt(rounds=cost) + b"." * 31


def _load(path: Path) -> _Loaded:
    """Read and parse the file (raises OSError / HtpasswdError), warning of mixed costs."""
    stamp = _stamp(path)
    users = read_htpasswd(path)
    if users.lowest_cost != users.cost:
        log.warning(
            "GROXPI_AUTH_FILE mixes bcrypt costs %d to %d: checks of the cheaper entries are "
            "padded to take as long as one at cost %d, so timing cannot tell users apart; "
            "re-hash every entry at one cost (htpasswd -B -C %d for each user)",
            users.lowest_cost,
            users.cost,
            users.cost,
            users.cost,
        )
    dummies = {cost: _dummy(cost) for cost in range(users.lowest_cost, users.cost + 1)}
    return _Loaded(users, dummies, stamp, tuple(_digest(name) for name, _ in users.entries))


def _as_utf8(raw: bytes) -> bytes:
    """pip sends Latin-1, uv UTF-8: compare as UTF-8 either way."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1").encode("utf-8")
    return raw


def basic_credentials(header: str) -> tuple[bytes, bytes] | None:
    """(user, password) of a ``Basic`` Authorization header, or None."""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(b":")
    if not sep or not user:
        return None
    return _as_utf8(user), _as_utf8(password)


class FailureLog:
    """A warning per rejected attempt, at most ``limit`` per ``window`` seconds; the rest
    are counted and the count logged once, so a password-guessing run cannot flood logs."""

    def __init__(self, clock: Callable[[], float], limit: int = 20, window: float = 60.0) -> None:
        self._clock, self._limit, self._window = clock, limit, window
        self._window_end = -float("inf")
        self._logged = self._suppressed = 0

    def note(self, user: bytes | None, remote: str | None) -> None:
        now = self._clock()
        if now >= self._window_end:
            if self._suppressed:
                log.warning(
                    "%d more rejected credentials in %.0f s were not logged",
                    self._suppressed,
                    self._window,
                )
            self._window_end, self._logged, self._suppressed = now + self._window, 0, 0
        if self._logged >= self._limit:
            self._suppressed += 1
            return
        self._logged += 1
        name = "(no Basic credentials)" if user is None else repr(user.decode(errors="replace"))
        log.warning("rejected credentials for user %s from %s", name[:80], remote or "?")


class BasicAuth:
    """Who may use groxpi: the users of an htpasswd file, reloaded when it changes."""

    def __init__(
        self,
        path: Path,
        clock: Callable[[], float] = time.monotonic,
        check_every: float = CHECK_EVERY,
        threads: int = 2,
        checkpw: Checker = bcrypt.checkpw,
    ) -> None:
        self.path = path
        self._checkpw = checkpw
        self._clock, self._check_every = clock, check_every
        self._state = _load(path)
        self._accepted: dict[bytes, bytes] = {}  # sha256 of the header -> user
        self._rejected: dict[bytes, bytes] = {}  # the same, for headers that prove no one
        self._pending: dict[bytes, asyncio.Future[bytes | None]] = {}
        self._pending_from: dict[str | None, int] = {}  # client address -> checks it queued
        self._next_check = clock() + check_every
        self._reloading: asyncio.Task[bool] | None = None
        self._load_error: str | None = None
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="groxpi-bcrypt")
        self.failures = FailureLog(clock)

    @property
    def users(self) -> Users:
        return self._state.users

    def cached(self, header: str) -> tuple[bytes, bytes | None]:
        """The warm path: (key, user) when this exact header was accepted before, else
        (key, None). Starts a reload in the background when it is time to look."""
        self._reload_if_due()
        key = _digest(header.encode("utf-8", "surrogateescape"))
        return key, self._accepted.get(key)

    async def verify(self, key: bytes, header: str, remote: str | None) -> bytes | None:
        """The user the header proves, checked with bcrypt in a thread; None (and a
        rate-limited warning) when it proves none. Raises :class:`Busy` past MAX_PENDING,
        or past MAX_PENDING_PER_CLIENT for ``remote``."""
        self._reload_if_due()
        if self._reloading is not None:  # so a user just added gets in at once
            await asyncio.shield(self._reloading)
        user = self._accepted.get(key)
        if user is None and key not in self._rejected:
            user = await self._checked(key, header, remote)
        if user is None:
            self.failures.note(basic_user(header), remote)
        return user

    async def _checked(self, key: bytes, header: str, remote: str | None) -> bytes | None:
        """One bcrypt check per header at a time, however many requests carry it; the
        client that asks first holds one of its MAX_PENDING_PER_CLIENT until it is done."""
        pending = self._pending.get(key)
        if pending is None:
            credentials = basic_credentials(header)
            if credentials is None:
                return None
            queued = self._pending_from.get(remote, 0)
            if len(self._pending) >= MAX_PENDING or queued >= MAX_PENDING_PER_CLIENT:
                raise Busy()
            self._pending_from[remote] = queued + 1
            pending = asyncio.ensure_future(self._check(key, remote, *credentials))
            self._pending[key] = pending
        return await asyncio.shield(pending)

    async def _check(
        self, key: bytes, remote: str | None, user: bytes, password: bytes
    ) -> bytes | None:
        state = self._state
        try:
            loop = asyncio.get_running_loop()
            ok = await loop.run_in_executor(
                self._pool, _bcrypt_check, self._checkpw, state, user, password
            )
        finally:
            del self._pending[key]
            left = self._pending_from.pop(remote) - 1
            if left:
                self._pending_from[remote] = left
        if state is self._state:  # else the file changed meanwhile: do not remember
            if ok:
                _remember(self._accepted, key, user)
            else:
                _remember(self._rejected, key, user)
        return user if ok else None

    def _reload_if_due(self) -> None:
        """Start a reload in the background when CHECK_EVERY has passed since the last look."""
        now = self._clock()
        if now < self._next_check:
            return
        self._next_check = now + self._check_every
        if self._reloading is None:
            self._reloading = asyncio.get_running_loop().create_task(self.reload())
            self._reloading.add_done_callback(self._reload_done)

    def _reload_done(self, _task: asyncio.Task[bool]) -> None:
        self._reloading = None

    async def reload(self) -> bool:
        """Load the file again if it changed; True when new users took over. A file that
        cannot be read or parsed keeps the last good users, with one error logged."""
        state = self._state
        try:
            if await asyncio.to_thread(_stamp, self.path) == state.stamp:
                return False
            loaded = await asyncio.to_thread(_load, self.path)
        except (OSError, HtpasswdError) as exc:
            message = (
                f"cannot reload GROXPI_AUTH_FILE, keeping the last {len(state.users)} users: {exc}"
            )
            if message != self._load_error:
                log.error("%s", message)
            self._load_error = message
            return False
        self._load_error = None
        self._state = loaded
        self._accepted.clear()
        self._rejected.clear()
        log.info("reloaded GROXPI_AUTH_FILE: %d users", len(loaded.users))
        return True

    async def close(self, _app: web.Application | None = None) -> None:
        if self._reloading is not None:
            await asyncio.shield(self._reloading)
        self._pool.shutdown(wait=False, cancel_futures=True)


class Busy(Exception):
    """Too many bcrypt checks are queued."""


def basic_user(header: str) -> bytes | None:
    credentials = basic_credentials(header)
    return None if credentials is None else credentials[0]


def _remember(cache: dict[bytes, bytes], key: bytes, user: bytes) -> None:
    if len(cache) >= MAX_REMEMBERED:
        del cache[next(iter(cache))]
    cache[key] = user


def _bcrypt_check(checkpw: Checker, state: _Loaded, user: bytes, password: bytes) -> bool:
    """In a thread. Every check costs what one at the file's highest cost does, so timing
    says nothing of who exists: every name is compared, in constant time; an unknown one
    is checked against a dummy hash of the highest cost; and a user of a lower cost c is
    followed by dummy checks of costs c, c+1, ... up to the highest, less one. bcrypt's
    work doubles with each step of cost, so 2^c + (2^c + ... + 2^(top-1)) = 2^top."""
    top = state.users.cost
    hashed, known, given = state.dummies[top], False, _digest(user)
    for name, (_, entry) in zip(state.names, state.users.entries, strict=True):
        same = hmac.compare_digest(name, given)
        hashed = entry if same else hashed
        known |= same
    password = password[:BCRYPT_MAX_BYTES]
    try:
        ok = checkpw(password, hashed)
        for cost in range(int(hashed[4:6]), top):  # "$2y$05$...": none when cost is top
            checkpw(password, state.dummies[cost])
    except ValueError:  # e.g. a NUL byte in the password
        ok = False
    return ok and known


def unauthorized() -> web.Response:
    return web.Response(
        status=401,
        text="401 Unauthorized: valid credentials are required\n",
        headers={"WWW-Authenticate": REALM},
    )


def middleware(auth: BasicAuth, open_handlers: Collection[AnyHandler]) -> Middleware:
    """Every route needs a user of the file except ``open_handlers`` (/health and friends)."""
    open_set = frozenset(open_handlers)

    @web.middleware
    async def require_user(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.match_info.handler in open_set:
            return await handler(request)
        header = request.headers.get("Authorization")
        if header is None:
            return unauthorized()
        key, user = auth.cached(header)
        if user is None:
            try:
                user = await auth.verify(key, header, request.remote)
            except Busy:
                return web.Response(
                    status=503,
                    text="503 Service Unavailable: too many credential checks at once, retry\n",
                    headers={"Retry-After": "1"},
                )
            if user is None:
                return unauthorized()
        return await handler(request)

    return require_user


AUTH = web.AppKey("basic_auth", BasicAuth)


def setup(
    app: web.Application,
    path: Path,
    open_handlers: Collection[AnyHandler],
) -> BasicAuth:
    """Require Basic credentials of the file at ``path`` on every route but ``open_handlers``."""
    auth = BasicAuth(path)
    app[AUTH] = auth
    app.middlewares.append(middleware(auth, open_handlers))
    app.on_cleanup.append(auth.close)
    return auth
