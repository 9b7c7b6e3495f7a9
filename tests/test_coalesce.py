import asyncio

import pytest

from groxpi.coalesce import SingleFlight


async def test_concurrent_callers_share_one_call() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    calls = 0

    async def fetch() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return calls

    results = await asyncio.gather(*(flight.run("k", fetch) for _ in range(100)))
    assert results == [1] * 100
    assert calls == 1 and len(flight) == 0
    assert await flight.run("k", fetch) == 2  # nothing is cached after the call


async def test_failure_reaches_every_waiter_and_is_not_cached() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    calls = 0

    async def fail() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        raise RuntimeError("boom")

    results = await asyncio.gather(
        *(flight.run("k", fail) for _ in range(10)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results) and calls == 1
    with pytest.raises(RuntimeError):
        await flight.run("k", fail)
    assert calls == 2


async def test_cancelled_waiter_does_not_cancel_the_call() -> None:
    flight: SingleFlight[str, str] = SingleFlight()
    release = asyncio.Event()

    async def fetch() -> str:
        await release.wait()
        return "done"

    first = asyncio.create_task(flight.run("k", fetch))
    second = asyncio.create_task(flight.run("k", fetch))
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert await second == "done"
    with pytest.raises(asyncio.CancelledError):
        await first
