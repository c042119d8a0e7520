"""Tier facts live in the registry: no module outside benchcore/tiers/ spells a tier's name."""

from __future__ import annotations

import ast
from pathlib import Path

from benchcore.servers.backends import BACKENDS
from benchcore.tiers.registry import STRATEGY_TIERS, TIER_NAMES, TIERS

PACKAGE = Path(__file__).resolve().parents[2] / "benchcore"


def test_no_tier_name_literal_outside_the_tier_modules() -> None:
    # Names that are also a backend's (redis, memcached, redis-cluster) name servers in servers/ and settings.
    tier_only = set(TIER_NAMES) - set(BACKENDS)
    assert "postgres-raw" in tier_only and "inprocess" in tier_only
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "tiers":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and node.value in tier_only:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.value!r}")
    assert not found, found


def test_every_advisor_strategy_is_measured_by_one_tier() -> None:
    assert list(STRATEGY_TIERS) == ["no cache", "in-process", "Redis", "Memcached", "two-level"]
    assert {t.cache for t in TIERS if t.strategy and t.strategy != "no cache"} == {"local", "shared", "two-level"}
