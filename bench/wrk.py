"""wrk runs: one load test, its numbers read from a Lua ``done`` hook as JSON."""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.tools import require_wrk

MARK = "BENCHJSON "
DONE_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,'
    .. '"write":%d,"status":%d,"timeout":%d,"p50_us":%f,"p90_us":%f,"p99_us":%f,'
    .. '"mean_us":%f,"max_us":%f}\\n',
    "MARK", summary.requests, summary.duration, summary.bytes, e.connect, e.read,
    e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max))
end
""".replace("MARK", MARK)


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    bytes: int
    errors: int  # connect, read, write, timeout and non-2xx/3xx answers
    bad_status: int  # non-2xx/3xx answers (wrk counts them as requests too)
    p50_ms: float
    p90_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        """Successful responses per second (error answers do not count)."""
        return (self.requests - self.bad_status) / self.seconds if self.seconds else 0.0

    @property
    def error_share(self) -> float:
        return self.errors / max(self.requests, 1)

    @property
    def transfer_mbps(self) -> float:
        return self.bytes / self.seconds / 1e6 if self.seconds else 0.0


class WrkError(RuntimeError):
    pass


def parse(output: str) -> WrkResult:
    for line in output.splitlines():
        if line.startswith(MARK):
            d = json.loads(line[len(MARK) :])
            errors = sum(d[k] for k in ("connect", "read", "write", "status", "timeout"))
            return WrkResult(
                requests=d["requests"],
                seconds=d["duration_us"] / 1e6,
                bytes=d["bytes"],
                errors=errors,
                bad_status=d["status"],
                p50_ms=d["p50_us"] / 1000,
                p90_ms=d["p90_us"] / 1000,
                p99_ms=d["p99_us"] / 1000,
            )
    raise WrkError(f"wrk printed no result:\n{output[-2000:]}")


def run(
    url: str,
    duration: int,
    threads: int,
    connections: int,
    headers: Mapping[str, str] | None = None,
    timeout: int = 10,
) -> WrkResult:
    """``wrk -t -c -d --timeout`` against ``url``; needs wrk on PATH."""
    exe = require_wrk()
    threads = max(1, min(threads, connections))
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "done.lua"
        script.write_text(DONE_LUA)
        argv = [
            exe,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, duration)}s",
            f"--timeout={timeout}s",
            "-s",
            str(script),
        ]
        for name, value in (headers or {}).items():
            argv += ["-H", f"{name}: {value}"]
        argv.append(url)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration + timeout + 60)
    if proc.returncode != 0:
        raise WrkError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return parse(proc.stdout)
