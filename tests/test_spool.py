"""Spool directories: locked while alive, removed once abandoned."""

from __future__ import annotations

import shutil
from pathlib import Path

from groxpi.spool import Spool, remove_abandoned


def test_removed_spool_is_recreated_and_relocked(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.open()
    shutil.rmtree(spool.path)
    assert spool.ensure().is_dir()
    remove_abandoned(tmp_path / "spool")  # still locked: kept
    assert spool.path.is_dir()
    spool.close()
