"""The command line's grammar: every subcommand, flag, value type and default (`benchcore X --help`)."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from benchcore.errors import ConfigError
from benchcore.models import ARRIVALS, DISTRIBUTIONS, MAX_CONCURRENCY, MAX_OPS, MAX_PROCESSES, TIER_NAMES, RunSpec
from benchcore.results.compare import MIN_EFFECT
from benchcore.servers.backends import BACKENDS
from benchcore.settings import DEFAULT_DB, EMBEDDED_CHOICES
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

DEFAULTS = RunSpec()
SWEEP_LEVELS = "1,2,4,8,16,32,64"
RUN_ID_HELP = "a run id, or any unique start of one"


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default ("(default: X)", argparse's own wording), unless the help already
    says it or there is none to say: a flag that is off, or a value that is unset (those helps say what then)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        unset = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        if "default" in text or not action.option_strings or unset or action.nargs == 0:
            return text
        return f"{text} (default: %(default)s)".lstrip()


class Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        # One line, not a usage dump: scripts and people both read it.
        raise ConfigError(f"{message} (see python -m benchcore {self.prog.split()[-1]} --help)")


def whole_number(text: str) -> int:
    try:
        return int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _at_least_one(raw: str) -> int:
    value = whole_number(raw)
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


def levels(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(c) for c in text.replace(" ", "").split(",") if c)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma list of whole numbers, e.g. 1,2,4,8") from None


def _percent(text: str) -> float:
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage") from None
    if not 0 <= value < 100:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 100 (a percentage of p50)")
    return value


def _fraction(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def add_target_flags(p: argparse.ArgumentParser) -> None:
    for backend in BACKENDS.values():
        # The built-in URL only: the environment's value may hold a password, and --help is no place for it.
        p.add_argument(backend.flag, dest=backend.settings_attr,
                       help=f"the server's URL (default: {backend.env_var}, else {backend.default_url})")
    p.add_argument("--embedded", choices=EMBEDDED_CHOICES,
                   help="start embedded servers for the ones not answering: overrides BENCHCORE_EMBEDDED "
                        "(default: BENCHCORE_EMBEDDED, else auto)")
    p.add_argument("--server-cpus", help="pin embedded servers to these CPUs, e.g. 0 or 0,1 (Linux; overrides "
                   "BENCHCORE_SERVER_CPUS); external servers are never re-pinned (default: not pinned)")


def _add_db_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help=f"results database (default: BENCHCORE_DB, else {DEFAULT_DB})")


def _add_path_flags(p: argparse.ArgumentParser) -> None:
    """What one read goes through (README "Options"); --preset fills every workload flag it names."""
    p.add_argument("--connection", choices=CONNECTIONS, default=DEFAULTS.connection,
                   help="pool: a pool checkout per read, as an application does; held: one connection per worker "
                        "for the whole run")
    p.add_argument("--serializer", choices=SERIALIZERS, default=DEFAULTS.serializer, help="cache tiers' value format")
    p.add_argument("--value-bytes", type=whole_number, help=f"cache tiers: pad each value to N bytes "
                   f"({MIN_VALUE_BYTES:,}..{MAX_VALUE_BYTES:,}; default: the bare record)")
    p.add_argument("--loop", choices=LOOPS, default=DEFAULTS.loop, help="async mode's event loop")
    p.add_argument("--raw-sync-driver", dest="sync_driver", choices=SYNC_DRIVERS, default=DEFAULTS.sync_driver,
                   help="the raw PostgreSQL tier's (and cache misses') driver in sync mode")
    p.add_argument("--raw-async-driver", dest="async_driver", choices=ASYNC_DRIVERS, default=DEFAULTS.async_driver,
                   help="the same in async mode")
    p.add_argument("--preset", choices=PRESETS, help="seed: reproduce the blog's method (5,000 users read once in "
                   "order, orjson, uvloop, its four tiers); flags given with it win (default: none)")


def _add_cache_flags(p: argparse.ArgumentParser) -> None:
    """The caching strategy and workload knobs (RunSpec validates their ranges)."""
    p.add_argument("--cache-ttl", type=_fraction, default=DEFAULTS.cache_ttl_s,
                   help="TTL of cached entries in seconds (fractions for the in-process and Redis caches)")
    p.add_argument("--eviction", choices=EVICTIONS, default=DEFAULTS.eviction,
                   help="in-process cache policy: cachetools LRUCache, LFUCache, FIFOCache or TTLCache")
    p.add_argument("--zipf-s", type=_fraction, default=DEFAULTS.zipf_s, help="zipf skew")
    p.add_argument("--hot-fraction", type=_fraction, default=DEFAULTS.hot_fraction, help="hotspot: hot share of keys")
    p.add_argument("--hot-traffic", type=_fraction, default=DEFAULTS.hot_traffic, help="hotspot: their share of reads")
    p.add_argument("--write-ratio", type=_fraction, default=0.0,
                   help="share of operations that update the row in PostgreSQL (every read is checked for staleness)")
    p.add_argument("--on-write", choices=ON_WRITE, default=DEFAULTS.on_write,
                   help="what a write does to the caches: nothing (ttl), delete the entry, or update it")
    p.add_argument("--instances", type=whole_number, default=1,
                   help="app instances: N processes on a Dask cluster, each with its own in-process cache")
    p.add_argument("--scheduler", help="spread the instances over a Dask cluster: tcp://HOST:8786 (default: a "
                   "LocalCluster on this machine)")


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    """The flags run and sweep share (everything but --concurrency)."""
    p.add_argument("--tiers", default=",".join(DEFAULTS.tiers), help=f"a comma list of {','.join(TIER_NAMES)}, or all")
    p.add_argument("--modes", default="sync,async", help="sync, async or both")
    p.add_argument("--ops", type=whole_number, default=2000, help=f"timed reads per trial (1..{MAX_OPS:,})")
    p.add_argument("--warmup", type=whole_number, default=200, help="untimed reads before the trials")
    p.add_argument("--trials", type=whole_number, default=DEFAULTS.trials,
                   help="timed phases per tier and mode, interleaved across tiers; the p50 is the median of the "
                        "trials' p50s, with a 95%% CI")
    p.add_argument("--sequential", action="store_true",
                   help="run each tier and mode's trials back to back instead of round-robin")
    p.add_argument("--read-timeout", type=_seconds, default=DEFAULTS.read_timeout_s,
                   help="seconds a read may go without an answer before it fails its tier")
    p.add_argument("--keys", type=whole_number, default=10_000, help="rows seeded and keys read")
    p.add_argument("--distribution", choices=DISTRIBUTIONS, default="uniform", help="which keys the reads pick")
    p.add_argument("--seed", type=whole_number, default=1, help="seed of the key sequence")
    p.add_argument("--cold", action="store_true", help="do not warm the caches: the first read of a key misses")
    p.add_argument("--cache-capacity", type=whole_number,
                   help="entries per cache (default: the key space); in-process: the cache's maxsize; Redis and "
                        "Memcached: benchcore's key budget (the oldest key it SET is deleted past it)")
    _add_cache_flags(p)
    p.add_argument("--cpus", help="pin the client to these CPUs, e.g. 1 or 0,1 (Linux); see README 'CPU placement' "
                   "(default: not pinned)")
    _add_path_flags(p)
    p.add_argument("--rate", type=_rate, help="open loop: this many reads per second across all workers, each "
                   "measured from its intended start too (default: closed loop, the next read when one ends)")
    p.add_argument("--duration", type=_seconds, help="open loop: seconds per trial, reads = rate x duration "
                   "(default: --ops reads at --rate)")
    p.add_argument("--arrival", choices=ARRIVALS, default=DEFAULTS.arrival,
                   help="open loop: evenly spaced reads or a Poisson process")
    p.add_argument("--processes", type=whole_number, default=DEFAULTS.processes,
                   help=f"spread each tier and mode's workers over this many client processes (1..{MAX_PROCESSES}; "
                        "one Python process is limited by its GIL)")
    p.add_argument("--label", default="", help="a name for the run, up to 200 characters (default: none)")
    p.add_argument("--table", default="benchcore_users", help="the only table benchcore creates and reads")
    p.add_argument("--key-prefix", default="benchcore",
                   help="Redis/Memcached keys are <prefix>:<table>:user:<id>; no other key is touched")
    _add_db_flag(p)
    p.add_argument("--json", dest="json_path", help="also write the run as JSON to this path (default: not written)")
    p.add_argument("--no-save", action="store_true", help="do not store the run")
    add_target_flags(p)


def _add_stored_commands(sub: Any) -> None:
    """The commands that read or change stored runs; each takes a run id or any unique start of one."""
    runs = sub.add_parser("runs", help="list stored runs, newest first")
    _add_db_flag(runs)
    runs.add_argument("--limit", type=_at_least_one, default=50, help="how many runs to list (1 or more)")

    show = sub.add_parser("show", help="print one stored run")
    show.add_argument("run_id", help=RUN_ID_HELP)
    _add_db_flag(show)
    show.add_argument("--json", dest="as_json", action="store_true", help="print the JSON document instead")

    compare = sub.add_parser("compare", help="run B against run A: per tier and mode faster, slower or no "
                             "significant change; exit 1 when B is significantly slower (a CI gate)")
    compare.add_argument("run_a", help=f"the baseline: {RUN_ID_HELP}")
    compare.add_argument("run_b", help=f"the run compared with it: {RUN_ID_HELP}")
    compare.add_argument("--threshold", type=_percent, default=MIN_EFFECT * 100, metavar="PCT",
                         help="minimum effect in percent of p50: smaller changes, or changes smaller than "
                              "either run's CV of trial p50s, are never a verdict; only a slowdown beyond them "
                              "exits 1")
    compare.add_argument("--json", dest="json_path",
                         help="also write the comparison as JSON to this path (default: not written)")
    _add_db_flag(compare)

    export = sub.add_parser("export", help="write one stored run as a bundle (JSON, or JSON.gz by the name)")
    export.add_argument("run_id", help=RUN_ID_HELP)
    export.add_argument("-o", "--output", required=True, help="the bundle file: NAME.json or NAME.json.gz")
    export.add_argument("--no-samples", action="store_true", help="summaries and trials only, no raw samples")
    _add_db_flag(export)
    imp = sub.add_parser("import", help="store the runs of bundle files (a run already stored is left as it is)")
    imp.add_argument("files", nargs="+", help="bundle files written by export (or the dashboard)")
    _add_db_flag(imp)

    rename = sub.add_parser("rename", help="change a stored run's label")
    rename.add_argument("run_id", help=RUN_ID_HELP)
    rename.add_argument("label", help="the new label, up to 200 characters ('' clears it)")
    _add_db_flag(rename)

    delete = sub.add_parser("delete", help="remove a stored run with its results and samples (needs --yes)")
    delete.add_argument("run_id", help=RUN_ID_HELP)
    delete.add_argument("--yes", action="store_true", help="really delete it: without it nothing is deleted")
    _add_db_flag(delete)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="benchcore", description="Measure per-read latency of storage tiers.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    run = sub.add_parser("run", help="run a benchmark and save it")
    run.add_argument("--concurrency", type=whole_number, default=1,
                     help=f"threads (sync) or tasks (async), each with its own connection (1..{MAX_CONCURRENCY})")
    _add_run_flags(run)

    sweep = sub.add_parser("sweep", help="one run measuring every tier and mode at each concurrency level")
    sweep.add_argument("--concurrency", type=levels, default=levels(SWEEP_LEVELS),
                       help=f"the levels, a comma list (default: {SWEEP_LEVELS}); each level's tiers and modes are "
                            "interleaved, one level after another")
    _add_run_flags(sweep)

    _add_stored_commands(sub)

    targets = sub.add_parser("targets", help="where each backend is, whether it answers, its version")
    add_target_flags(targets)
    from benchcore.advisor.command import add_parser as add_advise

    add_advise(sub, whole_number, add_target_flags)
    return parser


def given_fields(args: argparse.Namespace) -> set[str]:
    """The RunSpec fields set on the command line (a preset never overrides those)."""
    argv = getattr(args, "_argv", [])
    names = {"tiers", "modes", "ops", "warmup", "concurrency", "trials", "keys", "distribution", "seed", "cold",
             "label", "connection", "serializer", "value_bytes", "loop"}
    given = {n for n in names if any(a == f"--{n.replace('_', '-')}" or a.startswith(f"--{n.replace('_', '-')}=")
                                     for a in argv)}
    given |= {field for flag, field in (("--raw-sync-driver", "sync_driver"), ("--raw-async-driver", "async_driver"))
              if any(a == flag or a.startswith(flag + "=") for a in argv)}
    return given
