"""The CLI's progress line: what a terminal and a CI log see, and the time left from the Run page's estimator."""

from __future__ import annotations

import io

from benchcore.commands.measure import ProgressPrinter
from benchcore.models import Progress, RunSpec
from benchcore.running.eta import Estimator

SPEC = RunSpec(tiers=("redis", "memcached"), modes=("sync",), ops=1000, trials=2, warmup=10)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def progress(tier: str, phase: str, trial: int, done: int, reads_done: int) -> Progress:
    return Progress(tier, "sync", phase, trial, 2, done, 1000, reads_done, 4000)  # type: ignore[arg-type]


def test_a_terminal_line_says_how_long_the_rest_takes_from_the_measured_rate():
    clock = Clock()
    out = Terminal()
    printer = ProgressPrinter(out, Estimator(SPEC, {}, clock=clock))
    printer(progress("redis", "trial", 1, 0, 0))
    clock.now = 1.0  # 1,000 reads in 1 s: 1 ms per read
    printer(progress("redis", "trial", 1, 1000, 1000))
    line = out.getvalue().rsplit("\r\033[K", 1)[-1]
    assert line.startswith("[ 25.0%] redis (sync) trial trial 1/2 1,000/1,000 · about ") and line.endswith(" left")
    seconds = int(line.split("about ")[1].split(" s left")[0])
    assert 3 <= seconds <= 10  # 3,000 reads left at ~1 ms, plus set-up and close


def test_a_log_gets_a_line_per_finished_tier_with_the_time_left_until_the_last():
    clock = Clock()
    out = io.StringIO()
    printer = ProgressPrinter(out, Estimator(SPEC, {}, clock=clock))
    printer(progress("redis", "trial", 2, 500, 1500))  # not a finished tier: nothing in a log
    assert out.getvalue() == ""
    clock.now = 2.0
    printer(progress("redis", "done", 2, 1000, 2000))
    printer(progress("memcached", "done", 2, 1000, 4000))
    first, last = out.getvalue().splitlines()
    assert first.startswith("[ 50.0%] redis (sync) done · about ") and first.endswith(" left")
    assert last == "[100.0%] memcached (sync) done"


def test_without_an_estimator_the_line_is_unchanged():
    out = io.StringIO()
    ProgressPrinter(out)(progress("redis", "failed", 1, 3, 3))
    assert out.getvalue() == "[  0.1%] redis (sync) FAILED: \n"
