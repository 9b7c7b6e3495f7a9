"""Single timed requests (cold pages, time to first byte) and finding a file's URL."""

from __future__ import annotations

import http.client
import json
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

JSON_ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
HTML_ACCEPT = "text/html"
_HREF = re.compile(r'href="([^"#]+)(?:#[^"]*)?"[^>]*>([^<]+)</a>')


@dataclass(frozen=True)
class Timing:
    status: int
    ttfb_s: float  # request sent → first body byte (after following redirects)
    total_s: float
    size: int
    redirects: int


def timed_get(url: str, headers: Mapping[str, str] | None = None, timeout: float = 120) -> Timing:
    """GET ``url`` on a new connection, following up to five redirects; body read fully."""
    start = time.perf_counter()
    redirects = 0
    while True:
        parts = urllib.parse.urlsplit(url)
        conn_cls = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        conn = conn_cls(parts.netloc, timeout=timeout)
        try:
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            conn.request("GET", path or "/", headers=dict(headers or {}))
            resp = conn.getresponse()
            if resp.status in (301, 302, 303, 307, 308) and redirects < 5:
                location = resp.getheader("Location", "")
                resp.read()
                url = urllib.parse.urljoin(url, location)
                redirects += 1
                continue
            first = resp.read(1)
            ttfb = time.perf_counter() - start
            size = len(first)
            while chunk := resp.read(1 << 20):
                size += len(chunk)
            return Timing(resp.status, ttfb, time.perf_counter() - start, size, redirects)
        finally:
            conn.close()


def file_url(page_url: str, filename: str, timeout: float = 120) -> str:
    """The URL a server's project page gives for ``filename`` (JSON, else HTML)."""
    request = urllib.request.Request(page_url, headers={"Accept": JSON_ACCEPT})
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        final_url = str(resp.geturl())
        content_type = resp.headers.get("Content-Type", "")
        body = resp.read().decode()
    if "json" in content_type:
        for entry in json.loads(body).get("files", []):
            if entry["filename"] == filename:
                return urllib.parse.urljoin(final_url, str(entry["url"]).split("#")[0])
    else:
        for href, text in _HREF.findall(body):
            if text.strip() == filename:
                return urllib.parse.urljoin(final_url, str(href))
    raise LookupError(f"{filename} is not listed on {page_url}")
