"""The supervisor's restart policy, on a clock the test moves by hand."""

from __future__ import annotations

import signal

import pytest

from groxpi.supervisor import BackOff, Supervisor, describe_exit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def die_after(backoff: BackOff, clock: Clock, seconds: float) -> float | None:
    backoff.started()
    clock.now += seconds
    return backoff.died()


def test_delay_doubles_up_to_the_longest() -> None:
    clock = Clock()
    backoff = BackOff(clock, early=0.0)  # never counted as failing at start-up
    delays = [die_after(backoff, clock, 6.0) for _ in range(9)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_a_worker_that_ran_healthily_resets_the_delay() -> None:
    clock = Clock()
    backoff = BackOff(clock)
    assert [die_after(backoff, clock, 10.0) for _ in range(3)] == [0.5, 1.0, 2.0]
    assert die_after(backoff, clock, 29.9) == 4.0  # not quite long enough
    assert die_after(backoff, clock, 30.0) == 0.5
    assert die_after(backoff, clock, 10.0) == 1.0


def test_gives_up_after_five_early_deaths_in_a_row() -> None:
    clock = Clock()
    backoff = BackOff(clock)
    assert [die_after(backoff, clock, 1.0) for _ in range(4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff.early_deaths == 4
    assert die_after(backoff, clock, 1.0) is None


def test_a_death_after_start_up_breaks_the_row() -> None:
    clock = Clock()
    backoff = BackOff(clock)
    for _ in range(4):
        die_after(backoff, clock, 4.9)
    assert die_after(backoff, clock, 5.0) == 8.0  # ran past start-up: not early
    assert backoff.early_deaths == 0
    assert all(die_after(backoff, clock, 0.1) is not None for _ in range(4))
    assert die_after(backoff, clock, 0.1) is None


def test_policy_knobs() -> None:
    clock = Clock()
    backoff = BackOff(clock, first=1.0, longest=3.0, give_up_after=3)
    assert [die_after(backoff, clock, 0.0) for _ in range(3)] == [1.0, 2.0, None]
    assert backoff.uptime() == 0.0


def test_exit_descriptions() -> None:
    assert describe_exit(0) == "exited with status 0"
    assert describe_exit(1) == "exited with status 1"
    assert describe_exit(-signal.SIGKILL) == "was killed by SIGKILL"
    assert describe_exit(-signal.SIGSEGV) == "was killed by SIGSEGV"
    assert describe_exit(-200) == "was killed by signal 200"


class Unforkable:
    """A process whose fork fails, as when the machine is out of memory or processes."""

    def __init__(self, **_: object) -> None:
        pass

    def start(self) -> None:
        raise BlockingIOError(11, "Resource temporarily unavailable")


def test_a_failed_fork_is_retried_with_back_off_then_given_up(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    supervisor = Supervisor(lambda: None, 1, clock)
    monkeypatch.setattr(supervisor._context, "Process", Unforkable)
    [slot] = supervisor._slots
    for delay in (0.5, 1.0, 2.0, 4.0):
        supervisor._start([slot])
        assert slot.process is None and slot.restart_at == clock.now + delay
    supervisor._start([slot])
    assert slot.restart_at is None and supervisor._failed and supervisor._stopping
    assert "could not fork worker 0 ([Errno 11] Resource temporarily unavailable)" in caplog.text
    assert "5 early exits in a row, giving up" in caplog.text
