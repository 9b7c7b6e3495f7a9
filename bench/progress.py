"""One progress line per step, with the time since the run started."""

from __future__ import annotations

import sys
import time
from typing import TextIO

_START = time.monotonic()


def set_start() -> None:
    global _START
    _START = time.monotonic()


def step(message: str, stream: TextIO | None = None) -> None:
    """Print ``[ 12.3s] message`` and flush, so a watching user sees it at once."""
    out = stream or sys.stdout
    print(f"[{time.monotonic() - _START:7.1f}s] {message}", file=out, flush=True)


def skip(what: str, reason: str) -> None:
    step(f"skip {what}: {reason}")
