"""Real pip releases for the compatibility matrix, run straight from their wheels.

A pip wheel is importable as a zip, so ``python pip-X.whl/pip`` runs that
release in any interpreter without installing it: one bare venv per test
takes whichever pip the test names. The wheels are fetched from the package
index once into ``.test-cache/pip/`` (or ``GROXPI_TEST_PIP_WHEELS``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.server import REPO_ROOT

MATRIX = ("20.3.4", "22.3.1", "23.0.1", "23.1.2", "24.0")
"""The oldest with the new resolver, the three that crash on the dict form of the
JSON key ``dist-info-metadata`` (Debian 12 ships 23.0.1), and the first after them.
The newest release is the one the test environment runs (see :func:`newest`)."""

JSON_SINCE = (22, 2)
"""pip asks for PEP 691 JSON from this release on; older ones read HTML only."""

WHEEL_DIR = Path(os.environ.get("GROXPI_TEST_PIP_WHEELS", REPO_ROOT / ".test-cache" / "pip"))


def newest() -> str:
    """The release of the pip installed beside the tests (CI upgrades it to the latest)."""
    from importlib.metadata import version

    return version("pip")


def speaks_json(release: str) -> bool:
    return tuple(int(part) for part in release.split(".")[:2]) >= JSON_SINCE


def pip_wheel(release: str) -> Path:
    """The wheel of pip ``release``, downloaded once with the test environment's pip."""
    found = sorted(WHEEL_DIR.glob(f"pip-{release}-*.whl"))
    if found:
        return found[0]
    WHEEL_DIR.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--only-binary=:all:", "--dest", str(WHEEL_DIR), f"pip=={release}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    found = sorted(WHEEL_DIR.glob(f"pip-{release}-*.whl"))
    assert result.returncode == 0 and found, (
        f"could not fetch pip {release} into {WHEEL_DIR}: {result.stderr.strip()[-500:]}"
    )
    return found[0]


def run_pip(python: Path, release: str, *args: str) -> str:
    """``pip <args>`` with pip ``release`` under ``python``; asserts success, returns output."""
    result = subprocess.run(
        [str(python), f"{pip_wheel(release)}/pip", *args,
         "--isolated", "--no-cache-dir", "--disable-pip-version-check"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"pip {release} {args[0]} failed:\n{output}"
    return output
