"""The parent of several workers: restarts those that die, stops them all on a signal.

Workers share the port (SO_REUSEPORT), so one that dies takes only its own
connections with it; the supervisor starts another in its place after a
back-off. Workers that keep dying right after they start (an unusable cache
directory, say) will not be cured by more restarts: the supervisor then stops
the rest and exits 1, so the service manager sees the failure.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.process import BaseProcess

log = logging.getLogger("groxpi.supervisor")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

Clock = Callable[[], float]


@dataclass
class BackOff:
    """When to restart one worker, and when to stop trying.

    The delay doubles from ``first`` up to ``longest`` with each death, and starts
    over once a worker has run ``healthy_after`` seconds. ``give_up_after`` deaths
    in a row, each within ``early`` seconds of starting, mean it cannot start.
    """

    clock: Clock = time.monotonic
    first: float = 0.5
    longest: float = 30.0
    healthy_after: float = 30.0
    early: float = 5.0
    give_up_after: int = 5
    _delay: float = field(default=0.0, init=False)
    _early_deaths: int = field(default=0, init=False)
    _started: float = field(default=0.0, init=False)

    def started(self) -> None:
        self._started = self.clock()

    def uptime(self) -> float:
        """Seconds since the current worker started."""
        return self.clock() - self._started

    def died(self) -> float | None:
        """Seconds to wait before starting the next worker, or None to give up."""
        ran = self.uptime()
        if ran >= self.healthy_after:
            self._delay = 0.0
        self._early_deaths = self._early_deaths + 1 if ran < self.early else 0
        if self._early_deaths >= self.give_up_after:
            return None
        self._delay = min(self._delay * 2, self.longest) if self._delay else self.first
        return self._delay

    @property
    def early_deaths(self) -> int:
        return self._early_deaths


@dataclass
class _Slot:
    """One of the worker processes the server keeps running."""

    number: int
    backoff: BackOff
    process: BaseProcess | None = None
    restart_at: float | None = None
    last_pid: int | None = None

    def due(self, now: float) -> bool:
        return self.restart_at is not None and self.restart_at <= now


def describe_exit(exitcode: int) -> str:
    """``exited with status 1`` or ``was killed by SIGKILL``, from a process exit code."""
    if exitcode >= 0:
        return f"exited with status {exitcode}"
    try:
        return f"was killed by {signal.Signals(-exitcode).name}"
    except ValueError:
        return f"was killed by signal {-exitcode}"


class Supervisor:
    """Keeps ``workers`` forked processes running ``target`` until a stop signal."""

    def __init__(self, target: Callable[[], None], workers: int, clock: Clock = time.monotonic):
        self._target = target
        self._clock = clock
        self._slots = [_Slot(n, BackOff(clock)) for n in range(workers)]
        self._context = get_context("fork")
        self._signal: str | None = None  # the stop signal's name, once one came
        self._stopping = False
        self._failed = False
        self._unclean = False  # a worker exited badly while stopping
        self._wake = (-1, -1)

    def run(self) -> int:
        """Start the workers and keep them running: 0 after a clean stop, 1 on failure."""
        self._wake = os.pipe()
        for fd in self._wake:
            os.set_blocking(fd, False)
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)
        previous = signal.set_wakeup_fd(self._wake[1])
        try:
            self._start(self._slots)
            while any(slot.process or slot.restart_at is not None for slot in self._slots):
                self._wait()
                if self._signal is not None and not self._stopping:
                    log.info("%s: stopping the workers", self._signal)
                    self._stop()
                self._reap()
                now = self._clock()
                self._start([s for s in self._slots if s.due(now)])
        finally:
            signal.set_wakeup_fd(previous)
            for fd in self._wake:
                os.close(fd)
        if self._failed:
            log.error("workers keep failing at start-up: exiting with status 1")
        return 1 if self._failed or self._unclean else 0

    def _on_signal(self, signum: int, _frame: object) -> None:
        # Runs between bytecodes of the loop: forward at once, log from the loop.
        self._signal = self._signal or signal.Signals(signum).name
        self._forward()

    def _forward(self) -> None:
        for slot in list(self._slots):
            process = slot.process  # a reaped one has its exit code: its pid may be reused
            if process is not None and process.pid is not None and process.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)

    def _stop(self) -> None:
        """No more restarts; every running worker gets SIGTERM."""
        self._stopping = True
        for slot in self._slots:
            slot.restart_at = None
        self._forward()

    def _wait(self) -> None:
        """Until a worker exits, a restart is due or a signal comes (the wake-up pipe)."""
        due = [s.restart_at for s in self._slots if s.restart_at is not None]
        timeout = max(0.0, min(due) - self._clock()) if due else None
        sentinels = [s.process.sentinel for s in self._slots if s.process is not None]
        select.select([self._wake[0], *sentinels], [], [], timeout)
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake[0], 512):
                pass

    def _reap(self) -> None:
        for slot in self._slots:
            process = slot.process
            if process is None or process.exitcode is None:
                continue
            slot.process = None
            exitcode, pid = process.exitcode, process.pid
            process.close()
            if self._stopping:
                if exitcode != 0:
                    self._unclean = True
                    log.warning("worker %d %s while stopping", pid, describe_exit(exitcode))
                continue
            self._died(slot, f"worker {pid} {describe_exit(exitcode)}")

    def _died(self, slot: _Slot, what: str) -> None:
        """Schedule the slot's restart, or give up if its workers cannot start."""
        ran = slot.backoff.uptime()
        delay = slot.backoff.died()
        if delay is None:
            log.error(
                "%s after %.1f s: %d early exits in a row, "
                "giving up and stopping the other workers",
                what,
                ran,
                slot.backoff.early_deaths,
            )
            self._failed = True
            self._stop()
            return
        log.error("%s after %.1f s; restarting it in %.1f s", what, ran, delay)
        slot.restart_at = self._clock() + delay

    def _start(self, slots: Iterable[_Slot]) -> None:
        """Fork with stop signals blocked: each worker installs its own handlers first."""
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            for slot in slots:
                if self._signal is not None or self._stopping:  # the loop stops the others
                    return
                process = self._context.Process(
                    target=self._child, name=f"groxpi-worker-{slot.number}"
                )
                slot.backoff.started()
                try:
                    process.start()
                except OSError as exc:  # fork failed (out of memory or processes)
                    self._died(slot, f"could not fork worker {slot.number} ({exc})")
                    continue
                slot.process, slot.restart_at = process, None
                if slot.last_pid is not None:
                    log.info("worker %d started in place of worker %d", process.pid, slot.last_pid)
                slot.last_pid = process.pid
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    def _child(self) -> None:
        # The wake-up pipe is the parent's: a signal here must not write into it.
        signal.set_wakeup_fd(-1)
        for fd in self._wake:
            os.close(fd)
        self._target()


PR_SET_PDEATHSIG = 1


def stop_with_parent(parent: int) -> None:
    """Ask the kernel for SIGTERM when the supervisor dies (Linux), so workers never
    serve on without it, holding the port, after it was killed outright."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return
    if os.getppid() != parent:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)
