"""The upstream index the servers under test proxy: a local fake, or PyPI itself.

The local one reuses the test suite's fake (a real aiohttp index and files host
answering like PyPI: PEP 691 JSON with the exact media type, slash redirects)
and publishes a catalogue shaped for the scenarios: a small and a ~3,000-file
page, one big file for throughput, and per-server uncached pages and files for
the cold and coalescing scenarios (among them several never-requested
3,000-file pages each), so every server gets its own misses and the fake's
request counters tell them apart.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from bench.settings import LARGE_COLD_SERVERS, Settings
from tests.support.fake_index import FakeIndex, Release

PYPI_INDEX = "https://pypi.org/simple/"
UV_LIBS = 8


@dataclass(frozen=True)
class FileRef:
    project: str
    filename: str
    size: int


@dataclass
class Catalogue:
    """Names the scenarios use; file entries only exist with the local upstream."""

    small: str
    large: str
    uv_packages: list[str]
    big_file: FileRef | None = None
    cold_files: dict[str, list[FileRef]] = field(default_factory=dict)
    cold_large: dict[str, list[str]] = field(default_factory=dict)  # server → projects
    coalesce: dict[str, FileRef] = field(default_factory=dict)


class Upstream:
    """PyPI: nothing to start, no counters."""

    local = False

    def __init__(self, settings: Settings) -> None:
        packages = ["numpy", "pandas", "polars", "fastapi"]
        if settings.with_pyspark:
            packages.append("pyspark")
        self.catalogue = Catalogue(small="requests", large="numpy", uv_packages=packages)

    @property
    def index_url(self) -> str:
        return PYPI_INDEX

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class LocalUpstream(Upstream):
    """The fake index on 127.0.0.1, with the benchmark catalogue published."""

    local = True

    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.settings = settings
        self.fake = FakeIndex(workdir)
        self.catalogue = Catalogue(small="smallpkg", large="bigpkg", uv_packages=[])
        self._rng = random.Random(691)

    @property
    def index_url(self) -> str:
        return self.fake.index_url

    @property
    def files_url(self) -> str:
        return self.fake.files_url

    def start(self) -> None:
        self.fake.start()
        self._publish()

    def stop(self) -> None:
        self.fake.stop()

    def _blob(self, project: str, version: str, size: int) -> FileRef:
        filename = f"{project.replace('-', '_')}-{version}-py3-none-any.whl"
        self.fake.add_file(project, version, filename, self._rng.randbytes(size), ">=3.8")
        return FileRef(project, filename, size)

    def _publish(self) -> None:
        s, cat = self.settings, self.catalogue
        self.fake.add_default_projects()
        self.fake.add_many_files(cat.small, s.small_page_files)
        self.fake.add_many_files(cat.large, s.large_page_files)
        # An application with a handful of dependencies, each with a few releases.
        for i in range(UV_LIBS):
            self.fake.add_project(f"lib{i}", [Release("1.0"), Release("1.1"), Release("2.0")])
        self.fake.add_project(
            "benchapp", [Release("1.0", requires=[f"lib{i}>=1.0" for i in range(UV_LIBS)])]
        )
        cat.uv_packages = ["benchapp", "alpha", "delta", "zeta-pkg"]
        if s.wants("api"):
            for name in (*(n for n in LARGE_COLD_SERVERS if s.wants_server(n)), "upstream"):
                cat.cold_large[name] = [f"coldbig-{name}-{i}" for i in range(s.large_cold_samples)]
                for project in cat.cold_large[name]:
                    self.fake.add_many_files(project, s.large_page_files)
        if s.wants("file"):
            cat.big_file = self._blob("bigfile", "1.0", s.big_file_size)
            for name in (*s.servers, "upstream"):
                cat.cold_files[name] = [
                    self._blob(f"cold-{name}", f"1.{i}", s.cold_file_size)
                    for i in range(s.cold_samples)
                ]
        if s.wants("coalesce"):
            for name in s.servers:
                cat.coalesce[name] = self._blob(f"coal-{name}", "1.0", s.cold_file_size)

    def page_requests(self, project: str) -> int:
        """Fetches of a project page; a slash redirect followed counts once."""
        slashed = self.fake.index_requests(f"/simple/{project}/")
        return max(slashed, self.fake.index_requests(f"/simple/{project}"))

    def file_requests(self, filename: str) -> int:
        return self.fake.file_requests(filename)

    def file_url(self, ref: FileRef) -> str:
        return self.fake.file_url(ref.filename)
