"""A fake upstream: a simple index (like pypi.org) plus a files host.

Both are real aiohttp servers on 127.0.0.1, run on their own event loop in a
background thread, so sync tests (groxpi as a subprocess) and async tests can
share one instance. Tests steer it from their own thread: projects, response
format, PEP 792 status, fault injection, and request counters.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from aiohttp import web

from tests.support import simple_pages as pages
from tests.support import wheels
from tests.support.loop_thread import LoopThread
from tests.support.simple_pages import HTML_TYPE, JSON_TYPE, DistFile, Project, Release
from tests.support.wheels import normalize

__all__ = ["HTML_TYPE", "JSON_TYPE", "DistFile", "FakeIndex", "Fault", "Release"]
Mode = Literal["json", "html"]
INDEX_ALL = "*index*"
FILES_ALL = "*files*"
_FLIP = bytes(b ^ 0x5A for b in range(256))
_FILE_SUFFIXES = (".whl", ".tar.gz", ".zip", ".metadata", ".egg", ".tar.bz2")


@dataclass(frozen=True)
class Fault:
    """One misbehaviour; ``times=None`` means until cleared."""

    kind: str
    code: int = 0
    seconds: float = 0.0
    count: int = 0
    times: int | None = None

    @classmethod
    def status(cls, code: int, times: int | None = None) -> Fault:
        return cls("status", code=code, times=times)

    @classmethod
    def hang(cls, times: int | None = None) -> Fault:
        """Never answer (until the fake stops)."""
        return cls("hang", times=times)

    @classmethod
    def delay(cls, seconds: float, times: int | None = None) -> Fault:
        """Wait, then answer normally."""
        return cls("delay", seconds=seconds, times=times)

    @classmethod
    def cut(cls, after_bytes: int, times: int | None = None) -> Fault:
        """Announce the full Content-Length, send some bytes, drop the connection."""
        return cls("cut", count=after_bytes, times=times)

    @classmethod
    def wrong_bytes(cls, times: int | None = None) -> Fault:
        """Same length, different content: the sha256 no longer matches."""
        return cls("wrong_bytes", times=times)

    @classmethod
    def slow(cls, bytes_per_chunk: int, interval: float, times: int | None = None) -> Fault:
        """Trickle the body in chunks."""
        return cls("slow", count=bytes_per_chunk, seconds=interval, times=times)

    @classmethod
    def malformed(cls, times: int | None = None) -> Fault:
        """200 with a garbage body."""
        return cls("malformed", times=times)


class FakeIndex:
    """Fake pypi.org/simple + files.pythonhosted.org; see the module docstring."""

    def __init__(self, workdir: Path, mode: Mode = "json", relative_urls: bool = False) -> None:
        self.workdir = workdir
        self.mode: Mode = mode
        # Relative file URLs resolve against the index host, which serves them too.
        self.relative_urls = relative_urls
        self._lock = threading.Lock()
        self._projects: dict[str, Project] = {}
        self._files: dict[str, DistFile] = {}
        self._faults: dict[str, tuple[Fault, int | None]] = {}
        self._counts: Counter[tuple[str, str]] = Counter()
        self._serial = 0
        self._loop: LoopThread | None = None
        self._runners: list[web.AppRunner] = []
        self._stopping: asyncio.Event | None = None
        self._index_port = 0
        self._files_port = 0

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> FakeIndex:
        self._loop = LoopThread("fake-index")
        self._loop.run(self._serve())
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.stop(self._shutdown())
            self._loop = None

    def __enter__(self) -> FakeIndex:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def index_url(self) -> str:
        return f"http://127.0.0.1:{self._index_port}/simple/"

    @property
    def index_host(self) -> str:
        return f"http://127.0.0.1:{self._index_port}"

    @property
    def files_url(self) -> str:
        return f"http://127.0.0.1:{self._files_port}"

    # -- catalogue ---------------------------------------------------------

    def add_project(self, name: str, releases: Sequence[Release]) -> list[DistFile]:
        """Publish real wheels (and sdists) for ``releases``; returns the new files."""
        out_dir = self.workdir / "dists" / normalize(name)
        added: list[DistFile] = []
        for rel in releases:
            if rel.wheel:
                path = wheels.build_wheel(
                    out_dir, name, rel.version, rel.requires, rel.requires_python
                )
                data = path.read_bytes()
                added.append(
                    self.add_file(
                        name,
                        rel.version,
                        path.name,
                        data,
                        rel.requires_python,
                        rel.yanked,
                        wheels.wheel_metadata(data),
                        rel.uploaded,
                    )
                )
            if rel.sdist:
                path = wheels.build_sdist(out_dir, name, rel.version, rel.requires)
                added.append(
                    self.add_file(
                        name,
                        rel.version,
                        path.name,
                        path.read_bytes(),
                        rel.requires_python,
                        rel.yanked,
                        uploaded=rel.uploaded,
                    )
                )
            if not (rel.wheel or rel.sdist):
                self.add_file(name, rel.version, None, b"")
        return added

    def add_file(
        self,
        project: str,
        version: str,
        filename: str | None,
        data: bytes,
        requires_python: str | None = None,
        yanked: bool | str = False,
        metadata: bytes | None = None,
        uploaded: str | None = None,
    ) -> DistFile:
        """Low-level: list ``data`` under ``filename`` (None: only declare the version)."""
        with self._lock:
            self._serial += 1
            proj = self._projects.setdefault(normalize(project), Project(project))
            proj.serial = self._serial
            if version not in proj.versions:
                proj.versions.append(version)
            dist = DistFile(
                normalize(project),
                filename or "",
                version,
                data,
                requires_python,
                yanked,
                metadata,
                uploaded
                or f"2024-01-01T00:{self._serial // 60 % 60:02d}:{self._serial % 60:02d}.000000Z",
            )
            if filename:
                proj.files[filename] = dist
                self._files[filename] = dist
            return dist

    def add_default_projects(self) -> None:
        """The standard catalogue the end-to-end tests rely on."""
        self.add_project("alpha", [Release("1.0", requires=["beta>=1.0"])])
        self.add_project("beta", [Release("1.0"), Release("2.0", yanked="broken")])
        self.add_project("gamma", [Release("0.1", sdist=True)])
        self.add_project("delta", [Release("1.0", requires_python=">=3.8")])
        self.add_project("Zeta_Pkg", [Release("1.0")])

    def add_many_files(self, name: str, count: int) -> None:
        """A project with ``count`` tiny (not installable) files: a big page."""
        stem = wheels.filename_stem(name)
        for i in range(count):
            version = f"1.{i // 2}"
            if i % 2 == 0:
                filename = f"{stem}-{version}-py3-none-any.whl"
                meta = wheels.metadata_text(name, version).encode()
            else:
                filename, meta = f"{stem}-{version}.tar.gz", None
            self.add_file(name, version, filename, f"{filename}\n".encode(), ">=3.8", metadata=meta)

    def set_status(self, project: str, status: str | None, reason: str | None = None) -> None:
        """PEP 792 status. Files stay listed so tests can see groxpi hide them."""
        with self._lock:
            proj = self._projects[normalize(project)]
            proj.status, proj.status_reason = status, reason
            self._serial += 1
            proj.serial = self._serial

    def file(self, filename: str) -> DistFile:
        with self._lock:
            return self._files[filename]

    def files(self, project: str) -> list[DistFile]:
        with self._lock:
            return list(self._projects[normalize(project)].files.values())

    def file_url(self, filename: str) -> str:
        return self.files_url + self.file(filename).path

    # -- faults and accounting ---------------------------------------------

    def set_fault(self, target: str, fault: Fault) -> None:
        """Target: a project name, a filename, ``"*index*"`` or ``"*files*"``."""
        with self._lock:
            is_file = target in self._files or target.endswith(_FILE_SUFFIXES)
            key = target if is_file or target in (INDEX_ALL, FILES_ALL) else normalize(target)
            self._faults[key] = (fault, fault.times)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def index_requests(self, path: str | None = None) -> int:
        """Requests to the index host, optionally only those for ``path``."""
        with self._lock:
            return sum(
                n for (srv, p), n in self._counts.items() if srv == "index" and path in (None, p)
            )

    def file_requests(self, filename: str | None = None) -> int:
        """File downloads (either host), optionally only of ``filename``."""
        with self._lock:
            return sum(
                n
                for (srv, p), n in self._counts.items()
                if srv == "files" and filename in (None, p.rsplit("/", 1)[-1])
            )

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()

    def _record(self, server: str, path: str) -> None:
        with self._lock:
            self._counts[(server, path)] += 1

    def _take_fault(self, *keys: str) -> Fault | None:
        with self._lock:
            for key in keys:
                entry = self._faults.get(key)
                if entry is None:
                    continue
                fault, left = entry
                if left is not None:
                    if left <= 1:
                        del self._faults[key]
                    else:
                        self._faults[key] = (fault, left - 1)
                return fault
        return None

    # -- servers -----------------------------------------------------------

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        index_app = web.Application()
        index_app.router.add_get("/simple/", self._handle_root)
        index_app.router.add_get("/simple/{project}", self._handle_no_slash)
        index_app.router.add_get("/simple/{project}/", self._handle_project)
        index_app.router.add_get("/packages/{a}/{b}/{filename}", self._handle_file)
        files_app = web.Application()
        files_app.router.add_get("/packages/{a}/{b}/{filename}", self._handle_file)
        ports = []
        for app in (index_app, files_app):
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            self._runners.append(runner)
            ports.append(runner.addresses[0][1])
        self._index_port, self._files_port = ports

    async def _shutdown(self) -> None:
        assert self._stopping is not None
        self._stopping.set()
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()

    async def _pause(self, seconds: float | None) -> bool:
        """Sleep, waking early when the fake stops; True if it is stopping."""
        assert self._stopping is not None
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True

    def _wants_json(self, request: web.Request) -> bool:
        return self.mode == "json" and pages.wants_json(request.headers.get("Accept", ""))

    async def _handle_root(self, request: web.Request) -> web.StreamResponse:
        self._record("index", request.path)
        fault = self._take_fault(INDEX_ALL)
        as_json = self._wants_json(request)
        with self._lock:
            projects = sorted(self._projects.items())
            serial = self._serial
        body = pages.project_list(projects, serial, as_json)
        return await self._send(
            request,
            body,
            JSON_TYPE if as_json else HTML_TYPE,
            fault,
            {"X-PyPI-Last-Serial": str(serial)},
        )

    async def _handle_no_slash(self, request: web.Request) -> web.StreamResponse:
        self._record("index", request.path)
        raise web.HTTPMovedPermanently(request.path + "/")

    async def _handle_project(self, request: web.Request) -> web.StreamResponse:
        self._record("index", request.path)
        raw = request.match_info["project"]
        key = normalize(raw)
        fault = self._take_fault(key, INDEX_ALL)
        if fault is None and raw != key:
            raise web.HTTPMovedPermanently(f"/simple/{key}/")
        with self._lock:
            proj = self._projects.get(key)
            snapshot = proj.copy() if proj else None
        if snapshot is None and (fault is None or fault.kind not in ("status", "hang")):
            raise web.HTTPNotFound(text="404 Not Found")
        as_json = self._wants_json(request)
        body = b""
        if snapshot is not None:
            render = pages.project_json if as_json else pages.project_html
            body = render(key, snapshot, self._file_href)
        headers = {"X-PyPI-Last-Serial": str(snapshot.serial if snapshot else 0)}
        return await self._send(request, body, JSON_TYPE if as_json else HTML_TYPE, fault, headers)

    def _file_href(self, dist: DistFile) -> str:
        if self.relative_urls:
            return "../.." + dist.path
        return self.files_url + dist.path

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        self._record("files", request.path)
        name = request.match_info["filename"]
        is_meta = name.endswith(".metadata")
        fault = self._take_fault(name, FILES_ALL)
        with self._lock:
            dist = self._files.get(name.removesuffix(".metadata") if is_meta else name)
        data = None
        if dist is not None and request.path.endswith(dist.path + (".metadata" * is_meta)):
            data = dist.metadata if is_meta else dist.data
        if data is None and (fault is None or fault.kind not in ("status", "hang")):
            raise web.HTTPNotFound(text="404 Not Found")
        return await self._send(request, data or b"", "application/octet-stream", fault)

    async def _send(
        self,
        request: web.Request,
        body: bytes,
        content_type: str,
        fault: Fault | None,
        headers: dict[str, str] | None = None,
    ) -> web.StreamResponse:
        """Answer ``body``, bent by ``fault`` if one applies."""
        hdrs = {"Content-Type": content_type, **(headers or {})}
        kind = fault.kind if fault else None
        if fault is not None and kind == "status":
            return web.Response(status=fault.code, text=f"{fault.code} injected fault")
        if kind == "hang" and await self._pause(None):
            raise web.HTTPServiceUnavailable(text="fake index stopping")
        if fault is not None and kind == "delay":
            await self._pause(fault.seconds)
        if kind == "wrong_bytes":
            body = body.translate(_FLIP)
        elif kind == "malformed":
            body = pages.malformed_body(content_type)
        if fault is None or kind not in ("cut", "slow") or request.method == "HEAD":
            return web.Response(body=body, headers=hdrs)
        resp = web.StreamResponse(headers=hdrs)
        resp.content_length = len(body)
        await resp.prepare(request)
        if kind == "cut":
            await resp.write(body[: fault.count])
            if request.transport is not None:
                request.transport.close()
            return resp
        for start in range(0, len(body), max(fault.count, 1)):
            await resp.write(body[start : start + max(fault.count, 1)])
            if await self._pause(fault.seconds):
                break
        return resp
