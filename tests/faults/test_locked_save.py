"""Issue 11 case 5: one Ctrl-C while the save waits for a locked results file must not lose a finished run.

Another process holds the DuckDB file; the CLI's run finishes and its save waits for the lock. Expected: it says
so once on stderr while it waits; Ctrl-C or SIGTERM during the wait spools the run at once (and says where), the
CLI returns within 3 s, and the next start imports the spooled run into the file.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchcore.results.storage import RunRepository
from tests.faults.conftest import ROOT, Cli, small_run_args

WAITING = "is locked by another process; waiting up to 10 s, Ctrl-C spools the run"
RETURN_WITHIN_S = 3.0


class LockHolder:
    """A process that opens the results file read-write (DuckDB's exclusive lock) and keeps it until released."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.proc = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time\nc = duckdb.connect(sys.argv[1])"
                                      "\nprint('locked', flush=True)\ntime.sleep(120)", str(db)],
                                     cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "locked"

    def release(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def lock_holder(tmp_path) -> Iterator[LockHolder]:
    holder = LockHolder(tmp_path / "l.duckdb")
    try:
        yield holder
    finally:
        holder.release()


class Lines:
    """A stream's lines as they come, from a thread; wait_for polls them with a deadline."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=lambda: self.lines.extend(iter(stream.readline, "")), daemon=True)
        self.thread.start()

    def wait_for(self, text: str, proc: subprocess.Popen[str], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in list(self.lines)):
                return
            if proc.poll() is not None and not self.thread.is_alive():
                break
            time.sleep(0.01)
        raise AssertionError(f"never printed {text!r}: {''.join(self.lines)[-2000:]}")

    @property
    def text(self) -> str:
        self.thread.join(10)
        return "".join(self.lines)


@pytest.mark.servers
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_while_the_save_waits_for_the_lock_spools_the_run(sig, tmp_path, cli_env, lock_holder):
    db = lock_holder.db
    cli = Cli(tmp_path, cli_env)
    proc = cli.popen(*small_run_args("--tiers", "inprocess", "--modes", "sync", "--db", str(db)))
    assert proc.stderr is not None
    err = Lines(proc.stderr)
    try:
        err.wait_for(WAITING, proc)
        t0 = time.monotonic()
        proc.send_signal(sig)
        proc.wait(10)
        took = time.monotonic() - t0
        out = proc.stdout.read() if proc.stdout else ""
    finally:
        if proc.poll() is None:
            proc.kill()
    text = err.text
    print(f"\n{signal.Signals(sig).name} while the save waited for the lock: spooled, returned in {took:.2f} s")
    assert took < RETURN_WITHIN_S, (took, text)
    assert text.count(WAITING) == 1, text  # said once, not once per retry
    assert "the wait was interrupted" in text and ".spool/" in text, text
    assert proc.returncode == 1, text  # measured, but not saved (yet)
    assert "Traceback" not in text + out
    repo = RunRepository(db)
    spooled = repo.pending_spool()
    assert len(spooled) == 1 and spooled[0].name in text, (spooled, text)
    run_id = spooled[0].stem

    # The lock holder gone, the next start imports the spooled run (and saves its own).
    lock_holder.release()
    again = cli(*small_run_args("--tiers", "inprocess", "--modes", "sync", "--db", str(db)))
    assert again.code == 0, again.err
    assert f"imported 1 spooled run(s) into {db}: {run_id}" in again.err, again.err
    assert not repo.pending_spool()
    runs = repo.list_runs()
    assert run_id in set(runs.run_id) and len(runs) == 2
    stored = repo.get_run(run_id)
    assert stored.status == "complete"
    assert [t.samples.size for r in stored.results for t in r.trials] == [200]
