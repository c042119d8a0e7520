"""Runs whose trial p50s are chosen exactly: what the comparison tests feed the verdict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np

from benchcore.models import Environment, Run, RunSpec, ServerInfo, TierResult, TierStatus, TrialResult
from benchcore.results.stats import pool, summarize

T0 = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
ENV = Environment(python="CPython 3.11.7", python_version="3.11.7", os_system="Linux", hostname="box",
                  cpu_model="Xeon", cpu_count=2, packages={"redis": "5.0.1", "numpy": "2.0.0"},
                  benchcore_version="0.1.0", client_cpu_affinity=(0, 1))

Key = tuple[str, str]


def tier_result(tier: str, mode: str, p50s_us: Sequence[float], status: TierStatus = "ok",
                ops: int = 50) -> TierResult:
    """Each trial reads ops samples all equal to its p50 (so the trial p50 is exactly that)."""
    cache = tier in ("redis", "memcached", "inprocess")
    trials = []
    for k, p50 in enumerate(p50s_us, start=1):
        samples = np.full(ops, round(p50 * 1000), dtype=np.int64)
        stats = summarize(samples, int(samples.sum()), 0, *((ops, 0) if cache else (None, None)))
        trials.append(TrialResult(k, stats, samples))
    summary = pool(trials) if trials else None
    error = None if status == "ok" else f"{tier} {status}"
    return TierResult(tier, mode, 1, f"{tier}: one read", status, error, summary, tuple(trials),
                      ServerInfo("external", "127.0.0.1:6379", "7.2.4"))


def make_run(run_id: str, p50s: Mapping[Key, Sequence[float]], *, status: Mapping[Key, TierStatus] | None = None,
             started: datetime = T0, environment: Environment = ENV, **spec: object) -> Run:
    status = status or {}
    results = tuple(tier_result(t, m, v, status.get((t, m), "ok")) for (t, m), v in p50s.items())
    trials = max((len(v) for v in p50s.values()), default=1) or 1
    run_spec = RunSpec(**{"tiers": tuple(dict.fromkeys(t for t, _ in p50s)) or ("redis",), "trials": trials,
                          **spec})  # type: ignore[arg-type]
    return Run(run_id, started, started + timedelta(seconds=3), "complete", run_spec, environment, results, 60.0)
