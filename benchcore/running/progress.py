"""Progress of a run: counts reads across workers and forwards throttled Progress records to the caller."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from benchcore.models import Phase, Progress

ProgressFn = Callable[[Progress], None]
PROGRESS_INTERVAL_S = 0.1


class Reporter:
    """Thread-safe; `add` is called by every worker every CHECK_EVERY reads (outside the timed window)."""

    def __init__(self, callback: ProgressFn | None, reads_total: int, trials: int) -> None:
        self.callback = callback
        self.reads_total = reads_total
        self.trials = trials
        self.reads_done = 0
        self.lock = threading.Lock()
        self.tier = self.mode = ""
        self.phase: Phase = "prepare"
        self.trial = 0
        self.done = 0
        self.total = 0
        self.last_emit = 0.0

    def start(self, tier: str, mode: str, phase: Phase, trial: int = 0, total: int = 0, message: str = "") -> None:
        with self.lock:
            self.tier, self.mode, self.phase, self.trial, self.done, self.total = tier, mode, phase, trial, 0, total
        self._emit(message)

    def add(self, n: int) -> None:
        with self.lock:
            if self.phase in ("timed", "warmup"):  # the warmup's count lets the ETA learn its time per read
                self.done += n
            if self.phase == "timed":
                self.reads_done += n
            now = time.monotonic()
            if now - self.last_emit < PROGRESS_INTERVAL_S:
                return
            self.last_emit = now
        self._emit()

    def skip(self, n: int) -> None:
        """Reads planned but never made (failed/cancelled tier) still move the overall bar."""
        with self.lock:
            self.reads_done += n

    def _emit(self, message: str = "") -> None:
        if self.callback is None:
            return
        self.callback(Progress(tier=self.tier, mode=self.mode, phase=self.phase, trial=self.trial,
                               trials=self.trials, done=self.done, total=self.total, reads_done=self.reads_done,
                               reads_total=self.reads_total, message=message))
