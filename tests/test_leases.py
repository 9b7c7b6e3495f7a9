"""Leases: one holder at a time across processes; waiters know they waited."""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path

from groxpi.leases import Leases


async def test_another_process_waits_for_the_holder(tmp_path: Path) -> None:
    mine, theirs = Leases(tmp_path / "leases"), Leases(tmp_path / "leases")  # two processes
    order: list[str] = []

    async def hold(leases: Leases, name: str, pause: float) -> bool:
        async with leases.hold("demo", wait=5) as waited:
            order.append(f"{name} in")
            await asyncio.sleep(pause)
            order.append(f"{name} out")
            return waited

    first = asyncio.create_task(hold(mine, "a", 0.1))
    await asyncio.sleep(0.02)
    waited = await hold(theirs, "b", 0)
    assert await first is False and waited is True
    assert order == ["a in", "a out", "b in", "b out"]


async def test_keys_sharing_a_lock_file_do_not_wait_within_one_process(tmp_path: Path) -> None:
    leases = Leases(tmp_path / "leases", stripes=1)  # every key on one lock file
    async with leases.hold("one", wait=5) as first, leases.hold("two", wait=5) as second:
        assert first is False and second is False
    assert leases.waits == 0 and leases._held == {}


async def test_a_lease_held_by_another_process_is_waited_for_then_given_up(
    tmp_path: Path,
) -> None:
    leases = Leases(tmp_path / "leases")
    path = leases._path("demo")
    path.parent.mkdir(parents=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as another worker would hold it
    try:
        async with leases.hold("demo", wait=0.05) as waited:
            assert waited  # ran anyway once the bound passed
    finally:
        os.close(fd)
    async with leases.hold("demo", wait=0.05) as waited:
        assert not waited
    assert len(list(path.parent.iterdir())) == 1  # lock files are reused, never piled up
