"""What a run measures: RunSpec, validated on construction, and the caps every input is held to."""

from __future__ import annotations

import contextvars
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from benchcore import text
from benchcore.errors import ConfigError
from benchcore.tiers.registry import DEFAULT_TIERS, MODES, TIER_NAMES

DISTRIBUTIONS: tuple[str, ...] = ("uniform", "zipf", "hotspot", "sequential")
# The in-process cache's eviction policy, each a cachetools class: LRUCache, LFUCache, FIFOCache, TTLCache (LRU
# within a TTL counted from insertion). Only "ttl" expires entries in the process; Redis and Memcached always do.
EVICTIONS: tuple[str, ...] = ("lru", "lfu", "fifo", "ttl")
# What a write does besides updating PostgreSQL: nothing (the caches keep the old value until their TTL ends),
# delete the cached entry (cache-aside invalidation), or write the new value through to the cache.
ON_WRITE: tuple[str, ...] = ("ttl", "delete", "update")
MAX_INSTANCES = 16
MAX_WRITE_RATIO = 0.9
ZIPF_S, HOT_FRACTION, HOT_TRAFFIC = 1.1, 0.2, 0.8  # YCSB-like zipfian skew; hotspot: 80% of reads to 20% of keys
_SCHEDULER = re.compile(r"^tcp://[A-Za-z0-9_.\-\[\]:]+:[0-9]{1,5}$")

# Caps keep one click from exhausting memory or hammering a server; documented in the README.
MAX_OPS = 10_000_000
MAX_WARMUP = 1_000_000
MAX_CONCURRENCY = 64
MAX_TRIALS = 20
MAX_KEYS = 1_000_000
MAX_LABEL = 200
MIN_READ_TIMEOUT_S, MAX_READ_TIMEOUT_S = 0.1, 600.0
MAX_RATE = 1_000_000.0  # reads per second, open loop
MAX_DURATION_S = 3600.0
ARRIVALS: tuple[str, ...] = ("uniform", "poisson")
LATE_MS = 1.0  # an open-loop read that starts later than this after its intended time is late
# Client processes per (tier, mode): past one, the workers are spread over that many processes (the GIL caps one
# Python process at about one core); more than the machine has CPUs only adds contention.
MAX_PROCESSES = 16
# Timed reads per run (ops x trials x tiers x modes). Every sample is an int64 the run holds until it is saved
# (8 bytes, plus an int64 index per cache miss), and saving briefly holds 17 more bytes per sample for DuckDB's
# bulk load (the samples concatenated, their result ids, the miss flags): 50 M samples = 400 MB held (800 MB if
# every read missed), ~1.25 GB at the save, on top of the ~150 MB the process itself needs. Without this cap the
# per-field caps allowed 10 M x 20 x 5 x 2 = 2 G samples (16 GB).
MAX_SAMPLES = 50_000_000
SAMPLE_BYTES = 8
# What one read goes through (recorded with the run, compared like any other setting; see README "Options").
CONNECTIONS: tuple[str, ...] = ("pool", "held")  # a pool checkout per read (as an application does) or one held
SERIALIZERS: tuple[str, ...] = ("json", "orjson", "msgpack", "pickle")  # cache tiers' value format
LOOPS: tuple[str, ...] = ("asyncio", "uvloop")  # the async mode's event loop
SYNC_DRIVERS: tuple[str, ...] = ("psycopg2", "psycopg")  # the raw PostgreSQL tier (and cache misses), sync mode
ASYNC_DRIVERS: tuple[str, ...] = ("asyncpg", "psycopg")  # the same, async mode
PRESETS: tuple[str, ...] = ("seed",)
MIN_VALUE_BYTES, MAX_VALUE_BYTES = 128, 1_000_000  # Memcached's item limit is 1 MiB with the key and header
# value_bytes x keys: what warming puts into a (possibly shared) Redis or Memcached.
MAX_CACHE_BYTES = 256_000_000
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_KEY_PREFIX = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")



def _num(value: float) -> str:
    """10000000 -> '10,000,000', 0.1 -> '0.1' (never '1e+07')."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,}"


def _range_problem(name: str, value: object, low: float, high: float, whole: bool = True) -> str | None:
    """The one wording of an out-of-range input, for RunSpec (CLI: "ops must be ...") and the Run page."""
    kind = "a whole number" if whole else "a number"
    if isinstance(value, bool) or not isinstance(value, int if whole else int | float):
        return f"{name} must be {kind} between {_num(low)} and {_num(high)}, got {value!r}"
    if not low <= value <= high:
        return f"{name} must be between {_num(low)} and {_num(high)}, got {_num(value)}"
    return None


@dataclass(frozen=True)
class Limit:
    """One numeric input's allowed range: `name` as RunSpec and the CLI call it, `label` as the Run page does."""

    name: str
    label: str
    low: float
    high: float
    whole: bool = True

    def problem(self, value: object, *, labelled: bool = False) -> str | None:
        return _range_problem(self.label if labelled else self.name, value, self.low, self.high, self.whole)


# Every numeric field of a run with its cap (the caps above): RunSpec checks them, the Run page checks its inputs
# against the same table before it enables "Run benchmark", so a page and the CLI refuse the same values.
LIMITS: dict[str, Limit] = {limit.name: limit for limit in (
    Limit("ops", "Reads per trial", 1, MAX_OPS),
    Limit("warmup", "Warmup reads", 0, MAX_WARMUP),
    Limit("concurrency", "Concurrency", 1, MAX_CONCURRENCY),
    Limit("trials", "Trials", 1, MAX_TRIALS),
    Limit("keys", "Keys", 1, MAX_KEYS),
    Limit("seed", "Seed", 0, 2**32 - 1),
    Limit("processes", "Client processes", 1, MAX_PROCESSES),
    Limit("rate", "Target rate (reads/s)", 1.0, MAX_RATE, whole=False),
    Limit("duration", "Duration per trial (s)", 0.1, MAX_DURATION_S, whole=False),
    Limit("value_bytes", "Cache value bytes", MIN_VALUE_BYTES, MAX_VALUE_BYTES),
    Limit("cache_capacity", "Cache capacity", 1, MAX_KEYS),
    Limit("instances", "App instances", 1, MAX_INSTANCES),
)}


def input_problems(values: Mapping[str, object]) -> list[str]:
    """What is wrong with a form's numbers ({LIMITS name: value}; None = not given): one message per field, named
    as the page labels it, with its allowed range. Empty when every value is in range."""
    problems = [LIMITS[name].problem(value, labelled=True) for name, value in values.items() if value is not None]
    return [p for p in problems if p]


def _check_limit(name: str, value: object) -> None:
    problem = LIMITS[name].problem(value)
    if problem:
        raise ConfigError(problem)


def _check_int(name: str, value: int, low: int, high: int) -> None:
    problem = _range_problem(name, value, low, high)
    if problem:
        raise ConfigError(problem)


def parse_names(text: str | list[str] | tuple[str, ...], valid: tuple[str, ...], what: str) -> tuple[str, ...]:
    """'all' or a comma list -> validated tuple in canonical order; ConfigError lists valid values."""
    items = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    if not items:
        raise ConfigError(f"no {what} given; valid {what}: {', '.join(valid)} (or all)")
    if items == ["all"]:
        return valid
    unknown = [t for t in items if t not in valid]
    if unknown:
        raise ConfigError(f"unknown {what} {', '.join(map(repr, unknown))}; valid {what}: {', '.join(valid)} (or all)")
    return tuple(t for t in valid if t in items)


def _check_number(name: str, value: object, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(f"{name} must be a number between {low:g} and {high:g}, got {value!r}")


def _check_cpus(cpus: object) -> tuple[int, ...]:
    if isinstance(cpus, str):
        try:
            cpus = [int(c) for c in cpus.replace(" ", "").split(",") if c]
        except ValueError:
            raise ConfigError(f"cpus must be a comma list of CPU numbers, got {cpus!r}") from None
    if not hasattr(os, "sched_getaffinity"):
        raise ConfigError("CPU pinning needs Linux (os.sched_setaffinity); leave cpus empty here")
    allowed = sorted(os.sched_getaffinity(0))
    chosen = tuple(sorted(set(cpus)))  # type: ignore[call-overload]
    if not chosen or any(c not in allowed for c in chosen):
        raise ConfigError(f"cpus {list(chosen)} must be a non-empty subset of this process's CPUs {allowed}")
    return chosen


@dataclass(frozen=True)
class SampleEstimate:
    """How many timed reads a run makes and how much memory their samples take."""

    ops: int  # per trial (and level)
    trials: int
    tiers: int
    modes: int
    levels: int = 1  # concurrency levels of a sweep

    @property
    def reads(self) -> int:
        return self.ops * self.trials * self.tiers * self.modes * self.levels

    @property
    def megabytes(self) -> float:
        return self.reads * SAMPLE_BYTES / 1e6

    @property
    def over_cap(self) -> bool:
        return self.reads > MAX_SAMPLES

    def describe(self) -> str:
        """'60,000 timed reads (5 tiers x 2 modes x 3 trials x 2,000 reads), 0.5 MB of samples'."""
        levels = f" x {self.levels} concurrency levels" if self.levels != 1 else ""
        return (f"{self.reads:,} timed reads ({self.tiers} tier{'s' * (self.tiers != 1)} x {self.modes} "
                f"mode{'s' * (self.modes != 1)} x {self.trials} trial{'s' * (self.trials != 1)}{levels} x "
                f"{self.ops:,} reads), {self.megabytes:,.1f} MB of samples")

    def refusal(self) -> str:
        return (f"this run would make {self.describe()}; the cap is {MAX_SAMPLES:,} timed reads "
                f"({MAX_SAMPLES * SAMPLE_BYTES / 1e6:,.0f} MB) per run: lower ops, trials, tiers or modes")


def estimate_samples(ops: int, trials: int, tiers: int, modes: int, levels: int = 1) -> SampleEstimate:
    return SampleEstimate(ops=ops, trials=trials, tiers=tiers, modes=modes, levels=levels)


def check_label(label: object) -> None:
    """ConfigError unless label is text a terminal and a page show as typed (no controls, no bidi overrides)."""
    if not isinstance(label, str) or len(label) > MAX_LABEL:
        raise ConfigError(f"label must be text of at most {MAX_LABEL} characters")
    found = text.first_unsafe(label)
    if found:
        raise ConfigError(f"label must not contain control characters or bidi overrides/isolates (found {found})")


# Set while a stored run is loaded: rules added after it was made (the per-run cap, stricter labels) do not apply.
_STORED = contextvars.ContextVar("benchcore_stored_spec", default=False)


@dataclass(frozen=True)
class RunSpec:
    """What to measure. Validated on construction: an invalid spec cannot exist."""

    tiers: tuple[str, ...] = DEFAULT_TIERS
    modes: tuple[str, ...] = MODES
    ops: int = 2000
    warmup: int = 200
    concurrency: int = 1
    trials: int = 5
    keys: int = 10_000
    distribution: str = "uniform"
    seed: int = 1
    cold: bool = False
    label: str = ""
    table: str = "benchcore_users"
    key_prefix: str = "benchcore"
    cache_capacity: int | None = None  # entries per cache (Redis/Memcached: benchcore's key budget); None = key space
    cache_ttl_s: float = 3600  # TTL for every cache tier's entries, seconds (fractions for the in-process cache)
    cpus: tuple[int, ...] | None = None  # pin the client (runner + workers) to these CPUs; None = leave as is
    read_timeout_s: float = 5.0  # a read without an answer for this long fails its tier (the server stalled)
    interleave: bool = True  # trials round-robin across (tier, mode); False: each (tier, mode) back to back
    # Open loop: this many reads per second across all workers, on a uniform or Poisson schedule, each trial
    # lasting duration_s (ops = rate x duration); None: closed loop (the next read starts when one ends).
    rate: float | None = None
    duration_s: float | None = None
    arrival: str = "uniform"
    # Concurrency sweep: one result per (tier, mode, level) in one run; None: just `concurrency`.
    sweep: tuple[int, ...] | None = None
    connection: str = "pool"  # every tier: a pool checkout per read, or one connection held by the worker
    serializer: str = "json"  # cache tiers
    value_bytes: int | None = None  # cache tiers: pad each stored value to this many bytes; None = the bare record
    loop: str = "asyncio"  # async mode
    sync_driver: str = "psycopg2"  # the raw PostgreSQL tier and cache misses, sync mode
    async_driver: str = "asyncpg"  # the same, async mode
    preset: str = ""  # the preset the run was made from ("" = none), for the record
    # The workers of each (tier, mode) spread over this many client processes (running/processes.py); 1: the
    # run's worker process does every read itself. A level below it uses as many processes as it has workers.
    processes: int = 1
    # Caching strategy and workload (the advisor's knobs): the in-process eviction policy, the skew of zipf and
    # hotspot keys, the fraction of operations that update PostgreSQL and what a write does to the caches.
    eviction: str = "ttl"
    zipf_s: float = ZIPF_S
    hot_fraction: float = HOT_FRACTION
    hot_traffic: float = HOT_TRAFFIC
    write_ratio: float = 0.0
    on_write: str = "delete"
    # App instances: N worker processes on a Dask cluster (a LocalCluster, or `scheduler` tcp://host:port), each
    # with its own in-process cache, sharing the servers and one op stream.
    instances: int = 1
    scheduler: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "tiers", parse_names(self.tiers, TIER_NAMES, "tiers"))
        object.__setattr__(self, "modes", parse_names(self.modes, MODES, "modes"))
        _check_limit("ops", self.ops)
        _check_limit("warmup", self.warmup)
        _check_limit("concurrency", self.concurrency)
        _check_limit("trials", self.trials)
        _check_limit("keys", self.keys)
        _check_limit("seed", self.seed)
        _check_number("cache TTL (seconds)", self.cache_ttl_s, 0.001, 30 * 86400)
        _check_limit("processes", self.processes)
        if isinstance(self.read_timeout_s, bool) or not isinstance(self.read_timeout_s, int | float) or not (
                MIN_READ_TIMEOUT_S <= self.read_timeout_s <= MAX_READ_TIMEOUT_S):
            raise ConfigError(f"read timeout must be between {MIN_READ_TIMEOUT_S:g} and {MAX_READ_TIMEOUT_S:g} "
                              f"seconds, got {self.read_timeout_s!r}")
        object.__setattr__(self, "read_timeout_s", float(self.read_timeout_s))
        self._check_load()
        self._check_path()
        self._check_caching()
        if self.cache_capacity is not None:
            _check_limit("cache_capacity", self.cache_capacity)
        if self.cpus is not None:
            object.__setattr__(self, "cpus", _check_cpus(self.cpus))
        if self.distribution not in DISTRIBUTIONS:
            raise ConfigError(f"unknown distribution {self.distribution!r}; valid: {', '.join(DISTRIBUTIONS)}")
        if _STORED.get():
            if not isinstance(self.label, str):
                raise ConfigError("label must be text")
        else:
            check_label(self.label)
            if self.estimate.over_cap:
                raise ConfigError(self.estimate.refusal())
        if not _IDENTIFIER.match(self.table):
            raise ConfigError(
                f"table {self.table!r} must be a lower-case SQL identifier: letters, digits, _; at most 63 chars"
            )
        if not _KEY_PREFIX.match(self.key_prefix):
            raise ConfigError(f"key_prefix {self.key_prefix!r} may use only letters, digits and _ . : - (1-64 chars)")

    def _check_load(self) -> None:
        if self.arrival not in ARRIVALS:
            raise ConfigError(f"unknown arrival {self.arrival!r}; valid: {', '.join(ARRIVALS)}")
        if self.rate is not None:
            _check_number("rate (reads per second)", self.rate, 1.0, MAX_RATE)
            object.__setattr__(self, "rate", float(self.rate))
        if self.duration_s is not None:
            if self.rate is None:
                raise ConfigError("a duration needs a rate (--rate R --duration S: an open-loop run)")
            _check_number("duration (seconds)", self.duration_s, 0.1, MAX_DURATION_S)
            object.__setattr__(self, "duration_s", float(self.duration_s))
            _check_int("reads per trial (rate x duration)", self.ops_per_trial, 1, MAX_OPS)
        if self.sweep is not None:
            levels = tuple(sorted(set(self.sweep)))
            if not levels:
                raise ConfigError("a sweep needs at least one concurrency level")
            for level in levels:
                _check_int("sweep concurrency", level, 1, MAX_CONCURRENCY)
            object.__setattr__(self, "sweep", levels)

    def _check_path(self) -> None:
        for name, valid in (("connection", CONNECTIONS), ("serializer", SERIALIZERS), ("loop", LOOPS),
                            ("sync_driver", SYNC_DRIVERS), ("async_driver", ASYNC_DRIVERS)):
            if getattr(self, name) not in valid:
                what = name.replace("_", " ")
                raise ConfigError(f"unknown {what} {getattr(self, name)!r}; valid: {', '.join(valid)}")
        if self.preset and self.preset not in PRESETS:
            raise ConfigError(f"unknown preset {self.preset!r}; valid: {', '.join(PRESETS)}")
        if self.value_bytes is not None:
            _check_int("value bytes", self.value_bytes, MIN_VALUE_BYTES, MAX_VALUE_BYTES)
            if self.value_bytes * self.keys > MAX_CACHE_BYTES:
                raise ConfigError(f"value bytes x keys = {self.value_bytes * self.keys:,} bytes would be put into each "
                                  f"cache; the cap is {MAX_CACHE_BYTES:,}: lower --value-bytes or --keys")

    def _check_caching(self) -> None:
        if self.eviction not in EVICTIONS:
            raise ConfigError(f"unknown eviction {self.eviction!r}; valid: {', '.join(EVICTIONS)}")
        if self.on_write not in ON_WRITE:
            raise ConfigError(f"unknown on-write policy {self.on_write!r}; valid: {', '.join(ON_WRITE)}")
        _check_number("zipf s", self.zipf_s, 0.01, 5.0)
        _check_number("hot fraction", self.hot_fraction, 0.0001, 0.9999)
        _check_number("hot traffic", self.hot_traffic, 0.0, 1.0)
        _check_number("write ratio", self.write_ratio, 0.0, MAX_WRITE_RATIO)
        _check_limit("instances", self.instances)
        for name in ("zipf_s", "hot_fraction", "hot_traffic", "write_ratio"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if self.scheduler is not None and not _SCHEDULER.match(self.scheduler):
            raise ConfigError(f"scheduler must look like tcp://host:8786, got {self.scheduler!r}")
        if self.rate is not None and (self.write_ratio or self.instances > 1):
            raise ConfigError("writes and several instances run closed-loop only: drop the rate, or set write "
                              "ratio 0 and instances 1")
        if self.sweep is not None and self.instances > 1:
            raise ConfigError("a concurrency sweep runs in one instance: drop the sweep or set instances 1")

    @property
    def capacity(self) -> int:
        return self.cache_capacity or self.keys

    @property
    def ops_per_trial(self) -> int:
        """Timed reads per trial: ops, or rate x duration for an open-loop run with a duration."""
        if self.rate is not None and self.duration_s is not None:
            return max(1, round(self.rate * self.duration_s))
        return self.ops

    @property
    def levels(self) -> tuple[int, ...]:
        """The concurrency levels measured: the sweep's, or just `concurrency`."""
        return self.sweep or (self.concurrency,)

    @property
    def estimate(self) -> SampleEstimate:
        return estimate_samples(self.ops_per_trial, self.trials, len(self.tiers), len(self.modes), len(self.levels))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tiers"], d["modes"] = list(self.tiers), list(self.modes)
        d["cpus"] = list(self.cpus) if self.cpus is not None else None
        d["sweep"] = list(self.sweep) if self.sweep is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSpec:
        """A stored spec: validated as when it was made (a run stored before the per-run cap still loads)."""
        known = {f for f in cls.__dataclass_fields__}
        token = _STORED.set(True)
        try:
            values: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in known}
            # Runs stored before the option existed held one connection per worker in every tier.
            values.setdefault("connection", "held")
            return cls(**values)
        finally:
            _STORED.reset(token)
