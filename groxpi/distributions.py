"""The bytes of (project, filename): from the store, or streamed from its one download.

One rule decides what may be served: a file or its ``.metadata`` is fetched,
or served from the store, only if the project's page after every policy lists
it. A file already stored is served without a page fetch while no policy
refuses the project and no page in memory says otherwise, so cached files keep
flowing while upstream is down. A page that misses a failed index's files
does not hide those files from the store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .download import Download, SpoolReader
from .errors import NotFound, UpstreamError
from .files import FileCache
from .index import IndexCache
from .instruments import Histogram
from .models import File
from .names import METADATA_SUFFIX
from .sources import PageSource, Refused
from .storage import StoredObject


@dataclass(frozen=True, slots=True)
class Stored:
    """The file is in the store."""

    obj: StoredObject


@dataclass(frozen=True, slots=True)
class Redirect:
    """No upstream byte came in time: send the client to the upstream URL."""

    url: str


@dataclass(slots=True)
class Streaming:
    """The file as it downloads; close the reader when done (``with streaming.reader:``)."""

    reader: SpoolReader
    size: int | None


Opened = Stored | Streaming | Redirect


class Distributions:
    """Finds or fetches files for the web layer, which only streams what it gets."""

    def __init__(
        self,
        index: IndexCache,
        files: FileCache,
        source: PageSource,
        download_timeout: float,
        offline: bool = False,
    ) -> None:
        self.index = index
        self.files = files
        self.source = source
        self.download_timeout = download_timeout
        self.offline = offline
        self.redirects = 0  # clients sent to the upstream URL: the first byte was slow
        self.cold_first_byte = Histogram()  # request to first upstream byte, cold files

    async def open(self, project: str, filename: str, whole: bool = False) -> Opened:
        """The file, found or started; ``whole`` waits for a cold file to be stored
        (for a Range request) instead of streaming it.

        Raises NotFound when no page lists it (or a policy's Refused), and the
        download's error when it fails before its first byte.
        """
        refused = self.source.refusal(project)
        if refused is not None:
            raise refused
        known = self.index.known_files(project)
        cached = None
        if known is not None and not _lists(known, filename):
            # The page in memory does not list it: refresh that page if it has
            # expired (the file may be new), else the answer is a 404.
            cached = await self.index.project(project)
            if cached.complete and not _lists(cached.files, filename):
                raise NotFound(filename)
        key = f"{project}/{filename}"
        stored = await self.files.touch_stored(key)
        if stored is not None:
            return Stored(stored)
        if cached is None:
            cached = await self.index.project(project)
        url, sha256 = upstream_source(cached.files, filename)
        if self.offline:
            reason = f"offline mode (GROXPI_OFFLINE): {filename} is not in the cache"
            raise Refused(project, reason)
        asked_at = time.monotonic()
        for _ in range(3):
            download = await self.files.download(key, url, sha256)
            if download is not None:
                break
            # Another worker stored it just now, or its download ended: look again.
            stored = await self.files.touch_stored(key)
            if stored is not None:
                return Stored(stored)
        else:
            raise UpstreamError("the file is being fetched by another worker; try again", 503)
        if whole:
            return await self._when_stored(download, asked_at)
        reader = download.reader()  # taken before waiting: the spool file may be renamed
        try:
            if not await self._started(download, asked_at):
                reader.close()
                return self._redirect(download)
        except BaseException:
            reader.close()
            raise
        return Streaming(reader, download.size)

    def _redirect(self, download: Download) -> Redirect:
        self.redirects += 1
        return Redirect(download.url)

    async def _when_stored(self, download: Download, asked_at: float) -> Stored | Redirect:
        if not await self._started(download, asked_at):
            return self._redirect(download)
        await download.done.wait()
        if download.error is not None:
            raise download.failure()
        stored = await self.files.touch_stored(download.key)
        if stored is None:  # evicted at once by a tiny cache size
            raise NotFound(download.key)
        return Stored(stored)

    async def _started(self, download: Download, asked_at: float) -> bool:
        """True once the first byte is in; False after the download timeout (redirect)."""
        if not await download.wait_started(self.download_timeout):
            return False
        self.cold_first_byte.observe(time.monotonic() - asked_at)
        if download.error is not None and not download.verified:
            raise download.failure()
        return True


def _lists(files: dict[str, File], filename: str) -> bool:
    try:
        upstream_source(files, filename)
    except NotFound:
        return False
    return True


def upstream_source(files: dict[str, File], filename: str) -> tuple[str, str | None]:
    """(upstream URL, expected sha256) of a listed file or its PEP 658 metadata."""
    file = files.get(filename)
    if file is not None:
        return file.url, file.hashes.get("sha256")
    if filename.endswith(METADATA_SUFFIX):
        dist = files.get(filename.removesuffix(METADATA_SUFFIX))
        hashes = None if dist is None else dist.metadata_hashes
        if dist is not None and hashes is not None:
            return dist.url + METADATA_SUFFIX, hashes.get("sha256")
    raise NotFound(filename)
