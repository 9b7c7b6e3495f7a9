"""Property-based fuzzing: random requests at a running groxpi, random upstream documents.

Properties: no 500 (our own code never fails), the process survives, no byte of
a file outside the cache is ever served, no upstream request for an invalid
name or an unlisted file, and no upstream content turns into markup or into a
link that leaves the proxy.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
import string
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from groxpi.htmlparse import parse_project_list, parse_project_page
from groxpi.models import JSON_V1, project_list_decoder, project_page_decoder
from groxpi.names import valid_filename
from groxpi.render import render_project, render_project_list
from tests.reliability.conftest import SECRET, Stack, raw_get, raw_request
from tests.reliability.scripted import ScriptedUpstream
from tests.support.encodes import encoded, every_variant
from tests.support.server import GroxpiProcess


def fuzz(examples: int) -> settings:
    """Modest, database-free settings so the suite stays fast and leaves no files behind."""
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


ALLOWED_TAGS = {"html", "head", "meta", "title", "body", "h1", "a", "br"}
PROXY = URL("http://proxy.invalid/simple/")

# -- request strategies --------------------------------------------------------

TOKENS = [
    "..",
    ".",
    "/",
    "%2e",
    "%2E",
    "%2f",
    "%2F",
    "%5c",
    "\\",
    "%00",
    "%0a",
    "%0d",
    "%20",
    "%c0%ae",
    "%ef%bc%8f",
    "%25",
    "%",
    "?",
    "#",
    ";",
    "~",
    "alpha",
    "Alpha",
    "ALPHA",
    "beta",
    "gamma",
    "zeta_pkg",
    "Zeta.Pkg",
    "alpha-1.0-py3-none-any.whl",
    ".metadata",
    "gamma-0.1.tar.gz",
    "secret.txt",
    "etc",
    "passwd",
    "simple",
    "index",
    "cache",
    "files",
    "spool",
    "..%2f",
    "%2e%2e%2f",
    "\u00e9",
    "\u017f",
    "\u212a",
    "\u202e",
    "\ufeff",
    "a" * 300,
]
segment = st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=6)), max_size=6).map("".join)


def encode_target(text: str) -> bytes:
    """Percent-encode only what cannot go on a request line; keep every trick intact."""
    out = bytearray()
    for char in text:
        if char in string.ascii_letters + string.digits + "-._~/%?=&;:@!$'()*+,[]\\":
            out += char.encode()
        else:
            out += "".join(f"%{b:02X}" for b in char.encode("utf-8", "surrogatepass")).encode()
    return bytes(out)


paths = st.one_of(
    st.builds(lambda p: f"/simple/{p}/", segment),
    st.builds(lambda p, f: f"/simple/{p}/{f}", segment, segment),
    st.builds(lambda f: f"/simple/alpha/{f}", segment),
    st.builds(lambda p: f"/index/{p}", segment),
    st.builds(lambda p: f"/{p}", segment),
    st.sampled_from(["/", "/simple/", "/health", "/metrics", "/simple/alpha/", "/simple"]),
).map(encode_target)

header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
media = st.sampled_from(
    [
        "application/vnd.pypi.simple.v1+json",
        "application/vnd.pypi.simple.v1+html",
        "application/vnd.pypi.simple.latest+json",
        "text/html",
        "text/*",
        "*/*",
        "application/json",
        "",
        ";",
        "q=",
    ]
)
accept = st.one_of(
    header_text,
    st.lists(
        st.builds(
            lambda m, q: f"{m};q={q}" if q is not None else m,
            media,
            st.one_of(st.none(), st.sampled_from(["0", "1", "0.5", "2", "-1", "x", "nan", ""])),
        ),
        max_size=4,
    ).map(", ".join),
)
accept_encoding = st.one_of(
    header_text,
    st.lists(st.sampled_from(["gzip", "deflate", "br", "identity", "*", "gzip;q=0", "*;q=0"])).map(
        ", ".join
    ),
)
byte_range = st.one_of(
    header_text,
    st.sampled_from(
        [
            "bytes=0-9",
            "bytes=-5",
            "bytes=5-",
            "bytes=9-0",
            "bytes=0-0,5-6",
            "bytes=-0",
            "bytes=99999999999999999999-",
            "bytes=abc",
            "items=0-1",
            "bytes=",
            "bytes=--1",
        ]
    ),
    st.builds(lambda a, b: f"bytes={a}-{b}", st.integers(-5, 10**6), st.integers(-5, 10**6)),
)
etag = st.one_of(header_text, st.sampled_from(["*", '""', 'W/"x"', '"a", "b"', ",,,"]))
headers = st.fixed_dictionaries(
    {},
    optional={
        "Accept": accept,
        "Accept-Encoding": accept_encoding,
        "Range": byte_range,
        "If-None-Match": etag,
    },
)


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.hrefs += [v or "" for k, v in attrs if k == "href"]


def check_html(body: bytes, base: URL) -> None:
    """Only the tags we generate, and every link stays on the proxy under /simple/."""
    collector = TagCollector()
    collector.feed(body.decode())
    collector.close()
    assert collector.tags <= ALLOWED_TAGS, collector.tags
    for href in collector.hrefs:
        target = base.join(URL(href))
        assert (target.scheme, target.host) == (base.scheme, base.host), href
        assert target.path.startswith("/simple/"), href


def test_fuzz_requests(stack: Stack) -> None:
    port = stack.server.port

    @fuzz(250)
    @given(target=paths, hdrs=headers, method=st.sampled_from(["GET", "GET", "HEAD"]))
    def one(target: bytes, hdrs: dict[str, str], method: str) -> None:
        lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1"]
        lines += [f"{k}: {v}".encode() for k, v in hdrs.items()]
        lines.append(b"Connection: close")
        response = raw_request(port, b"\r\n".join(lines) + b"\r\n\r\n")
        assert response.status != 0, target
        assert response.status < 500, (target, hdrs, response.status, response.body[:200])
        assert SECRET not in response.body
        if response.status == 200 and "html" in response.headers.get("content-type", ""):
            plain = response.headers.get("content-encoding") is None and method == "GET"
            if plain and target.startswith(b"/simple/"):
                check_html(response.body, URL(f"http://proxy.invalid{target.decode()}"))

    one()
    assert stack.server.running()
    assert raw_get(port, "/health").status == 200
    log = stack.server.log_text()
    assert "Traceback" not in log and "unexpected error" not in log
    with stack.index._lock:  # every upstream request: a valid normalized name, a listed file
        requested = list(stack.index._counts)
    projects = ("alpha", "beta", "gamma", "delta", "zeta-pkg")
    listed = {f.path for p in projects for f in stack.index.files(p)}
    for server, path in requested:
        if server == "index":
            assert re.fullmatch(r"/simple/([a-z0-9]+(-[a-z0-9]+)*/)?", path), path
        else:
            assert path.removesuffix(".metadata") in listed, path


# -- upstream document strategies ------------------------------------------------

junk = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
nasty_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        [
            "<script>alert(1)</script>",
            '"><img src=x onerror=alert(1)>',
            "&amp;&lt;",
            "'",
            '"',
            "../../secret.txt",
            "/etc/passwd",
            "//evil.example/x.whl",
            "http://evil.example/x.whl",
            "javascript:alert(1)",
            "x.whl#sha256=00",
            "x.whl?y=1",
            "..",
            ".",
            "",
            "a/b.whl",
            "\u202ex.whl",
            "alpha-1.0-py3-none-any.whl",
            "%2e%2e%2fx",
            "\\\\evil\\x.whl",
        ]
    ),
)
urls = st.one_of(
    nasty_text,
    st.sampled_from(
        [
            "http://127.0.0.1:9/x.whl",
            "//127.0.0.1:9/x.whl",
            "file:///etc/passwd",
            "file://SECRETPATH",
            "ftp://127.0.0.1:9/x",
            "data:,hello",
            "http://[::1",
            "http://a b/",
            "http://127.0.0.1:99999/",
        ]
    ),
)
maybe = lambda strategy: st.one_of(strategy, junk)  # noqa: E731
file_entry = st.fixed_dictionaries(
    {
        "filename": maybe(nasty_text),
        "url": maybe(urls),
        "hashes": maybe(st.dictionaries(nasty_text, nasty_text, max_size=2)),
    },
    optional={
        "requires-python": maybe(st.one_of(st.none(), nasty_text)),
        "yanked": maybe(st.one_of(st.booleans(), nasty_text)),
        "size": maybe(st.integers(-(2**70), 2**70)),
        "upload-time": maybe(st.one_of(st.none(), nasty_text)),
        "core-metadata": maybe(
            st.one_of(st.booleans(), st.dictionaries(nasty_text, nasty_text, max_size=2))
        ),
        "dist-info-metadata": maybe(st.booleans()),
        "data-dist-info-metadata": maybe(st.booleans()),
        "gpg-sig": maybe(st.booleans()),
        "provenance": maybe(st.one_of(st.none(), nasty_text)),
    },
)
json_page = st.fixed_dictionaries(
    {
        "meta": maybe(
            st.fixed_dictionaries(
                {
                    "api-version": maybe(
                        st.sampled_from(["1.0", "1.1", "1.4", "1.99", "2.0", "x", ""])
                    )
                },
                optional={"_last-serial": maybe(st.integers())},
            )
        ),
        "name": maybe(nasty_text),
        "files": maybe(st.lists(file_entry, max_size=4)),
    },
    optional={
        "versions": maybe(st.lists(nasty_text, max_size=3)),
        "project-status": maybe(
            st.fixed_dictionaries(
                {"status": maybe(nasty_text)}, optional={"reason": maybe(nasty_text)}
            )
        ),
        "alternate-locations": junk,
    },
).map(lambda doc: json.dumps(doc).encode())
json_list = st.fixed_dictionaries(
    {
        "meta": maybe(st.fixed_dictionaries({"api-version": st.just("1.1")})),
        "projects": maybe(st.lists(st.fixed_dictionaries({"name": maybe(nasty_text)}), max_size=4)),
    }
).map(lambda doc: json.dumps(doc).encode())


def _attr(name: str, value: str) -> str:
    return f'{name}="{value}"' if '"' not in value else f"{name}='{value}'"


anchor = st.builds(
    lambda href, text, extra: f"<a {_attr('href', href)} {' '.join(extra)}>{text}</a>",
    urls,
    nasty_text,
    st.lists(
        st.builds(
            _attr,
            st.sampled_from(
                [
                    "data-requires-python",
                    "data-yanked",
                    "data-core-metadata",
                    "data-dist-info-metadata",
                    "data-gpg-sig",
                    "data-provenance",
                    "onclick",
                ]
            ),
            nasty_text,
        ),
        max_size=3,
    ),
)
html_page = st.builds(
    lambda metas, parts, tail: (
        "<!DOCTYPE html><html><head>"
        + "".join(f'<meta name="{n}" content="{c}">' for n, c in metas)
        + "</head><body>"
        + "".join(parts)
        + tail
    ).encode(),
    st.lists(
        st.tuples(
            st.sampled_from(
                ["pypi:project-status", "pypi:project-status-reason", "pypi:repository-version"]
            ),
            nasty_text,
        ),
        max_size=2,
    ),
    st.lists(st.one_of(anchor, nasty_text, st.just("<br>")), max_size=5),
    st.sampled_from(["</body></html>", "", "<a href=", "<!--", "<![CDATA[", "</body"]),
)
documents = st.one_of(
    st.tuples(st.just(JSON_V1), json_page),
    st.tuples(st.just("text/html"), html_page),
    st.tuples(st.sampled_from([JSON_V1, "text/html"]), st.binary(max_size=60)),
)


def parse_like_upstream(content_type: str, body: bytes, base: URL) -> Any:
    """What UpstreamClient.project_page does with a body, minus the network."""
    if content_type == JSON_V1:
        page = project_page_decoder.decode(body)
        for file in page.files:
            file.url = str(base.join(URL(file.url)))
        return page
    return parse_project_page(body.decode("utf-8", "replace"), base, "fz")


@fuzz(400)
@given(doc=documents)
def test_fuzz_upstream_page_parse_and_render(doc: tuple[str, bytes]) -> None:
    content_type, body = doc
    try:
        page = parse_like_upstream(content_type, body, URL("http://upstream.invalid/simple/fz/"))
    except (msgspec.DecodeError, ValueError):
        return  # rejected as malformed: the client turns it into UpstreamError
    rendered = every_variant(render_project(page))
    for fmt in ("json", "html"):
        identity = rendered[fmt, "identity"].body
        assert gzip.decompress(rendered[fmt, "gzip"].body) == identity
        assert zlib.decompress(rendered[fmt, "deflate"].body) == identity
    html = rendered["html", "identity"].body.decode()
    from_html = parse_project_page(html, PROXY / "fz" / "", "fz")
    servable = [f.filename for f in page.files if valid_filename(f.filename)]
    assert [f.filename for f in from_html.files] == servable
    local = project_page_decoder.decode(rendered["json", "identity"].body)
    base = PROXY / "fz" / ""
    for file in local.files:
        assert file.url == quote(file.filename, safe="")
        target = base.join(URL(file.url))
        assert target.host == base.host and target.path.startswith("/simple/")
        if valid_filename(file.filename):  # servable names resolve to the file itself
            assert target.path == f"/simple/fz/{file.filename}"
    check_html(rendered["html", "identity"].body, base)


@fuzz(150)
@given(
    doc=st.one_of(
        st.tuples(st.just(JSON_V1), json_list), st.tuples(st.just("text/html"), html_page)
    )
)
def test_fuzz_upstream_project_list_parse_and_render(doc: tuple[str, bytes]) -> None:
    content_type, body = doc
    try:
        if content_type == JSON_V1:
            projects = project_list_decoder.decode(body)
        else:
            projects = parse_project_list(body.decode("utf-8", "replace"))
    except (msgspec.DecodeError, ValueError):
        return
    rendered = render_project_list(projects)
    project_list_decoder.decode(encoded(rendered, "json", "identity").body)
    check_html(encoded(rendered, "html", "identity").body, PROXY)


def test_fuzz_upstream_documents_end_to_end(tmp_path: Path) -> None:
    """Random documents served by a real upstream, through a real groxpi process."""
    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET)
    names = itertools.count()
    with ScriptedUpstream() as upstream:
        server = GroxpiProcess(
            {
                "GROXPI_INDEX_URL": upstream.index_url,
                "GROXPI_CONNECT_TIMEOUT": "0.5",
                "GROXPI_READ_TIMEOUT": "0.5",
                "GROXPI_DOWNLOAD_TIMEOUT": "0",
            },
            tmp_path / "cache",
        ).start()
        try:

            @fuzz(60)
            @given(doc=documents, status=st.sampled_from([200, 200, 200, 404, 500]))
            def one(doc: tuple[str, bytes], status: int) -> None:
                content_type, body = doc
                body = body.replace(b"SECRETPATH", str(secret).encode())
                name = f"fz{next(names)}"
                upstream.set_raw(f"/simple/{name}/", body, content_type, status)
                for accept in (JSON_V1, "text/html"):
                    response = raw_get(server.port, f"/simple/{name}/", {"Accept": accept})
                    assert response.status in (200, 404, 502), (doc, response.status, response.body)
                    if response.status == 200 and accept == "text/html":
                        check_html(response.body, URL(f"http://proxy.invalid/simple/{name}/"))
                    if response.status == 200 and accept == JSON_V1:
                        page = project_page_decoder.decode(response.body)
                        for file in page.files[:2]:
                            got = raw_get(server.port, f"/simple/{name}/{file.url}")
                            assert got.status in (200, 302, 400, 404, 502, 504), got
                            assert SECRET not in got.body

            one()
            assert server.running()
            log = server.log_text()
            assert "Traceback" not in log and "unexpected error" not in log
        finally:
            server.stop()


def test_upstream_file_urls_outside_http_are_never_read(tmp_path: Path, stack: Stack) -> None:
    """An index listing file:// (or other non-HTTP) URLs cannot make groxpi read local files."""
    secret = stack.root / "secret.txt"
    with ScriptedUpstream() as upstream:
        doc = {
            "meta": {"api-version": "1.1"},
            "name": "evil",
            "files": [
                {"filename": f"evil-{n}.0-py3-none-any.whl", "url": url, "hashes": {}}
                for n, url in enumerate(
                    [
                        f"file://{secret}",
                        "file:///etc/passwd",
                        f"file://localhost{secret}",
                        "data:,TOP-SECRET",
                        "ftp://127.0.0.1:9/x",
                    ]
                )
            ],
        }
        upstream.set_raw("/simple/evil/", json.dumps(doc).encode(), JSON_V1)
        server = GroxpiProcess({"GROXPI_INDEX_URL": upstream.index_url}, tmp_path / "cache").start()
        try:
            for n in range(5):
                got = raw_get(server.port, f"/simple/evil/evil-{n}.0-py3-none-any.whl")
                assert got.status in (404, 502), got
                assert SECRET not in got.body and b"root:" not in got.body
            assert "Traceback" not in server.log_text()
        finally:
            server.stop()
