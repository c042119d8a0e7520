"""AppTest helpers: a throwaway results db per test and runs seeded straight into it."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from benchcore.models import MODES, TIER_NAMES, Run, RunSpec, RunStatus, ServerInfo, TierResult, TrialResult
from benchcore.results.stats import pool, summarize
from benchcore.results.storage import RunRepository
from benchcore.running.environment import capture_environment

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
P50_US = {"postgres-orm": 400.0, "postgres-core": 300.0, "postgres-raw": 180.0, "redis": 160.0, "redis-cluster": 170.0,
          "memcached": 100.0, "inprocess": 0.4, "inprocess+redis": 1.0}


@pytest.fixture(autouse=True)
def no_job_left_running():
    """The job registry is process-wide (st.cache_resource): never leak a running job into the next test."""
    yield
    from pages._common import registry

    job = registry().running()
    if job is not None:
        job.cancel()
        assert job.wait(60), "a benchmark job did not stop after cancel"


@pytest.fixture
def db_path(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "results.duckdb"
    monkeypatch.setenv("BENCHCORE_DB", str(path))
    return path


def make_run(label: str, started_at: datetime, scale: float = 1.0, tiers=TIER_NAMES, trials: int = 5,
             ops: int = 400, failed: dict[tuple[str, str], str] | None = None, seed: int = 0) -> Run:
    """A plausible run: lognormal latencies around P50_US * scale, real Stats from the real summarizer."""
    rng = np.random.default_rng(seed)
    env = capture_environment({"postgres": ServerInfo("external", "127.0.0.1:5432", "16.4")})
    results = []
    for tier in tiers:
        for mode in MODES:
            server = ServerInfo("external", "127.0.0.1", "16.4")
            if failed and (tier, mode) in failed:
                results.append(TierResult(tier=tier, mode=mode, concurrency=1, description=f"{tier} read",
                                          status="failed", error=failed[(tier, mode)], server=server))
                continue
            trial_results = []
            for t in range(1, trials + 1):
                median_ns = P50_US[tier] * 1000 * scale * (1.15 if mode == "async" else 1.0)
                samples = rng.lognormal(np.log(median_ns), 0.25, ops).astype(np.int64)
                wall = int(samples.sum())
                hits = (ops, 0) if tier == "inprocess" else (None, None)
                trial_results.append(TrialResult(trial=t, stats=summarize(samples, wall, 0, *hits), samples=samples))
            results.append(TierResult(tier=tier, mode=mode, concurrency=1, description=f"{tier}: one read by id",
                                      status="ok", summary=pool(trial_results), trials=tuple(trial_results),
                                      server=server))
    status: RunStatus = "complete" if not failed else "partial"
    spec = RunSpec(tiers=tuple(tiers), ops=ops, trials=trials, label=label)
    return Run(run_id=f"{seed:04d}{int(started_at.timestamp()):08x}"[-12:], started_at=started_at,
               finished_at=started_at + timedelta(seconds=5), status=status, spec=spec, environment=env,
               results=tuple(results), timer_overhead_ns=60.0)


@pytest.fixture
def seeded(db_path) -> list[Run]:
    """Two runs an hour apart; B is ~30 % slower everywhere, and B's redis async failed."""
    t0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    runs = [
        make_run("baseline", t0, 1.0, seed=1),
        make_run("after change", t0 + timedelta(hours=1), 1.3, seed=2,
                 failed={("redis", "async"): "TierUnavailable: redis at redis://127.0.0.1:6399/0 refused"}),
    ]
    repo = RunRepository(db_path)
    for run in runs:
        repo.save(run)
    return runs


def app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=60)


def charts_of(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("vega_lite_chart")]


def no_exceptions(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error], [e.value for e in at.error]


def finished(at: AppTest) -> bool:
    """The Run page shows this run's results, or an error."""
    return any(s.value == "Results" for s in at.subheader) or bool(at.error)


def wait_until(at: AppTest, done, timeout_s: float = 120.0) -> AppTest:
    """Rerun the page (as the run_every fragment would) until done(at), bounded."""
    deadline = time.monotonic() + timeout_s
    while not done(at):
        assert time.monotonic() < deadline, "page did not reach the expected state in time"
        time.sleep(0.3)
        at.run()
    return at
