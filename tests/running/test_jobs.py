"""JobRegistry / BenchmarkJob with the real engine and real servers (small runs)."""

from __future__ import annotations

import threading

import pytest

from benchcore.errors import ConfigError
from benchcore.models import TIER_NAMES, RunSpec
from benchcore.results.storage import RunRepository
from benchcore.running.jobs import JobRegistry
from tests.conftest import TEST_PREFIX, TEST_TABLE

WAIT_S = 120


def spec(**kw) -> RunSpec:
    base = {"tiers": ("inprocess",), "ops": 200, "warmup": 20, "trials": 2, "table": TEST_TABLE,
            "key_prefix": TEST_PREFIX, "keys": 500}
    return RunSpec(**{**base, **kw})


def test_job_runs_in_a_thread_reports_progress_and_saves(settings):
    reg = JobRegistry()
    job, started = reg.start(spec(label="job test"), settings)
    assert started
    assert job.wait(WAIT_S), "job did not finish"
    assert job.state == "done", job.error
    assert job.run is not None and job.run.status == "complete"
    assert job.progress is not None and job.progress.reads_done == job.progress.reads_total == 200 * 2 * 2
    assert job.saved and job.save_note is None and job.save_error is None
    stored = RunRepository(settings.db_path).list_runs()
    assert stored["run_id"].tolist() == [job.run.run_id]
    assert stored["label"].tolist() == ["job test"]
    assert reg.latest() is job and reg.get(job.job_id) is job and reg.running() is None


def test_second_start_while_running_returns_the_running_job_then_cancel(settings):
    reg = JobRegistry()
    # Big enough to still be running when the second start comes in; cancelled right after.
    job, started = reg.start(spec(ops=5_000_000, trials=1), settings)
    assert started and job.running
    again, started_again = reg.start(spec(), settings)
    assert again is job and not started_again
    # A second start from another thread (another browser tab) sees the same job too.
    seen = []
    t = threading.Thread(target=lambda: seen.append(reg.start(spec(), settings)))
    t.start()
    t.join(10)
    assert seen and seen[0][0] is job and seen[0][1] is False
    job.cancel()
    assert job.wait(WAIT_S)
    assert job.state == "cancelled"
    assert any(r.status == "cancelled" for r in job.run.results)
    assert reg.running() is None
    nxt, started_next = reg.start(spec(ops=50, trials=1), settings)  # a new run may start now
    assert started_next and nxt is not job
    assert nxt.wait(WAIT_S) and nxt.state == "done"


@pytest.mark.servers
def test_all_tiers_small_run(settings):
    reg = JobRegistry()
    job, _ = reg.start(spec(tiers=TIER_NAMES, ops=100, warmup=10, trials=1), settings)
    assert job.wait(WAIT_S)
    assert job.state == "done", job.error
    failed = [(r.tier, r.mode, r.error) for r in job.run.results if r.status != "ok"]
    assert not failed
    assert len(job.run.results) == len(TIER_NAMES) * 2
    summaries = RunRepository(settings.db_path).summaries(job.run.run_id)
    assert set(summaries["tier"]) == set(TIER_NAMES)


def test_unusable_results_db_keeps_the_run_and_says_where(settings):
    settings.db_path.write_bytes(b"this is not a duckdb file" * 100)
    reg = JobRegistry()
    job, _ = reg.start(spec(trials=1), settings)
    assert job.wait(WAIT_S)
    assert job.state == "done" and job.run is not None
    assert job.saved and job.save_note and "spool" in job.save_note


def test_runner_errors_become_messages_without_secrets(settings):
    def explode(*args, **kwargs):
        raise RuntimeError("connect to postgresql://u:hunter2@db failed")

    def bad_config(*args, **kwargs):
        raise ConfigError("ops must be between 1 and 10")

    job, _ = JobRegistry(runner=explode).start(spec(), settings.with_urls(postgres_url="postgresql://u:hunter2@db/x"))
    assert job.wait(10) and job.state == "failed" and job.run is None
    assert "RuntimeError" in job.error and "hunter2" not in job.error and "Traceback" not in job.error
    job, _ = JobRegistry(runner=bad_config).start(spec(), settings)
    assert job.wait(10) and job.error == "ops must be between 1 and 10"


def test_registry_keeps_a_bounded_history(settings):
    reg = JobRegistry(runner=lambda *a, **k: (_ for _ in ()).throw(ConfigError("x")), keep=3)
    jobs = []
    for _ in range(5):
        job, _started = reg.start(spec(), settings)
        job.wait(10)
        jobs.append(job)
    assert reg.get(jobs[0].job_id) is None
    assert reg.get(jobs[-1].job_id) is jobs[-1]


def test_a_run_records_the_share_of_its_time_a_page_redrew_its_progress(settings):
    from benchcore.running.jobs import _default_runner

    go = threading.Event()

    def held(*args, **kwargs):
        assert go.wait(WAIT_S)
        return _default_runner(*args, **kwargs)

    reg = JobRegistry(runner=held)
    job, _ = reg.start(spec(label="watched"), settings)
    job.watched()  # the progress fragment, once, in the run's first second
    go.set()
    assert job.wait(WAIT_S) and job.state == "done", job.error
    assert job.run is not None and job.run.environment.progress_watched_pct is not None
    assert 0 < job.run.environment.progress_watched_pct <= 100
    stored = RunRepository(settings.db_path).get_run(job.run.run_id, with_samples=False)
    assert stored.environment.progress_watched_pct == job.run.environment.progress_watched_pct
    before = job.watched_pct
    job.watched()  # after the end: not the run's time
    assert job.watched_pct == before

    unwatched, _ = JobRegistry().start(spec(label="unwatched"), settings)
    assert unwatched.wait(WAIT_S) and unwatched.run is not None
    assert unwatched.run.environment.progress_watched_pct == 0.0


def test_a_page_that_stays_on_a_slowly_redrawn_run_counts_as_watching_all_of_it(monkeypatch):
    from benchcore.running import jobs

    job = jobs.BenchmarkJob(RunSpec())  # the default run: the slowest pace
    clock = [1000.0]
    monkeypatch.setattr(jobs.time, "time", lambda: clock[0])
    job.started = clock[0]
    for _ in range(4):  # one redraw per interval, for 40 s
        job.watched()
        clock[0] += job.redraw_interval_s()
    assert job.redraw_interval_s() == jobs.QUIET_POLL_S and job.watched_pct == 100.0
    clock[0] += 40.0  # then the page went elsewhere for as long again
    assert job.watched_pct == 50.0



def test_a_long_run_redraws_its_progress_slowly_a_short_or_cancelled_one_promptly():
    from benchcore.running.jobs import PROGRESS_POLL_S, QUIET_MIN_RUN_S, QUIET_POLL_S, BenchmarkJob, redraw_interval_s

    assert QUIET_POLL_S > PROGRESS_POLL_S
    assert redraw_interval_s(QUIET_MIN_RUN_S * 30, cancelling=False) == QUIET_POLL_S
    assert redraw_interval_s(QUIET_MIN_RUN_S * 30, cancelling=True) == PROGRESS_POLL_S
    assert redraw_interval_s(QUIET_MIN_RUN_S / 2, cancelling=False) == PROGRESS_POLL_S
    assert redraw_interval_s(12.0, cancelling=False) == 5.0  # a medium run: a medium pace, its results sooner
    assert redraw_interval_s(25.0, cancelling=False) == QUIET_POLL_S == 10.0
    long, short = BenchmarkJob(RunSpec()), BenchmarkJob(spec())  # the default run (~45 s), a 400-read one
    assert long.expected_s > QUIET_MIN_RUN_S > short.expected_s
    assert (long.redraw_interval_s(), short.redraw_interval_s()) == (QUIET_POLL_S, PROGRESS_POLL_S)
    long.cancel()
    assert long.redraw_interval_s() == PROGRESS_POLL_S
