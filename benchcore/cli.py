"""`python -m benchcore run|sweep|runs|show|compare|targets|export|import|advise`: the headless face of the engine.

Exit codes: 0 every requested tier completed; 1 the run finished but a tier failed (or the run
could not be saved); 2 bad input; 130 cancelled with Ctrl-C (what was measured is saved as partial).
`compare`: 0 no tier x mode significantly slower by more than the threshold, 1 some are, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from benchcore import preflight, presets, text
from benchcore.errors import BenchError, ConfigError
from benchcore.models import (
    ARRIVALS,
    DISTRIBUTIONS,
    MAX_CONCURRENCY,
    MAX_OPS,
    MAX_PROCESSES,
    TIER_NAMES,
    Progress,
    Run,
    RunSpec,
)
from benchcore.results.compare import MIN_EFFECT
from benchcore.servers.backends import BACKENDS
from benchcore.settings import EMBEDDED_CHOICES, Settings
from benchcore.spec import (
    ASYNC_DRIVERS,
    CONNECTIONS,
    EVICTIONS,
    LOOPS,
    MAX_VALUE_BYTES,
    MIN_VALUE_BYTES,
    ON_WRITE,
    PRESETS,
    SERIALIZERS,
    SYNC_DRIVERS,
)
from benchcore.views import report

if TYPE_CHECKING:
    from benchcore.results.storage import RunRepository

EXIT_OK, EXIT_TIER_FAILED, EXIT_BAD_INPUT, EXIT_CANCELLED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not a usage dump: scripts and people both read it.
        raise ConfigError(f"{message} (see python -m benchcore {self.prog.split()[-1]} --help)")


def _positive_int(text: str) -> int:
    try:
        return int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _at_least_one(raw: str) -> int:
    value = _positive_int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None


def _rate(text: str) -> float:
    try:
        return float(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of reads per second") from None


def _levels(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(c) for c in text.replace(" ", "").split(",") if c)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma list of whole numbers, e.g. 1,2,4,8") from None


DEFAULTS = RunSpec()
SWEEP_LEVELS = "1,2,4,8,16,32,64"


def _percent(text: str) -> float:
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage") from None
    if not 0 <= value < 100:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 100 (a percentage of p50)")
    return value


def _add_target_flags(p: argparse.ArgumentParser) -> None:
    for backend in BACKENDS.values():
        p.add_argument(backend.flag, dest=backend.settings_attr, help=f"overrides {backend.env_var}")
    p.add_argument("--embedded", choices=EMBEDDED_CHOICES, help="overrides BENCHCORE_EMBEDDED (default auto)")
    p.add_argument("--server-cpus", help="pin embedded servers to these CPUs, e.g. 0 or 0,1 (Linux; overrides "
                   "BENCHCORE_SERVER_CPUS); external servers are never re-pinned")


def _add_path_flags(p: argparse.ArgumentParser) -> None:
    """What one read goes through (README "Options"); --preset fills every workload flag it names."""
    p.add_argument("--connection", choices=CONNECTIONS, default=DEFAULTS.connection,
                   help="pool: a pool checkout per read, as an application does (default); held: one connection "
                        "per worker for the whole run")
    p.add_argument("--serializer", choices=SERIALIZERS, default=DEFAULTS.serializer, help="cache tiers' value format")
    p.add_argument("--value-bytes", type=_positive_int, help=f"cache tiers: pad each value to N bytes "
                   f"({MIN_VALUE_BYTES:,}..{MAX_VALUE_BYTES:,}; default: the bare record)")
    p.add_argument("--loop", choices=LOOPS, default=DEFAULTS.loop, help="async mode's event loop")
    p.add_argument("--raw-sync-driver", dest="sync_driver", choices=SYNC_DRIVERS, default=DEFAULTS.sync_driver,
                   help="the raw PostgreSQL tier's (and cache misses') driver in sync mode")
    p.add_argument("--raw-async-driver", dest="async_driver", choices=ASYNC_DRIVERS, default=DEFAULTS.async_driver,
                   help="the same in async mode")
    p.add_argument("--preset", choices=PRESETS, help="seed: reproduce the blog's method (5,000 users read once in "
                   "order, orjson, uvloop, its four tiers); flags given with it win")


def _fraction(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _add_cache_flags(p: argparse.ArgumentParser) -> None:
    """The caching strategy and workload knobs (RunSpec validates their ranges)."""
    p.add_argument("--cache-ttl", type=_fraction, default=DEFAULTS.cache_ttl_s,
                   help="TTL of cached entries in seconds (fractions for the in-process and Redis caches)")
    p.add_argument("--eviction", choices=EVICTIONS, default=DEFAULTS.eviction,
                   help="in-process cache policy: cachetools LRUCache, LFUCache, FIFOCache or TTLCache (default)")
    p.add_argument("--zipf-s", type=_fraction, default=DEFAULTS.zipf_s, help="zipf skew (default 1.1)")
    p.add_argument("--hot-fraction", type=_fraction, default=DEFAULTS.hot_fraction, help="hotspot: hot share of keys")
    p.add_argument("--hot-traffic", type=_fraction, default=DEFAULTS.hot_traffic, help="hotspot: their share of reads")
    p.add_argument("--write-ratio", type=_fraction, default=0.0,
                   help="share of operations that update the row in PostgreSQL (every read is checked for staleness)")
    p.add_argument("--on-write", choices=ON_WRITE, default=DEFAULTS.on_write,
                   help="what a write does to the caches: nothing (ttl), delete the entry, or update it")
    p.add_argument("--instances", type=_positive_int, default=1,
                   help="app instances: N processes on a Dask cluster, each with its own in-process cache")
    p.add_argument("--scheduler", help="spread the instances over a Dask cluster: tcp://HOST:8786")


def _cache_spec(args: argparse.Namespace) -> dict[str, Any]:
    return {"cache_ttl_s": args.cache_ttl, "eviction": args.eviction, "zipf_s": args.zipf_s,
            "hot_fraction": args.hot_fraction, "hot_traffic": args.hot_traffic, "write_ratio": args.write_ratio,
            "on_write": args.on_write, "instances": args.instances, "scheduler": args.scheduler}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="benchcore", description="Measure per-read latency of storage tiers.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run a benchmark and save it")
    run.add_argument("--concurrency", type=_positive_int, default=1,
                     help=f"threads (sync) or tasks (async), each with its own connection (1..{MAX_CONCURRENCY})")
    _add_run_flags(run)

    sweep = sub.add_parser("sweep", help="one run measuring every tier and mode at each concurrency level")
    sweep.add_argument("--concurrency", type=_levels, default=_levels(SWEEP_LEVELS),
                       help=f"the levels, a comma list (default {SWEEP_LEVELS}); each level's tiers and modes are "
                            "interleaved, one level after another")
    _add_run_flags(sweep)

    runs = sub.add_parser("runs", help="list stored runs, newest first")
    runs.add_argument("--db")
    runs.add_argument("--limit", type=_at_least_one, default=50, help="how many runs to list (1 or more)")

    show = sub.add_parser("show", help="print one stored run")
    show.add_argument("run_id", help="a run id, or any unique start of one")
    show.add_argument("--db")
    show.add_argument("--json", dest="as_json", action="store_true", help="print the JSON document instead")

    compare = sub.add_parser("compare", help="run B against run A: per tier and mode faster, slower or no "
                             "significant change; exit 1 when B is significantly slower (a CI gate)")
    compare.add_argument("run_a", help="the baseline: a run id, or any unique start of one")
    compare.add_argument("run_b", help="the run compared with it")
    compare.add_argument("--threshold", type=_percent, default=MIN_EFFECT * 100, metavar="PCT",
                         help=f"minimum effect in percent of p50 (default {MIN_EFFECT * 100:g}): smaller changes are "
                         "never a verdict, and only a slowdown beyond it exits 1")
    compare.add_argument("--json", dest="json_path", help="also write the comparison as JSON to this path")
    compare.add_argument("--db")

    export = sub.add_parser("export", help="write one stored run as a bundle (JSON, or JSON.gz by the name)")
    export.add_argument("run_id", help="a run id, or any unique start of one")
    export.add_argument("-o", "--output", required=True, help="the bundle file: NAME.json or NAME.json.gz")
    export.add_argument("--no-samples", action="store_true", help="summaries and trials only, no raw samples")
    export.add_argument("--db")
    imp = sub.add_parser("import", help="store the runs of bundle files (a run already stored is left as it is)")
    imp.add_argument("files", nargs="+", help="bundle files written by export (or the dashboard)")
    imp.add_argument("--db")

    targets = sub.add_parser("targets", help="where each backend is, whether it answers, its version")
    _add_target_flags(targets)
    from benchcore.advisor.command import add_parser as add_advise

    add_advise(sub, _positive_int, _add_target_flags)
    return parser


def _given(args: argparse.Namespace) -> set[str]:
    """The RunSpec fields set on the command line (a preset never overrides those)."""
    argv = getattr(args, "_argv", [])
    names = {"tiers", "modes", "ops", "warmup", "concurrency", "trials", "keys", "distribution", "seed", "cold",
             "label", "connection", "serializer", "value_bytes", "loop"}
    given = {n for n in names if any(a == f"--{n.replace('_', '-')}" or a.startswith(f"--{n.replace('_', '-')}=")
                                     for a in argv)}
    given |= {field for flag, field in (("--raw-sync-driver", "sync_driver"), ("--raw-async-driver", "async_driver"))
              if any(a == flag or a.startswith(flag + "=") for a in argv)}
    return given


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    """The flags run and sweep share (everything but --concurrency)."""
    p.add_argument("--tiers", default=",".join(DEFAULTS.tiers),
                   help=f"a comma list of {','.join(TIER_NAMES)}, or all (default: {','.join(DEFAULTS.tiers)})")
    p.add_argument("--modes", default="sync,async", help="sync, async or both (default both)")
    p.add_argument("--ops", type=_positive_int, default=2000, help=f"timed reads per trial (1..{MAX_OPS:,})")
    p.add_argument("--warmup", type=_positive_int, default=200, help="untimed reads before the trials")
    p.add_argument("--trials", type=_positive_int, default=DEFAULTS.trials,
                   help=f"timed phases per tier and mode, interleaved across tiers (default {DEFAULTS.trials}); "
                        "the p50 is the median of the trials' p50s, with a 95%% CI")
    p.add_argument("--sequential", action="store_true",
                   help="run each tier and mode's trials back to back instead of round-robin")
    p.add_argument("--read-timeout", type=_seconds, default=DEFAULTS.read_timeout_s,
                   help="a read without an answer for this long fails its tier "
                        f"(default {DEFAULTS.read_timeout_s:g} s)")
    p.add_argument("--keys", type=_positive_int, default=10_000, help="rows seeded and keys read")
    p.add_argument("--distribution", choices=DISTRIBUTIONS, default="uniform")
    p.add_argument("--seed", type=_positive_int, default=1)
    p.add_argument("--cold", action="store_true", help="do not warm the caches: the first read of a key misses")
    p.add_argument("--cache-capacity", type=_positive_int,
                   help="entries per cache (default: the key space); in-process: the cache's maxsize; Redis and "
                        "Memcached: benchcore's key budget (the oldest key it SET is deleted past it)")
    _add_cache_flags(p)
    p.add_argument("--cpus", help="pin the client to these CPUs, e.g. 1 or 0,1 (Linux); see README 'CPU placement'")
    _add_path_flags(p)
    p.add_argument("--rate", type=_rate, help="open loop: this many reads per second across all workers, each "
                   "measured from its intended start too (default: closed loop, the next read when one ends)")
    p.add_argument("--duration", type=_seconds, help="open loop: seconds per trial (reads = rate x duration; "
                   "without it, --ops reads at --rate)")
    p.add_argument("--arrival", choices=ARRIVALS, default=DEFAULTS.arrival,
                   help="open loop: evenly spaced reads or a Poisson process (default uniform)")
    p.add_argument("--processes", type=_positive_int, default=DEFAULTS.processes,
                   help=f"spread each tier and mode's workers over this many client processes (1..{MAX_PROCESSES}; "
                        "one Python process is limited by its GIL)")
    p.add_argument("--label", default="")
    p.add_argument("--table", default="benchcore_users", help="the only table benchcore creates and reads")
    p.add_argument("--key-prefix", default="benchcore",
                   help="Redis/Memcached keys are <prefix>:<table>:user:<id>; no other key is touched")
    p.add_argument("--db", help="results database (default results.duckdb or BENCHCORE_DB)")
    p.add_argument("--json", dest="json_path", help="also write the run as JSON to this path")
    p.add_argument("--no-save", action="store_true", help="do not store the run")
    _add_target_flags(p)


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        **{b.settings_attr: getattr(args, b.settings_attr, None) for b in BACKENDS.values()},
        embedded=getattr(args, "embedded", None),
        db_path=getattr(args, "db", None),
        server_cpus=getattr(args, "server_cpus", None),
    )


class _ProgressPrinter:
    """One updating line on a terminal; a line per tier otherwise (CI logs)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last_key: tuple[str, str] | None = None

    def __call__(self, p: Progress) -> None:
        pct = 100.0 * p.reads_done / p.reads_total if p.reads_total else 100.0
        if self.tty:
            trial = f"trial {p.trial}/{p.trials} " if p.trial else ""
            self.stream.write(f"\r\033[K[{pct:5.1f}%] {p.tier} ({p.mode}) {p.phase} {trial}{p.done:,}/{p.total:,}")
            if p.phase in ("done", "failed"):
                self.stream.write("\n" if p.phase == "done" else f" - {text.escape(p.message)}\n")
            self.stream.flush()
        elif p.phase in ("done", "failed"):
            end = "done" if p.phase == "done" else f"FAILED: {text.escape(p.message)}"
            self.stream.write(f"[{pct:5.1f}%] {p.tier} ({p.mode}) {end}\n")
            self.stream.flush()


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


def _spec(args: argparse.Namespace, **load: Any) -> RunSpec:
    """The RunSpec the flags ask for (a --preset fills in what was not given)."""
    return presets.apply(args.preset, RunSpec(
        tiers=args.tiers, modes=args.modes, ops=args.ops, warmup=args.warmup, trials=args.trials,
        keys=args.keys, distribution=args.distribution, seed=args.seed, cold=args.cold, label=args.label,
        table=args.table, key_prefix=args.key_prefix, cache_capacity=args.cache_capacity,
        cpus=args.cpus or None, read_timeout_s=args.read_timeout, interleave=not args.sequential,
        rate=args.rate, duration_s=args.duration, arrival=args.arrival, processes=args.processes,
        connection=args.connection, serializer=args.serializer, value_bytes=args.value_bytes, loop=args.loop,
        sync_driver=args.sync_driver, async_driver=args.async_driver, **_cache_spec(args), **load), given=_given(args))


def cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    return _execute(_spec(args, concurrency=args.concurrency), args, out, err)


def cmd_sweep(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    return _execute(_spec(args, sweep=args.concurrency), args, out, err)


def _execute(spec: RunSpec, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run spec in a worker process, print its tables, save it, write its JSON; the exit code."""
    from benchcore.running.process import run_in_worker

    settings = _settings(args)
    json_path = Path(args.json_path) if args.json_path else None
    preflight.check_run_outputs(json_path, None if args.no_save else settings.db_path)
    if not args.no_save:
        _import_spool(settings, err)  # also imports DuckDB, pandas and pyarrow now, not after a Ctrl-C
    err.write(f"benchcore: this run makes {spec.estimate.describe()}\n")
    cancel, kill, saving, give_up = threading.Event(), threading.Event(), threading.Event(), threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        # The first Ctrl-C or SIGTERM (timeout, systemd, docker stop) stops the run and saves what it measured;
        # a second Ctrl-C stops the benchmark process at once (what it finished is still saved). While the save
        # waits for a locked file, either one stops the wait and spools the run (the save says where).
        # (Only Event.set here: the main thread never waits on these events, so no lock is ever held twice.)
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
        run = run_in_worker(spec, settings, on_progress=_ProgressPrinter(err), cancel=cancel, kill=kill)
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


def cmd_runs(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from benchcore.results.storage import RunRepository

    settings = _settings(args)
    if not settings.db_path.exists():
        out.write(f"no runs yet: {settings.db_path} does not exist (python -m benchcore run)\n")
        return EXIT_OK
    frame = RunRepository(settings.db_path).list_runs().head(args.limit)
    if frame.empty:
        out.write("no runs yet (python -m benchcore run)\n")
        return EXIT_OK
    rows = [[r.run_id, str(r.started_at)[:19], r.status, r.label, r.tiers, r.modes, f"{r.ops:,}", r.machine]
            for r in frame.itertuples()]
    out.write(report.plain_table(["run id", "started (UTC)", "status", "label", "tiers", "modes", "ops",
                                  "machine"], rows) + "\n")
    return EXIT_OK


def _stored_repository(args: argparse.Namespace) -> RunRepository:
    from benchcore.results.storage import RunRepository

    settings = _settings(args)
    if not settings.db_path.exists():
        raise ConfigError(f"no results database at {settings.db_path}")
    return RunRepository(settings.db_path)


def _stored_run(repo: RunRepository, prefix: str) -> Run:
    """The run a (unique) id prefix names; an unknown or ambiguous prefix is bad input."""
    from benchcore.results.storage import RunNotFound

    try:
        return repo.get_run(repo.resolve_id(prefix), with_samples=False)
    except RunNotFound as exc:
        raise ConfigError(str(exc)) from None


def cmd_show(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    run = _stored_run(_stored_repository(args), args.run_id)
    if args.as_json:
        out.write(json.dumps(report.run_dict(run), indent=2) + "\n")
        return EXIT_OK
    out.write(f"run {run.run_id}  {run.status}  started {run.started_at:%Y-%m-%d %H:%M:%S} UTC  "
              f"label {run.label!r}\n\n")
    out.write(report.results_table(run) + "\n")
    return EXIT_OK


def cmd_compare(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from benchcore.results.compare import compare_runs

    json_path = Path(args.json_path) if args.json_path else None
    if json_path and not json_path.parent.exists():
        raise ConfigError(f"--json: directory {json_path.parent} does not exist")
    repo = _stored_repository(args)
    run_a, run_b = _stored_run(repo, args.run_a), _stored_run(repo, args.run_b)
    if run_a.run_id == run_b.run_id:
        raise ConfigError(f"RUN_A and RUN_B are the same run ({run_a.run_id}); give two different runs")
    comparison = compare_runs(run_a, run_b, min_effect=args.threshold / 100.0)
    out.write(report.comparison_report(comparison, run_a, run_b) + "\n")
    if json_path:
        json_path.write_text(json.dumps(report.comparison_dict(comparison), indent=2, ensure_ascii=False) + "\n",
                             encoding="utf-8")
        err.write(f"wrote {json_path}\n")
    slower = comparison.slower
    if slower:
        err.write(f"benchcore: B is significantly slower than A on {len(slower)} tier x mode pair(s): "
                  + ", ".join(f"{p.where} ({p.mode}) {p.ratio:.2f}x" for p in slower) + "\n")
        return EXIT_TIER_FAILED
    return EXIT_OK


def cmd_targets(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from benchcore.servers.targets import probe_targets

    settings = _settings(args)
    rows = probe_targets(settings)
    table = [[r.backend, r.address, r.kind, "yes" if r.reachable else "no", r.version or "-", r.error or ""]
             for r in rows]
    out.write(report.plain_table(["backend", "address", "kind", "answers", "version", "problem"], table) + "\n")
    notes = [f"  {r.backend}: {r.note}" for r in rows if r.note]
    if notes:
        out.write("\nCPU placement:\n" + "\n".join(notes) + "\n")
    out.write(f"\nPoint benchcore elsewhere with {', '.join(b.env_var for b in BACKENDS.values())} "
              f"(or {', '.join(b.flag for b in BACKENDS.values())}).\n")
    return EXIT_OK


def cmd_export(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from benchcore.results import bundles

    path = Path(args.output)
    preflight.check_output_file(path, "-o")
    repo = _stored_repository(args)
    run = bundles.export_run(repo, repo.resolve_id(args.run_id), path, samples=not args.no_samples)
    err.write(f"wrote run {run.run_id} to {path} ({path.stat().st_size:,} bytes, "
              f"{'without' if args.no_samples else 'with'} samples)\n")
    return EXIT_OK


def cmd_import(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from benchcore.results import bundles
    from benchcore.results.storage import RunRepository

    settings = _settings(args)
    preflight.check_run_outputs(None, settings.db_path)
    repo = RunRepository(settings.db_path)
    for name in args.files:
        try:
            data = Path(name).read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {name}: {exc.strerror or exc}") from None
        run, added = bundles.import_bytes(repo, data, name)
        out.write(f"{'imported' if added else 'already stored'}: run {run.run_id} ({run.status}, "
                  f"{text.escape(run.label) or 'no label'}) from {name}\n")
    return EXIT_OK


def cmd_advise(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from benchcore.advisor.command import cmd_advise as advise

    return advise(args, _settings(args), out, err)



COMMANDS = {"run": cmd_run, "sweep": cmd_sweep, "runs": cmd_runs, "show": cmd_show, "compare": cmd_compare,
            "targets": cmd_targets, "export": cmd_export, "import": cmd_import, "advise": cmd_advise}


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = build_parser().parse_args(argv)
        args._argv = list(sys.argv[1:] if argv is None else argv)
        return COMMANDS[args.command](args, out, err)
    except ConfigError as exc:
        err.write(f"benchcore: error: {exc}\n")
        return EXIT_BAD_INPUT
    except BenchError as exc:
        err.write(f"benchcore: {exc}\n")
        return EXIT_TIER_FAILED
    except KeyboardInterrupt:
        err.write("benchcore: aborted\n")
        return EXIT_CANCELLED
