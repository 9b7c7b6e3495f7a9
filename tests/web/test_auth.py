"""HTTP Basic auth: the verification cache (injected clock) and the guarded routes."""

from __future__ import annotations

import asyncio
import base64
import logging
import shutil
import subprocess
import threading
from pathlib import Path

import bcrypt
import pytest
from aiohttp.test_utils import TestClient

from groxpi.web import auth as auth_module
from groxpi.web.auth import CHECK_EVERY, BasicAuth, Busy, FailureLog, basic_credentials
from tests.support.tools import require
from tests.web.conftest import ClientFactory, wait_idle

WHEEL = "alpha-1.0-py3-none-any.whl"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def basic(user: str, password: str, encoding: str = "utf-8") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode(encoding)).decode()


def write_htpasswd(path: Path, cost: int = 4, **users: str) -> Path:
    """Entries as ``htpasswd -B`` writes them ($2y$), at a low cost to stay fast."""
    lines = []
    for user, password in users.items():
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=cost)).decode()
        lines.append(f"{user}:$2y${hashed[4:]}\n")
    path.write_text("".join(lines))
    return path


def run_htpasswd(path: Path, **users: str) -> Path:
    """The file as Apache's own tool makes it (``htpasswd -B``), cost 4."""
    for n, (user, password) in enumerate(users.items()):
        create = ["-c"] if n == 0 else []
        command = ["htpasswd", "-B", "-C", "4", "-b", *create, str(path), user, password]
        subprocess.run(command, check=True, capture_output=True)
    return path


class Recorder(list[bytes]):
    """A checker for BasicAuth: the hash of every check, in order, each of which must run
    off the event loop; real bcrypt answers unless ``hold`` is set, when each check first
    waits for ``release``."""

    def __init__(self, hold: bool = False) -> None:
        super().__init__()
        self.hold, self.release = hold, threading.Event()

    def __call__(self, password: bytes, hashed: bytes) -> bool:
        assert threading.current_thread().name.startswith("groxpi-bcrypt")
        self.append(hashed)
        if self.hold:
            assert self.release.wait(10)
        return bcrypt.checkpw(password, hashed)

    def costs(self) -> list[int]:
        return [int(hashed[4:6]) for hashed in self]


@pytest.fixture
def checked() -> Recorder:
    return Recorder()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def htpasswd(tmp_path: Path) -> Path:
    return write_htpasswd(tmp_path / "htpasswd", alice="wonder land", bob="builder")


async def verify(auth: BasicAuth, header: str, remote: str = "192.0.2.7") -> bytes | None:
    key, user = auth.cached(header)
    return user if user is not None else await auth.verify(key, header, remote)


async def test_accepted_header_is_checked_once(
    htpasswd: Path, clock: Clock, checked: Recorder
) -> None:
    auth = BasicAuth(htpasswd, clock=clock, checkpw=checked)
    header = basic("alice", "wonder land")
    assert auth.cached(header)[1] is None
    assert await verify(auth, header) == b"alice"
    assert auth.cached(header)[1] == b"alice"  # the warm path: a dict look-up
    many = await asyncio.gather(*(verify(auth, basic("bob", "builder")) for _ in range(20)))
    assert many == [b"bob"] * 20
    assert len(checked) == 2  # one bcrypt run per header, however many ask at once
    await auth.close()


async def test_rejected_header_is_remembered_and_logged_without_password(
    htpasswd: Path, clock: Clock, checked: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    auth = BasicAuth(htpasswd, clock=clock, checkpw=checked)
    for _ in range(3):
        assert await verify(auth, basic("alice", "guess-1234")) is None
    assert len(checked) == 1  # the answer cannot change until the file does
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["rejected credentials for user 'alice' from 192.0.2.7"] * 3
    assert "guess-1234" not in caplog.text
    await auth.close()


async def test_unknown_user_costs_a_check_like_a_known_one(
    tmp_path: Path, clock: Clock, checked: Recorder
) -> None:
    path = write_htpasswd(tmp_path / "a", alice="x")
    path.write_text(path.read_text() + write_htpasswd(tmp_path / "b", 5, bob="y").read_text())
    auth = BasicAuth(path, clock=clock, checkpw=checked)
    assert await verify(auth, basic("mallory", "x")) is None
    assert await verify(auth, basic("mallory", "y")) is None
    assert len(checked) == 2  # bcrypt ran for a name that is not in the file
    assert checked[0] not in {hashed for _, hashed in auth.users.entries}
    assert checked[0].startswith(b"$2b$05$")  # a dummy of the file's highest cost
    await auth.close()


async def test_every_check_costs_the_files_highest_cost(
    tmp_path: Path, clock: Clock, checked: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """bcrypt's work doubles with each step of cost: a user of a lower cost is padded with
    dummy checks, so every answer costs 2^7 whoever is asked about (no timing measured)."""
    path = tmp_path / "htpasswd"
    path.write_text(
        "".join(
            write_htpasswd(tmp_path / user, cost, **{user: "pw"}).read_text()
            for user, cost in (("alice", 4), ("carol", 5), ("bob", 7))
        )
    )
    auth = BasicAuth(path, clock=clock, checkpw=checked)
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "GROXPI_AUTH_FILE mixes bcrypt costs 4 to 7: checks of the cheaper entries are "
        "padded to take as long as one at cost 7, so timing cannot tell users apart; "
        "re-hash every entry at one cost (htpasswd -B -C 7 for each user)"
    ]
    hashes = dict(auth.users.entries)
    for user, password, expected in [
        ("alice", "pw", b"alice"),
        ("carol", "pw", b"carol"),
        ("bob", "pw", b"bob"),
        ("alice", "wrong", None),
        ("carol", "wrong", None),
        ("bob", "wrong", None),
        ("mallory", "pw", None),
    ]:
        checked.clear()
        assert await verify(auth, basic(user, password)) == expected
        assert sum(2**cost for cost in checked.costs()) == 2**7, (user, checked.costs())
        if user != "mallory":
            assert checked[0] == hashes[user.encode()]  # their own hash first
        assert all(hashed not in hashes.values() for hashed in checked[1:])
    assert checked.costs() == [7]  # an unknown name: one dummy of the highest cost
    await auth.close()


async def test_one_cost_in_the_file_means_one_check_and_no_warning(
    htpasswd: Path, clock: Clock, checked: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    auth = BasicAuth(htpasswd, clock=clock, checkpw=checked)
    assert await verify(auth, basic("alice", "wonder land")) == b"alice"
    assert await verify(auth, basic("nobody", "wonder land")) is None
    assert checked.costs() == [4, 4]
    assert not [r for r in caplog.records if "mixes bcrypt costs" in r.getMessage()]
    await auth.close()


async def test_a_file_made_by_htpasswd(tmp_path: Path, clock: Clock) -> None:
    require(shutil.which("htpasswd") is not None, "htpasswd", "apt-get install -y apache2-utils")
    path = run_htpasswd(tmp_path / "htpasswd", alice="wonder land", bob="builder")
    auth = BasicAuth(path, clock=clock)
    assert [name for name, _ in auth.users.entries] == [b"alice", b"bob"]
    assert await verify(auth, basic("alice", "wonder land")) == b"alice"
    assert await verify(auth, basic("bob", "builder")) == b"bob"
    assert await verify(auth, basic("bob", "wonder land")) is None
    await auth.close()


async def test_password_encodings_and_limits(tmp_path: Path, clock: Clock) -> None:
    long = "p" * 72
    path = write_htpasswd(tmp_path / "htpasswd", jörg="pässwort", long=long)
    auth = BasicAuth(path, clock=clock)
    assert await verify(auth, basic("jörg", "pässwort")) == "jörg".encode()  # uv: UTF-8
    assert await verify(auth, basic("jörg", "pässwort", "latin-1")) == "jörg".encode()  # pip
    assert await verify(auth, basic("long", long + "ignored")) == b"long"  # as htpasswd -B cuts
    assert await verify(auth, basic("long", "p\0p")) is None
    await auth.close()


@pytest.mark.parametrize(
    "header",
    [
        "Bearer token",
        "Basic",
        "Basic !!!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b":no-user").decode(),
        "Digest username=alice",
    ],
)
async def test_malformed_headers_run_no_bcrypt(
    htpasswd: Path, clock: Clock, checked: Recorder, header: str
) -> None:
    assert basic_credentials(header) is None
    auth = BasicAuth(htpasswd, clock=clock, checkpw=checked)
    assert await verify(auth, header) is None
    assert checked == []
    await auth.close()


async def test_file_changes_take_effect_after_the_check_interval(
    htpasswd: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    auth = BasicAuth(htpasswd, clock=clock)
    alice, carol = basic("alice", "wonder land"), basic("carol", "new")
    assert await verify(auth, alice) == b"alice"
    write_htpasswd(htpasswd, bob="builder", carol="new")  # alice removed, carol added
    assert await verify(auth, carol) is None  # not looked at again yet
    assert auth.cached(alice)[1] == b"alice"
    clock.now += CHECK_EVERY
    assert await verify(auth, carol) == b"carol"  # reloaded before checking: in at once
    assert auth.cached(alice)[1] is None
    assert await verify(auth, alice) is None
    assert "reloaded GROXPI_AUTH_FILE: 2 users" in caplog.text
    await auth.close()


async def test_warm_path_starts_the_reload_in_the_background(htpasswd: Path, clock: Clock) -> None:
    auth = BasicAuth(htpasswd, clock=clock)
    alice = basic("alice", "wonder land")
    assert await verify(auth, alice) == b"alice"
    write_htpasswd(htpasswd, bob="builder")
    clock.now += CHECK_EVERY
    assert auth.cached(alice)[1] == b"alice"  # answered at once, without awaiting the file
    for _ in range(100):
        await asyncio.sleep(0.01)
        if auth.cached(alice)[1] is None:
            break
    assert auth.cached(alice)[1] is None  # revoked once the background reload landed
    await auth.close()


async def test_broken_file_keeps_the_last_users_with_one_error(
    htpasswd: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    auth = BasicAuth(htpasswd, clock=clock)
    await asyncio.to_thread(htpasswd.write_text, "alice:$apr1$not-bcrypt\n")
    assert not await auth.reload()
    assert not await auth.reload()
    await asyncio.to_thread(htpasswd.unlink)
    assert not await auth.reload()
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2  # one per distinct problem, not one per look
    assert errors[0].startswith("cannot reload GROXPI_AUTH_FILE, keeping the last 2 users:")
    assert "line 1" in errors[0] and "No such file" in errors[1]
    assert await verify(auth, basic("bob", "builder")) == b"bob"
    write_htpasswd(htpasswd, bob="builder")
    assert await auth.reload()
    assert len(auth.users) == 1
    await auth.close()


async def test_remembered_headers_are_bounded(
    htpasswd: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth_module, "MAX_REMEMBERED", 3)
    auth = BasicAuth(htpasswd, clock=clock)
    encoded = basic("alice", "wonder land").removeprefix("Basic ")
    variants = [f"Basic {encoded}", f"basic {encoded}", f"BASIC {encoded}", f" Basic {encoded}"]
    for header in variants:
        assert await verify(auth, header) == b"alice"
    assert [auth.cached(h)[1] for h in variants] == [None, b"alice", b"alice", b"alice"]
    await auth.close()


async def test_too_many_pending_checks_are_refused(
    htpasswd: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth_module, "MAX_PENDING", 1)
    held = Recorder(hold=True)
    auth = BasicAuth(htpasswd, clock=clock, checkpw=held)
    first = asyncio.ensure_future(verify(auth, basic("alice", "wonder land")))
    await asyncio.sleep(0.05)
    with pytest.raises(Busy):
        await verify(auth, basic("bob", "builder"))
    held.release.set()
    assert await first == b"alice"
    await auth.close()


async def test_one_client_cannot_hold_every_pending_check(htpasswd: Path, clock: Clock) -> None:
    """Bad headers kept in flight from one address fill that address's share only."""
    held = Recorder(hold=True)
    auth = BasicAuth(htpasswd, clock=clock, checkpw=held)
    attacker, other = "198.51.100.1", "192.0.2.7"
    guesses = [basic("alice", f"guess-{n}") for n in range(auth_module.MAX_PENDING_PER_CLIENT)]
    queued = [asyncio.ensure_future(verify(auth, guess, attacker)) for guess in guesses]
    await asyncio.sleep(0.05)
    with pytest.raises(Busy):
        await verify(auth, basic("alice", "one-guess-too-many"), attacker)
    again = asyncio.ensure_future(verify(auth, guesses[0], attacker))  # shares a queued check
    alice = asyncio.ensure_future(verify(auth, basic("alice", "wonder land"), other))
    await asyncio.sleep(0.05)
    assert not alice.done()  # queued, not refused: waits for a thread like everyone
    held.release.set()
    assert await alice == b"alice"
    assert await asyncio.gather(*queued, again) == [None] * (len(guesses) + 1)
    assert len(held) == len(guesses) + 1  # the shared header ran one check
    assert await verify(auth, basic("alice", "later"), attacker) is None  # its share is back
    await auth.close()


def test_failure_log_is_rate_limited(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    failures = FailureLog(clock, limit=2, window=60)
    for _ in range(5):
        failures.note(b"eve", "198.51.100.1")
    clock.now += 60
    failures.note(b"eve\nforged log line", None)
    assert [r.getMessage() for r in caplog.records] == [
        "rejected credentials for user 'eve' from 198.51.100.1",
        "rejected credentials for user 'eve' from 198.51.100.1",
        "3 more rejected credentials in 60 s were not logged",
        "rejected credentials for user 'eve\\nforged log line' from ?",
    ]


# -- the routes --------------------------------------------------------------------------


GUARDED = {  # path: status with good credentials
    "/": 200,
    "/simple/": 200,
    "/simple/alpha/": 200,
    "/simple/Alpha/": 301,
    "/simple/alpha": 301,
    "/index/alpha/": 301,
    f"/simple/alpha/{WHEEL}": 200,
    f"/simple/alpha/{WHEEL}.metadata": 200,
    "/no-such-page": 404,
}


async def test_every_route_but_the_probes_needs_credentials(
    make_client: ClientFactory, htpasswd: Path
) -> None:
    client = await make_client(GROXPI_AUTH_FILE=htpasswd)
    good = {"Authorization": basic("alice", "wonder land")}
    wrong = {"Authorization": basic("alice", "wonder")}
    for path, status in GUARDED.items():
        for headers in ({}, wrong, {"Authorization": "Bearer x"}):
            response = await client.get(path, headers=headers, allow_redirects=False)
            assert response.status == 401, (path, headers)
            assert response.headers["WWW-Authenticate"] == 'Basic realm="groxpi"'
            assert (await response.text()).count("\n") == 1
        response = await client.get(path, headers=good, allow_redirects=False)
        assert response.status == status, path
    assert (await client.head("/simple/alpha/", headers=good)).status == 200
    assert (await client.head("/simple/alpha/")).status == 401
    assert (await client.get("/health")).status == 200
    assert (await client.get("/metrics")).status == 200


async def test_auth_metrics_guards_metrics_but_not_health(
    make_client: ClientFactory, htpasswd: Path
) -> None:
    client = await make_client(GROXPI_AUTH_FILE=htpasswd, GROXPI_AUTH_METRICS="true")
    assert (await client.get("/metrics")).status == 401
    good = {"Authorization": basic("bob", "builder")}
    assert (await client.get("/metrics", headers=good)).status == 200
    assert (await client.get("/health")).status == 200


@pytest.mark.parametrize("auth_on", [True, False])
async def test_with_auth_caches_in_front_are_told_to_keep_nothing(
    make_client: ClientFactory, htpasswd: Path, auth_on: bool
) -> None:
    """nginx's proxy_cache keys on the URL, not on the Authorization header: with auth on,
    a page or file it kept would go to clients without credentials. ``private`` forbids."""
    client = await make_client(**({"GROXPI_AUTH_FILE": htpasswd} if auth_on else {}))
    good = {"Authorization": basic("alice", "wonder land")}
    prefix = "private, " if auth_on else ""
    seen: list[tuple[str, int, str]] = []
    for path in ("/simple/alpha/", "/simple/alpha/", "/simple/"):  # cold, warm, the list
        response = await client.get(path, headers=good)
        seen.append((path, response.status, response.headers["Cache-Control"]))
    etag = response.headers["ETag"]
    confirmed = await client.get("/simple/", headers={**good, "If-None-Match": etag})
    seen.append(("304", confirmed.status, confirmed.headers["Cache-Control"]))
    for path in (WHEEL, WHEEL, f"{WHEEL}.metadata"):  # streamed in, then from the cache
        response = await client.get(f"/simple/alpha/{path}", headers=good)
        seen.append((path, response.status, response.headers["Cache-Control"]))
        await wait_idle(client)
    ranged = await client.get(f"/simple/alpha/{WHEEL}", headers={**good, "Range": "bytes=0-9"})
    seen.append(("range", ranged.status, ranged.headers["Cache-Control"]))
    assert [status for _, status, _ in seen] == [200, 200, 200, 304, 200, 200, 200, 206]
    for what, _, cache_control in seen[:4]:
        assert cache_control.startswith(f"{prefix}max-age="), what
        assert int(cache_control.removeprefix(f"{prefix}max-age=")) > 0, what
    for what, _, cache_control in seen[4:]:
        assert cache_control == f"{prefix}max-age=31536000, immutable", what


async def test_no_auth_file_means_no_credentials_asked(client: TestClient) -> None:
    assert not client.server.app.middlewares
    assert (await client.get("/simple/alpha/")).status == 200
