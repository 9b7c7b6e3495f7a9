import pytest

from groxpi.models import JSON_V1
from groxpi.negotiate import choose_coding, choose_media, negotiate

JSON = ("json", "application/vnd.pypi.simple.v1+json")
V1HTML = ("html", "application/vnd.pypi.simple.v1+html")
HTML = ("html", "text/html")
PIP = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, HTML),
        ("", HTML),
        ("*/*", HTML),
        ("text/*", HTML),
        ("text/html", HTML),
        (PIP, JSON),
        ("application/vnd.pypi.simple.v1+html", V1HTML),
        ("application/vnd.pypi.simple.latest+json", JSON),
        ("application/vnd.pypi.simple.latest+html", V1HTML),
        ("text/html;q=0.9, application/vnd.pypi.simple.v1+json;q=0.5", HTML),
        ("application/vnd.pypi.simple.v1+json;q=0.2, */*;q=0.1", JSON),
        ("application/vnd.pypi.simple.v1+json, text/html", JSON),  # tie: server prefers JSON
        ("application/vnd.pypi.simple.v1+json;q=0, text/html", HTML),
        ("application/json", None),
        ("application/vnd.pypi.simple.v2+json", None),
        ("application/vnd.pypi.simple.v1+json;q=abc", None),
        ("image/png, text/plain", None),
        ("text/html;q=0, */*", None),  # the wildcard cannot bring back a refused type
        ("text/html;q=0, application/vnd.pypi.simple.v1+json;q=0.1, */*", JSON),
    ],
)
def test_choose_media(accept: str | None, expected: tuple[str, str] | None) -> None:
    assert choose_media(accept) == expected


def test_format_query_wins_over_accept() -> None:
    assert choose_media("text/html", "application/vnd.pypi.simple.v1+json") == JSON
    assert choose_media(PIP, "text/html") == HTML
    assert choose_media(PIP, "application/xml") is None


@pytest.mark.parametrize(
    ("header", "coding"),
    [
        (None, "identity"),
        ("gzip, deflate, br", "gzip"),
        ("deflate", "deflate"),
        ("gzip;q=0, deflate", "deflate"),
        ("br", "identity"),
        ("*", "gzip"),
        ("*;q=0", "identity"),
        ("GZIP", "gzip"),
    ],
)
def test_choose_coding(header: str | None, coding: str) -> None:
    assert choose_coding(header) == coding


def test_negotiate_combines_media_and_coding() -> None:
    assert negotiate(PIP, "gzip, deflate") == ("json", JSON_V1, "gzip")
    assert negotiate(None, None) == ("html", "text/html", "identity")
    assert negotiate("text/html", "br", JSON_V1) == ("json", JSON_V1, "identity")
    assert negotiate("application/xml", "gzip") is None
