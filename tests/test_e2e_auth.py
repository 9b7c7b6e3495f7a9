"""End to end: HTTP Basic auth (GROXPI_AUTH_FILE) with real pip and uv, and cache control
from anywhere with the admin token."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import bcrypt
import pytest

from tests.conftest import GroxpiFactory
from tests.support.fake_index import FakeIndex, Release
from tests.support.installers import UV, installed_version, make_venv, pip_install, uv_install
from tests.support.server import REPO_ROOT, GroxpiProcess
from tests.support.tools import require

PASSWORD = "s3cret pass@word"  # a space and an @: percent-encoded in the URL
WRONG = "not-the-password-42"
WHEEL = "alpha-1.0-py3-none-any.whl"


def write_htpasswd(path: Path, **users: str) -> Path:
    """As ``htpasswd -B`` writes it ($2y$), at bcrypt's lowest cost to stay fast."""
    lines = []
    for user, password in users.items():
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
        lines.append(f"{user}:$2y${hashed[4:]}\n")
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(lines))
    tmp.replace(path)  # as editors and htpasswd do: never a half-written file
    return path


def index_url(server: GroxpiProcess, user: str | None = None, password: str = "") -> str:
    if user is None:
        return f"{server.url}/simple/"
    return (
        f"http://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{server.port}/simple/"
    )


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def pip_run(python: Path, index: str, *packages: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "pip", "install", "--isolated", "--no-cache-dir", "--no-input",
         "--disable-pip-version-check", "--index-url", index, *packages],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def uv_run(python: Path, index: str, *packages: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [UV, "pip", "install", "--no-cache", "--python", str(python), "--index-url", index,
         *packages],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture
def htpasswd(tmp_path: Path) -> Path:
    return write_htpasswd(tmp_path / "htpasswd", alice=PASSWORD)


def file_gets(server: GroxpiProcess) -> list[str]:
    """Access-log lines of requests for distribution files and metadata."""
    return [
        line for line in server.log_text().splitlines() if "GET /simple/" in line and ".whl" in line
    ]


@pytest.mark.slow
def test_pip_and_uv_install_with_credentials_in_the_index_url(
    groxpi_server: GroxpiFactory, fake_index: FakeIndex, htpasswd: Path, tmp_path: Path
) -> None:
    server = groxpi_server(GROXPI_AUTH_FILE=htpasswd, GROXPI_ACCESS_LOG="true")
    index = index_url(server, "alice", PASSWORD)
    pip_venv = make_venv(tmp_path / "pip", with_pip=True)
    pip_install(pip_venv, index, "alpha")
    assert installed_version(pip_venv, "beta") == "1.0"  # the dependency, through metadata
    uv_venv = make_venv(tmp_path / "uv", with_pip=False)
    uv_install(uv_venv, index, "alpha", "delta")
    assert installed_version(uv_venv, "delta") == "1.0"
    # Both sent the URL's credentials for the file URLs on the same host too: every
    # wheel and its metadata came from groxpi with 200, none was refused first.
    gets = file_gets(server)
    assert any(f"GET /simple/alpha/{WHEEL} " in line for line in gets)
    assert any("GET /simple/delta/" in line for line in gets)
    assert gets and all('" 200 ' in line for line in gets), gets
    assert PASSWORD not in server.log_text()


@pytest.mark.slow
def test_installs_without_or_with_wrong_credentials_fail(
    groxpi_server: GroxpiFactory, htpasswd: Path, tmp_path: Path
) -> None:
    server = groxpi_server(GROXPI_AUTH_FILE=htpasswd, GROXPI_ACCESS_LOG="true")
    pip_venv = make_venv(tmp_path / "pip", with_pip=True)
    uv_venv = make_venv(tmp_path / "uv", with_pip=False)
    for index in (index_url(server), index_url(server, "alice", WRONG)):
        pip = pip_run(pip_venv, index, "alpha")
        assert pip.returncode != 0, pip.stdout + pip.stderr
        uv = uv_run(uv_venv, index, "alpha")
        assert uv.returncode != 0 and "401 Unauthorized" in uv.stderr, uv.stderr
    refused = [line for line in server.log_text().splitlines() if '/alpha/ HTTP/1.1" 401 ' in line]
    for agent in ('"pip/', '"uv/'):  # both asked for the page, both were refused
        assert any(agent in line for line in refused), agent
    assert not any(
        '" 200 ' in line for line in server.log_text().splitlines() if "/simple/" in line
    )
    log = server.log_text()
    assert "rejected credentials for user 'alice' from 127.0.0.1" in log
    assert WRONG not in log and PASSWORD not in log


def test_every_url_but_health_is_guarded(groxpi_server: GroxpiFactory, htpasswd: Path) -> None:
    server = groxpi_server(GROXPI_AUTH_FILE=htpasswd)
    good, wrong = basic("alice", PASSWORD), basic("alice", WRONG)
    assert get(f"{server.url}/simple/alpha/", good)[0] == 200  # the page lists the file
    for path in ("/", "/simple/", "/simple/alpha/", f"/simple/alpha/{WHEEL}",
                 f"/simple/alpha/{WHEEL}.metadata"):  # fmt: skip
        for headers in (None, wrong):
            status, body, response_headers = get(server.url + path, headers)
            assert status == 401, path
            assert response_headers["WWW-Authenticate"] == 'Basic realm="groxpi"'
            assert body.decode().count("\n") == 1 and body.startswith(b"401 Unauthorized")
        assert get(server.url + path, good)[0] == 200, path
    assert get(f"{server.url}/health")[0] == 200
    status, body, _ = get(f"{server.url}/metrics")
    assert status == 200 and b"groxpi_http_requests_total" in body
    assert "401" in body.decode()  # refusals are counted like any other answer


def test_auth_metrics_guards_metrics_and_never_health(
    groxpi_server: GroxpiFactory, htpasswd: Path
) -> None:
    server = groxpi_server(GROXPI_AUTH_FILE=htpasswd, GROXPI_AUTH_METRICS="true")
    assert get(f"{server.url}/metrics")[0] == 401
    assert get(f"{server.url}/metrics", basic("alice", PASSWORD))[0] == 200
    assert get(f"{server.url}/health")[0] == 200


@pytest.mark.slow
def test_users_added_and_removed_while_running(
    groxpi_server: GroxpiFactory, htpasswd: Path, tmp_path: Path
) -> None:
    server = groxpi_server(GROXPI_AUTH_FILE=htpasswd)
    page = f"{server.url}/simple/alpha/"
    carol = basic("carol", "new-user-pw")
    assert get(page, basic("alice", PASSWORD))[0] == 200
    assert get(page, carol)[0] == 401
    write_htpasswd(htpasswd, carol="new-user-pw")  # carol in, alice out
    deadline = time.monotonic() + 10
    while get(page, carol)[0] != 200:
        assert time.monotonic() < deadline, "the new user was not let in within 10 s"
        time.sleep(0.2)
    assert get(page, basic("alice", PASSWORD))[0] == 401
    venv = make_venv(tmp_path / "venv", with_pip=False)
    uv_install(venv, index_url(server, "carol", "new-user-pw"), "alpha")
    assert "reloaded GROXPI_AUTH_FILE: 1 users" in server.log_text()
    assert server.stop() == 0


def _private_network_available() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--net", "ip", "link", "set", "lo", "up"], capture_output=True
    )
    return probe.returncode == 0


def test_cache_control_from_a_non_loopback_address(tmp_path: Path) -> None:
    """In a network namespace of its own, groxpi on 0.0.0.0 is reached from 198.51.100.7."""
    require(
        _private_network_available(), "unshare --net", "run as root, with util-linux and iproute2"
    )
    result = subprocess.run(
        ["unshare", "--net", sys.executable, "-m", "tests.support.private_network", str(tmp_path)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    statuses = json.loads(result.stdout.strip().splitlines()[-1])
    ok, refused, forbidden = 200, 401, 403
    assert statuses["token"] == {
        "remote": refused, "remote+token": ok, "remote+user": refused,
        "local": refused, "local+user": refused,
    }  # fmt: skip
    assert statuses["token+auth"] == statuses["token"]  # a Basic user is no admin
    assert statuses["no-token"] == {
        "remote": forbidden, "remote+token": forbidden, "remote+user": forbidden,
        "local": ok, "local+user": ok,
    }  # fmt: skip
    assert statuses["no-token+auth"] == {
        "remote": refused, "remote+token": refused, "remote+user": forbidden,
        "local": refused, "local+user": ok,
    }  # fmt: skip


def test_home_page_buttons_invalidate_with_the_typed_token(
    groxpi_server: GroxpiFactory, fake_index: FakeIndex, htpasswd: Path, tmp_path: Path
) -> None:
    require(shutil.which("node") is not None, "node", "apt-get install -y nodejs")
    """The home page's own script, run by node as a browser would, against groxpi."""
    fake_index.add_project("list", [Release("1.0")])  # a real name: not the project list
    server = groxpi_server(GROXPI_AUTH_FILE=htpasswd, GROXPI_ADMIN_TOKEN="typed-token")
    user = basic("alice", PASSWORD)
    pages = ("/simple/", "/simple/alpha/", "/simple/beta/", "/simple/list/")
    for path in pages:
        assert get(server.url + path, user)[0] == 200
    status, html, _ = get(f"{server.url}/", user)
    assert status == 200
    script = tmp_path / "home.js"
    script.write_text(re.search(r"<script>(.*?)</script>", html.decode(), re.S).group(1))
    assert 'id="invalidateList"' in html.decode()
    projects = re.findall(r'data-project="([^"]+)"', html.decode())
    assert sorted(projects) == ["alpha", "beta", "list"]
    harness = Path(__file__).parent / "support" / "home_page_script.js"
    result = subprocess.run(
        ["node", str(harness), str(script), f"{server.url}/", "typed-token", *projects],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    steps = {step["name"]: step for step in json.loads(result.stdout)}
    assert steps["no token"] == {
        "name": "no token", "message": "Enter the admin token first.", "requests": []
    }  # fmt: skip
    assert steps["wrong token"]["message"] == (
        "Could not invalidate project alpha: "
        "401 Unauthorized: a valid admin bearer token is required"
    )
    assert steps["list"]["message"] == "Invalidated the project list."
    assert steps["list"]["requests"] == [
        {"url": "cache/list", "method": "DELETE", "authorization": "Bearer typed-token"}
    ]
    assert steps["alpha"]["message"] == "Invalidated project alpha."
    assert steps["alpha"]["requests"][0]["url"] == "cache/project/alpha"
    for name in ("project named list", "list by name"):
        assert steps[name]["message"] == "Invalidated project list."
        assert [r["url"] for r in steps[name]["requests"]] == ["cache/project/list"]
    assert steps["by name"]["message"] == "Invalidated project Beta."
    assert steps["by name"]["requests"][0]["url"] == "cache/project/Beta"
    before = fake_index.index_requests()
    for path in pages:  # all four were dropped
        assert get(server.url + path, user)[0] == 200
    assert fake_index.index_requests() == before + 4
