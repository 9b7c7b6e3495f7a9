"""What one benchmark run does: durations, load shape, sizes, servers and scenarios."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Upstream = Literal["local", "pypi"]

# Row labels, in the order servers are run and shown.
ALL_SERVERS = (
    "groxpi",
    "groxpi-2w",
    "groxpi-s3",
    "proxpi",
    "proxpi-2w",
    "devpi",
    "aiohttp-bare",
    "nginx",
)
ALL_SCENARIOS = ("api", "file", "coalesce", "uv", "stall")
# Servers timed on several never-requested 3,000-file pages (api-large-cold).
LARGE_COLD_SERVERS = ("groxpi", "proxpi", "devpi")
MIB = 1024 * 1024


@dataclass(frozen=True)
class Check:
    """One headline figure of groxpi's; with a ``bound``, one it should reach.

    ``against`` names the server groxpi's value is divided by (None: groxpi's
    own value is compared with ``bound``). The bound's direction follows the
    metric: at least ``bound`` for higher-is-better metrics (requests/s, MB/s),
    at most for the rest. ``family`` is the ``--scenarios`` entry that makes
    the row: a check whose family or servers were not asked for is skipped.
    """

    family: str
    scenario: str
    metric: str
    against: str | None
    bound: float | None = None
    fails_run: bool = False  # a miss (or no figure) makes ``python -m bench`` exit 4
    note: str = ""
    server: str = "groxpi"


# The summary's headline rows and the thresholds a run (quick or full) must pass.
HEADLINE = (
    Check("api", "api-small-json-gzip", "rps", "proxpi", 10.0, fails_run=True),
    Check(
        "api",
        "api-small-json-gzip",
        "rps",
        "aiohttp-bare",
        0.8,
        fails_run=True,
        note="the bare-aiohttp ceiling is checked on the small gzip page only",
    ),
    Check("file", "file-cached", "throughput_mbps", "nginx"),
    Check("file", "file-cached", "cpu_s_per_gb", "proxpi"),
    Check("api", "api-large-cold", "total_ms", "proxpi"),
    Check("stall", "loop-stall", "max_stall_ms", None, 100.0, note="a goal, not enforced"),
    Check("stall", "loop-stall", "total_ms", None),
)
THRESHOLDS = tuple(c for c in HEADLINE if c.fails_run)
CHECKS_FAILED = 4  # exit status of a run that missed a threshold


@dataclass
class Settings:
    """Everything a run needs to know; built by :mod:`bench.cli`."""

    out_dir: Path
    upstream: Upstream = "local"
    duration: int = 60  # seconds per wrk run on index pages
    file_duration: int = 15  # seconds per wrk run on a cached file (converges fast)
    threads: int = 8
    connections: int = 100
    file_connections: int = 8
    coalesce_clients: int = 50
    cold_samples: int = 3  # uncached files per server for time to first byte
    uv_warm_repeats: int = 3  # warm installs per server (the median is kept)
    big_file_size: int = 20 * MIB  # cached-throughput file
    cold_file_size: int = 16 * MIB  # time-to-first-byte files
    large_page_files: int = 3000
    large_cold_samples: int = 5  # never-requested large pages per server (median kept)
    huge_list_projects: int = 700_000  # the loop-stall project list: about 40 MB of HTML
    stall_poll_s: float = 0.010  # how often /health is asked while the big list loads
    small_page_files: int = 40
    with_pyspark: bool = False
    servers: tuple[str, ...] = ALL_SERVERS
    scenarios: tuple[str, ...] = ALL_SCENARIOS
    groxpi_url: str | None = None
    proxpi_url: str | None = None
    full_matrix_servers: tuple[str, ...] = ("groxpi", "proxpi", "aiohttp-bare", "nginx")
    quick: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def external(self) -> bool:
        """Benchmarking servers someone else started (no local upstream counters)."""
        return bool(self.groxpi_url or self.proxpi_url)

    def wants(self, scenario: str) -> bool:
        return scenario in self.scenarios

    def wants_server(self, name: str) -> bool:
        return name in self.servers


def quick_settings(out_dir: Path) -> Settings:
    """Same flow, short runs, small files and a smaller big list: under four minutes."""
    return Settings(
        out_dir=out_dir,
        duration=2,
        file_duration=2,
        threads=2,
        connections=32,
        file_connections=2,
        coalesce_clients=20,
        cold_samples=1,
        uv_warm_repeats=1,
        big_file_size=8 * MIB,
        cold_file_size=4 * MIB,
        large_cold_samples=3,
        huge_list_projects=100_000,
        quick=True,
    )
