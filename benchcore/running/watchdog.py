"""Read deadlines that cost the timed loop nothing: a thread watches every running loop's progress.

A loop makes progress with every read (a sample or an error). When one makes none for `timeout` seconds
while it is not backing off, its read is stalled (a frozen server still ACKs TCP, so neither libpq's
timeouts nor TCP keepalives fire): the watchdog marks the outcome timed out and interrupts the read through
the worker's own means (a sync tier shuts its sockets down; an async read's task is cancelled). After a
cancel request the same happens after CANCEL_GRACE_S, so Cancel and Ctrl-C never wait on a stalled read.
Drivers with a timeout of their own (redis-py socket_timeout, pymemcache timeout) raise first; this is the
deadline for the ones without (psycopg2, and every async driver without a per-call timer).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from benchcore.running.loops import Outcome

CANCEL_GRACE_S = 0.5


@dataclass
class _Watched:
    outcome: Outcome
    interrupt: Callable[[], None]
    progress: int = -1
    since: float = field(default_factory=time.monotonic)


class Watchdog:
    """One per run; `watching(outcome, interrupt)` brackets each loop."""

    def __init__(self, timeout_s: float, cancel: threading.Event, tick_s: float | None = None) -> None:
        self.timeout_s = timeout_s
        self.cancel = cancel
        self.tick_s = tick_s if tick_s is not None else min(0.1, timeout_s / 10)
        self._watched: dict[int, _Watched] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Watchdog:
        self._thread = threading.Thread(target=self._run, name="benchcore-watchdog", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @contextlib.contextmanager
    def watching(self, outcome: Outcome, interrupt: Callable[[], None]) -> Iterator[None]:
        with self._lock:
            self._watched[id(outcome)] = _Watched(outcome, interrupt)
        try:
            yield
        finally:
            with self._lock:
                self._watched.pop(id(outcome), None)

    def _run(self) -> None:
        while not self._stop.wait(self.tick_s):
            self.check(time.monotonic())

    def check(self, now: float) -> None:
        """One look at every loop (the thread calls it every tick; tests call it with their own clock)."""
        with self._lock:
            watched = list(self._watched.values())
        limit = CANCEL_GRACE_S if self.cancel.is_set() else self.timeout_s
        for w in watched:
            out = w.outcome
            progress = len(out.samples) + out.errors
            if progress != w.progress or out.idle:
                w.progress, w.since = progress, now
                continue
            if out.timed_out or now - w.since < limit:
                continue
            out.timed_out = True
            out.stalled_s = now - w.since
            with contextlib.suppress(Exception):  # an interrupt that fails leaves the driver's own timeout
                w.interrupt()


class NoWatchdog:
    """For runs without a deadline (read_timeout_s = 0) and for in-process unit use."""

    timeout_s = 0.0

    @contextlib.contextmanager
    def watching(self, outcome: Outcome, interrupt: Callable[[], None]) -> Iterator[None]:
        yield
