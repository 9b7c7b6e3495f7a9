"""Pages for clients: PEP 691 JSON and PEP 503 HTML, files pointing back at this proxy.

The bodies are made when first needed, in a worker thread, and encoded per
variant there (see :mod:`groxpi.variants`), so serving a cached page does no
encoding, templating or URL rewriting.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

import msgspec
from packaging.utils import canonicalize_name

from .models import (
    SUPPORTED_MINOR,
    UNSET,
    File,
    Meta,
    ProjectEntry,
    ProjectList,
    ProjectPage,
    ProjectStatus,
    json_encoder,
)
from .names import MAX_NAME, PLAIN_FILENAME_RE, valid_filename
from .shared_bodies import SharedBodies
from .variants import Background, Once, RenderedPage
from .versions import versions_of


def api_minor(version: str) -> int:
    """The minor number of a 1.x PEP 691 version (0 for anything else)."""
    major, _, minor = version.partition(".")
    return int(minor) if major == "1" and minor.isdigit() else 0


def api_version(page: ProjectPage) -> str:
    """The PEP 691 version this page can honestly claim.

    1.1+ promises ``size`` on every file (PEP 700); a page that lacks one is 1.0.
    """
    if any(not isinstance(file.size, int) for file in page.files):
        return "1.0"
    return f"1.{max(1, min(api_minor(page.meta.api_version), SUPPORTED_MINOR))}"


def local_url(filename: str) -> str | None:
    """The URL of a file here, relative to its page: one path segment, never
    "//host/..." or "a/b"; None for a name the file route refuses."""
    if len(filename) <= MAX_NAME and PLAIN_FILENAME_RE.fullmatch(filename):
        return filename  # most names: one regex, nothing to escape
    return quote(filename, safe="") if valid_filename(filename) else None


def local_file(file: File, url: str) -> File:
    """A copy of ``file`` at ``url``.

    PEP 658 metadata goes out under the PEP 714 key ``core-metadata`` only: pip
    22.3 to 23.1 crash on the dict form of the old JSON key ``dist-info-metadata``.
    """
    return msgspec.structs.replace(
        file, url=url, core_metadata=file.metadata, dist_info_metadata=UNSET
    )


def render_project(
    page: ProjectPage, shared: SharedBodies | None = None, background: Background | None = None
) -> RenderedPage:
    """A merged upstream page for clients; nothing is made until a variant is asked for."""
    local = Once(lambda: _local_page(page))
    return RenderedPage(
        lambda: json_encoder.encode(local.get()),
        lambda: _project_html(local.get()).encode(),
        shared,
        background,
    )


def _local_page(page: ProjectPage) -> ProjectPage:
    # only what a client could fetch here: a name the file route refuses is not listed
    files = [local_file(f, url) for f in page.files if (url := local_url(f.filename))]
    versions = page.versions if isinstance(page.versions, list) else versions_of(page.files)
    meta = Meta(api_version=api_version(page), last_serial=page.meta.last_serial)
    return ProjectPage(
        meta=meta,
        name=page.name,
        files=files,
        versions=versions,
        project_status=page.project_status,
        alternate_locations=page.alternate_locations,
        tracks=page.tracks,
    )


def _project_html(page: ProjectPage) -> str:
    name = escape(page.name)
    head = [
        "<!DOCTYPE html>\n<html>\n<head>\n",
        f'<meta name="pypi:repository-version" content="{page.meta.api_version}">\n',
    ]
    status = page.project_status
    if isinstance(status, ProjectStatus):
        head.append(f'<meta name="pypi:project-status" content="{escape(status.status)}">\n')
        if isinstance(status.reason, str):
            head.append(
                f'<meta name="pypi:project-status-reason" content="{escape(status.reason)}">\n'
            )
    head.append(f"<title>Links for {name}</title>\n</head>\n<body>\n<h1>Links for {name}</h1>\n")
    anchors = [_anchor(file) for file in page.files]
    return "".join(head) + "".join(anchors) + "</body>\n</html>\n"


def _anchor(file: File) -> str:
    href = file.url
    sha256 = file.hashes.get("sha256")
    if sha256:
        href += f"#sha256={sha256}"
    attrs = [f'href="{escape(href)}"']
    if isinstance(file.requires_python, str):
        attrs.append(f'data-requires-python="{escape(file.requires_python)}"')
    if file.yanked is True:
        attrs.append('data-yanked=""')
    elif isinstance(file.yanked, str) and file.yanked:
        attrs.append(f'data-yanked="{escape(file.yanked)}"')
    metadata = file.core_metadata
    if isinstance(metadata, dict) or metadata is True:
        value = "true"
        if isinstance(metadata, dict) and "sha256" in metadata:
            value = f"sha256={escape(metadata['sha256'])}"
        attrs.append(f'data-core-metadata="{value}" data-dist-info-metadata="{value}"')
    if file.gpg_sig is True:
        attrs.append('data-gpg-sig="true"')
    if isinstance(file.provenance, str):
        attrs.append(f'data-provenance="{escape(file.provenance)}"')
    return f"<a {' '.join(attrs)}>{escape(file.filename)}</a><br>\n"


def render_project_list(
    projects: ProjectList, shared: SharedBodies | None = None, background: Background | None = None
) -> RenderedPage:
    """The project list for clients; nothing is made until a variant is asked for."""
    local = Once(lambda: _local_list(projects))
    return RenderedPage(
        lambda: json_encoder.encode(local.get()),
        lambda: _list_html(local.get()).encode(),
        shared,
        background,
    )


def _local_list(projects: ProjectList) -> ProjectList:
    entries = [  # a nameless entry would link to the server root, not to a project
        ProjectEntry(name=p.name, last_serial=p.last_serial) for p in projects.projects if p.name
    ]
    return ProjectList(
        meta=Meta(api_version="1.0", last_serial=projects.meta.last_serial), projects=entries
    )


def _list_html(listing: ProjectList) -> str:
    anchors = "".join(
        f'<a href="{quote(canonicalize_name(p.name), safe="")}/">{escape(p.name)}</a><br>\n'
        for p in listing.projects
    )
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        '<meta name="pypi:repository-version" content="1.0">\n'
        "<title>Simple index</title>\n</head>\n<body>\n"
        f"{anchors}</body>\n</html>\n"
    )
