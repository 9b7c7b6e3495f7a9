"""PEP 691 content negotiation and Accept-Encoding selection."""

from __future__ import annotations

from functools import lru_cache

from .models import HTML_V1, JSON_V1

TEXT_HTML = "text/html"

# media type asked for → (format, Content-Type answered), in server preference order
_OFFERS: dict[str, tuple[str, str]] = {
    JSON_V1: ("json", JSON_V1),
    "application/vnd.pypi.simple.latest+json": ("json", JSON_V1),
    HTML_V1: ("html", HTML_V1),
    "application/vnd.pypi.simple.latest+html": ("html", HTML_V1),
    TEXT_HTML: ("html", TEXT_HTML),
    "text/*": ("html", TEXT_HTML),
    "*/*": ("html", TEXT_HTML),
}
_PREFERENCE = {media: rank for rank, media in enumerate(_OFFERS)}


def _parse_q(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0


def choose_media(accept: str | None, format_param: str | None = None) -> tuple[str, str] | None:
    """(format, Content-Type) for a request, or None when nothing offered is acceptable.

    ``?format=`` wins over Accept; no Accept (or ``*/*``) means text/html, as on PyPI.
    Among equal q-values the server's order above decides (JSON first).
    """
    if format_param:
        return _OFFERS.get(format_param.strip().lower())
    if not accept or not accept.strip():
        return _OFFERS[TEXT_HTML]
    candidates: list[tuple[float, int, str]] = []
    refused: set[str] = set()  # Content-Types the client explicitly gave q=0
    for item in accept.split(","):
        media, *params = item.split(";")
        media = media.strip().lower()
        if media not in _OFFERS:
            continue
        q = _parse_q(params)
        if q <= 0:
            refused.add(_OFFERS[media][1])
        else:
            candidates.append((-q, _PREFERENCE[media], media))
    for _, _, media in sorted(candidates):
        if _OFFERS[media][1] not in refused:
            return _OFFERS[media]
    return None


def choose_coding(accept_encoding: str | None) -> str:
    """``gzip``, ``deflate`` or ``identity``: the best coding the client accepts."""
    if not accept_encoding:
        return "identity"
    codings: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, *params = item.split(";")
        codings[coding.strip().lower()] = _parse_q(params)
    wildcard = codings.get("*", 0.0)
    for coding in ("gzip", "deflate"):
        if codings.get(coding, wildcard) > 0:
            return coding
    return "identity"


Negotiated = tuple[str, str, str]
"""(format, Content-Type, coding) of the variant to send."""


@lru_cache(maxsize=1024)
def negotiate(
    accept: str | None, accept_encoding: str | None, format_param: str | None = None
) -> Negotiated | None:
    """Format, Content-Type and coding in one cached call: clients send few distinct headers."""
    chosen = choose_media(accept, format_param)
    if chosen is None:
        return None
    return chosen[0], chosen[1], choose_coding(accept_encoding)
