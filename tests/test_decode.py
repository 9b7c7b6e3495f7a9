"""Upstream bodies into models: big JSON arrays in pieces, big bodies in a worker thread."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from groxpi import decode
from groxpi.models import (
    JSON_V1,
    File,
    Meta,
    ProjectEntry,
    ProjectList,
    ProjectPage,
    project_list_decoder,
)

BASE = URL("https://upstream.example/simple/pkg/")


def json_list(entries: list[dict[str, Any]]) -> bytes:
    return json.dumps(
        {"meta": {"api-version": "1.1", "_last-serial": 7}, "projects": entries}
    ).encode()


ENTRIES = [
    {"name": f"p{n}", "_last-serial": n} for n in range(50)
] + [  # "}," inside a string and inside a nested value: not element boundaries
    {"name": 'tricky"},{"name": "x', "extra": {"a": {"b": 1}, "c": [{"d": 2}, {"e": 3}]}},
    {"extra": {"z": 1}, "name": "after"},
]


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode, "PIECE", 40)


class Spy:
    """A decoder that remembers the size of every document it was given."""

    def __init__(self, decoder: msgspec.json.Decoder[Any]) -> None:
        self.decoder = decoder
        self.sizes: list[int] = []

    def decode(self, data: bytes) -> Any:
        self.sizes.append(len(data))
        return self.decoder.decode(data)


@pytest.mark.usefixtures("small_pieces")
def test_json_array_decodes_in_pieces_past_nested_objects() -> None:
    nested = [{"name": f"p{n}", "x": {"a": {"b": n}, "c": [{"d": 2}, {"e": 3}]}} for n in range(40)]
    raw = msgspec.Raw(json.dumps(nested).encode())
    spy = Spy(msgspec.json.Decoder(list[ProjectEntry]))
    entries: list[ProjectEntry] = decode._decode_array(raw, spy)  # type: ignore[arg-type]
    assert [e.name for e in entries] == [f"p{n}" for n in range(40)]
    assert max(spy.sizes) < len(raw) / 4  # never decoded whole


@pytest.mark.usefixtures("small_pieces")
def test_json_list_in_pieces_equals_whole() -> None:
    for body in (json_list(ENTRIES), json.dumps(json.loads(json_list(ENTRIES)), indent=2).encode()):
        pieces = decode.json_project_list(body)
        assert pieces == project_list_decoder.decode(body)
        assert [p.name for p in pieces.projects][-2:] == ['tricky"},{"name": "x', "after"]
        assert pieces.meta.last_serial == 7


@pytest.mark.usefixtures("small_pieces")
@pytest.mark.parametrize(
    "body",
    [
        json_list([*ENTRIES, {"name": 5}]),  # a bad entry at the end
        json_list([{"nom": "x"}, *ENTRIES]),  # and at the start
        json_list(ENTRIES)[:-20],  # cut
        json.dumps(
            {"meta": {"api-version": "1.0"}, "projects": {str(n): n for n in range(40)}}
        ).encode(),
    ],
)
def test_json_list_errors_still_raise(body: bytes) -> None:
    with pytest.raises(msgspec.DecodeError):
        decode.json_project_list(body)


@pytest.mark.usefixtures("small_pieces")
def test_json_page_in_pieces_with_urls_resolved() -> None:
    files = [
        {
            "filename": f"pkg-{n}.tar.gz",
            "url": f"../../f/pkg-{n}.tar.gz",
            "hashes": {"sha256": "ab"},
        }
        for n in range(30)
    ]
    doc = {"meta": {"api-version": "1.1"}, "name": "pkg", "files": files, "versions": ["1"]}
    doc["project-status"] = {"status": "archived"}
    page = decode.decode_project_page(json.dumps(doc).encode(), JSON_V1, BASE, "pkg")
    assert len(page.files) == 30 and page.versions == ["1"]
    assert page.files[29].url == "https://upstream.example/f/pkg-29.tar.gz"
    assert page.project_status.status == "archived"  # type: ignore[union-attr]


def test_html_goes_to_the_html_parser() -> None:
    html = b'<a href="x-1.0.tar.gz">x-1.0.tar.gz</a>'
    page = decode.decode_project_page(html, "text/html", BASE, "x")
    assert page.files[0].url == "https://upstream.example/simple/pkg/x-1.0.tar.gz"
    assert decode.decode_project_list(b'<a href="/simple/x/">x</a>', "text/html").projects


async def test_big_bodies_are_decoded_in_a_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[int] = []

    def record_list(body: bytes, content_type: str) -> ProjectList:
        threads.append(threading.get_ident())
        return project_list_decoder.decode(body)

    def record_page(body: bytes, content_type: str, base: URL, name: str) -> ProjectPage:
        threads.append(threading.get_ident())
        return ProjectPage(meta=Meta(api_version="1.0"), name=name, files=[])

    monkeypatch.setattr(decode, "decode_project_list", record_list)
    monkeypatch.setattr(decode, "decode_project_page", record_page)
    small = json_list(ENTRIES)
    big = json_list(ENTRIES * (decode.INLINE_LIMIT // len(small) + 2))
    assert len(small) <= decode.INLINE_LIMIT < len(big)
    await decode.project_list(small, JSON_V1)
    await decode.project_list(big, JSON_V1)
    await decode.project_page(small, JSON_V1, BASE, "p")
    await decode.project_page(big, JSON_V1, BASE, "p")
    loop_thread = threading.get_ident()
    assert [t == loop_thread for t in threads] == [True, False, True, False]


AUTHORITIES = [
    "files.example", "Files.Example", "h:8080", "h:80", "h:443", "h:", "h:99999", "1.2.3.4:5",
    "[::1]:99", "[::1]", "user:pw@h", "xn--bcher-kva.example", "bücher.example", "",
]  # fmt: skip


@settings(max_examples=500)
@given(
    st.lists(
        st.one_of(
            st.builds(
                "{}://{}{}".format,
                st.sampled_from(["https", "http", "HTTP", "ftp"]),
                st.sampled_from(AUTHORITIES),
                st.text(alphabet="/.a+%2F?#~:@!'() é-", max_size=14),
            ),
            st.text(alphabet="/.a+%?#:", max_size=10),  # relative references
        ),
        max_size=6,
    )
)
def test_urls_resolve_exactly_as_yarl_resolves_them(urls: list[str]) -> None:
    def resolved(how: Callable[[list[File]], None]) -> list[str] | type[Exception]:
        files = [File(filename="f", url=url, hashes={}) for url in urls]
        try:
            how(files)
        except Exception as exc:  # yarl's own errors (even an IndexError) stay the same
            return type(exc)
        return [file.url for file in files]

    def by_yarl(files: list[File]) -> None:
        for file in files:
            file.url = str(BASE.join(URL(file.url)))

    assert resolved(lambda files: decode.resolve_urls(files, BASE)) == resolved(by_yarl)
