"""One benchmark run: start the upstream, then each server in turn, its scenarios, stop.

Servers run one at a time on the same two cores, so no server's load steals
CPU from another's. Each is stopped before the next starts.
"""

from __future__ import annotations

import http.client
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import progress
from bench.biglist import BigListUpstream
from bench.monitor import Monitor
from bench.results import Results
from bench.scenarios import Context, api, coalesce, files, stall, uv
from bench.servers import ExternalServer, Server, ServerError
from bench.servers.ceilings import BareAiohttpServer, NginxServer, capture
from bench.servers.devpi import DevpiServer
from bench.servers.groxpi import GroxpiServer
from bench.servers.proxpi import ProxpiServer
from bench.settings import Settings
from bench.tools import NGINX_INSTALL, find_nginx
from bench.upstream import LocalUpstream, Upstream
from bench.venvs import VenvError
from tests.support.moto import ACCESS_KEY, REGION, SECRET_KEY, MotoServer

PROXIES = ("groxpi", "proxpi", "devpi")


class Run:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.workdir = Path(tempfile.mkdtemp(prefix="groxpi-bench-"))
        self.results = Results()
        self.upstream: Upstream = (
            LocalUpstream(settings, self.workdir / "upstream")
            if settings.upstream == "local" and not settings.external
            else Upstream(settings)
        )
        self.ctx = Context(settings, self.upstream, self.results)
        self.ceiling_root: Path | None = None
        self.versions: dict[str, str] = {}

    # -- building servers -------------------------------------------------

    def _external(self, name: str) -> Server | None:
        s = self.settings
        if name == "groxpi" and s.groxpi_url:
            return ExternalServer("groxpi", "groxpi", s.groxpi_url, "/simple/")
        if name == "proxpi" and s.proxpi_url:
            return ExternalServer("proxpi", "proxpi", s.proxpi_url, "/index/")
        return None

    @contextmanager
    def _server(self, name: str) -> Iterator[Server | None]:
        """Build ``name`` (with what it needs, e.g. moto for S3), or yield None to skip."""
        s, url, wd = self.settings, self.upstream.index_url, self.workdir
        if s.external:
            if name in ("aiohttp-bare", "nginx"):
                yield self._ceiling(name)
            else:
                yield self._external(name)
            return
        if name in ("groxpi", "groxpi-2w"):
            yield GroxpiServer(name, url, wd, workers=2 if name.endswith("2w") else 1)
        elif name == "groxpi-s3":
            if not (s.wants("file") and self.upstream.local):
                yield None
                return
            moto = MotoServer()
            try:
                moto.start()
            except (RuntimeError, OSError) as exc:
                progress.skip(name, f"moto_server (the S3 endpoint) did not start: {exc}")
                yield None
                return
            try:
                env = {
                    "GROXPI_STORAGE_TYPE": "s3",
                    "GROXPI_S3_BUCKET": "bench",
                    "GROXPI_S3_CREATE_BUCKET": "true",
                    "GROXPI_S3_FORCE_PATH_STYLE": "true",
                    "GROXPI_S3_USE_SSL": "false",
                    "AWS_ENDPOINT_URL": moto.endpoint,
                    "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                    "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                    "AWS_REGION": REGION,
                }
                yield GroxpiServer(name, url, wd, extra_env=env)
            finally:
                moto.stop()
        elif name in ("proxpi", "proxpi-2w", "devpi"):
            yield self._peer(name)
        else:
            yield self._ceiling(name)

    def _peer(self, name: str) -> Server | None:
        """proxpi or devpi from their own venvs; None (with the reason) if they won't install."""
        url, wd = self.upstream.index_url, self.workdir
        progress.step(f"preparing {name} (its own venv under bench/venvs/)")
        try:
            if name == "devpi":
                return DevpiServer(name, url, wd)
            return ProxpiServer(name, url, wd, workers=2 if name.endswith("2w") else 1)
        except VenvError as exc:
            progress.skip(name, f"it did not install: {exc}")
            return None

    def _ceiling(self, name: str) -> Server | None:
        if not (self.settings.wants("api") or self.settings.wants("file")):
            return None
        try:
            root = self._ensure_capture()
        except (ServerError, OSError) as exc:
            progress.skip(name, f"could not capture groxpi's answers: {exc}")
            return None
        if root is None:
            progress.skip(name, "no groxpi answers to replay")
            return None
        if name == "nginx":
            if find_nginx() is None:
                progress.skip(name, NGINX_INSTALL)
                return None
            return NginxServer(name, root, self.workdir)
        return BareAiohttpServer(name, root, self.workdir)

    def _ensure_capture(self) -> Path | None:
        if self.ceiling_root is not None:
            return self.ceiling_root
        if self.settings.groxpi_url:
            self._capture_from(self._external("groxpi"))  # type: ignore[arg-type]
            return self.ceiling_root
        progress.step("starting a groxpi to capture the bytes the ceilings replay")
        server = GroxpiServer("groxpi-capture", self.upstream.index_url, self.workdir)
        server.start()
        try:
            self._capture_from(server)
        finally:
            server.stop()
        return self.ceiling_root

    def _capture_from(self, server: Server) -> None:
        cat = self.upstream.catalogue
        big = [(cat.big_file.project, cat.big_file.filename)] if cat.big_file else []
        root = self.workdir / "ceiling-root"
        capture(server.simple_root, [cat.small, cat.large], big, root)
        self.ceiling_root = root
        progress.step(f"captured groxpi's answers for the ceilings from {server.name}")

    # -- running ----------------------------------------------------------

    def run_server(self, server: Server) -> None:
        s, ctx = self.settings, self.ctx
        progress.step(f"starting {server.name}")
        server.start()
        self.versions[server.name] = server.describe()
        monitor = Monitor(server.pids()).start()
        try:
            time.sleep(0.5)
            if monitor.active:
                ctx.results.add(server.name, "resources", "idle_rss_mb", monitor.rss_now_mb(), "MB")
            local = self.upstream.local
            is_proxy = server.kind in PROXIES and server.name != "groxpi-s3"
            if is_proxy and s.wants("api"):
                api.cold(ctx, server)
                api.large_cold(ctx, server)
            if is_proxy and s.wants("uv"):
                uv.run(ctx, server)
            if is_proxy and local and s.wants("coalesce"):
                coalesce.run(ctx, server)
            if local and s.wants("file"):
                if server.kind != "ceiling":
                    files.cold(ctx, server)
                files.cached(ctx, server, monitor)
            usages = []
            if s.wants("api") and server.name != "groxpi-s3":
                usages = api.load(ctx, server, monitor)
            if server.name == "groxpi" and self.ceiling_root is None and self._needs_capture():
                self._capture_from(server)
            if monitor.active:
                peak = monitor.overall().rss_peak_mb
                ctx.results.add(server.name, "resources", "peak_rss_mb", peak, "MB")
                if usages:
                    cpu = sum(u.cpu_mean_pct for u in usages) / len(usages)
                    ctx.results.add(server.name, "resources", "load_cpu_mean_pct", cpu, "%")
        finally:
            monitor.stop()
            progress.step(f"stopping {server.name}")
            server.stop()

    def loop_stall(self) -> None:
        """A groxpi of its own on the big-list upstream: one cold list under the poller."""
        n = self.settings.huge_list_projects
        progress.step(f"starting a fake upstream with a {n:,}-project HTML list")
        upstream = BigListUpstream(n, self.workdir)
        try:
            upstream.start()
        except ServerError as exc:
            progress.skip("loop-stall", f"the big-list upstream did not start: {exc}")
            return
        try:
            stall.upstream_baseline(self.ctx, upstream)
            server = GroxpiServer("groxpi-stall", upstream.index_url, self.workdir)
            server.name = "groxpi"  # its rows are groxpi's; cache and log stay its own
            progress.step("starting groxpi on the big-list upstream")
            server.start()
            monitor = Monitor(server.pids()).start()
            try:
                stall.run(self.ctx, server, monitor)
            finally:
                monitor.stop()
                server.stop()
        except ServerError as exc:
            progress.skip("loop-stall", f"groxpi did not start: {exc}")
        except (OSError, http.client.HTTPException) as exc:  # e.g. groxpi died mid-list
            progress.skip("loop-stall", f"the big list failed: {exc!r}")
        finally:
            upstream.stop()

    def _needs_capture(self) -> bool:
        return any(n in self.settings.servers for n in ("aiohttp-bare", "nginx"))

    def execute(self) -> Results:
        s = self.settings
        csv_path = s.out_dir / "results.csv"
        self.upstream.start()
        if not isinstance(self.upstream, LocalUpstream):
            progress.step(f"upstream: {'as configured' if s.external else self.upstream.index_url}")
        try:
            if isinstance(self.upstream, LocalUpstream):
                progress.step(f"local upstream at {self.upstream.index_url}")
                if s.wants("api"):
                    api.upstream_baseline(self.ctx)
                if s.wants("file"):
                    files.upstream_baseline(self.ctx)
            for name in s.servers:
                with self._server(name) as server:
                    if server is None:
                        continue
                    try:
                        self.run_server(server)
                    except ServerError as exc:
                        progress.skip(name, f"it did not start: {exc}")
                self.results.write_csv(csv_path)
            if s.wants("stall") and s.wants_server("groxpi") and not s.external:
                self.loop_stall()
        finally:
            self.upstream.stop()
            logs = self.workdir / "logs"
            if logs.is_dir():
                shutil.copytree(logs, s.out_dir / "logs", dirs_exist_ok=True)
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.results.write_csv(csv_path)
        return self.results
