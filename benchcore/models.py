"""Frozen records passed between the engine, storage, CLI and dashboard."""

from __future__ import annotations

import contextvars
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np

from benchcore import text
from benchcore.errors import ConfigError
from benchcore.tiers.registry import MODES, TIER_NAMES

DISTRIBUTIONS: tuple[str, ...] = ("uniform", "zipf", "hotspot", "sequential")

# Caps keep one click from exhausting memory or hammering a server; documented in the README.
MAX_OPS = 10_000_000
MAX_WARMUP = 1_000_000
MAX_CONCURRENCY = 64
MAX_TRIALS = 20
MAX_KEYS = 1_000_000
MAX_LABEL = 200
MIN_READ_TIMEOUT_S, MAX_READ_TIMEOUT_S = 0.1, 600.0
# Timed reads per run (ops x trials x tiers x modes). Every sample is an int64 the run holds until it is saved
# (8 bytes, plus an int64 index per cache miss), and saving briefly holds 17 more bytes per sample for DuckDB's
# bulk load (the samples concatenated, their result ids, the miss flags): 50 M samples = 400 MB held (800 MB if
# every read missed), ~1.25 GB at the save, on top of the ~150 MB the process itself needs. Without this cap the
# per-field caps allowed 10 M x 20 x 5 x 2 = 2 G samples (16 GB).
MAX_SAMPLES = 50_000_000
SAMPLE_BYTES = 8
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_KEY_PREFIX = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

RunStatus = Literal["complete", "partial", "failed"]
TierStatus = Literal["ok", "failed", "cancelled"]


@dataclass(frozen=True)
class User:
    """The record every tier returns; the contract test compares these across tiers."""

    id: int
    name: str
    age: int


def _check_int(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number between {low:,} and {high:,}, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low:,} and {high:,}, got {value:,}")


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

    ops: int
    trials: int
    tiers: int
    modes: int

    @property
    def reads(self) -> int:
        return self.ops * self.trials * self.tiers * self.modes

    @property
    def megabytes(self) -> float:
        return self.reads * SAMPLE_BYTES / 1e6

    @property
    def over_cap(self) -> bool:
        return self.reads > MAX_SAMPLES

    def describe(self) -> str:
        """'60,000 timed reads (5 tiers x 2 modes x 3 trials x 2,000 reads), 0.5 MB of samples'."""
        return (f"{self.reads:,} timed reads ({self.tiers} tier{'s' * (self.tiers != 1)} x {self.modes} "
                f"mode{'s' * (self.modes != 1)} x {self.trials} trial{'s' * (self.trials != 1)} x {self.ops:,} "
                f"reads), {self.megabytes:,.1f} MB of samples")

    def refusal(self) -> str:
        return (f"this run would make {self.describe()}; the cap is {MAX_SAMPLES:,} timed reads "
                f"({MAX_SAMPLES * SAMPLE_BYTES / 1e6:,.0f} MB) per run: lower ops, trials, tiers or modes")


def estimate_samples(ops: int, trials: int, tiers: int, modes: int) -> SampleEstimate:
    return SampleEstimate(ops=ops, trials=trials, tiers=tiers, modes=modes)


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

    tiers: tuple[str, ...] = TIER_NAMES
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
    cache_capacity: int | None = None  # in-process cache size; None = the key space
    cache_ttl_s: int = 3600  # TTL for every cache tier's entries
    cpus: tuple[int, ...] | None = None  # pin the client (runner + workers) to these CPUs; None = leave as is
    read_timeout_s: float = 5.0  # a read without an answer for this long fails its tier (the server stalled)
    interleave: bool = True  # trials round-robin across (tier, mode); False: each (tier, mode) back to back

    def __post_init__(self) -> None:
        object.__setattr__(self, "tiers", parse_names(self.tiers, TIER_NAMES, "tiers"))
        object.__setattr__(self, "modes", parse_names(self.modes, MODES, "modes"))
        _check_int("ops", self.ops, 1, MAX_OPS)
        _check_int("warmup", self.warmup, 0, MAX_WARMUP)
        _check_int("concurrency", self.concurrency, 1, MAX_CONCURRENCY)
        _check_int("trials", self.trials, 1, MAX_TRIALS)
        _check_int("keys", self.keys, 1, MAX_KEYS)
        _check_int("seed", self.seed, 0, 2**32 - 1)
        _check_int("cache_ttl_s", self.cache_ttl_s, 1, 30 * 86400)
        if isinstance(self.read_timeout_s, bool) or not isinstance(self.read_timeout_s, int | float) or not (
                MIN_READ_TIMEOUT_S <= self.read_timeout_s <= MAX_READ_TIMEOUT_S):
            raise ConfigError(f"read timeout must be between {MIN_READ_TIMEOUT_S:g} and {MAX_READ_TIMEOUT_S:g} "
                              f"seconds, got {self.read_timeout_s!r}")
        object.__setattr__(self, "read_timeout_s", float(self.read_timeout_s))
        if self.cache_capacity is not None:
            _check_int("cache_capacity", self.cache_capacity, 1, MAX_KEYS)
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

    @property
    def capacity(self) -> int:
        return self.cache_capacity or self.keys

    @property
    def estimate(self) -> SampleEstimate:
        return estimate_samples(self.ops, self.trials, len(self.tiers), len(self.modes))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tiers"], d["modes"] = list(self.tiers), list(self.modes)
        d["cpus"] = list(self.cpus) if self.cpus is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSpec:
        """A stored spec: validated as when it was made (a run stored before the per-run cap still loads)."""
        known = {f for f in cls.__dataclass_fields__}
        token = _STORED.set(True)
        try:
            values: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in known}
            return cls(**values)
        finally:
            _STORED.reset(token)


@dataclass(frozen=True)
class Stats:
    """Latency summary of one timed phase (or of all trials pooled). Times in microseconds."""

    ops: int
    errors: int
    hits: int | None
    misses: int | None
    mean_us: float
    stddev_us: float
    min_us: float
    p50_us: float
    p90_us: float
    p99_us: float
    p999_us: float
    max_us: float
    ops_per_sec: float  # ops / wall time of the timed phase, measured, not 1e6/mean
    wall_s: float
    # Cache tiers: hits / (hits + misses) and the latency of each kind; None for a tier without a cache.
    hit_ratio: float | None = None
    hit_p50_us: float | None = None
    hit_p99_us: float | None = None
    miss_p50_us: float | None = None
    miss_p99_us: float | None = None
    # All trials pooled (TierResult.summary) only: p50_us is then the median of the trial p50s; its 95% CI over
    # trials, the CV of the trial p50s (%), and whether that CV makes the figure unstable. None per trial.
    p50_ci_low_us: float | None = None
    p50_ci_high_us: float | None = None
    cv_pct: float | None = None
    unstable: bool | None = None


@dataclass(frozen=True)
class TrialResult:
    trial: int  # 1-based
    stats: Stats
    samples: np.ndarray = field(repr=False, compare=False)  # int64 nanoseconds, one per successful read
    # positions in samples of cache misses (int64); empty for a tier without a cache or without misses
    miss_index: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64), repr=False, compare=False)


@dataclass(frozen=True)
class ServerInfo:
    """Where a tier's server was: embedded or external, how it was reached, its version."""

    kind: Literal["external", "embedded", "in-process", "unknown"] = "unknown"
    address: str = ""  # redacted URL, host:port or socket path
    version: str = ""


def _as_tuples(record: object, *names: str) -> None:
    # A list passed for a tuple field would make two equal records compare unequal.
    for name in names:
        value = getattr(record, name)
        if isinstance(value, list):
            object.__setattr__(record, name, tuple(value))


@dataclass(frozen=True)
class EmbeddedPlacement:
    """Where an embedded server's threads may run (read from the OS) and the pin asked for (None = not pinned)."""

    cpu_affinity: tuple[int, ...] | None = None
    pinned_cpus: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        _as_tuples(self, "cpu_affinity", "pinned_cpus")


@dataclass(frozen=True)
class ServerEnvironment:
    """One backend's server as a run recorded it; placement only for an embedded server benchcore started."""

    kind: str = "unknown"
    address: str = ""  # redacted
    version: str = ""
    placement: EmbeddedPlacement | None = None


@dataclass(frozen=True)
class Environment:
    """The machine, software and servers a run measured; built once (capture_environment), never edited.

    Text fields are "" and the others None when not known (runs stored before a field existed).
    `native` holds benchmarks/native.py's figures (JSON objects, attached with dataclasses.replace);
    `extra` keeps stored keys this version does not know, so reading and saving a run loses nothing.
    """

    python: str = ""  # "CPython 3.11.7"
    python_version: str = ""
    python_implementation: str = ""
    os: str = ""  # platform.platform()
    os_system: str = ""
    os_release: str = ""
    machine_arch: str = ""
    hostname: str = ""
    cpu_model: str = ""
    cpu_count: int | None = None
    cpu_affinity: tuple[int, ...] | None = None  # CPUs the process could use when the run started
    packages: Mapping[str, str] = field(default_factory=dict)  # driver/library -> version or "not installed"
    benchcore_version: str = ""
    servers: Mapping[str, ServerEnvironment] = field(default_factory=dict)  # backend -> its server
    client_cpu_affinity: tuple[int, ...] | None = None  # CPUs the client ran on during the run (pinned or not)
    timer_overhead_ns: float | None = None
    native: tuple[Mapping[str, Any], ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _as_tuples(self, "cpu_affinity", "client_cpu_affinity", "native")


@dataclass(frozen=True)
class TierResult:
    tier: str
    mode: str
    concurrency: int
    description: str
    status: TierStatus
    error: str | None = None
    summary: Stats | None = None  # all trials pooled; None when nothing was measured
    trials: tuple[TrialResult, ...] = ()
    server: ServerInfo = ServerInfo()


@dataclass(frozen=True)
class Run:
    run_id: str
    started_at: datetime  # UTC
    finished_at: datetime
    status: RunStatus
    spec: RunSpec
    environment: Environment
    results: tuple[TierResult, ...]
    timer_overhead_ns: float  # median cost of one clock() pair, measured in this run

    @property
    def label(self) -> str:
        return self.spec.label


Phase = Literal["prepare", "warmup", "timed", "done", "failed"]


@dataclass(frozen=True)
class Progress:
    """Reported by the runner to whoever watches (CLI bar, dashboard status)."""

    tier: str
    mode: str
    phase: Phase
    trial: int  # 1-based; 0 before the first trial
    trials: int
    done: int  # timed reads finished in this trial
    total: int  # timed reads per trial
    reads_done: int  # timed reads finished in the whole run
    reads_total: int  # timed reads planned for the whole run
    message: str = ""
