"""A tier's class by name and mode, imported on first use (a missing optional driver fails only that tier)."""

from __future__ import annotations

import importlib

from benchcore.errors import ConfigError, TierUnavailable
from benchcore.tiers.base import AsyncTier, SyncTier
from benchcore.tiers.registry import MODES, tier_info


def load_tier(name: str, mode: str) -> type[SyncTier] | type[AsyncTier]:
    info = tier_info(name)
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
    try:
        module = importlib.import_module(info.module)
    except ImportError as exc:
        raise TierUnavailable(f"{name}: driver not installed ({exc}); run pip install -r requirements.txt") from None
    cls: type[SyncTier] | type[AsyncTier] = getattr(module, info.sync_class if mode == "sync" else info.async_class)
    return cls
