"""Reproduce the blog: the seed's method as a preset, and its published table as a read-only reference run.

The seed's post measured 5,000 users read once each, ids 1..5000 in order, no warmup, and reported the mean
(ops/s = 1e6 / mean), with orjson cache values, uvloop for async, and as "w/o ORM" a SQLAlchemy Session per read
running text() (BEGIN + SELECT + ROLLBACK): benchcore's Core tier (registry: TierInfo.blog).
`apply("seed", spec)` sets exactly that; `published_run()` is the table it printed, stored through the normal codec
and storage like any run, marked in its environment (REFERENCE_KEY) so storage never deletes or renames it.
"""

from __future__ import annotations

import math
from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Any

from benchcore.models import Environment, Run, RunSpec, Stats, TierResult
from benchcore.tiers.registry import BLOG_TIERS

REFERENCE_KEY = "reference"  # in Environment.extra: this run was not measured by benchcore
PUBLISHED_ID = "published-seed"
PUBLISHED_LABEL = "published by the seed's author: another machine, means only, ops/s = 1e6/mean"

SEED_TIERS = tuple(BLOG_TIERS.values())  # the registry says which tiers are the blog's ORM, w/o ORM, Redis, in-process
# The seed's method, as RunSpec fields.
SEED: dict[str, Any] = {
    "tiers": SEED_TIERS, "modes": ("sync", "async"), "keys": 5000, "ops": 5000, "distribution": "sequential",
    "trials": 1, "warmup": 0, "concurrency": 1, "serializer": "orjson", "loop": "uvloop", "cold": False,
    "label": "preset seed: the blog's method",
}
PRESETS: dict[str, dict[str, Any]] = {"seed": SEED}

# The published table: (the seed's tier name, mode) -> (mean µs, ops/s) exactly as printed.
PUBLISHED_TABLE: dict[tuple[str, str], tuple[float, float]] = {
    ("ORM", "sync"): (1051.61, 951), ("w/o ORM", "sync"): (828.84, 1207),
    ("Redis", "sync"): (152.46, 6559), ("in-process", "sync"): (1.99, 503_180),
    ("ORM", "async"): (1082.11, 924), ("w/o ORM", "async"): (890.30, 1123),
    ("Redis", "async"): (169.87, 5887), ("in-process", "async"): (1.99, 501_278),
}
PUBLISHED: dict[tuple[str, str], tuple[float, float]] = {(BLOG_TIERS[n], m): v for (n, m), v in PUBLISHED_TABLE.items()}
_PUBLISHED_NAMES = {tier: name for name, tier in BLOG_TIERS.items()}

# What differs between the seed's method and benchcore's default, and what each difference does to the numbers.
# The effects are measured by benchmarks/blog.py (both methods, one machine, one run); README "Reproduce the blog".
METHOD_DIFFERENCES: tuple[str, ...] = (
    "Reads: ids 1..5000 once each, in order (benchcore: uniform random keys, 2,000 per trial). In order, "
    "PostgreSQL reads neighbouring index and heap pages that are already in its buffers; the cache tiers do not "
    "care.",
    "No warmup (benchcore: 200 untimed reads first): the first reads pay connection setup, statement caches and "
    "the ORM's first compile inside the mean.",
    "Mean only, one pass (benchcore: the median of 5 trial p50s with its CI): one stall moves a mean of 5,000 "
    "reads, and a single pass has no spread to tell noise from change; Compare can give a ratio of means, never a "
    "verdict.",
    "\"w/o ORM\" is a SQLAlchemy Session per read running text(): BEGIN + SELECT + ROLLBACK, 3 round trips "
    "(benchcore's Core tier). benchcore's raw tier is 1 round trip on a held connection, so ORM/raw "
    "here is ~3-10x where the blog's ORM/'w/o ORM' is ~1.27x: the blog's ratio is the ORM's object cost only.",
    "orjson values and uvloop (benchcore: json and asyncio by default): both take a few µs off each cache read and "
    "off every async read.",
)


def apply(name: str | None, spec: RunSpec, given: set[str] | frozenset[str] = frozenset()) -> RunSpec:
    """spec with the preset's settings, except the fields in `given` (set explicitly; they win)."""
    if not name:
        return spec
    try:
        settings = PRESETS[name]
    except KeyError:
        from benchcore.errors import ConfigError

        raise ConfigError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}") from None
    return replace(spec, **{k: v for k, v in settings.items() if k not in given}, preset=name)


def is_reference(run: Run) -> bool:
    return REFERENCE_KEY in run.environment.extra


def _stats(mean_us: float, ops_per_sec: float, reads: int) -> Stats:
    values: dict[str, Any] = {f.name: (None if f.default is None else math.nan) for f in fields(Stats)}
    values.update(ops=reads, errors=0, hits=None, misses=None, mean_us=mean_us, ops_per_sec=float(ops_per_sec),
                  wall_s=reads * mean_us / 1e6)
    return Stats(**values)


def published_run() -> Run:
    """The seed's published table as a Run: 8 results with a mean and ops/s each, nothing else."""
    when = datetime(2024, 1, 1, tzinfo=UTC)  # nominal: the post gives no date benchcore can use
    spec = RunSpec.from_dict({**{k: list(v) if isinstance(v, tuple) else v for k, v in SEED.items()},
                              "label": PUBLISHED_LABEL, "preset": "seed", "connection": "pool"})
    results = tuple(
        TierResult(tier=tier, mode=mode, concurrency=1, status="ok", summary=_stats(mean, ops, SEED["ops"]),
                   description=f"published: {_PUBLISHED_NAMES[tier]} ({mode}), mean of 5,000 reads of ids 1..5000 "
                               "in order, on the seed author's machine")
        for (tier, mode), (mean, ops) in PUBLISHED.items())
    environment = Environment(extra={REFERENCE_KEY: PUBLISHED_LABEL})
    return Run(run_id=PUBLISHED_ID, started_at=when, finished_at=when, status="complete", spec=spec,
               environment=environment, results=results, timer_overhead_ns=0.0)


def ensure_published(repo: Any) -> bool:
    """Store the published reference run in repo unless it is there; True when it was added now."""
    from benchcore.results.storage import RunNotFound

    try:
        repo.get_run(PUBLISHED_ID, with_samples=False)
        return False
    except RunNotFound:
        repo.save(published_run())
        return True
