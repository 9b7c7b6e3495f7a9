"""An in-memory page source and a settable clock for unit tests of the pipeline."""

from __future__ import annotations

from collections import Counter

from groxpi.errors import NotFound, NotModified, UpstreamError
from groxpi.models import File, Meta, ProjectEntry, ProjectList, ProjectPage
from groxpi.pagestore import Validator, Validators
from groxpi.sources import Fetched, Refused


def dist(filename: str, upload_time: str | None = None, **fields: object) -> File:
    extra = {} if upload_time is None else {"upload_time": upload_time}
    return File(
        filename=filename,
        url=f"https://files.example/{filename}",
        hashes={"sha256": "00"},
        **extra,
        **fields,
    )


def page(
    name: str, *files: File, versions: list[str] | None = None, **fields: object
) -> ProjectPage:
    extra = {} if versions is None else {"versions": versions}
    return ProjectPage(
        meta=Meta(api_version="1.1"), name=name, files=list(files), **extra, **fields
    )


class FakeSource:
    """Pages from a dict, with a TTL, failure switches and a log of what was asked."""

    def __init__(self, label: str = "fake", ttl: float = 100.0) -> None:
        self.label = label
        self.ttl = ttl
        self.pages: dict[str, ProjectPage] = {}
        self.failing = False
        self.asked: Counter[str] = Counter()
        self.conditional: Counter[str] = Counter()  # of those, asked with our validators
        self.etags: dict[str, str] = {}

    @property
    def key(self) -> str:
        return self.label

    def add(self, page: ProjectPage) -> FakeSource:
        self.pages[page.name] = page
        self.etags[page.name] = f'"{page.name}-{len(self.etags)}"'
        return self

    async def project_page(
        self, name: str, validators: Validators | None = None
    ) -> Fetched[ProjectPage]:
        """Like an index with ETags: a 304 (NotModified) when ``validators`` match."""
        self.asked[name] += 1
        self.conditional[name] += validators is not None and self.label in validators
        if self.failing:
            raise UpstreamError(f"{self.label} is down")
        if name not in self.pages:
            raise NotFound(name)
        etag = self.etags[name]
        known = (validators or {}).get(self.label)
        if known is not None and known.etag == etag:
            raise NotModified(name)
        return Fetched(self.pages[name], self.ttl, validators={self.label: Validator(etag=etag)})

    async def project_list(self, validators: Validators | None = None) -> Fetched[ProjectList]:
        self.asked["/"] += 1
        if self.failing:
            raise UpstreamError(f"{self.label} is down")
        entries = [ProjectEntry(name=name) for name in self.pages]
        return Fetched(ProjectList(meta=Meta(api_version="1.0"), projects=entries), self.ttl)

    def refusal(self, name: str) -> Refused | None:
        return None

    def __repr__(self) -> str:
        return self.label


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
