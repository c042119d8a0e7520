"""Run a benchmark in its own worker process (running/worker.py): start it, watch it, cancel it, collect it.

The parent (CLI or dashboard) only finds the servers, starts the worker, reads its messages on a pipe from a
thread of its own and assembles the Run. Cancel asks the worker to stop (it does within a second: the loops
check every 256 reads and the watchdog interrupts a stalled read) and kills it after KILL_AFTER_S; whatever
the worker finished before that (every completed trial, every completed tier) is kept, and the Run says
"partial". The run's environment is captured here, where the embedded servers live.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import benchcore
from benchcore.models import Progress, Run, RunSpec, ServerInfo, TierResult, TierStatus, TrialResult
from benchcore.results import stats
from benchcore.running.session import Resolver, resolve_servers, run_status
from benchcore.running.worker import Job, read_message, send_job
from benchcore.settings import Settings

KILL_AFTER_S = 3.0
ProgressFn = Callable[[Progress], None]


class RunProcess:
    """One run in a worker process. Thread-safe for start/cancel/kill from other threads."""

    def __init__(self, spec: RunSpec, settings: Settings, *, on_progress: ProgressFn | None = None,
                 resolve: Resolver = resolve_servers) -> None:
        self.spec = spec
        self.settings = settings
        self.on_progress = on_progress
        self.resolve = resolve
        self.progress: Progress | None = None
        self.started_at = datetime.now(UTC)
        self.error: str | None = None  # an unexpected failure in the worker, or why it ended early
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._servers: dict[str, ServerInfo] = {}
        self._overhead = 0.0
        self._affinity: list[int] | None = None
        # Keyed by (tier, mode, concurrency): a sweep has one result per level.
        self._trials: dict[tuple[str, str, int], list[TrialResult]] = {}
        self._results: dict[tuple[str, str, int], TierResult] = {}
        self._done: Run | None = None
        self._cancelled = threading.Event()
        self._lock = threading.Lock()

    # -- control ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Find the servers (may start embedded ones, which live in this process), then start the worker."""
        resolved, servers, reasons = self.resolve(self.settings)
        self._servers = servers
        read_fd, write_fd = os.pipe()
        env = dict(os.environ)
        package_root = str(Path(benchcore.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join([package_root, *filter(None, [env.get("PYTHONPATH")])])
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "benchcore.running.worker", str(write_fd), str(os.getpid())],
                stdin=subprocess.PIPE, pass_fds=(write_fd,), env=env, close_fds=True)
        finally:
            os.close(write_fd)
        reader = os.fdopen(read_fd, "rb")
        self._reader = threading.Thread(target=self._read, args=(reader,), name="benchcore-run-reader", daemon=True)
        self._reader.start()
        assert self._proc.stdin is not None
        # The job carries passwords (the resolved URLs): over a pipe, never on the command line.
        send_job(self._proc.stdin, Job(self.spec, resolved, servers, reasons))

    def cancel(self) -> None:
        """Ask the worker to stop and save what it measured; kill it if it is not gone in KILL_AFTER_S."""
        if self._cancelled.is_set() or self._proc is None:
            self._cancelled.set()
            return
        self._cancelled.set()
        with contextlib.suppress(OSError, ValueError):
            assert self._proc.stdin is not None
            self._proc.stdin.write(b"cancel\n")
            self._proc.stdin.flush()
        threading.Thread(target=self._kill_later, name="benchcore-run-killer", daemon=True).start()

    def kill(self) -> None:
        """Stop the worker now (a second Ctrl-C); what it finished is still kept."""
        self._cancelled.set()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()

    def _kill_later(self) -> None:
        proc = self._proc
        if proc is None:
            return
        try:
            proc.wait(KILL_AFTER_S)
        except subprocess.TimeoutExpired:
            self.error = self.error or f"the benchmark process did not stop within {KILL_AFTER_S:g} s of Cancel " \
                                       "and was killed"
            proc.kill()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def running(self) -> bool:
        return self._reader is not None and self._reader.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the worker has exited and every message it sent has been read."""
        if self._reader is None:
            return True
        self._reader.join(timeout)
        return not self._reader.is_alive()

    # -- messages --------------------------------------------------------------------------------

    def _read(self, stream: Any) -> None:
        try:
            while (message := read_message(stream)) is not None:
                self._handle(message)
        except (OSError, EOFError, ValueError) as exc:  # a truncated message: the worker died mid-write
            self.error = self.error or f"lost contact with the benchmark process ({type(exc).__name__})"
        finally:
            stream.close()
            if self._proc is not None:
                code = self._proc.wait()
                if self._proc.stdin is not None:
                    with contextlib.suppress(OSError):
                        self._proc.stdin.close()
                if self._done is None and not self.error:
                    self.error = f"the benchmark process ended unexpectedly (exit code {code})"

    def _handle(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        with self._lock:
            if kind == "progress":
                self.progress = message[1]
            elif kind == "started":
                self._overhead, self._affinity = message[1], message[2]
            elif kind == "trial":
                self._trials.setdefault((message[1], message[2], message[3]), []).append(message[4])
            elif kind == "result":
                result: TierResult = message[1]
                self._results[(result.tier, result.mode, result.concurrency)] = result
            elif kind == "done":
                self._done = message[1]
            elif kind == "error":
                self.error = str(message[1])
        if kind == "progress" and self.on_progress is not None:
            self.on_progress(message[1])

    # -- the Run ---------------------------------------------------------------------------------

    def result(self) -> Run:
        """The Run: whole when the worker finished; else every finished trial and tier, marked as such."""
        from benchcore.running.environment import capture_environment

        with self._lock:
            results = [self._tier_result(tier, mode, level) for level in self.spec.levels for tier in self.spec.tiers
                       for mode in self.spec.modes]
            done = self._done
        environment = capture_environment(self._servers, client_cpu_affinity=self._affinity,
                                          timer_overhead_ns=self._overhead)
        if done is not None:
            return replace(done, environment=environment, results=tuple(results))
        return Run(run_id=uuid.uuid4().hex[:12], started_at=self.started_at, finished_at=datetime.now(UTC),
                   status=run_status(results), spec=self.spec, environment=environment, results=tuple(results),
                   timer_overhead_ns=self._overhead)

    def _tier_result(self, tier: str, mode: str, level: int) -> TierResult:
        trials = tuple(self._trials.get((tier, mode, level), ()))
        by_number = {t.trial: t for t in trials}
        finished = self._results.get((tier, mode, level))
        if finished is not None:  # put back the samples that travelled with each trial
            return replace(finished, trials=tuple(by_number.get(t.trial, t) for t in finished.trials))
        why = self.error or "the benchmark process stopped"
        status: TierStatus = "cancelled" if self.cancelled else "failed"
        if trials:
            return TierResult(tier=tier, mode=mode, concurrency=level, description="",
                              status=status, error=f"stopped after trial {trials[-1].trial}: {why}",
                              summary=stats.pool(list(trials)), trials=trials,
                              server=self._server(tier))
        return TierResult(tier=tier, mode=mode, concurrency=level, description="", status=status,
                          error=f"not run: {why}" if not self.cancelled else "run cancelled before this tier ran",
                          server=self._server(tier))

    def _server(self, tier: str) -> ServerInfo:
        from benchcore.tiers.registry import tier_info

        backend = tier_info(tier).server
        return self._servers.get(backend, ServerInfo()) if backend else ServerInfo()


def run_in_worker(spec: RunSpec, settings: Settings, *, on_progress: ProgressFn | None = None,
                  cancel: threading.Event | None = None, kill: threading.Event | None = None,
                  resolve: Resolver = resolve_servers, poll_s: float = 0.05) -> Run:
    """Run spec in a worker process and return the Run; `cancel` asks it to stop, `kill` stops it now."""
    process = RunProcess(spec, settings, on_progress=on_progress, resolve=resolve)
    process.start()
    while not process.wait(poll_s):
        if kill is not None and kill.is_set():
            process.kill()
        elif cancel is not None and cancel.is_set() and not process.cancelled:
            process.cancel()
    return process.result()
