"""htpasswd files of bcrypt entries, as ``htpasswd -B`` writes them.

Only parsing lives here, no password check: start-up rejects a bad file with
one line before serving, and a reload keeps the last good users when an edit
is half written, both without running bcrypt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .environment import UnreadableFile, read_utf8

# $2a$, $2b$ and $2y$ are one algorithm (bcrypt) as different tools label it;
# then a two-digit cost and 53 characters of salt and hash.
_BCRYPT = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
MIN_COST, MAX_COST = 4, 31
DEFAULT_COST = 10  # htpasswd -B's, for the dummy check of a file with no users


class HtpasswdError(ValueError):
    """A file that cannot be used; the message says where and why, never a hash."""


@dataclass(frozen=True, slots=True)
class Users:
    """Users and their bcrypt hashes, in file order."""

    entries: tuple[tuple[bytes, bytes], ...] = ()  # (user name as UTF-8, hash)
    cost: int = DEFAULT_COST  # the highest cost in the file: what every check costs
    lowest_cost: int = DEFAULT_COST  # the lowest: below ``cost``, checks are padded up to it

    def __len__(self) -> int:
        return len(self.entries)


def parse_htpasswd(text: str) -> Users:
    """``user:$2y$...`` lines; blank lines and ``#`` comments are skipped."""
    entries: list[tuple[bytes, bytes]] = []
    seen: set[str] = set()
    costs: set[int] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user:
            raise HtpasswdError(f"line {number}: not user:hash")
        match = _BCRYPT.fullmatch(hashed)
        if match is None:
            raise HtpasswdError(
                f"line {number}: user {user!r} has no bcrypt hash (make it with htpasswd -B)"
            )
        cost = int(match.group(1))
        if not MIN_COST <= cost <= MAX_COST:
            raise HtpasswdError(f"line {number}: bcrypt cost {match.group(1)} is out of range")
        if user in seen:
            raise HtpasswdError(f"line {number}: user {user!r} appears twice")
        seen.add(user)
        entries.append((user.encode(), hashed.encode("ascii")))
        costs.add(cost)
    return Users(tuple(entries), max(costs), min(costs)) if costs else Users()


def read_htpasswd(path: Path) -> Users:
    """Parse the file at ``path``; errors name the path."""
    try:
        text = read_utf8(path)
    except UnreadableFile as exc:
        raise HtpasswdError(str(exc)) from None
    try:
        return parse_htpasswd(text)
    except HtpasswdError as exc:
        raise HtpasswdError(f"{path}: {exc}") from None
