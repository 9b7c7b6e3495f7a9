"""Release versions of a project page: from its files, and across merged indexes."""

from __future__ import annotations

from collections.abc import Iterable

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from .models import File, ProjectPage


def version_of(filename: str) -> str | None:
    """The release version a wheel or sdist filename names; None for anything else."""
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[1])
        return str(parse_sdist_filename(filename)[1])
    except (InvalidWheelFilename, InvalidSdistFilename, ValueError):
        return None


def normalize_version(version: str) -> str:
    """The PEP 440 normal form (as filenames are compared), or the text as given."""
    try:
        return str(Version(version))
    except InvalidVersion:
        return version


def versions_of(files: Iterable[File]) -> list[str]:
    """Release versions named by the file list (for pages that do not list them)."""
    seen: dict[str, None] = {}
    for file in files:
        version = version_of(file.filename)
        if version is not None:
            seen[version] = None
    return list(seen)


def merged_versions(pages: list[ProjectPage]) -> list[str]:
    """Every version any index listed (PEP 700 ``versions`` may name releases
    without files), from filenames for an index that sent none; sorted, so the
    page does not depend on which index answered first."""
    seen: dict[str, None] = {}
    for page in pages:
        listed = page.versions if isinstance(page.versions, list) else versions_of(page.files)
        seen.update(dict.fromkeys(listed))
    return sorted(seen, key=_version_order)


def _version_order(version: str) -> tuple[int, Version | str]:
    """PEP 440 order; anything unparsable after every valid version, by name."""
    try:
        return (0, Version(version))
    except InvalidVersion:
        return (1, version)
