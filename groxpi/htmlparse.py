"""PEP 503 HTML pages from upstream, parsed into the PEP 691 models.

Used only when an upstream index does not speak PEP 691 JSON.
"""

from __future__ import annotations

from html.parser import HTMLParser

from yarl import URL

from .models import UNSET, File, Meta, ProjectEntry, ProjectList, ProjectPage, ProjectStatus


class _AnchorCollector(HTMLParser):
    """Collects every ``<a>`` (attributes and text) and ``<meta name=pypi:*>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self.meta: dict[str, str] = {}
        self._current: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._current = dict(attrs)
            self._text = []
        elif tag == "meta":
            values = dict(attrs)
            name, content = values.get("name"), values.get("content")
            if name and name.startswith("pypi:") and content is not None:
                self.meta[name] = content

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._current is not None:
            self.anchors.append((self._current, "".join(self._text).strip()))
            self._current = None


def _collect(html: str) -> _AnchorCollector:
    """Parse ``html``; a document that ends inside a tag or comment was cut off: ValueError."""
    collector = _AnchorCollector()
    collector.feed(html)
    if collector.rawdata.strip():  # markup the parser is still waiting to see the end of
        raise ValueError("the page ends inside a tag (truncated or not HTML)")
    collector.close()
    return collector


def _metadata_flag(value: str | None) -> bool | dict[str, str]:
    """``data-core-metadata="sha256=..."`` → hashes; ``"true"`` → True."""
    if value is None:
        return False
    algorithm, sep, digest = value.partition("=")
    if sep and digest:
        return {algorithm.strip(): digest.strip()}
    return value.strip().lower() != "false"


def _file_from_anchor(attrs: dict[str, str | None], text: str, base: URL) -> File | None:
    href = attrs.get("href")
    if not href:
        return None
    url = base.join(URL(href))
    hashes: dict[str, str] = {}
    algorithm, sep, digest = url.fragment.partition("=")
    if sep and digest:
        hashes[algorithm] = digest
    url = url.with_fragment(None)
    filename = text or url.name
    file = File(filename=filename, url=str(url), hashes=hashes)
    if "data-requires-python" in attrs:
        file.requires_python = attrs["data-requires-python"] or None
    if "data-yanked" in attrs:
        file.yanked = attrs["data-yanked"] or True
    metadata = attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata"))
    if metadata is not None:
        file.core_metadata = _metadata_flag(metadata)
    if attrs.get("data-gpg-sig") is not None:
        file.gpg_sig = attrs["data-gpg-sig"] == "true"
    if attrs.get("data-provenance"):
        file.provenance = attrs["data-provenance"]
    return file


def parse_project_page(html: str, page_url: URL, name: str) -> ProjectPage:
    """Parse a PEP 503 project page; relative hrefs resolve against ``page_url``."""
    collector = _collect(html)
    files = [
        file
        for attrs, text in collector.anchors
        if (file := _file_from_anchor(attrs, text, page_url)) is not None
    ]
    page = ProjectPage(meta=Meta(api_version="1.0"), name=name, files=files)
    status = collector.meta.get("pypi:project-status")
    if status:
        reason = collector.meta.get("pypi:project-status-reason", UNSET)
        page.project_status = ProjectStatus(status=status, reason=reason)
    return page


def parse_project_list(html: str) -> ProjectList:
    collector = _collect(html)
    projects = [ProjectEntry(name=text) for _, text in collector.anchors if text]
    return ProjectList(meta=Meta(api_version="1.0"), projects=projects)
