"""The load flags end to end against the real local servers: sweep, open loop, client processes, per-second series."""

from __future__ import annotations

import json

import pytest

from benchcore.cli import EXIT_BAD_INPUT, EXIT_OK
from benchcore.results.storage import RunRepository
from tests.conftest import TEST_PREFIX, TEST_TABLE
from tests.test_cli import run_cli

pytestmark = pytest.mark.servers


def args(tmp_path, command: str, settings, *extra: str) -> list[str]:
    return [command, "--warmup", "10", "--keys", "100", "--table", TEST_TABLE, "--key-prefix", TEST_PREFIX,
            "--db", str(tmp_path / "r.duckdb"), "--embedded", "never", "--redis-url", settings.redis_url,
            "--postgres-url", settings.postgres_url, "--json", str(tmp_path / "out.json"), *extra]


@pytest.mark.parametrize(("argv", "needle"), [
    (["run", "--duration", "2"], "a duration needs a rate"),
    (["run", "--rate", "0"], "rate (reads per second) must be a number between 1 and"),
    (["run", "--rate", "fast"], "is not a number of reads per second"),
    (["run", "--arrival", "bursty"], "invalid choice"),
    (["run", "--processes", "0"], "processes must be between 1 and 16"),
    (["sweep", "--concurrency", "1,x"], "is not a comma list of whole numbers"),
    (["sweep", "--concurrency", "1,128"], "sweep concurrency must be between 1 and 64"),
    (["sweep", "--concurrency", ","], "a sweep needs at least one concurrency level"),
])
def test_bad_load_input_exits_2_with_one_line(argv, needle):
    code, _out, err = run_cli(*argv)
    assert code == EXIT_BAD_INPUT, err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_sweep_is_one_stored_run_with_a_result_per_level_and_mode(tmp_path, settings):
    code, out, err = run_cli(*args(tmp_path, "sweep", settings, "--tiers", "inprocess,redis", "--concurrency",
                                   "4,1,2", "--ops", "120", "--trials", "2"))
    assert code == EXIT_OK, err
    assert "this run makes 2,880 timed reads (2 tiers x 2 modes x 2 trials x 3 concurrency levels x 120 reads)" in err
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["config"]["sweep"] == [1, 2, 4]
    assert [(r["concurrency"], r["tier"], r["mode"]) for r in doc["results"]] == [
        (c, t, m) for c in (1, 2, 4) for t in ("redis", "inprocess") for m in ("sync", "async")]
    for r in doc["results"]:
        assert r["status"] == "ok" and r["ops"] == 240 and r["client_cpu_us_per_read"] > 0
        assert r["target_rate"] is None and r["load"] is None  # closed loop
    sweep = doc["sweep"]
    assert sweep["levels"] == [1, 2, 4] and len(sweep["knees"]) == 4
    assert {k["limit"] for k in sweep["knees"]} <= {"client", "machine", "server"}
    assert {c["tier"] for c in sweep["async_vs_sync"]} == {"redis", "inprocess"}
    assert "Sweep: knee = " in out and "concurrency sweep 1, 2, 4" in out
    run = RunRepository(tmp_path / "r.duckdb").get_run(doc["run_id"], with_samples=False)
    assert run.spec.sweep == (1, 2, 4) and len(run.results) == 12
    assert sorted({r.concurrency for r in run.results}) == [1, 2, 4]
    code, shown, _ = run_cli("show", doc["run_id"][:8], "--db", str(tmp_path / "r.duckdb"))
    assert code == EXIT_OK and "Sweep: knee" in shown


def test_open_loop_flags_land_in_the_table_the_json_and_the_store(tmp_path, settings):
    code, out, err = run_cli(*args(tmp_path, "run", settings, "--tiers", "redis", "--modes", "async", "--rate", "400",
                                   "--duration", "0.5", "--arrival", "poisson", "--trials", "2",
                                   "--concurrency", "2"))
    assert code == EXIT_OK, err
    doc = json.loads((tmp_path / "out.json").read_text())
    assert (doc["config"]["rate"], doc["config"]["duration_s"], doc["config"]["arrival"]) == (400.0, 0.5, "poisson")
    (r,) = doc["results"]
    assert r["ops"] == 400 and r["target_rate"] == 400.0 and r["achieved_rate"] > 0
    assert r["late_reads"] >= 0 and r["intended_p50_us"] > 0 and r["intended_p999_us"] >= r["intended_p99_us"]
    assert r["intended_p99_us"] >= r["p99_us"] * 0.999  # from the intended start: never less than the service time
    assert set(r["load"]) == {"kept_up", "target_rate", "achieved_rate", "achieved_pct", "shortfall_pct",
                              "late_reads", "late_pct", "verdict"}
    assert isinstance(r["load"]["kept_up"], bool) and "reads/s" in r["load"]["verdict"]
    for trial in r["trials"]:  # every second of a trial, adding up to its reads
        assert sum(s["reads"] for s in trial["series"]) == trial["ops"] == 200
        assert all(s["intended_p99_us"] is not None and s["reads_per_s"] > 0 for s in trial["series"])
    assert "Open loop (latency from the intended start" in out and "open loop at 400 reads/s (poisson" in out
    run = RunRepository(tmp_path / "r.duckdb").get_run(doc["run_id"])
    (stored,) = run.results
    assert stored.summary.intended_p99_us == pytest.approx(r["intended_p99_us"])
    assert all(t.intended.size == t.samples.size == 200 for t in stored.trials)
    assert [s.reads for t in stored.trials for s in t.series] == [s["reads"] for t in r["trials"] for s in t["series"]]


def test_a_rate_without_a_duration_reads_ops_at_that_rate(tmp_path, settings):
    code, _out, err = run_cli(*args(tmp_path, "run", settings, "--tiers", "inprocess", "--modes", "sync", "--rate",
                                    "2000", "--ops", "300", "--trials", "1"))
    assert code == EXIT_OK, err
    (r,) = json.loads((tmp_path / "out.json").read_text())["results"]
    assert r["ops"] == 300 and r["target_rate"] == 2000.0 and r["load"] is not None


def test_client_processes_merge_their_raw_samples(tmp_path, settings):
    """Four workers over two client processes: every read's sample comes back, counts add up per trial and in
    the store, the cache counters are the processes' sum, and the client CPU includes theirs."""
    code, _out, err = run_cli(*args(tmp_path, "run", settings, "--tiers", "redis,inprocess", "--concurrency", "4",
                                    "--processes", "2", "--ops", "400", "--trials", "2"))
    assert code == EXIT_OK, err
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["config"]["processes"] == 2
    for r in doc["results"]:
        assert r["status"] == "ok" and r["ops"] == 800 and r["errors"] == 0, r
        assert r["hits"] == 800 and r["misses"] == 0  # warmed, counted in the client processes
        assert r["client_cpu_us_per_read"] > 0
        for trial in r["trials"]:
            assert trial["ops"] == 400 and sum(s["reads"] for s in trial["series"]) == 400
    run = RunRepository(tmp_path / "r.duckdb").get_run(doc["run_id"])
    for result in run.results:
        assert [t.samples.size for t in result.trials] == [400, 400]
        assert result.summary.p50_us > 0


def test_client_processes_share_one_open_loop_schedule(tmp_path, settings):
    code, _out, err = run_cli(*args(tmp_path, "run", settings, "--tiers", "redis", "--modes", "sync",
                                    "--concurrency", "2", "--processes", "2", "--rate", "500", "--duration", "0.4",
                                    "--trials", "1"))
    assert code == EXIT_OK, err
    (r,) = json.loads((tmp_path / "out.json").read_text())["results"]
    assert r["ops"] == 200 and r["target_rate"] == 500.0
    # The two processes' halves of one schedule: no read starts before its intended time, so together they never
    # go faster than the schedule (200 reads, the last one due 199/500 s after the origin).
    assert 0 < r["achieved_rate"] <= 500 * 200 / 199
    assert r["intended_p99_us"] >= r["p99_us"] * 0.999
