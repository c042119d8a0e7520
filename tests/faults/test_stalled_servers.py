"""A server frozen (SIGSTOP) while timed reads are in flight: its sockets stay open and the kernel still ACKs, so
only a read deadline can notice. The run goes through the worker process, as the CLI and the dashboard run it.

Expected, with --read-timeout 1: the frozen tier fails within the read timeout + 1 s of the stall in both modes,
its error names the deadline, its finished trial and the reads made before the stall are kept, the other tiers
complete every trial, and the run is saved as partial.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from benchcore.models import Progress, RunSpec
from benchcore.results.storage import RunRepository
from benchcore.running.process import RunProcess
from tests.faults.conftest import make_settings
from tests.faults.helpers import result, spec
from tests.faults.servers import freeze, thaw

READ_TIMEOUT_S = 1.0
SLACK_S = 1.0  # the bound: a frozen tier fails within READ_TIMEOUT_S + SLACK_S
OPS = 2000  # ~0.2-0.4 s per trial on a cache tier: the freeze lands inside the victim's second trial

# victim backend -> (its tier, the other tiers; every one of them reads only its own server once warm)
CASES = {
    "postgres": ("postgres-raw", ("redis",)),
    "redis": ("redis", ("memcached",)),
    "memcached": ("memcached", ("redis",)),
}


class WatchedRun:
    """A RunProcess whose progress records arrive stamped with time.monotonic() on arrival."""

    def __init__(self, run_spec: RunSpec, settings) -> None:
        self.events: list[tuple[float, Progress]] = []
        self.process = RunProcess(run_spec, settings, on_progress=lambda p: self.events.append((time.monotonic(), p)))
        self.process.start()

    def when(self, match: Callable[[Progress], bool], timeout: float = 30.0) -> float:
        """Arrival time of the first progress record matching, polling with a deadline."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((t for t, p in list(self.events) if match(p)), None)
            if found is not None:
                return found
            if not self.process.running:
                break
            time.sleep(0.005)
        seen = sorted({(p.tier, p.mode, p.phase, p.trial) for _, p in self.events})
        raise AssertionError(f"no such progress within {timeout:g} s; seen {seen}; error {self.process.error}")


def phase(tier: str, mode: str, name: str, trial: int | None = None) -> Callable[[Progress], bool]:
    return lambda p: (p.tier, p.mode, p.phase) == (tier, mode, name) and (trial is None or p.trial == trial)


@pytest.fixture
def victim(request) -> Iterator:
    backend = request.param
    server = request.getfixturevalue({"postgres": "pg_own", "redis": "redis_own", "memcached": "mc_own"}[backend])
    yield backend, server
    thaw(server)  # before its own fixture stops it: a stopped process would hold SIGTERM pending


@pytest.mark.servers
@pytest.mark.parametrize("victim", list(CASES), indirect=True)
def test_a_frozen_server_fails_its_tier_at_the_read_deadline(victim, tmp_path, pg, redis_srv, mc_srv):
    backend, server = victim
    urls = {"postgres": pg.url(), "redis": redis_srv.url, "memcached": mc_srv.url}
    urls[backend] = server.url() if backend == "postgres" else server.url
    settings = make_settings(tmp_path, urls["postgres"], urls["redis"], urls["memcached"])
    tier, others = CASES[backend]
    run_spec = spec(tiers=(tier, *others), modes=("sync", "async"), ops=OPS, trials=2, keys=200,
                    read_timeout_s=READ_TIMEOUT_S)

    watched = WatchedRun(run_spec, settings)
    try:
        watched.when(phase(tier, "sync", "timed", trial=2))
        frozen_at = freeze(server)
        sync_failed = watched.when(phase(tier, "sync", "failed"), timeout=READ_TIMEOUT_S + 10)
        # Round-robin: the async trial 2 starts right after, on the frozen server; its stall starts with it.
        async_started = watched.when(phase(tier, "async", "timed", trial=2))
        async_failed = watched.when(phase(tier, "async", "failed"), timeout=READ_TIMEOUT_S + 10)
        assert watched.process.wait(60), "the run did not end"
    finally:
        thaw(server)
        watched.process.kill()
    sync_s, async_s = sync_failed - frozen_at, async_failed - async_started
    print(f"\nstalled {tier}: sync failed {sync_s:.2f} s after SIGSTOP, async {async_s:.2f} s after its trial "
          f"started on the frozen server (read timeout {READ_TIMEOUT_S:g} s)")
    assert sync_s <= READ_TIMEOUT_S + SLACK_S, sync_s
    assert async_s <= READ_TIMEOUT_S + SLACK_S, async_s

    run = watched.process.result()
    assert watched.process.error is None, watched.process.error
    for mode in ("sync", "async"):
        failed = result(run, tier, mode)
        assert failed.status == "failed", (mode, failed.status, failed.error)
        assert failed.error and "no answer within" in failed.error and f"read timeout {READ_TIMEOUT_S:g} s" in \
            failed.error, failed.error
        assert [t.trial for t in failed.trials] == [1, 2]
        first = failed.trials[0]
        assert (first.stats.ops, first.stats.errors, first.samples.size) == (OPS, 0, OPS)  # finished: kept whole
        assert failed.trials[1].stats.ops < OPS and failed.trials[1].stats.errors >= 1
        assert failed.summary is not None and failed.summary.ops == sum(t.stats.ops for t in failed.trials)
        for other in others:
            ok = result(run, other, mode)
            assert ok.status == "ok", (other, mode, ok.error)
            assert ok.summary is not None and (ok.summary.ops, ok.summary.errors) == (2 * OPS, 0)
    assert run.status == "partial"

    repo = RunRepository(settings.db_path)
    assert repo.save_or_spool(run) is None
    back = repo.get_run(run.run_id)
    assert back.status == "partial"
    for r in run.results:
        stored = result(back, r.tier, r.mode)
        assert (stored.status, stored.error) == (r.status, r.error)
        assert [t.samples.size for t in stored.trials] == [t.samples.size for t in r.trials]

