"""The benchmark worker: a process of its own that runs one benchmark and streams what it finishes.

Started by running/process.py as `python -m benchcore.running.worker FD PARENT_PID`. Why a process: a run in
the dashboard's (or any caller's) process shares its GIL with page reruns and timers, which put 100 ms
stalls and a 2x p99 into the measurements; and a process can be killed when a driver call will not return.

Protocol: the parent writes one pickled Job on stdin, then (optionally) the line "cancel"; EOF on stdin also
cancels (the parent is gone). The worker writes length-prefixed pickled messages on FD:
  ("started", timer_overhead_ns, client_cpu_affinity)   once, before the first tier
  ("progress", Progress)                                  throttled
  ("trial", tier, mode, concurrency, TrialResult)         after every trial, with its samples
  ("result", TierResult)                                  after each (tier, mode); its trials without samples
  ("done", Run)                                           at the end; trials without samples
  ("error", message)                                      an unexpected failure (already scrubbed)
so a worker that has to be killed leaves everything it finished with the parent. SIGINT is ignored (the
terminal sends Ctrl-C to the whole process group: the parent decides); SIGTERM cancels, as "cancel" does.
"""

from __future__ import annotations

import importlib
import os
import pickle
import signal
import struct
import sys
import threading
from dataclasses import dataclass, replace
from typing import IO, Any

import numpy as np

from benchcore.models import Environment, RunSpec, ServerInfo, TierResult, TrialResult
from benchcore.running.session import run_benchmark
from benchcore.settings import Settings

_LENGTH = struct.Struct("!Q")
_EMPTY = np.empty(0, np.int64)


@dataclass(frozen=True)
class Job:
    """What the parent hands over: the spec and the servers it already found (it owns embedded servers)."""

    spec: RunSpec
    settings: Settings  # with the resolved URLs
    servers: dict[str, ServerInfo]
    reasons: dict[str, str | None]


def send_job(stream: IO[bytes], job: Job) -> None:
    """The job on the worker's stdin: one pickle (it holds passwords: a pipe, never the command line)."""
    stream.write(pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))
    stream.flush()


def write_message(stream: IO[bytes], message: tuple[Any, ...]) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def read_message(stream: IO[bytes]) -> tuple[Any, ...] | None:
    """The next message, or None at the end of the stream (the worker exited or died)."""
    head = _read_exactly(stream, _LENGTH.size)
    if head is None:
        return None
    body = _read_exactly(stream, _LENGTH.unpack(head)[0])
    return None if body is None else pickle.loads(body)  # our own child, over our own pipe


def _read_exactly(stream: IO[bytes], n: int) -> bytes | None:
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def without_samples(result: TierResult) -> TierResult:
    """The result as sent after its trials: their samples already travelled with each trial."""
    return replace(result, trials=tuple(replace(t, samples=_EMPTY, miss_index=_EMPTY, intended=_EMPTY)
                                        for t in result.trials))


class _Sender:
    """Writes messages from any thread (progress comes from the workers' threads)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.lock = threading.Lock()

    def __call__(self, *message: Any) -> None:
        with self.lock:
            write_message(self.stream, message)


def preload(spec: RunSpec) -> None:
    """Import now, before anything is timed, what finishing a (tier, mode) would import lazily: scipy takes
    0.3 s to import on an idle machine and several on a busy one, which after a Cancel would eat into the
    parent's KILL_AFTER_S and lose the results of the tiers not yet finished."""
    from benchcore.tiers.registry import tier_info

    if spec.trials > 1:
        importlib.import_module("scipy.stats")  # stats.median_ci: the CI of the trial p50s
    if any(tier_info(t).is_cache for t in spec.tiers):
        importlib.import_module("scipy.optimize")  # advisor.cachemodel: the predicted hit ratio


def _watch_stdin(stdin: IO[bytes], cancel: threading.Event) -> None:
    for line in stdin:
        if line.strip() == b"cancel":
            break
    cancel.set()  # "cancel", or EOF: the parent is gone


def main(argv: list[str]) -> int:
    fd, parent = int(argv[0]), int(argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from benchcore.servers.embedded._process import die_with_parent

    die_with_parent(signal.SIGTERM, parent)
    out = os.fdopen(fd, "wb")
    send = _Sender(out)
    # Unbuffered: a daemon thread blocked in a buffered read would hold its lock through interpreter shutdown.
    stdin = os.fdopen(sys.stdin.fileno(), "rb", buffering=0, closefd=False)
    job: Job = pickle.load(stdin)  # from our own parent; it reads exactly the pickle, the lines come after
    cancel = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: cancel.set())
    threading.Thread(target=_watch_stdin, args=(stdin, cancel), name="benchcore-worker-stdin", daemon=True).start()

    def on_trial(tier: str, mode: str, concurrency: int, trial: TrialResult) -> None:
        send("trial", tier, mode, concurrency, trial)

    try:
        preload(job.spec)
        run = run_benchmark(
            job.spec, job.settings, cancel=cancel,
            on_progress=lambda p: send("progress", p),
            on_start=lambda overhead, affinity: send("started", overhead, affinity),
            on_trial=on_trial,
            on_result=lambda r: send("result", without_samples(r)),
            resolve=lambda _settings: (job.settings, job.servers, job.reasons),
            # The parent captures the environment: it knows the embedded servers' placement.
            environment=lambda _servers, affinity, overhead: Environment(
                client_cpu_affinity=None if affinity is None else tuple(affinity), timer_overhead_ns=overhead),
        )
    except Exception as exc:  # a bug: say what, without secrets; the parent keeps what it has
        send("error", job.settings.scrub(f"{type(exc).__name__}: {exc}"))
        return 1
    send("done", replace(run, results=tuple(without_samples(r) for r in run.results)))
    out.close()
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is sent and every connection closed: skip the interpreter's teardown (scipy, numpy, the drivers:
    # ~1 s on a busy machine), which the parent would otherwise wait for after Cancel too.
    os._exit(code)
