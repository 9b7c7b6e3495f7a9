"""Environment look-ups: the PROXPI_* fallback, secrets from files, variable-named errors.

Apart from :mod:`groxpi.config` so that module stays about what is configured
rather than how a value is found.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the variable."""


class UnreadableFile(ValueError):
    """A file that cannot be read as UTF-8 text: ``cannot read PATH: why``."""


def read_utf8(path: Path) -> str:
    """The text of the file at ``path``, or :class:`UnreadableFile` saying why not."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = (exc.strerror or str(exc)) if isinstance(exc, OSError) else "not UTF-8 text"
        raise UnreadableFile(f"cannot read {path}: {reason}") from None


class Env:
    """Environment lookups with the PROXPI_* fallback and variable-named errors."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def raw(self, name: str) -> str | None:
        found = self.find(name)
        return None if found is None else found[1]

    def find(self, name: str) -> tuple[str, str] | None:
        """The variable that holds ``name``'s value (itself or its PROXPI_ form), and the value."""
        if name in self._environ:
            return name, self._environ[name]
        if name.startswith("GROXPI_"):
            fallback = "PROXPI_" + name.removeprefix("GROXPI_")
            if fallback in self._environ:
                return fallback, self._environ[fallback]
        return None

    def secret(self, name: str, file_name: str) -> str | None:
        """``name``, or what the file ``file_name`` names holds (the ``*_FILE`` convention
        of container secrets, which keeps the secret out of the environment)."""
        value, path = self.find(name), self.find(file_name)
        if path is None or not path[1]:
            return value[1] if value else None
        if value is not None and value[1]:
            raise ConfigError(f"{value[0]} and {path[0]}: set one of them, not both")
        try:
            text = read_utf8(Path(path[1])).rstrip("\r\n")
        except UnreadableFile as exc:
            raise ConfigError(f"{path[0]}: {exc}") from None
        if not text:
            raise ConfigError(f"{path[0]}: {path[1]} is empty")
        return text

    def get(self, name: str, parse: Callable[[str], T], default: T) -> T:
        value = self.raw(name)
        return default if value is None else self.parse(name, parse, value)

    @staticmethod
    def parse(name: str, parse: Callable[[str], T], value: str) -> T:
        try:
            return parse(value)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None
