"""Tiers by name, imported lazily so a missing optional driver never breaks `import benchcore`."""

from __future__ import annotations

import importlib

from benchcore.errors import ConfigError, TierUnavailable
from benchcore.models import MODES, TIER_NAMES
from benchcore.tiers.base import AsyncTier, SyncTier

# name -> (module, sync class, async class)
TIERS: dict[str, tuple[str, str, str]] = {
    "postgres-orm": ("benchcore.tiers.postgres", "OrmSyncTier", "OrmAsyncTier"),
    "postgres-raw": ("benchcore.tiers.postgres", "RawSyncTier", "RawAsyncTier"),
    "redis": ("benchcore.tiers.redis", "RedisSyncTier", "RedisAsyncTier"),
    "memcached": ("benchcore.tiers.memcached", "MemcachedSyncTier", "MemcachedAsyncTier"),
    "inprocess": ("benchcore.tiers.inprocess", "InProcessSyncTier", "InProcessAsyncTier"),
}
assert tuple(TIERS) == TIER_NAMES


def load_tier(name: str, mode: str) -> type[SyncTier] | type[AsyncTier]:
    if name not in TIERS:
        raise ConfigError(f"unknown tier {name!r}; valid tiers: {', '.join(TIER_NAMES)}")
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
    module_name, sync_cls, async_cls = TIERS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TierUnavailable(f"{name}: driver not installed ({exc}); run pip install -r requirements.txt") from None
    return getattr(module, sync_cls if mode == "sync" else async_cls)
