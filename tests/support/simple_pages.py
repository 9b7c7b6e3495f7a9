"""The fake upstream's data model and its PEP 503 / PEP 691 page rendering.

Kept apart from the servers so the wire formats can be read in one place and
compared against the PEPs: JSON with api-version 1.1 (1.4 when a PEP 792
status is set), HTML with PEP 629 / 592 / 658 / 714 attributes.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "text/html"
_JSON_TYPES = (JSON_TYPE, "application/vnd.pypi.simple.latest+json")


@dataclass(frozen=True)
class Release:
    """What to publish for one version of a project."""

    version: str
    requires: Sequence[str] = ()
    requires_python: str | None = None
    yanked: bool | str = False
    wheel: bool = True
    sdist: bool = False
    uploaded: str | None = None  # PEP 700 upload-time; None: a fixed time in 2024


@dataclass
class DistFile:
    """One file as the index lists it and the files host serves it."""

    project: str
    filename: str
    version: str
    data: bytes
    requires_python: str | None = None
    yanked: bool | str = False
    metadata: bytes | None = None
    upload_time: str = "2024-01-01T00:00:00.000000Z"

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)

    @cached_property
    def metadata_sha256(self) -> str | None:
        return None if self.metadata is None else hashlib.sha256(self.metadata).hexdigest()

    @property
    def path(self) -> str:
        """Path on the files host, shaped like files.pythonhosted.org."""
        return f"/packages/{self.sha256[:2]}/{self.sha256[2:4]}/{self.filename}"


@dataclass
class Project:
    """A project page's content; ``name`` is the display name."""

    name: str
    files: dict[str, DistFile] = field(default_factory=dict)
    versions: list[str] = field(default_factory=list)
    status: str | None = None
    status_reason: str | None = None
    serial: int = 0

    def copy(self) -> Project:
        return Project(
            self.name, dict(self.files), list(self.versions),
            self.status, self.status_reason, self.serial,
        )  # fmt: skip


Href = Callable[[DistFile], str]


def wants_json(accept: str) -> bool:
    """Whether an Accept header prefers PEP 691 JSON over HTML (q-values honoured)."""
    best_json = best_html = 0.0
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if media in _JSON_TYPES:
            best_json = max(best_json, q)
        elif media:
            best_html = max(best_html, q)
    return best_json > 0 and best_json >= best_html


def project_list(projects: Sequence[tuple[str, Project]], serial: int, as_json: bool) -> bytes:
    """``/simple/``: ``projects`` are (normalized name, project) pairs."""
    if as_json:
        doc = {
            "meta": {"api-version": "1.1", "_last-serial": serial},
            "projects": [{"name": p.name, "_last-serial": p.serial} for _, p in projects],
        }
        return json.dumps(doc).encode()
    links = "".join(
        f'    <a href="/simple/{key}/">{html.escape(p.name)}</a>\n' for key, p in projects
    )
    return html_page("Simple index", {"pypi:repository-version": "1.1"}, links)


def project_json(key: str, proj: Project, href: Href) -> bytes:
    files: list[dict[str, Any]] = []
    for dist in proj.files.values():
        meta: dict[str, str] | bool = (
            {"sha256": dist.metadata_sha256} if dist.metadata_sha256 else False
        )
        files.append(
            {
                "filename": dist.filename,
                "url": href(dist),
                "hashes": {"sha256": dist.sha256},
                "requires-python": dist.requires_python,
                "yanked": dist.yanked,
                "size": dist.size,
                "upload-time": dist.upload_time,
                "core-metadata": meta,
                "data-dist-info-metadata": meta,  # as PyPI sends it; no pip reads it
            }
        )
    doc: dict[str, Any] = {
        "meta": {"api-version": "1.4" if proj.status else "1.1", "_last-serial": proj.serial},
        "name": key,
        "versions": proj.versions,
        "files": files,
    }
    if proj.status:
        status = {"status": proj.status}
        if proj.status_reason:
            status["reason"] = proj.status_reason
        doc["project-status"] = status
    return json.dumps(doc).encode()


def project_html(key: str, proj: Project, href: Href) -> bytes:
    metas = {"pypi:repository-version": "1.4" if proj.status else "1.1"}
    if proj.status:
        metas["pypi:project-status"] = proj.status
        if proj.status_reason:
            metas["pypi:project-status-reason"] = proj.status_reason
    links = []
    for dist in proj.files.values():
        attrs = f'href="{html.escape(href(dist))}#sha256={dist.sha256}"'
        if dist.requires_python:
            attrs += f' data-requires-python="{html.escape(dist.requires_python)}"'
        if dist.yanked is not False:
            reason = dist.yanked if isinstance(dist.yanked, str) else ""
            attrs += f' data-yanked="{html.escape(reason)}"'
        if dist.metadata_sha256:
            attrs += f' data-dist-info-metadata="sha256={dist.metadata_sha256}"'
            attrs += f' data-core-metadata="sha256={dist.metadata_sha256}"'
        links.append(f"    <a {attrs}>{html.escape(dist.filename)}</a><br />\n")
    return html_page(f"Links for {key}", metas, "".join(links))


def html_page(title: str, metas: dict[str, str], body: str) -> bytes:
    head = "".join(f'    <meta name="{k}" content="{html.escape(v)}">\n' for k, v in metas.items())
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        f"{head}    <title>{html.escape(title)}</title>\n  </head>\n  <body>\n"
        f"    <h1>{html.escape(title)}</h1>\n{body}  </body>\n</html>\n"
    ).encode()


def malformed_body(content_type: str) -> bytes:
    """A 200 body no client can use: truncated JSON, link-less HTML, or junk."""
    if content_type == JSON_TYPE:
        return b'{"meta": {"api-version": '
    if content_type == HTML_TYPE:
        return b"<html><body><<<</not a simple page"
    return b"\x00garbage\xff"
