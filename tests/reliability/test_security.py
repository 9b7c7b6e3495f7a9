"""Path traversal, SSRF, name validation, admin auth, size limits and HTML escaping.

Requests go out byte for byte over a raw socket, so no client-side URL
clean-up hides what the server does with them. tests/web/test_files.py and
test_simple.py cover a first set of invalid names with no upstream request, and
tests/web/test_admin.py the basic token and loopback rules; this extends both.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from aiohttp.test_utils import make_mocked_request
from yarl import URL

from groxpi.web.admin import home
from tests.reliability.conftest import SECRET, RawResponse, Stack, raw_get, raw_request
from tests.reliability.scripted import ScriptedUpstream
from tests.support.server import REPO_ROOT
from tests.web.conftest import ClientFactory

WHEEL = "alpha-1.0-py3-none-any.whl"
XSS = "<script>alert(1)</script>"
HOME_TEMPLATE = (REPO_ROOT / "groxpi" / "web" / "templates" / "home.html").read_text()

TRAVERSALS = [
    "/simple/alpha/../../secret.txt",
    "/simple/alpha/..%2f..%2f..%2fsecret.txt",
    "/simple/alpha/..%2F..%2F..%2Fsecret.txt",
    "/simple/alpha/%2e%2e/%2e%2e/%2e%2e/secret.txt",
    "/simple/alpha/%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.txt",
    "/simple/alpha/..%5c..%5c..%5csecret.txt",
    "/simple/alpha/..\\..\\..\\secret.txt",
    "/simple/alpha/....//....//secret.txt",
    "/simple/alpha/%252e%252e%252fsecret.txt",
    "/simple/alpha/secret.txt%00.whl",
    "/simple/alpha/%00",
    "/simple/alpha/%2fetc%2fpasswd",
    "/simple/alpha//etc/passwd",
    "/simple//etc/passwd/",
    "/simple/%2fetc%2fpasswd/",
    "/simple/..%2f..%2f/secret.txt",
    "/simple/..%2f..%2f..%2fsecret.txt/",
    "/simple/%2e%2e/secret.txt",
    "/simple/%2e%2e/%2e%2e/secret.txt",
    "/simple/.%2e/.%2e/secret.txt",
    "/simple/alpha/.secret",
    "/simple/alpha/%c0%ae%c0%ae%c0%afsecret.txt",  # overlong UTF-8 "../"
    "/simple/alpha/%ef%bc%8e%ef%bc%8e%ef%bc%8fsecret.txt",  # fullwidth "../"
    "/simple/alpha/%e2%80%a5%2fsecret.txt",  # two-dot leader
    "/simple/%ef%bd%81lpha/",  # fullwidth "a"
    "/simple/alpha/" + "A" * 4000 + ".whl",
    "/simple/" + "a" * 4000 + "/",
    "/simple/alpha/" + "../" * 200 + "secret.txt",
    "/files/secret",
    "/cache/secret.txt",
    "/../secret.txt",
    "/%2e%2e/secret.txt",
    "/simple/alpha/" + "%2e%2e%2f" * 30 + "etc%2fpasswd",
]

INVALID_NAMES = [
    "-bad-",
    "bad-",
    "a..",
    "a%20b",
    "a%0a",
    "alpha%0A",  # a trailing newline must not pass a "$" anchor
    "alpha%0D%0A",
    "%C5%BF",  # LATIN SMALL LETTER LONG S: case-folds to "s"
    "%E2%84%AA",  # KELVIN SIGN: case-folds to "k"
    "%C4%B0",  # LATIN CAPITAL LETTER I WITH DOT ABOVE
    "al%C5%BFpha",
    "%00alpha",
    "alpha%00",
    "a" * 250,
    "%2e",
    "%2e%2e",
    "_",
    "~alpha",
    "alpha!",
    "alpha;x",
]


def _no_secret(response: RawResponse) -> None:
    assert SECRET not in response.body
    assert b"root:x:0:0" not in response.body


@pytest.fixture
def warm(stack: Stack) -> Stack:
    """Project alpha's page is cached, then the upstream counters start from zero."""
    assert raw_get(stack.server.port, "/simple/alpha/").status == 200
    stack.index.reset_counts()
    return stack


@pytest.mark.parametrize("target", TRAVERSALS)
def test_path_traversal_is_400_or_404_and_reads_nothing_outside_the_cache(
    warm: Stack, target: str
) -> None:
    response = raw_get(warm.server.port, target)
    assert response.status in (400, 404, 405, 414, 431), (target, response.status, response.body)
    _no_secret(response)
    assert warm.index.file_requests() == 0 and warm.index.index_requests() == 0


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_invalid_project_names_never_reach_upstream(warm: Stack, name: str) -> None:
    for target in (f"/simple/{name}/", f"/simple/{name}", f"/simple/{name}/{WHEEL}"):
        response = raw_get(warm.server.port, target)
        assert response.status in (400, 404), (target, response.status, response.body)
    assert warm.index.index_requests() == 0 and warm.index.file_requests() == 0


def test_only_listed_urls_are_fetched(warm: Stack) -> None:
    """No request form makes groxpi fetch a URL the index did not list for that project."""
    index = warm.index
    port = warm.server.port
    wheel_url = index.file_url(WHEEL)
    quoted = wheel_url.replace(":", "%3A").replace("/", "%2F")
    for target in (
        f"/simple/alpha/{quoted}",
        f"/simple/alpha/{wheel_url}",
        "/simple/alpha/beta-1.0-py3-none-any.whl",  # listed, but for another project
        f"/simple/alpha/{WHEEL}.metadata.metadata",
        f"/simple/alpha/{WHEEL}%3Fx=1",
        f"/simple/alpha/{WHEEL}%23sha256=0",
    ):
        assert raw_get(port, target).status == 404, target
    assert index.file_requests() == 0 and index.index_requests() == 0

    # Proxy-style requests naming another host are answered by path, never forwarded.
    with ScriptedUpstream() as canary:
        elsewhere = f"127.0.0.1:{canary.port}"
        for target in (
            f"http://{elsewhere}/simple/alpha/",
            f"http://{elsewhere}/files/alpha/{WHEEL}",
            f"http://{elsewhere}/simple/alpha/{WHEEL}",
            wheel_url,
        ):
            response = raw_get(port, target, {"Host": elsewhere})
            assert response.status in (200, 400, 404), target
        connect = raw_request(
            port, f"CONNECT {elsewhere} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        )
        assert 400 <= connect.status < 500
        for header in ("Host", "X-Forwarded-Host", "Forwarded"):
            raw_get(port, f"/simple/alpha/{WHEEL}", {header: elsewhere})
        assert sum(canary.counts.values()) == 0
    assert index.file_requests(WHEEL) <= 1  # only the listed URL, from the index's own page


@pytest.mark.parametrize(
    "target",
    [
        "/index/%0d%0aX-Injected:%20yes",
        "/index/alpha/?x=%0d%0aX-Injected:%20yes",
        "/simple/Alpha/?x=%0d%0aX-Injected:%20yes",
        "/simple/Alpha/?x=%0aX-Injected:%20yes",
        "/index//evil.example/",
        "/index/%2f%2fevil.example/",
        "/index/%5c%5cevil.example/",
    ],
)
def test_redirects_neither_inject_headers_nor_leave_the_server(stack: Stack, target: str) -> None:
    response = raw_get(stack.server.port, target)
    assert response.status in (301, 400, 404), (response.status, response.body)
    assert "x-injected" not in response.headers
    if response.status == 301:
        location = response.headers["location"]
        assert "\r" not in location and "\n" not in location
        resolved = URL(f"http://127.0.0.1:{stack.server.port}{target}").join(URL(location))
        assert resolved.host == "127.0.0.1" and resolved.path.startswith("/simple/")


def _assert_no_reflection(response: RawResponse) -> None:
    content_type = response.headers.get("content-type", "")
    if "html" in content_type:
        assert XSS.encode() not in response.body
        # The one script groxpi writes is the home page's, which has no variable in it:
        # any other, or any other text in one, was injected.
        scripts = re.findall(rb"(?is)<script\b.*?</script>", response.body)
        assert response.body.lower().count(b"<script") == len(scripts)
        assert all(script.decode() in HOME_TEMPLATE for script in scripts)
    if response.status >= 400:  # error answers are never HTML a browser would render
        assert "html" not in content_type, (response.status, content_type)
    assert response.status < 500 or response.status in (502, 503, 504)


def test_no_user_input_is_reflected_unescaped(stack: Stack) -> None:
    port = stack.server.port
    quoted = "%3Cscript%3Ealert(1)%3C%2Fscript%3E"
    responses = [
        raw_get(port, "/", {"Host": XSS}),
        raw_get(port, "/", {"Host": f"x{quoted}"}),
        raw_get(port, f"/?q={quoted}"),
        raw_get(port, f"/{quoted}"),
        raw_get(port, f"/simple/{quoted}/"),
        raw_get(port, f"/simple/alpha/{quoted}"),
        raw_get(port, f"/simple/alpha/?format={quoted}"),
        raw_get(port, "/simple/alpha/", {"Accept": XSS}),
        raw_get(port, "/simple/alpha/", {"If-None-Match": XSS, "Accept-Encoding": XSS}),
        raw_get(port, f"/simple/alpha/{WHEEL}", {"Range": XSS}),
        raw_get(port, f"/health?{quoted}"),
        raw_get(port, f"/metrics?{quoted}"),
        raw_get(port, f"/simple/?format={quoted}"),
    ]
    for response in responses:
        _assert_no_reflection(response)
    home = raw_get(port, "/", {"Host": XSS})
    assert home.status in (200, 400)
    if home.status == 200:
        assert b"&lt;script&gt;" in home.body  # escaped, not dropped silently


def test_huge_headers_and_request_lines_are_refused(stack: Stack) -> None:
    port = stack.server.port
    assert raw_get(port, "/simple/alpha/", {"X-Big": "a" * 100_000}).status in (400, 431)
    many = {f"X-H{i}": "v" * 100 for i in range(1000)}
    assert raw_get(port, "/simple/alpha/", many).status in (400, 431)
    assert raw_get(port, "/simple/" + "a" * 100_000 + "/").status in (400, 414)
    assert raw_get(port, "/health").status == 200


def _delete_with_body(port: int, body: bytes) -> int:
    head = (
        f"DELETE /cache/list HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return raw_request(port, head + body).status


def test_huge_delete_body_is_413(stack: Stack) -> None:
    port = stack.server.port
    assert _delete_with_body(port, b"x" * 1000) == 200
    assert _delete_with_body(port, b"x" * (64 * 1024 + 1)) == 413
    chunked = b"".join(b"%x\r\n%s\r\n" % (65536, b"y" * 65536) for _ in range(32)) + b"0\r\n\r\n"
    head = (
        b"DELETE /cache/alpha HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    assert raw_request(port, head + chunked).status == 413
    assert raw_get(port, "/health").status == 200


async def test_admin_token_variants(make_client: ClientFactory) -> None:
    client = await make_client(GROXPI_ADMIN_TOKEN="s3cret-token")
    refused = [
        {},
        {"Authorization": ""},
        {"Authorization": "s3cret-token"},
        {"Authorization": "Basic s3cret-token"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer s3cret"},
        {"Authorization": "Bearer s3cret-token-and-more"},
        {"Authorization": "Bearer  s3cret-token"},
        {"Authorization": "Bearer S3CRET-TOKEN"},
        {"Authorization": "Bearer s3cret-tokén"},
        {"Authorization": "Token s3cret-token"},
        {"X-Admin-Token": "s3cret-token"},
        {"Cookie": "token=s3cret-token"},
    ]
    for path in ("/cache/list", "/cache/alpha"):
        for headers in refused:
            response = await client.delete(path, headers=headers)
            assert response.status == 401, (path, headers)
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert "s3cret" not in await response.text()
        for scheme in ("Bearer", "bearer", "BEARER"):
            ok = await client.delete(path, headers={"Authorization": f"{scheme} s3cret-token"})
            assert ok.status == 200
    assert (await client.get("/cache/list")).status == 405
    assert (await client.post("/cache/list")).status == 405


async def test_delete_without_token_from_loopback_only(make_client: ClientFactory) -> None:
    """The peer address decides; forwarded headers cannot turn a remote client local."""
    client = await make_client()
    spoofed = {
        "X-Forwarded-For": "203.0.113.9",
        "X-Real-IP": "203.0.113.9",
        "Forwarded": "for=203.0.113.9",
    }
    assert (await client.delete("/cache/list", headers=spoofed)).status == 200
    results = await asyncio.gather(*(client.delete(f"/cache/p{i}") for i in range(20)))
    assert {r.status for r in results} == {200}


async def test_home_page_escapes_a_host_header_that_got_past_the_parser(
    make_client: ClientFactory,
) -> None:
    """aiohttp already refuses such Host values (see above); the template escapes anyway."""
    client = await make_client()
    request = make_mocked_request("GET", "/", headers={"Host": XSS}, app=client.server.app)
    response = await home(request)
    assert response.text is not None
    assert XSS not in response.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
