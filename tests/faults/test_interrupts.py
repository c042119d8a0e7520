"""Interrupting a run that a frozen server holds: Ctrl-C, SIGTERM, the dashboard's Cancel, a SIGKILLed worker.

The run reads a private Redis (or Memcached) with a 60 s read timeout; once its second trial is under way (the
server's own hit counter says so) the server is frozen (SIGSTOP), so the run cannot end by itself. Expected:
Ctrl-C / SIGTERM to the CLI and Cancel through the job registry return within 3 s and save what was measured
(partial, every finished trial present); a SIGKILLed worker process still leaves its finished trials saved as
partial (it streams each trial to its parent as it finishes).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchcore.results.storage import RunRepository
from benchcore.running.jobs import JobRegistry
from tests.faults.conftest import TEST_PREFIX, TEST_TABLE, Cli, make_settings
from tests.faults.helpers import spec
from tests.faults.servers import PrivateMemcached, PrivateRedis, freeze, thaw

RETURN_WITHIN_S = 3.0
OPS = 3000  # ~0.2-0.6 s per cache trial: the freeze lands well inside the second one
WARMUP = 20
HELD_TIMEOUT = "60"  # the read deadline: far beyond the test, so only the interrupt can end the run


@pytest.fixture
def held_redis(redis_own) -> Iterator[PrivateRedis]:
    yield redis_own
    thaw(redis_own)  # before redis_own's own teardown stops it


@pytest.fixture(params=["redis", "memcached"])
def held_cache(request) -> Iterator[PrivateRedis | PrivateMemcached]:
    server = request.getfixturevalue("redis_own" if request.param == "redis" else "mc_own")
    yield server
    thaw(server)


def hits(server: PrivateRedis | PrivateMemcached) -> int:
    """Reads the server answered from its cache (every read of these runs is a hit), by its own counter."""
    client = server.client()
    try:
        if isinstance(server, PrivateRedis):
            return int(client.info("stats")["keyspace_hits"])
        return int(client.stats()[b"get_hits"])
    finally:
        client.close()


def freeze_in_second_trial(server: PrivateRedis | PrivateMemcached, running, timeout: float = 60.0) -> None:
    """Freeze the server once it has answered the warmup and the whole first trial."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert running(), "the run ended before its second trial"
        if hits(server) > WARMUP + OPS:
            freeze(server)
            return
        time.sleep(0.005)
    raise AssertionError(f"the server did not reach the second trial within {timeout:g} s")


def run_args(db: Path) -> list[str]:
    return ["run", "--tiers", "redis,inprocess", "--modes", "sync", "--ops", str(OPS), "--warmup", str(WARMUP),
            "--trials", "3", "--keys", "200", "--read-timeout", HELD_TIMEOUT, "--table", TEST_TABLE,
            "--key-prefix", TEST_PREFIX, "--db", str(db)]


def start_held_cli(tmp_path: Path, cli_env: dict[str, str], server: PrivateRedis) -> tuple[subprocess.Popen[str], Path]:
    db = tmp_path / "held.duckdb"
    # A session of its own: the test can signal the whole group, as a terminal's Ctrl-C does.
    proc = Cli(tmp_path, {**cli_env, "BENCHCORE_REDIS_URL": server.url}).popen(*run_args(db), start_new_session=True)
    try:
        freeze_in_second_trial(server, lambda: proc.poll() is None)
    except BaseException:
        proc.kill()
        raise
    return proc, db


def finish(proc: subprocess.Popen[str], timeout: float) -> tuple[int, str, str, float]:
    t0 = time.monotonic()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"the CLI did not return within {timeout:g} s: {err[-2000:]}") from None
    return proc.returncode, out, err, time.monotonic() - t0


def assert_finished_trials_kept(db: Path, expect_status: str, cache: str = "redis") -> None:
    repo = RunRepository(db)
    runs = repo.list_runs()
    assert len(runs) == 1, runs
    run = repo.get_run(runs.run_id[0])
    assert run.status == "partial"
    by_tier = {r.tier: r for r in run.results}
    assert set(by_tier) == {cache, "inprocess"}
    for tier, r in by_tier.items():
        assert r.status == expect_status, (tier, r.status, r.error)
        first = r.trials[0]
        assert (first.trial, first.stats.ops, first.samples.size) == (1, OPS, OPS), tier  # finished: whole
    # The frozen tier's second trial was under way: its reads before the freeze are kept only where the
    # worker lived to send them (not after a SIGKILL).
    assert by_tier["inprocess"].summary is not None and by_tier["inprocess"].summary.ops >= OPS


@pytest.mark.servers
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_signal_to_the_cli_returns_fast_and_saves_what_was_measured(sig, tmp_path, cli_env, held_redis):
    proc, db = start_held_cli(tmp_path, cli_env, held_redis)
    t0 = time.monotonic()
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)  # the whole group, like a terminal (the worker ignores SIGINT)
    else:
        proc.send_signal(sig)  # timeout, systemd, docker stop: the CLI alone
    code, out, err, _ = finish(proc, 15)
    took = time.monotonic() - t0
    print(f"\n{signal.Signals(sig).name} to a CLI held by a frozen Redis: returned in {took:.2f} s")
    assert took < RETURN_WITHIN_S, (took, err)
    assert code == 130, err
    assert f"cancelling ({signal.Signals(sig).name})" in err
    assert "saved run" in err and "(partial)" in err, err
    assert "Traceback" not in err + out
    assert_finished_trials_kept(db, "cancelled")


@pytest.mark.servers
def test_sigkill_of_the_worker_keeps_its_finished_trials(tmp_path, cli_env, held_redis):
    proc, db = start_held_cli(tmp_path, cli_env, held_redis)
    workers = [pid for pid in _children(proc.pid) if b"benchcore.running.worker" in _cmdline(pid)]
    assert len(workers) == 1, workers
    os.kill(workers[0], signal.SIGKILL)
    code, out, err, took = finish(proc, 15)
    print(f"\nCLI after its worker was SIGKILLed: returned in {took:.2f} s")
    assert took < RETURN_WITHIN_S, (took, err)
    assert code == 1, err  # the tiers did not complete; nothing was cancelled
    assert "saved run" in err and "(partial)" in err, err
    assert "Traceback" not in err + out
    assert_finished_trials_kept(db, "failed")
    run = RunRepository(db).get_run(RunRepository(db).list_runs().run_id[0])
    assert all("ended unexpectedly" in (r.error or "") for r in run.results), [r.error for r in run.results]


@pytest.mark.servers
def test_dashboard_cancel_returns_fast_and_saves_what_was_measured(tmp_path, pg, redis_srv, mc_srv, held_cache):
    cache = "redis" if isinstance(held_cache, PrivateRedis) else "memcached"
    settings = make_settings(tmp_path, pg.url(), held_cache.url if cache == "redis" else redis_srv.url,
                             held_cache.url if cache == "memcached" else mc_srv.url)
    run_spec = spec(tiers=(cache, "inprocess"), modes=("sync",), ops=OPS, warmup=WARMUP, trials=3, keys=200,
                    read_timeout_s=float(HELD_TIMEOUT))
    job, started = JobRegistry().start(run_spec, settings)
    assert started
    try:
        freeze_in_second_trial(held_cache, lambda: job.running)
        t0 = time.monotonic()
        job.cancel()
        returned = job.wait(RETURN_WITHIN_S)
        took = time.monotonic() - t0
    finally:
        thaw(held_cache)
        job.wait(30)  # never leave the job's worker process behind
    print(f"\nCancel of a dashboard job held by a frozen {cache}: done in {took:.2f} s (saved)")
    assert returned, f"the job was still running {RETURN_WITHIN_S:g} s after Cancel"
    assert job.state == "cancelled" and job.saved and job.save_error is None, (job.state, job.save_error)
    assert job.run is not None and job.run.status == "partial"
    assert_finished_trials_kept(settings.db_path, "cancelled", cache)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
