"""PostgreSQL restarted (fast shutdown, sessions terminated) while timed reads are in flight.

Chosen behaviour (runner module docstring, `recovers` in tiers/base.py): the PostgreSQL tiers count
each failed read as an error, back off, reconnect outside the timed window and CONTINUE; the tier ends
"ok" with its error count and the last error noted. If the server stays away, the tier STOPS cleanly
as "failed" after MAX_CONSECUTIVE_ERRORS failed reads in a row (~3 s of backoff) and the run is partial.
"""

from __future__ import annotations

import time

import pytest

from benchcore.results.storage import RunRepository
from benchcore.running.loops import MAX_CONSECUTIVE_ERRORS
from tests.faults.conftest import KNOWN_PASSWORD, make_settings
from tests.faults.helpers import BackgroundRun, result, spec, timed_reads_of

OPS = 4000
DOWN_S = 0.4  # extra downtime on top of the restart itself (~0.05 s on this tiny cluster)


@pytest.fixture(scope="module")
def pg_restartable():
    """One private server restarted by each test in turn (a restart leaves it as it was)."""
    from tests.faults.conftest import start_server
    from tests.faults.servers import PrivatePostgres

    server = start_server(PrivatePostgres)
    yield server
    server.stop()


@pytest.mark.servers
@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("tier", ["postgres-raw", "postgres-orm"])
def test_postgres_restart_reconnects_and_continues(tier, mode, tmp_path, pg_restartable, redis_srv, mc_srv):
    pg_own = pg_restartable
    settings = make_settings(tmp_path, pg_own.url(), redis_srv.url, mc_srv.url)
    run_spec = spec(tiers=(tier, "inprocess"), modes=(mode,), ops=OPS, warmup=50)
    started_before = pg_own.start_time()

    bg = BackgroundRun(run_spec, settings, timed_reads_of(tier, mode))
    assert bg.wait_reached(), "the PostgreSQL tier never reached its timed phase"
    down = pg_own.restart_fast(DOWN_S)
    run = bg.result()

    assert pg_own.start_time() != started_before  # it really was restarted
    r = result(run, tier, mode)
    assert r.status == "ok", r.error
    s = r.summary
    assert s is not None
    assert 1 <= s.errors < MAX_CONSECUTIVE_ERRORS, (s.errors, down)  # the outage was seen, and survived
    assert s.ops + s.errors == OPS  # every planned read was made: it went on after reconnecting
    assert sum(len(t.samples) for t in r.trials) == s.ops
    assert r.error and "failed read(s), the tier went on" in r.error and str(pg_own.port) in r.error
    assert KNOWN_PASSWORD not in r.error
    assert result(run, "inprocess", mode).status == "ok"
    assert run.status == "complete"

    repo = RunRepository(settings.db_path)
    repo.save(run)
    back = result(repo.get_run(run.run_id), tier, mode)
    assert (back.status, back.summary.errors, back.error) == ("ok", s.errors, r.error)


@pytest.mark.servers
def test_postgres_gone_for_good_stops_cleanly(tmp_path, pg_own, redis_srv, mc_srv):
    settings = make_settings(tmp_path, pg_own.url(), redis_srv.url, mc_srv.url)
    run_spec = spec(tiers=("postgres-raw",), modes=("sync", "async"), ops=OPS, warmup=50)

    bg = BackgroundRun(run_spec, settings, timed_reads_of("postgres-raw", "sync"))
    assert bg.wait_reached()
    pg_own.shutdown_fast()
    t0 = time.monotonic()
    run = bg.result()
    stopped_in = time.monotonic() - t0

    sync, async_ = result(run, "postgres-raw", "sync"), result(run, "postgres-raw", "async")
    assert sync.status == "failed"
    assert sync.summary is not None and sync.summary.errors == MAX_CONSECUTIVE_ERRORS and sync.summary.ops > 0
    assert f"{MAX_CONSECUTIVE_ERRORS} failed reads in a row" in sync.error
    # Trials are interleaved: the async tier was already open, so its first trial meets the dead server too.
    assert async_.status == "failed" and async_.summary is not None and async_.summary.ops == 0
    assert async_.summary.errors == MAX_CONSECUTIVE_ERRORS and "failed reads in a row" in async_.error
    assert run.status == "partial"
    assert stopped_in < 8, f"giving up took {stopped_in:.1f} s"

    repo = RunRepository(settings.db_path)
    repo.save(run)
    assert repo.get_run(run.run_id, with_samples=False).status == "partial"
