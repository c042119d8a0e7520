"""`run` and `sweep`: measure in a worker process, print the tables, save the run, write its JSON."""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from benchcore import preflight, presets, text
from benchcore.commands import EXIT_CANCELLED, EXIT_OK, EXIT_TIER_FAILED, settings_from_args
from benchcore.commands.arguments import given_fields
from benchcore.errors import BenchError
from benchcore.models import Progress, Run, RunSpec
from benchcore.running.eta import Estimator, duration_words, estimate_run, learned_from
from benchcore.settings import Settings
from benchcore.views import report


class ProgressPrinter:
    """One updating line on a terminal; a line per tier otherwise (CI logs). With an Estimator (the one the Run
    page uses), each line also says about how long the rest of the run takes."""

    def __init__(self, stream: TextIO, estimator: Estimator | None = None) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.estimator = estimator

    def _left(self) -> str:
        if self.estimator is None:
            return ""
        return f" · about {duration_words(self.estimator.remaining_s())} left"

    def __call__(self, p: Progress) -> None:
        if self.estimator is not None:
            self.estimator.update(p)
        pct = 100.0 * p.reads_done / p.reads_total if p.reads_total else 100.0
        if self.tty:
            trial = f"trial {p.trial}/{p.trials} " if p.trial else ""
            self.stream.write(f"\r\033[K[{pct:5.1f}%] {p.tier} ({p.mode}) {p.phase} {trial}{p.done:,}/{p.total:,}"
                              + ("" if p.phase in ("done", "failed") else self._left()))
            if p.phase in ("done", "failed"):
                self.stream.write("\n" if p.phase == "done" else f" - {text.escape(p.message)}\n")
            self.stream.flush()
        elif p.phase in ("done", "failed"):
            end = "done" if p.phase == "done" else f"FAILED: {text.escape(p.message)}"
            left = self._left() if p.reads_done < p.reads_total else ""
            self.stream.write(f"[{pct:5.1f}%] {p.tier} ({p.mode}) {end}{left}\n")
            self.stream.flush()


def _learned(settings: Settings, no_save: bool) -> dict[tuple[str, str, int], float]:
    """Time per read from the newest stored runs, for the estimate; nothing when there is no file to read."""
    if no_save or not settings.db_path.exists():
        return {}
    from benchcore.results.storage import RunRepository

    try:
        return learned_from(RunRepository(settings.db_path, lock_timeout_s=0))
    except BenchError:  # locked or unreadable: the typical figures will do for an estimate
        return {}


def _exit_code(run: Run, cancelled: bool) -> int:
    if cancelled:
        return EXIT_CANCELLED
    return EXIT_OK if all(r.status == "ok" for r in run.results) else EXIT_TIER_FAILED


def _save(run: Run, settings: Settings, err: TextIO, give_up: threading.Event | None = None) -> bool:
    """Save run (or spool it: the file stays locked, or give_up is set while waiting for it); True when saved."""
    from benchcore.results.storage import LockWait, RunRepository

    repo = RunRepository(settings.db_path)

    def waiting() -> None:
        err.write(f"benchcore: {settings.db_path} is locked by another process; waiting up to "
                  f"{repo.lock_timeout_s:g} s{', Ctrl-C spools the run' if give_up is not None else ''}\n")
        err.flush()

    try:
        message = repo.save_or_spool(run, LockWait(waiting, None if give_up is None else give_up.is_set))
    except BenchError as exc:
        err.write(f"benchcore: run {run.run_id} NOT saved: {settings.scrub(str(exc))}\n")
        return False
    if message:
        err.write(f"benchcore: {message}\n")
        return False
    err.write(f"saved run {run.run_id} ({run.status}) to {settings.db_path}\n")
    return True


def _import_spool(settings: Settings, err: TextIO) -> None:
    """Runs spooled by an earlier start (the file was locked) go into the file now, if it is free at once;
    otherwise the next save imports them."""
    from benchcore.results.storage import RunRepository

    repo = RunRepository(settings.db_path, lock_timeout_s=0)
    if not repo.pending_spool():
        return
    try:
        imported = repo.import_spool()
    except BenchError:
        return  # still locked, or unusable: the save will say so
    if imported:
        err.write(f"benchcore: imported {len(imported)} spooled run(s) into {settings.db_path}: "
                  f"{', '.join(imported)}\n")


def _ensure_published(settings: Settings, err: TextIO) -> None:
    """A preset run is made to be held against the published table: make sure it is stored too."""
    from benchcore.results.storage import RunRepository

    try:
        if presets.ensure_published(RunRepository(settings.db_path)):
            err.write(f"stored the published reference run {presets.PUBLISHED_ID} ({presets.PUBLISHED_LABEL})\n")
    except BenchError as exc:
        err.write(f"benchcore: the published reference run could not be stored: {settings.scrub(str(exc))}\n")


def _cache_spec(args: argparse.Namespace) -> dict[str, Any]:
    return {"cache_ttl_s": args.cache_ttl, "eviction": args.eviction, "zipf_s": args.zipf_s,
            "hot_fraction": args.hot_fraction, "hot_traffic": args.hot_traffic, "write_ratio": args.write_ratio,
            "on_write": args.on_write, "instances": args.instances, "scheduler": args.scheduler}


def spec_from_args(args: argparse.Namespace, **load: Any) -> RunSpec:
    """The RunSpec the flags ask for (a --preset fills in what was not given)."""
    return presets.apply(args.preset, RunSpec(
        tiers=args.tiers, modes=args.modes, ops=args.ops, warmup=args.warmup, trials=args.trials,
        keys=args.keys, distribution=args.distribution, seed=args.seed, cold=args.cold, label=args.label,
        table=args.table, key_prefix=args.key_prefix, cache_capacity=args.cache_capacity,
        cpus=args.cpus or None, read_timeout_s=args.read_timeout, interleave=not args.sequential,
        rate=args.rate, duration_s=args.duration, arrival=args.arrival, processes=args.processes,
        connection=args.connection, serializer=args.serializer, value_bytes=args.value_bytes, loop=args.loop,
        sync_driver=args.sync_driver, async_driver=args.async_driver, **_cache_spec(args), **load),
        given=given_fields(args))


def cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    return _execute(spec_from_args(args, concurrency=args.concurrency), args, out, err)


def cmd_sweep(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    return _execute(spec_from_args(args, sweep=args.concurrency), args, out, err)


def _execute(spec: RunSpec, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run spec in a worker process, print its tables, save it, write its JSON; the exit code."""
    from benchcore.running.process import run_in_worker

    settings = settings_from_args(args)
    json_path = Path(args.json_path) if args.json_path else None
    preflight.check_run_outputs(json_path, None if args.no_save else settings.db_path)
    if not args.no_save:
        _import_spool(settings, err)  # also imports DuckDB, pandas and pyarrow now, not after a Ctrl-C
    learned = _learned(settings, args.no_save)
    err.write(f"benchcore: this run makes {spec.estimate.describe()}; expect "
              f"{estimate_run(spec, learned).describe()}\n")
    cancel, kill, saving, give_up = threading.Event(), threading.Event(), threading.Event(), threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        # The first Ctrl-C or SIGTERM (timeout, systemd, docker stop) stops the run and saves what it measured;
        # a second Ctrl-C stops the benchmark process at once (what it finished is still saved). While the save
        # waits for a locked file, either one stops the wait and spools the run (the save says where).
        # Only Event.set here: the main thread never waits on these events, so no lock is taken twice.
        if saving.is_set():
            give_up.set()
            return
        if cancel.is_set():
            kill.set()
            err.write("\nstopping the benchmark process now; saving what it finished\n")
            return
        cancel.set()
        err.write(f"\ncancelling ({signal.Signals(signum).name}): stopping after the current read, saving what was "
                  "measured (Ctrl-C again to stop at once)\n")

    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, on_signal) for s in handled} \
        if threading.current_thread() is threading.main_thread() else {}
    try:
        started = time.monotonic()
        run = run_in_worker(spec, settings, on_progress=ProgressPrinter(err, Estimator(spec, learned)), cancel=cancel,
                            kill=kill)
        out.write(report.results_table(run) + "\n")
        out.write(f"\nrun {run.run_id}: {run.status} in {time.monotonic() - started:.1f} s\n")
        code = _exit_code(run, cancel.is_set())
        # Save first: the JSON is a copy, and a full disk or a vanished directory must not cost the run.
        saving.set()
        saved = not args.no_save and _save(run, settings, err, give_up)
        if saved and spec.preset:
            _ensure_published(settings, err)
        if not args.no_save and not saved:
            code = max(code, EXIT_TIER_FAILED)
        if json_path:
            try:
                json_path.write_text(json.dumps(report.run_dict(run), indent=2) + "\n")
                err.write(f"wrote {json_path}\n")
            except OSError as exc:
                kept = "is saved" if saved else "was not saved (--no-save)" if args.no_save else "was not saved either"
                err.write(f"benchcore: writing {json_path} failed: {exc.strerror or exc}; run {run.run_id} {kept}\n")
                code = max(code, EXIT_TIER_FAILED)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code
