"""Command line: ``python -m groxpi``, ``groxpi`` or ``python groxpi.pyz``."""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import logging
import os
import platform
import signal
import socket
import sys
from pathlib import Path

from . import __version__, logs
from .config import Config, ConfigError, load_config, requested_log_format
from .supervisor import STOP_SIGNALS, Supervisor, stop_with_parent

ENV_HELP = """\
configuration (environment; every GROXPI_X also reads PROXPI_X; README.md explains each):
  server:   PORT (5000), GROXPI_HOST (0.0.0.0), GROXPI_WORKERS (1),
            GROXPI_SHUTDOWN_TIMEOUT (10), GROXPI_LOGGING_LEVEL (INFO),
            GROXPI_LOG_FORMAT (text|json), GROXPI_ACCESS_LOG (false), GROXPI_ADMIN_TOKEN
  access:   GROXPI_AUTH_FILE (htpasswd file, bcrypt: clients need HTTP Basic),
            GROXPI_AUTH_METRICS (false: /metrics stays open; /health always is)
  secrets:  GROXPI_ADMIN_TOKEN_FILE, AWS_ACCESS_KEY_ID_FILE, AWS_SECRET_ACCESS_KEY_FILE
            (read the value from that file instead)
  indexes:  GROXPI_INDEX_URL (PyPI), GROXPI_INDEX_TTL (1800),
            GROXPI_EXTRA_INDEX_URLS, GROXPI_EXTRA_INDEX_TTLS (180 each),
            GROXPI_NEGATIVE_TTL (60), GROXPI_CONNECT_TIMEOUT (3.1),
            GROXPI_READ_TIMEOUT (20), GROXPI_DISABLE_INDEX_SSL_VERIFICATION (false)
            GROXPI_OFFLINE (false: never contact an upstream)
  policies: GROXPI_PROJECT_INDEXES (pattern=index-url,...),
            GROXPI_ALLOW_PROJECTS, GROXPI_DENY_PROJECTS (globs),
            GROXPI_DENY_STATUS (404|403), GROXPI_MIN_RELEASE_AGE (7d, 36h, 90m, s),
            GROXPI_MIN_RELEASE_AGE_EXEMPT (globs)
  files:    GROXPI_CACHE_SIZE (5GB), GROXPI_CACHE_DIR, GROXPI_DOWNLOAD_TIMEOUT (0.9),
            GROXPI_STORAGE_TYPE (local|s3)
  s3:       GROXPI_S3_BUCKET, GROXPI_S3_PREFIX (groxpi), GROXPI_S3_USE_SSL (true),
            GROXPI_S3_FORCE_PATH_STYLE (false), GROXPI_S3_REDIRECT (false),
            GROXPI_S3_CREATE_BUCKET (false), AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
            AWS_SECRET_ACCESS_KEY, AWS_REGION or AWS_DEFAULT_REGION (us-east-1)
"""


def version_string() -> str:
    impl = platform.python_implementation()
    return f"groxpi {__version__} ({impl} {platform.python_version()}, {sys.platform})"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="groxpi",
        description="A fast caching proxy for the Python Package Index.",
        epilog=ENV_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=version_string())
    parser.add_argument("--host", help="bind address (GROXPI_HOST)")
    parser.add_argument("--port", type=int, help="listen port (PORT)")
    return parser.parse_args(argv)


def serve(config: Config, reuse_port: bool = False, metrics_dir: Path | None = None) -> int:
    """Run one server process until SIGTERM/SIGINT, then shut down gracefully."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - platforms without uvloop
        return asyncio.run(_serve(config, reuse_port, metrics_dir))
    return uvloop.run(_serve(config, reuse_port, metrics_dir))


_early_stop = False


def _note_early_stop(signum: int, _frame: object) -> None:
    """A stop signal that came before the event loop's own handlers were installed."""
    global _early_stop
    _early_stop = True


def _worker(config: Config, metrics_dir: Path, parent: int) -> None:
    # Forked with stop signals blocked and the parent's forwarding handler inherited:
    # replace that handler before unblocking, so an early SIGTERM stops this worker
    # gracefully instead of running the parent's code here.
    for signum in STOP_SIGNALS:
        signal.signal(signum, _note_early_stop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    stop_with_parent(parent)
    try:
        code = serve(config, reuse_port=True, metrics_dir=metrics_dir)
    except Exception:  # logged in the configured format, not as multiprocessing's traceback
        logging.getLogger("groxpi").exception("worker failed")
        code = 1
    sys.exit(code)


async def _serve(config: Config, reuse_port: bool, metrics_dir: Path | None) -> int:
    """Stop accepting on a signal, let in-flight responses finish (bounded), clean up."""
    from aiohttp import web

    from .storage import StorageError
    from .web.app import create_app
    from .web.metrics import runner_options
    from .web.state import SERVICES

    runner: web.AppRunner | None = None
    try:
        app = create_app(config, metrics_dir)
        runner = web.AppRunner(
            app,
            **runner_options(app, config.access_log),
            handle_signals=False,
            shutdown_timeout=config.shutdown_timeout,
        )
        await runner.setup()
    except StorageError as exc:
        if runner is not None:
            await runner.cleanup()
        logs.fatal(f"storage unusable: {exc}")
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    if _early_stop:
        stop.set()
    try:
        site = web.TCPSite(runner, config.host, config.port, reuse_port=reuse_port or None)
        await site.start()
        # Everything built so far lives as long as the process: keep the cyclic
        # garbage collector from walking it again on every full collection.
        gc.freeze()
        await stop.wait()
        runner.app[SERVICES].stopping = True  # from now on /health answers 503
        logging.getLogger("groxpi").info("shutting down")
    finally:
        await runner.cleanup()
    return 0


def _check_port(config: Config) -> None:
    """Fail fast, with one line, when the port is taken (before forking workers)."""
    with socket.socket(socket.AF_INET6 if ":" in config.host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((config.host, config.port))


def serve_workers(config: Config) -> int:
    """Several processes accepting on one port (SO_REUSEPORT), kept running by a supervisor.

    Each worker is given this run's metrics directory: their numbers add up
    there, the restarted ones' included.
    """
    # Imported once here rather than in every worker: each (re)start forks with the
    # web stack loaded, so it serves sooner and shares those pages with its siblings.
    from .web import app  # noqa: F401
    from .web.worker_metrics import run_directory

    metrics_dir = run_directory(config.cache_dir / "metrics")
    worker = functools.partial(_worker, config, metrics_dir, os.getpid())
    return Supervisor(worker, config.workers).run()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = dict(os.environ)
    if args.host:
        env["GROXPI_HOST"] = args.host
    if args.port:
        env["PORT"] = str(args.port)
    try:
        config = load_config(env)
    except ConfigError as exc:
        logs.fatal(f"invalid configuration: {exc}", json=requested_log_format(env) == "json")
        return 2
    logs.configure(config.logging_level, config.log_format)
    log = logging.getLogger("groxpi")
    try:
        _check_port(config)
    except OSError as exc:
        logs.fatal(f"cannot listen on {config.host}:{config.port}: {exc.strerror}")
        return 2
    log.info(
        "%s listening on http://%s:%d/ (index %s, %s storage)",
        version_string(),
        config.host,
        config.port,
        config.index.display_url,
        config.storage_type,
    )
    if config.workers > 1:
        return serve_workers(config)
    return serve(config)


if __name__ == "__main__":
    sys.exit(main())
