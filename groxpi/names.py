"""Validation of client-supplied project names and filenames (PEP 503 / PEP 508).

Nothing from a request reaches a path or an upstream URL without passing here.
"""

from __future__ import annotations

import re
from functools import lru_cache

from packaging.utils import canonicalize_name

# ASCII only (with IGNORECASE alone, "[A-Z]" also matches U+017F and the Kelvin sign),
# and used with fullmatch ("$" would let a trailing newline through).
_PROJECT_RE = re.compile(r"[A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9]", re.IGNORECASE | re.ASCII)
_UNRESERVED = "A-Za-z0-9._~-"  # what urllib.parse.quote leaves as it is
_FILENAME_RE = re.compile(rf"[A-Za-z0-9_][+!={_UNRESERVED}]*", re.ASCII)
PLAIN_FILENAME_RE = re.compile(rf"[A-Za-z0-9_][{_UNRESERVED}]*", re.ASCII)
"""A valid filename (when at most MAX_NAME long) that is its own URL path segment:
nothing in it for ``quote`` to escape."""
MAX_NAME = 200
METADATA_SUFFIX = ".metadata"


@lru_cache(maxsize=4096)
def normalize_project(name: str) -> str | None:
    """The PEP 503 normalized name, or None when ``name`` is not a valid project name."""
    if len(name) > MAX_NAME or not _PROJECT_RE.fullmatch(name):
        return None
    return canonicalize_name(name)


def valid_filename(filename: str) -> bool:
    """A plain file name: no separators, no dot-files, no traversal, bounded length."""
    return len(filename) <= MAX_NAME and bool(_FILENAME_RE.fullmatch(filename))
