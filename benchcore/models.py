"""Frozen records passed between the engine, storage, CLI and dashboard (RunSpec lives in spec.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

import numpy as np

from benchcore.spec import (  # re-exported: what a run is made of, in one import
    ARRIVALS,
    DISTRIBUTIONS,
    LATE_MS,
    MAX_CONCURRENCY,
    MAX_DURATION_S,
    MAX_KEYS,
    MAX_LABEL,
    MAX_OPS,
    MAX_PROCESSES,
    MAX_RATE,
    MAX_READ_TIMEOUT_S,
    MAX_SAMPLES,
    MAX_TRIALS,
    MAX_WARMUP,
    MIN_READ_TIMEOUT_S,
    SAMPLE_BYTES,
    RunSpec,
    SampleEstimate,
    check_label,
    estimate_samples,
    parse_names,
)
from benchcore.tiers.registry import MODES, TIER_NAMES

# Everything here, and what spec.py defines (imported above so callers need one module).
__all__ = [
    "ARRIVALS",
    "DISTRIBUTIONS",
    "LATE_MS",
    "MAX_CONCURRENCY",
    "MAX_DURATION_S",
    "MAX_KEYS",
    "MAX_LABEL",
    "MAX_OPS",
    "MAX_PROCESSES",
    "MAX_RATE",
    "MAX_READ_TIMEOUT_S",
    "MAX_SAMPLES",
    "MAX_TRIALS",
    "MAX_WARMUP",
    "MIN_READ_TIMEOUT_S",
    "MODES",
    "SAMPLE_BYTES",
    "TIER_NAMES",
    "EmbeddedPlacement",
    "Environment",
    "InstanceResult",
    "OpLog",
    "Phase",
    "Progress",
    "Run",
    "RunSpec",
    "RunStatus",
    "SampleEstimate",
    "Second",
    "ServerEnvironment",
    "ServerInfo",
    "Stats",
    "TierResult",
    "TierStatus",
    "TrialResult",
    "User",
    "check_label",
    "estimate_samples",
    "parse_names",
]


RunStatus = Literal["complete", "partial", "failed"]
TierStatus = Literal["ok", "failed", "cancelled"]


@dataclass(frozen=True)
class User:
    """The record every tier returns; the contract test compares these across tiers."""

    id: int
    name: str
    age: int



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
    # Client cost: the benchmark process's CPU time over the timed phase per read (µs), and the whole machine's
    # CPU utilisation meanwhile (% of all CPUs): when the client is the limit, not the server, these say so.
    client_cpu_us_per_read: float | None = None
    machine_cpu_pct: float | None = None
    # Open loop (a target rate) only: reads per second asked for and done, reads that started more than
    # LATE_MS after their intended time, and latency measured from the intended start (coordinated omission
    # corrected); the other percentiles are then service times (from the actual send).
    target_rate: float | None = None
    achieved_rate: float | None = None
    late_reads: int | None = None
    intended_p50_us: float | None = None
    intended_p99_us: float | None = None
    intended_p999_us: float | None = None
    # Caching (cache tiers): the mean latency of hits and of misses, so that mean = h * hit + (1 - h) * miss.
    hit_mean_us: float | None = None
    miss_mean_us: float | None = None
    # Runs with writes (spec.write_ratio > 0): writes done and their latency (never mixed into the read figures);
    # reads that returned an outdated record (a newer version was committed before the read started), their share
    # of reads, and the oldest such record's age (ms since the first newer version was committed).
    writes: int | None = None
    write_mean_us: float | None = None
    write_p50_us: float | None = None
    write_p99_us: float | None = None
    stale_reads: int | None = None
    stale_ratio: float | None = None
    max_stale_age_ms: float | None = None
    # The two-level tier: reads answered by the in-process L1 and by Redis (L2); misses read PostgreSQL.
    l1_hits: int | None = None
    l2_hits: int | None = None
    # The model beside the measurement (pooled summary of a cache tier; benchcore/advisor/cachemodel.py): the hit
    # ratio predicted for this distribution, key space, capacity, TTL, writes and instances, the mean latency that
    # hit ratio gives with the measured hit and miss latencies, and the predicted share of stale reads.
    predicted_hit_ratio: float | None = None
    predicted_mean_us: float | None = None
    predicted_stale_ratio: float | None = None


@dataclass(frozen=True)
class InstanceResult:
    """One app instance of a several-instance run (spec.instances > 1): its own share of the op stream."""

    instance: int  # 1-based
    host: str
    pid: int
    ops: int
    writes: int
    hits: int | None
    misses: int | None
    hit_ratio: float | None
    l1_hits: int | None
    l2_hits: int | None
    stale_reads: int | None
    ops_per_sec: float
    rss_mb: float | None  # the instance process's resident memory after its last trial
    cache_entries: int | None  # entries in its in-process cache at the end (None: no in-process cache)


@dataclass(frozen=True)
class Second:
    """One second of a run (counted from its start): reads of one trial that finished in it, their p50, p99 and
    slowest service time, their rate over the part of the second the trial was running, and, open loop, the p99 of
    their latency from the intended start (None otherwise, and for runs stored before schema version 5)."""

    second: int
    reads: int
    p50_us: float
    p99_us: float
    max_us: float | None = None
    intended_p99_us: float | None = None
    reads_per_s: float | None = None


@dataclass(frozen=True)
class TrialResult:
    trial: int  # 1-based
    stats: Stats
    samples: np.ndarray = field(repr=False, compare=False)  # int64 nanoseconds, one per successful read
    # positions in samples of cache misses (int64); empty for a tier without a cache or without misses
    miss_index: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64), repr=False, compare=False)
    # open loop: per read, ns from its intended start to its end (same order as samples); empty otherwise
    intended: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64), repr=False, compare=False)
    series: tuple[Second, ...] = ()  # per-second figures of this trial
    # Runs with writes: ns per write (never read samples); the two-level tier: positions in samples of L2 hits.
    # Neither is stored (their figures are in stats); both travel with the trial.
    write_samples: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64), repr=False, compare=False)
    l2_index: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64), repr=False, compare=False)
    # Runs with writes: what each read returned and each write committed, for stale-read accounting across workers
    # and instances (running/consistency.py); dropped once the figures are computed.
    log: OpLog | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class OpLog:
    """Per read: key, the record version it returned, its start; per write: key, version committed, its end.

    Times are wall-clock ns (time.time_ns scale), so instances in other processes (or, with NTP, on other
    machines) can be merged on one timeline.
    """

    read_keys: np.ndarray
    read_versions: np.ndarray
    read_start_ns: np.ndarray
    write_keys: np.ndarray
    write_versions: np.ndarray
    write_end_ns: np.ndarray

    @staticmethod
    def concat(logs: list[OpLog]) -> OpLog:
        def cat(name: str) -> np.ndarray:
            parts = [getattr(log, name) for log in logs]
            return np.concatenate(parts) if parts else np.empty(0, np.int64)

        return OpLog(*(cat(f.name) for f in fields(OpLog)))


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
    # Share of a dashboard run's time (%) during which a page showed (and redrew) its progress: its browser may share
    # the client's CPUs and lift p99 and max (benchmarks/dashboard_vs_cli.py). None: not a dashboard run, or older.
    progress_watched_pct: float | None = None
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
    instances: tuple[InstanceResult, ...] = ()  # several app instances: one each (the figures above are merged)


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
