"""Every fact about a tier, in one place: everything else (validation, servers, charts, tests) derives from TIERS.

Facts only: the classes are imported by tiers/loader.py, lazily, so a missing optional driver never breaks
`import benchcore`; this module imports nothing but the errors (models.py takes TIER_NAMES from here).
"""

from __future__ import annotations

from dataclasses import dataclass

from benchcore.errors import ConfigError

MODES: tuple[str, ...] = ("sync", "async")


@dataclass(frozen=True)
class TierInfo:
    """What a tier is, without importing it."""

    name: str
    module: str
    sync_class: str
    async_class: str
    # Servers the tier talks to, the one its results report first (TierResult.server).
    backends: tuple[str, ...]
    # Of those, the ones without which it cannot run (the in-process tier falls back to generated rows).
    needs: tuple[str, ...]
    is_cache: bool
    summary: str  # a few words for pickers and legends; the classes' `description` says what one read does
    color: str  # one hue per tier on every chart
    blog: str = ""  # the seed's name for this tier in its published table ("" = not in it); see benchcore.presets
    default: bool = True  # measured when no tiers are named
    ladder: str = ""  # its rung on the PostgreSQL access ladder (views/ladder.py): "orm", "core" or "raw"
    # The caching strategy whose figures this tier measures, for the advisor: "no cache", "in-process", "Redis",
    # "Memcached" or "two-level" ("" = none). The advisor's cache model keys on `cache` below.
    strategy: str = ""
    # Where its cache lives, for the cache model: "local" (one per instance), "shared" or "two-level".
    cache: str = ""
    ttl_whole_seconds: bool = False  # the server keeps TTLs in whole seconds, at least 1 (Memcached)
    # Typical wall time per read at concurrency 1 on a quiet 2-core VM, µs: the Run page's first duration
    # estimate (running/eta.py) until a stored run or the warmup has measured the tier.
    typical_us: float = 200.0

    @property
    def server(self) -> str | None:
        """The backend whose server the tier's results name; None for a tier that needs no server."""
        return self.needs[0] if self.needs else None


TIERS: tuple[TierInfo, ...] = (
    TierInfo("postgres-orm", "benchcore.tiers.orm", "OrmSyncTier", "OrmAsyncTier", ("postgres",),
             ("postgres",), False, "SQLAlchemy ORM, a Session per read", "#4c78a8", "ORM", ladder="orm",
             typical_us=800.0),
    TierInfo("postgres-core", "benchcore.tiers.orm", "CoreSyncTier", "CoreAsyncTier", ("postgres",),
             ("postgres",), False, "SQLAlchemy Core text(), a Session per read", "#9ecae9", "w/o ORM", ladder="core",
             typical_us=500.0),
    TierInfo("postgres-raw", "benchcore.tiers.postgres", "RawSyncTier", "RawAsyncTier", ("postgres",),
             ("postgres",), False, "one SELECT, no ORM, no transaction", "#72b7b2", ladder="raw",
             strategy="no cache", typical_us=150.0),
    TierInfo("redis", "benchcore.tiers.redis", "RedisSyncTier", "RedisAsyncTier", ("redis", "postgres"),
             ("redis", "postgres"), True, "Redis cache-aside over PostgreSQL", "#e45756", "Redis",
             strategy="Redis", cache="shared", typical_us=90.0),
    TierInfo("redis-cluster", "benchcore.tiers.redis_cluster", "RedisClusterSyncTier", "RedisClusterAsyncTier",
             ("redis-cluster", "postgres"), ("redis-cluster", "postgres"), True,
             "Redis Cluster (3 masters) cache-aside", "#b279a2", default=False, typical_us=120.0),
    TierInfo("memcached", "benchcore.tiers.memcached", "MemcachedSyncTier", "MemcachedAsyncTier",
             ("memcached", "postgres"), ("memcached", "postgres"), True, "Memcached cache-aside over PostgreSQL",
             "#f58518", strategy="Memcached", cache="shared", ttl_whole_seconds=True, typical_us=80.0),
    TierInfo("inprocess", "benchcore.tiers.inprocess", "InProcessSyncTier", "InProcessAsyncTier", ("postgres",),
             (), True, "cachetools cache in the process", "#54a24b", "in-process",
             strategy="in-process", cache="local", typical_us=2.0),
    TierInfo("inprocess+redis", "benchcore.tiers.twolevel", "TwoLevelSyncTier", "TwoLevelAsyncTier",
             ("redis", "postgres"), ("redis", "postgres"), True, "in-process L1 over Redis L2 over PostgreSQL",
             "#ff9da6", default=False, strategy="two-level", cache="two-level", typical_us=3.0),
)
TIER_NAMES: tuple[str, ...] = tuple(t.name for t in TIERS)
DEFAULT_TIERS: tuple[str, ...] = tuple(t.name for t in TIERS if t.default)
BLOG_TIERS: dict[str, str] = {t.blog: t.name for t in TIERS if t.blog}  # the seed's name -> ours
LADDER: dict[str, str] = {t.ladder: t.name for t in TIERS if t.ladder}  # "orm" / "core" / "raw" -> the tier
# The advisor's strategies, in the order it lists them -> the tier that measures each.
STRATEGY_TIERS: dict[str, str] = {t.strategy: t.name for t in sorted(
    (t for t in TIERS if t.strategy),
    key=lambda t: ("no cache", "in-process", "Redis", "Memcached", "two-level").index(t.strategy))}
_BY_NAME = {t.name: t for t in TIERS}


def tier_info(name: str) -> TierInfo:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ConfigError(f"unknown tier {name!r}; valid tiers: {', '.join(TIER_NAMES)}") from None


def tier_order(name: str) -> int:
    """Display position: registry order; unknown names (stored by another version) go last."""
    return TIER_NAMES.index(name) if name in _BY_NAME else len(TIER_NAMES)
