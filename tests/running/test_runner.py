"""Runner tests with an injected fake clock and fake tiers: statistics are checked exactly.

The fake tiers here test the runner's bookkeeping only; real tiers are tested in tests/tiers/.
"""

from __future__ import annotations

import asyncio
import threading
from typing import ClassVar

import numpy as np
import pytest

from benchcore.errors import TierUnavailable
from benchcore.models import Environment, Progress, RunSpec, ServerInfo, User
from benchcore.running.loops import MAX_CONSECUTIVE_ERRORS, measure_timer_overhead
from benchcore.running.session import run_benchmark
from benchcore.settings import Settings
from benchcore.tiers.base import AsyncTier, SyncTier, TierContext


class FakeClock:
    """Time moves only when a fake read says so (plus `tick` per call, to model timer cost)."""

    def __init__(self, tick: int = 0) -> None:
        self.now = 0
        self.tick = tick
        self.lock = threading.Lock()

    def __call__(self) -> int:
        with self.lock:
            self.now += self.tick
            return self.now

    def advance(self, ns: int) -> None:
        with self.lock:
            self.now += ns


CLOCK = FakeClock()


class FakeSync(SyncTier):
    name = "postgres-raw"
    description = "fake: latency = key microseconds"
    is_cache = True
    instances: ClassVar[list[FakeSync]] = []
    fail_keys: ClassVar[set[int]] = set()
    always_fail = False
    cancel_at: ClassVar[tuple[threading.Event, int] | None] = None

    def open(self) -> None:
        self.reads = 0
        self.closed = False
        type(self).instances.append(self)

    def read(self, key: int) -> User:
        self.reads += 1
        if self.cancel_at and self.reads == self.cancel_at[1]:
            self.cancel_at[0].set()
        if self.always_fail or key in self.fail_keys:
            raise ConnectionError("server went away (password=hunter2)")
        CLOCK.advance(key * 1000)
        if key % 2:
            self.hits += 1
        else:
            self.misses += 1
        return User(key, f"user-{key}", 20)

    def close(self) -> None:
        self.closed = True


class FakeAsync(AsyncTier):
    name = "postgres-raw"
    description = "fake async"
    is_cache = False

    async def open(self) -> None:
        pass

    async def read(self, key: int) -> User:
        await asyncio.sleep(0)
        CLOCK.advance(key * 1000)
        return User(key, "x", 1)

    async def close(self) -> None:
        pass


class Unreachable(SyncTier):
    name = "redis"
    description = "always unreachable"

    def open(self) -> None:
        raise TierUnavailable("cannot reach redis://***@127.0.0.1:1/0 - start Redis or set BENCHCORE_REDIS_URL")

    def read(self, key: int) -> User:  # pragma: no cover - never opened
        raise AssertionError

    def close(self) -> None:
        pass


def _loader(mapping: dict[tuple[str, str], type]):
    return lambda name, mode: mapping[(name, mode)]


def _resolve(settings: Settings):
    servers = {b: ServerInfo(kind="external", address=f"{b}://127.0.0.1", version="1") for b in
               ("postgres", "redis", "memcached")}
    return settings, servers, {b: None for b in servers}


def _run(spec: RunSpec, mapping: dict[tuple[str, str], type], clock=None, **kw):
    return run_benchmark(spec, Settings(postgres_url="postgresql://u:hunter2@127.0.0.1/x"),
                         clock=clock or CLOCK, tier_loader=_loader(mapping), resolve=_resolve,
                         environment=lambda servers, affinity, timer_ns: Environment(client_cpu_affinity=affinity,
                                                                                 timer_overhead_ns=timer_ns), **kw)


@pytest.fixture(autouse=True)
def _reset():
    CLOCK.now, CLOCK.tick = 0, 0
    FakeSync.instances = []
    FakeSync.fail_keys = set()
    FakeSync.always_fail = False
    FakeSync.cancel_at = None


def _spec(**kw) -> RunSpec:
    base = dict(tiers=("postgres-raw",), modes=("sync",), ops=5, warmup=0, trials=1, keys=5,
                distribution="sequential")
    base.update(kw)
    return RunSpec(**base)


def test_statistics_are_exact_for_known_latencies():
    run = _run(_spec(), {("postgres-raw", "sync"): FakeSync})
    (result,) = run.results
    assert result.status == "ok" and run.status == "complete"
    trial = result.trials[0]
    assert trial.samples.dtype == np.int64
    assert trial.samples.tolist() == [1000, 2000, 3000, 4000, 5000]
    s = result.summary
    assert (s.ops, s.errors, s.min_us, s.max_us, s.mean_us, s.p50_us) == (5, 0, 1.0, 5.0, 3.0, 3.0)
    assert s.p90_us == pytest.approx(4.6)
    assert s.p99_us == pytest.approx(4.96)
    assert s.p999_us == pytest.approx(4.996)
    assert s.stddev_us == pytest.approx(np.std([1, 2, 3, 4, 5], ddof=1))
    # ops/s comes from the measured wall time of the phase (15 µs), not from 1e6/mean.
    assert s.wall_s == pytest.approx(15e-6)
    assert s.ops_per_sec == pytest.approx(5 / 15e-6)
    assert (s.hits, s.misses) == (3, 2)


def test_warmup_is_not_recorded_and_counters_are_per_trial():
    run = _run(_spec(warmup=7, trials=2), {("postgres-raw", "sync"): FakeSync})
    result = run.results[0]
    assert [t.stats.ops for t in result.trials] == [5, 5]
    assert [(t.stats.hits, t.stats.misses) for t in result.trials] == [(3, 2), (3, 2)]
    assert FakeSync.instances[0].reads == 7 + 10
    assert result.summary.ops == 10 and (result.summary.hits, result.summary.misses) == (6, 4)


def test_async_mode_is_timed_the_same_way():
    run = _run(_spec(modes=("async",)), {("postgres-raw", "async"): FakeAsync})
    result = run.results[0]
    assert result.mode == "async" and result.status == "ok"
    assert result.trials[0].samples.tolist() == [1000, 2000, 3000, 4000, 5000]
    assert result.summary.hits is None and result.summary.misses is None


def test_failed_reads_are_errors_not_samples_and_messages_are_scrubbed():
    FakeSync.fail_keys = {3}
    result = _run(_spec(), {("postgres-raw", "sync"): FakeSync}).results[0]
    assert result.status == "ok"
    assert result.summary.errors == 1 and result.summary.ops == 4
    assert result.trials[0].samples.tolist() == [1000, 2000, 4000, 5000]


def test_a_dead_server_stops_its_tier_and_the_run_goes_on():
    FakeSync.always_fail = True
    spec = _spec(tiers=("postgres-raw", "redis"), ops=100, keys=100)
    run = _run(spec, {("postgres-raw", "sync"): FakeSync, ("redis", "sync"): Unreachable})
    raw, redis = run.results
    assert raw.status == "failed" and raw.summary.errors == MAX_CONSECUTIVE_ERRORS
    assert "hunter2" not in raw.error and "server went away" in raw.error
    assert redis.status == "failed" and "BENCHCORE_REDIS_URL" in redis.error
    assert run.status == "failed"
    assert all(i.closed for i in FakeSync.instances)


def test_one_failed_tier_makes_the_run_partial():
    spec = _spec(tiers=("postgres-raw", "redis"))
    run = _run(spec, {("postgres-raw", "sync"): FakeSync, ("redis", "sync"): Unreachable})
    assert [r.status for r in run.results] == ["ok", "failed"]
    assert run.status == "partial"
    assert run.results[0].summary.ops == 5


def test_sync_concurrency_uses_one_instance_per_worker_and_splits_the_ops():
    run = _run(_spec(concurrency=3, ops=30, keys=10), {("postgres-raw", "sync"): FakeSync})
    assert len(FakeSync.instances) == 3
    assert sorted(i.reads for i in FakeSync.instances) == [10, 10, 10]
    assert run.results[0].summary.ops == 30 and run.results[0].concurrency == 3


def test_cancel_keeps_what_was_measured():
    cancel = threading.Event()
    FakeSync.cancel_at = (cancel, 300)
    spec = _spec(tiers=("postgres-raw", "redis"), ops=1000, keys=10, trials=2, interleave=False)
    run = _run(spec, {("postgres-raw", "sync"): FakeSync, ("redis", "sync"): Unreachable}, cancel=cancel)
    raw, redis = run.results
    assert raw.status == "cancelled" and len(raw.trials) == 1
    assert 300 <= raw.summary.ops < 1000  # stops at the next check, keeps the samples
    assert redis.status == "cancelled" and redis.error == "run cancelled before this tier started"
    assert run.status == "partial"


def test_interleaved_cancel_keeps_every_finished_trial():
    cancel = threading.Event()

    class Second(FakeSync):
        pass

    FakeSync.cancel_at = (cancel, 5 + 3)  # during trial 2 of the first tier (warmup 0, 5 reads per trial)
    spec = _spec(tiers=("postgres-raw", "redis"), trials=3)
    run = _run(spec, {("postgres-raw", "sync"): FakeSync, ("redis", "sync"): Second}, cancel=cancel)
    first, second = run.results
    assert first.status == second.status == "cancelled"
    assert [t.trial for t in first.trials] == [1, 2] and [t.trial for t in second.trials] == [1]
    assert first.trials[1].stats.ops == 5  # the check comes every 256 reads: trial 2 ran to its end


def test_progress_reaches_the_total():
    seen: list[Progress] = []
    spec = _spec(tiers=("postgres-raw", "redis"), ops=600, keys=10, trials=2)
    _run(spec, {("postgres-raw", "sync"): FakeSync, ("redis", "sync"): Unreachable}, on_progress=seen.append)
    assert seen[-1].reads_total == 600 * 2 * 2
    assert seen[-1].reads_done == seen[-1].reads_total
    assert {p.phase for p in seen} >= {"prepare", "timed", "done", "failed"}
    assert any(p.tier == "postgres-raw" and p.trial == 2 for p in seen)


def test_timer_overhead_is_measured_with_the_same_clock():
    assert measure_timer_overhead(FakeClock(tick=7), pairs=100) == 7.0
    CLOCK.tick = 7
    run = _run(_spec(), {("postgres-raw", "sync"): FakeSync})
    assert run.timer_overhead_ns == 7.0
    assert run.environment.timer_overhead_ns == 7.0
    # Every sample carries one timer cost on top of the read.
    assert run.results[0].trials[0].samples.tolist() == [1007, 2007, 3007, 4007, 5007]


def test_unexpected_exceptions_in_a_tier_do_not_crash_the_run():
    class Broken(FakeSync):
        @classmethod
        def prepare(cls, ctx: TierContext) -> None:
            raise RuntimeError("bug in prepare")

    spec = _spec(tiers=("postgres-raw", "redis"))
    run = _run(spec, {("postgres-raw", "sync"): Broken, ("redis", "sync"): FakeSync})
    assert run.results[0].status == "failed" and "bug in prepare" in run.results[0].error
    assert run.results[1].status == "ok"


def test_cpu_pinning_applies_during_the_run_and_is_restored():
    import os

    before = os.sched_getaffinity(0)
    cpu = min(before)
    seen: list[set[int]] = []

    class Probe(FakeSync):
        def read(self, key: int) -> User:
            seen.append(os.sched_getaffinity(0))
            return super().read(key)

    run = _run(_spec(cpus=(cpu,)), {("postgres-raw", "sync"): Probe})
    assert seen and all(s == {cpu} for s in seen)
    assert run.environment.client_cpu_affinity == (cpu,)
    assert os.sched_getaffinity(0) == before


class NowaitAsync(FakeAsync):
    is_cache = True
    nowait_calls = 0

    def read_nowait(self, key: int) -> User | None:
        type(self).nowait_calls += 1
        if key % 2:  # odd keys "hit" synchronously
            CLOCK.advance(key * 1000)
            self.hits += 1
            return User(key, "x", 1)
        return None

    async def read(self, key: int) -> User:
        self.misses += 1
        return await super().read(key)


def test_every_read_is_timed_alone_and_cache_misses_get_their_own_percentiles():
    CLOCK.tick = 7  # one timer cost per read
    run = _run(_spec(), {("postgres-raw", "sync"): FakeSync})
    trial = run.results[0].trials[0]
    assert trial.samples.tolist() == [1007, 2007, 3007, 4007, 5007]
    assert trial.miss_index.tolist() == [1, 3]  # keys 2 and 4 missed
    s = run.results[0].summary
    assert s.hit_ratio == pytest.approx(3 / 5)
    assert s.hit_p50_us == pytest.approx(3.007) and s.miss_p50_us == pytest.approx(3.007)
    assert s.hit_p99_us == pytest.approx(np.percentile([1.007, 3.007, 5.007], 99))
    assert s.miss_p99_us == pytest.approx(np.percentile([2.007, 4.007], 99))


def test_a_tier_without_a_cache_has_no_hit_or_miss_figures():
    s = _run(_spec(modes=("async",)), {("postgres-raw", "async"): FakeAsync}).results[0].summary
    assert s.hit_ratio is None and s.hit_p50_us is None and s.miss_p50_us is None


def test_async_hits_without_an_await_are_timed_and_misses_are_awaited():
    NowaitAsync.nowait_calls = 0
    run = _run(_spec(modes=("async",), ops=8, keys=8), {("postgres-raw", "async"): NowaitAsync})
    trial = run.results[0].trials[0]
    assert NowaitAsync.nowait_calls == 8
    assert trial.samples.tolist() == [k * 1000 for k in range(1, 9)]
    assert trial.miss_index.tolist() == [1, 3, 5, 7]
    assert (trial.stats.hits, trial.stats.misses) == (4, 4)


def test_a_failed_read_is_one_error_and_does_not_shift_the_miss_positions(monkeypatch):
    monkeypatch.setattr(FakeSync, "fail_keys", {2})
    trial = _run(_spec(ops=6, keys=6), {("postgres-raw", "sync"): FakeSync}).results[0].trials[0]
    assert trial.stats.errors == 1 and trial.samples.tolist() == [1000, 3000, 4000, 5000, 6000]
    assert trial.miss_index.tolist() == [2, 4]  # keys 4 and 6


def test_trials_are_interleaved_across_tiers_and_modes_unless_cold_or_asked_not_to():
    seen: list[tuple[str, str, int]] = []

    def on_trial(tier: str, mode: str, concurrency: int, trial) -> None:
        seen.append((tier, mode, trial.trial))

    mapping = {("postgres-raw", "sync"): FakeSync, ("redis", "sync"): FakeSync}
    _run(_spec(tiers=("postgres-raw", "redis"), trials=2), mapping, on_trial=on_trial)
    assert seen == [("postgres-raw", "sync", 1), ("redis", "sync", 1), ("postgres-raw", "sync", 2),
                    ("redis", "sync", 2)]
    assert len(FakeSync.instances) == 2  # one worker per (tier, mode), kept open across rounds
    for kw in ({"interleave": False}, {"cold": True}):
        seen.clear()
        _run(_spec(tiers=("postgres-raw", "redis"), trials=2, **kw), mapping, on_trial=on_trial)
        assert seen == [("postgres-raw", "sync", 1), ("postgres-raw", "sync", 2), ("redis", "sync", 1),
                        ("redis", "sync", 2)]


def test_results_stream_as_each_tier_finishes():
    finished: list[str] = []
    run = _run(_spec(tiers=("postgres-raw", "redis"), trials=2),
               {("postgres-raw", "sync"): FakeSync, ("redis", "sync"): Unreachable},
               on_result=lambda r: finished.append(f"{r.tier}:{r.status}"))
    assert finished == ["postgres-raw:ok", "redis:failed"] == [f"{r.tier}:{r.status}" for r in run.results]


def test_the_reported_p50_is_the_median_of_the_trial_p50s():
    class Drifting(FakeSync):
        """Trial t reads take t times as long: trial p50s 3, 6, 9 µs (pooled p50 would be 6 µs too, so skew it)."""

        def read(self, key: int) -> User:
            trial = self.reads // 5 + 1
            CLOCK.advance(key * 1000 * ([1, 2, 10][trial - 1] - 1))
            return super().read(key)

    s = _run(_spec(trials=3), {("postgres-raw", "sync"): Drifting}).results[0].summary
    assert s.p50_us == pytest.approx(6.0)  # median of 3, 6, 30; all 15 samples pooled give 5 µs
    assert s.p50_ci_low_us <= 6.0 <= s.p50_ci_high_us
    assert s.cv_pct == pytest.approx(np.std([3, 6, 30], ddof=1) / np.mean([3, 6, 30]) * 100)
    assert s.unstable is True


def test_long_phases_share_key_ints():
    from benchcore.running.drivers import chunks as _chunks

    keys = np.tile(np.arange(1, 11, dtype=np.int64), 20_000)
    chunks = _chunks(keys, 2)
    assert [len(c) for c in chunks] == [100_000, 100_000]
    assert chunks[0][:3] == [1, 3, 5] and chunks[0][0] is chunks[0][5]
