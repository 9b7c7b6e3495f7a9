"""Small, real, installable distributions built offline.

The fake upstream index serves these so that pip and uv can install through
groxpi without touching the network. Timestamps and ordering are fixed so the
bytes (and therefore the sha256 the index advertises) are stable.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import re
import tarfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_TAR_MTIME = 315532800  # 1980-01-01, matches the zip timestamps


def normalize(name: str) -> str:
    """PEP 503 normalized project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def filename_stem(name: str) -> str:
    """Distribution name as it appears in wheel and sdist filenames."""
    return normalize(name).replace("-", "_")


def wheel_filename(name: str, version: str) -> str:
    return f"{filename_stem(name)}-{version}-py3-none-any.whl"


def sdist_filename(name: str, version: str) -> str:
    return f"{filename_stem(name)}-{version}.tar.gz"


def metadata_text(
    name: str,
    version: str,
    requires: Sequence[str] = (),
    requires_python: str | None = None,
) -> str:
    """Core metadata (Metadata-Version 2.1) shared by wheels and sdists."""
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines.append(f"Summary: Test distribution {name} {version}")
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines.extend(f"Requires-Dist: {req}" for req in requires)
    return "\n".join(lines) + "\n"


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def _zip_bytes(entries: Iterable[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for arcname, data in entries:
            info = zipfile.ZipInfo(arcname, date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()


def wheel_bytes(
    name: str,
    version: str,
    requires: Sequence[str] = (),
    requires_python: str | None = None,
) -> bytes:
    """A pure-python py3-none-any wheel with a correct RECORD."""
    stem = filename_stem(name)
    dist_info = f"{stem}-{version}.dist-info"
    files: list[tuple[str, bytes]] = [
        (f"{stem}/__init__.py", f'__version__ = "{version}"\n'.encode()),
        (
            f"{dist_info}/METADATA",
            metadata_text(name, version, requires, requires_python).encode(),
        ),
        (
            f"{dist_info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: groxpi-tests\n"
            b"Root-Is-Purelib: true\nTag: py3-none-any\n",
        ),
    ]
    record_lines = [f"{arc},{_record_hash(data)},{len(data)}" for arc, data in files]
    record_lines.append(f"{dist_info}/RECORD,,")
    files.append((f"{dist_info}/RECORD", ("\n".join(record_lines) + "\n").encode()))
    return _zip_bytes(files)


def sdist_bytes(name: str, version: str, requires: Sequence[str] = ()) -> bytes:
    """A minimal .tar.gz sdist (PKG-INFO, pyproject.toml, the package)."""
    root = f"{filename_stem(name)}-{version}"
    stem = filename_stem(name)
    reqs = ", ".join(f'"{r}"' for r in requires)
    pyproject = (
        '[build-system]\nrequires = ["setuptools>=61"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\ndependencies = [{reqs}]\n'
    )
    members = [
        (f"{root}/PKG-INFO", metadata_text(name, version, requires).encode()),
        (f"{root}/pyproject.toml", pyproject.encode()),
        (f"{root}/{stem}/__init__.py", f'__version__ = "{version}"\n'.encode()),
    ]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for arcname, data in members:
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            info.mtime = _TAR_MTIME
            info.mode = 0o644
            info.uname = info.gname = ""
            tf.addfile(info, io.BytesIO(data))
    # Compress separately so the gzip header carries a fixed mtime and no name.
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def build_wheel(
    dest_dir: Path,
    name: str,
    version: str,
    requires: Sequence[str] = (),
    requires_python: str | None = None,
) -> Path:
    """Write a wheel into ``dest_dir`` and return its path."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / wheel_filename(name, version)
    path.write_bytes(wheel_bytes(name, version, requires, requires_python))
    return path


def build_sdist(dest_dir: Path, name: str, version: str, requires: Sequence[str] = ()) -> Path:
    """Write an sdist into ``dest_dir`` and return its path."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / sdist_filename(name, version)
    path.write_bytes(sdist_bytes(name, version, requires))
    return path


def wheel_metadata(wheel: Path | bytes) -> bytes:
    """The METADATA bytes inside a wheel: what PEP 658 serves as ``<file>.metadata``."""
    source = io.BytesIO(wheel) if isinstance(wheel, bytes) else wheel
    with zipfile.ZipFile(source) as zf:
        for arcname in zf.namelist():
            if arcname.count("/") == 1 and arcname.endswith(".dist-info/METADATA"):
                return zf.read(arcname)
    raise ValueError("no .dist-info/METADATA in wheel")
