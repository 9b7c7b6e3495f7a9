"""Spool directories: locked while alive, removed once abandoned."""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

import pytest

from groxpi.spool import Spool, remove_abandoned


def test_removed_spool_is_recreated_and_relocked(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.open()
    shutil.rmtree(spool.path)
    assert spool.ensure().is_dir()
    remove_abandoned(tmp_path / "spool")  # still locked: kept
    assert spool.path.is_dir()
    spool.close()


def test_directory_locked_by_someone_else_is_never_taken_over(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.path.mkdir(parents=True)
    holder = os.open(spool.path, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        with pytest.raises(OSError, match="cannot create and lock"):
            spool.ensure()
    finally:
        os.close(holder)
    assert spool.ensure() == spool.path  # free again: taken
    spool.close()


def test_unreadable_entries_count_as_abandoned(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    root.mkdir()
    (root / "dangling").symlink_to(tmp_path / "nowhere")
    remove_abandoned(root)
    assert list(root.iterdir()) == []
