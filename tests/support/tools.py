"""Tools some tests drive (node, htpasswd, unshare): skipped where missing, never on CI."""

from __future__ import annotations

import os

import pytest


def require(available: bool, what: str, install: str) -> None:
    """Skip when ``what`` is missing here; fail on CI, where ``.ci/run`` installs it."""
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing on CI: {install}")
    pytest.skip(f"{what} is not available ({install})")
