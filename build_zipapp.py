"""Build ``dist/groxpi.pyz``: groxpi and every dependency in one runnable file.

Usage::

    python build_zipapp.py [--output-dir DIR] [--unlocked]
    python dist/groxpi.pyz --version

The archive is made with shiv (``make zipapp`` installs it from
``requirements/build.txt`` when it is missing). The dependencies are exactly
those pinned in ``requirements/runtime.txt`` (``make lock`` refreshes it): pip
installs them, hash-checked and without resolving anything else, compiled
extensions included (uvloop, msgspec, isal, selectolax, yarl, multidict,
frozenlist, propcache, the aiohttp speedups), into a site-packages to which shiv
adds this project directory (``.``, without dependencies) and zips up with the entry point
``groxpi.__main__:main``. ``--unlocked`` lets pip resolve the newest releases
that ``pyproject.toml`` allows instead. Two identical files are written:

* ``dist/groxpi.pyz``, the stable name used by the Docker image, and
* ``dist/groxpi-<version>-<python tag>-<platform>.pyz``, e.g.
  ``groxpi-0.1.0-cp311-linux_x86_64.pyz``, which says what it runs on.

**The archive is Python-version and platform specific.** The compiled
extensions inside it are built for the interpreter and platform that ran this
script (for example CPython 3.11 on x86-64 Linux with glibc): run it with a
plain interpreter of that same minor version on the same kind of machine.
Nothing else needs to be installed there. ``python groxpi.pyz --version``
prints the interpreter and platform it is running on, e.g.
``groxpi 0.1.0 (CPython 3.11.7, linux)``.

Start-up: on its first run the archive unpacks its site-packages into
``~/.shiv/<name>_<build id>/`` (``SHIV_ROOT`` overrides the directory, which
must be writable on that first run) and byte-compiles it there once (shiv's
``--compile-pyc``), so later starts import straight from compiled ``.pyc``
files, even where ``PYTHONDONTWRITEBYTECODE`` is set or the directory is read
only. The build id is a hash of the contents and the build is
``--reproducible`` (fixed timestamps), so rebuilding unchanged sources reuses
the unpacked copy. Old unpacked builds are never removed automatically; delete
stale ``groxpi*.pyz_*`` directories under ``SHIV_ROOT`` when upgrading.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent
ENTRY_POINT = "groxpi.__main__:main"
STABLE_NAME = "groxpi.pyz"
LOCK_FILE = PROJECT_DIR / "requirements" / "runtime.txt"
PIP_QUIET = ["--disable-pip-version-check", "--no-warn-script-location"]


def project_version() -> str:
    """The version string from ``groxpi/__init__.py``, without importing the package."""
    text = (PROJECT_DIR / "groxpi" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', text, re.MULTILINE)
    if not match:
        raise SystemExit("build_zipapp: no __version__ in groxpi/__init__.py")
    return match.group(1)


def python_tag() -> str:
    """``cp311`` for CPython 3.11, like a wheel's Python tag."""
    abbrev = {"cpython": "cp", "pypy": "pp"}.get(sys.implementation.name, sys.implementation.name)
    return f"{abbrev}{sys.version_info.major}{sys.version_info.minor}"


def platform_tag() -> str:
    """``linux_x86_64``, ``macosx_14_0_arm64``, ... like a wheel's platform tag."""
    return re.sub(r"[^A-Za-z0-9]+", "_", sysconfig.get_platform())


def tagged_name() -> str:
    return f"groxpi-{project_version()}-{python_tag()}-{platform_tag()}.pyz"


def locked_install_command(site_packages: Path, lock: Path = LOCK_FILE) -> list[str]:
    """pip installing exactly the pinned, hash-checked dependencies into ``site_packages``."""
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        *PIP_QUIET,
        "--require-hashes",
        "--no-deps",
        "--target",
        str(site_packages),
        "--requirement",
        str(lock),
    ]


def shiv_command(output: Path, site_packages: Path | None = None) -> list[str]:
    """shiv adding the project to ``site_packages`` (locked), or resolving everything itself."""
    locked = ["--site-packages", str(site_packages)] if site_packages is not None else []
    return [
        sys.executable,
        "-m",
        "shiv",
        "--entry-point",
        ENTRY_POINT,
        "--output-file",
        str(output),
        "--python",
        "/usr/bin/env python3",
        "--reproducible",
        "--compressed",
        "--compile-pyc",
        *locked,
        # Arguments from here on go to ``pip install``.
        *PIP_QUIET,
        *(["--no-deps"] if site_packages is not None else []),
        str(PROJECT_DIR),
    ]


def build(output_dir: Path, locked: bool = True) -> Path:
    """Build the archive into ``output_dir``; returns the path of ``groxpi.pyz``."""
    try:
        import shiv  # noqa: F401
    except ImportError:
        raise SystemExit(
            "build_zipapp: shiv is not installed; run `make zipapp`, which installs it, "
            "or `pip install --require-hashes --no-deps -r requirements/build.txt`"
        ) from None
    if locked and not LOCK_FILE.is_file():
        raise SystemExit(f"build_zipapp: {LOCK_FILE} is missing (or build with --unlocked)")
    output_dir.mkdir(parents=True, exist_ok=True)
    tagged = output_dir / tagged_name()
    stable = output_dir / STABLE_NAME
    # Build under a private name, then rename: a reader never sees a half-written archive.
    scratch = output_dir / f".{STABLE_NAME}.{os.getpid()}.tmp"
    scratch_copy = output_dir / f".{STABLE_NAME}.{os.getpid()}.copy.tmp"
    step = "pip install -r requirements/runtime.txt"
    try:
        with tempfile.TemporaryDirectory(prefix="groxpi-site-packages-") as tmp:
            site_packages = Path(tmp) if locked else None
            if site_packages is not None:
                subprocess.run(locked_install_command(site_packages), cwd=PROJECT_DIR, check=True)
                # Console scripts of dependencies (shebangs naming this interpreter) are
                # of no use in the archive, and their bin/ would make pip skip groxpi's.
                shutil.rmtree(site_packages / "bin", ignore_errors=True)
            step = "shiv"
            subprocess.run(shiv_command(scratch, site_packages), cwd=PROJECT_DIR, check=True)
        shutil.copy2(scratch, scratch_copy)
        os.replace(scratch, tagged)
        os.replace(scratch_copy, stable)
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"build_zipapp: {step} failed with exit code {exc.returncode}") from None
    finally:
        scratch.unlink(missing_ok=True)
        scratch_copy.unlink(missing_ok=True)
    size_mib = stable.stat().st_size / 2**20
    print(f"built {stable} and {tagged.name} ({size_mib:.1f} MiB)")
    return stable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=PROJECT_DIR / "dist",
        help="where to write the archives (default: dist/ in the project)",
    )
    parser.add_argument(
        "--unlocked",
        action="store_true",
        help="let pip resolve the newest allowed dependencies instead of requirements/runtime.txt",
    )
    args = parser.parse_args(argv)
    build(args.output_dir.resolve(), locked=not args.unlocked)
    return 0


if __name__ == "__main__":
    sys.exit(main())
