"""CLI exit codes, JSON shape and the stored run, against the real local servers."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from benchcore.cli import EXIT_BAD_INPUT, EXIT_OK, EXIT_TIER_FAILED, main
from benchcore.results.storage import RunRepository
from tests.conftest import TEST_PREFIX, TEST_TABLE

RESULT_KEYS = {"tier", "mode", "concurrency", "ops", "errors", "hits", "misses", "mean_us", "stddev_us", "min_us",
               "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "ops_per_sec", "description", "error"}


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def small(tmp_path, *extra: str) -> list[str]:
    return ["run", "--ops", "60", "--warmup", "10", "--trials", "2", "--keys", "100", "--table", TEST_TABLE,
            "--db", str(tmp_path / "r.duckdb"), "--embedded", "never", *extra]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["run", "--tiers", "redis,mongo"],
         "valid tiers: postgres-orm, postgres-core, postgres-raw, redis, redis-cluster, memcached, inprocess"),
        (["run", "--ops", "0"], "ops must be between 1 and"),
        (["run", "--ops", "-3"], "ops must be between 1 and"),
        (["run", "--ops", "1000000000000"], "ops must be between 1 and"),
        (["run", "--ops", "lots"], "is not a whole number"),
        (["run", "--concurrency", "1000"], "concurrency must be between 1 and 64"),
        (["run", "--modes", "parallel"], "valid modes: sync, async"),
        (["run", "--table", "pg_catalog.pg_class"], "SQL identifier"),
        (["run", "--embedded", "maybe"], "invalid choice"),
        (["run", "--tiers", "inprocess", "--server-cpus", "9999"], "BENCHCORE_SERVER_CPUS, --server-cpus) [9999]"),
        (["targets", "--server-cpus", "zero"], "comma list of CPU numbers"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, needle):
    code, _out, err = run_cli(*argv)
    assert code == EXIT_BAD_INPUT
    assert needle in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_run_json_shape_and_storage(tmp_path, settings):
    json_path = tmp_path / "out.json"
    code, out, err = run_cli(*small(tmp_path, "--tiers", "inprocess,redis", "--json", str(json_path),
                                    "--redis-url", settings.redis_url, "--postgres-url", settings.postgres_url,
                                    "--label", "cli <b>test</b>"))
    assert code == EXIT_OK, err
    doc = json.loads(json_path.read_text())
    assert {"run_id", "status", "config", "environment", "results"} <= set(doc)
    assert doc["status"] == "complete"
    assert [(r["tier"], r["mode"]) for r in doc["results"]] == [
        ("redis", "sync"), ("redis", "async"), ("inprocess", "sync"), ("inprocess", "async")]
    for r in doc["results"]:
        assert set(r) >= RESULT_KEYS
        assert r["ops"] == 120 and r["hits"] == 120 and r["misses"] == 0  # warmed caches
        assert r["description"] and r["error"] is None
        assert len(r["trials"]) == 2 and r["p50_us"] > 0 and r["ops_per_sec"] > 0
    assert "inprocess" in out and "ops/s" in out and "What one read does" in out
    # Stored, listed and shown.
    repo = RunRepository(tmp_path / "r.duckdb")
    assert repo.list_runs().run_id.tolist() == [doc["run_id"]]
    code, out, _ = run_cli("runs", "--db", str(tmp_path / "r.duckdb"))
    assert code == 0 and doc["run_id"] in out and "cli <b>test</b>" in out
    code, out, _ = run_cli("show", doc["run_id"], "--db", str(tmp_path / "r.duckdb"))
    assert code == 0 and "redis" in out and "cli <b>test</b>" in out


def test_failed_tier_exits_1_and_keeps_the_rest(tmp_path, settings):
    code, out, err = run_cli(*small(tmp_path, "--tiers", "redis,inprocess", "--modes", "sync",
                                    "--redis-url", "redis://:hunter22@127.0.0.1:1/0"))
    assert code == EXIT_TIER_FAILED
    assert "127.0.0.1:1" in out and "hunter22" not in out + err
    run = RunRepository(tmp_path / "r.duckdb").get_run(RunRepository(tmp_path / "r.duckdb").list_runs().run_id[0])
    assert run.status == "partial"
    assert [r.status for r in run.results] == ["failed", "ok"]
    summary = run.results[1].summary
    assert summary is not None and summary.ops == 120


def test_no_save_and_show_unknown(tmp_path):
    code, _, _ = run_cli(*small(tmp_path, "--tiers", "inprocess", "--no-save"))
    assert code == EXIT_OK and not (tmp_path / "r.duckdb").exists()
    (tmp_path / "r.duckdb").touch()
    code, _, err = run_cli("show", "nope", "--db", str(tmp_path / "r.duckdb"))
    assert code != 0 and "Traceback" not in err and err.count("\n") == 1


def test_module_entry_point_runs(tmp_path, postgres_url):
    env = {**os.environ, "BENCHCORE_DB": str(tmp_path / "r.duckdb"), "BENCHCORE_EMBEDDED": "never"}
    proc = subprocess.run([sys.executable, "-m", "benchcore", "run", "--tiers", "inprocess", "--ops", "50",
                           "--trials", "1", "--keys", "50", "--table", TEST_TABLE],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "inprocess" in proc.stdout and "saved run" in proc.stderr


def test_targets_says_external_servers_are_not_re_pinned(settings):
    code, out, err = run_cli("targets", "--embedded", "never", "--postgres-url", settings.postgres_url,
                             "--redis-url", settings.redis_url, "--memcached-url", settings.memcached_url,
                             "--server-cpus", "0")
    assert code == EXIT_OK, err
    placement = out.split("CPU placement:", 1)[1]
    for backend in ("postgres", "redis", "memcached"):
        assert f"{backend}: external server: not pinned to CPUs 0" in placement
    code, out, _ = run_cli("targets", "--embedded", "never", "--postgres-url", settings.postgres_url,
                           "--redis-url", settings.redis_url, "--memcached-url", settings.memcached_url)
    assert code == EXIT_OK and "CPU placement" not in out


def test_run_records_embedded_server_pinning(tmp_path, monkeypatch):
    from benchcore.servers import embedded
    from tests.servers.embedded.helpers import remove_data

    json_path, data_dir = tmp_path / "out.json", tmp_path / "data"
    monkeypatch.setenv("BENCHCORE_DATA_DIR", str(data_dir))
    try:
        code, _out, err = run_cli("run", "--tiers", "redis", "--modes", "sync", "--ops", "30", "--warmup", "5",
                                  "--trials", "1", "--keys", "50", "--table", TEST_TABLE, "--key-prefix", TEST_PREFIX,
                                  "--no-save", "--embedded", "always", "--server-cpus", "0", "--json", str(json_path))
    finally:
        embedded.stop_embedded()
        remove_data(data_dir)
    assert code == EXIT_OK, err
    servers = json.loads(json_path.read_text())["environment"]["servers"]
    assert servers["redis"]["kind"] == "embedded"
    assert servers["redis"]["cpu_affinity"] == [0] and servers["redis"]["pinned_cpus"] == [0]


# ---- compare (stored runs only: no server needed) --------------------------------------------------------

A5 = [100.0, 102.0, 98.0, 101.0, 99.0]


@pytest.fixture
def stored(tmp_path):
    """A baseline, a run 20 % slower on redis sync (5 trials each), and a copy of the baseline."""
    from datetime import timedelta

    from tests.results.synthetic import T0, make_run

    db = tmp_path / "r.duckdb"
    repo = RunRepository(db)
    pairs = {("redis", "sync"): A5, ("inprocess", "sync"): [0.40, 0.41, 0.39, 0.42, 0.40]}
    repo.save(make_run("aaa111", pairs, label="baseline"))
    repo.save(make_run("aaa222", {**pairs, ("redis", "sync"): [v * 1.2 for v in A5]}, started=T0 + timedelta(hours=1)))
    repo.save(make_run("bbb333", pairs, started=T0 + timedelta(hours=2)))
    return db


def test_compare_exits_1_when_b_is_significantly_slower_and_writes_the_json(stored, tmp_path):
    json_path = tmp_path / "cmp.json"
    code, out, err = run_cli("compare", "aaa1", "aaa2", "--db", str(stored), "--json", str(json_path))
    assert code == EXIT_TIER_FAILED, err
    assert "A: aaa111" in out and "B: aaa222" in out and "'baseline'" in out
    line = next(row for row in out.splitlines() if row.startswith("redis"))
    assert "100.0 [" in line and "1.20x" in line and "0.008" in line and "5 / 5" in line and line.rstrip().endswith(
        "slower")
    assert "slower on 1, faster on 0, no significant change on 1" in out
    assert "Mann-Whitney U on trial p50s, α = 0.05, minimum effect 5 %" in out
    assert "redis (sync) 1.20x" in err
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    assert (doc["run_a"], doc["run_b"]) == ("aaa111", "aaa222")
    assert [(p["tier"], p["verdict"]) for p in doc["pairs"]] == [("redis", "slower"),
                                                                 ("inprocess", "no significant change")]
    assert doc["pairs"][0]["trials_a"] == 5 and doc["pairs"][0]["p_value"] < 0.05 and doc["counts"]["slower"] == 1


def test_compare_exits_0_without_a_slowdown_beyond_the_threshold(stored):
    code, out, _ = run_cli("compare", "aaa2", "aaa1", "--db", str(stored))  # B faster
    assert code == EXIT_OK and "faster on 1" in out
    code, out, _ = run_cli("compare", "aaa111", "bbb", "--db", str(stored))  # the same figures
    assert code == EXIT_OK and "no significant change on 2" in out and "Warnings" not in out
    code, out, _ = run_cli("compare", "aaa1", "aaa2", "--db", str(stored), "--threshold", "25%")
    assert code == EXIT_OK and "minimum effect 25 %" in out and "slower on 0" in out


@pytest.mark.parametrize(("argv", "needle"), [
    (["nope", "aaa1"], "no run with an id starting with 'nope'"),
    (["aaa", "bbb"], "'aaa' is ambiguous: it starts 2 run ids: aaa222"),
    (["aaa1", "aaa111"], "are the same run (aaa111)"),
    (["aaa1", "aaa2", "--threshold", "ten"], "'ten' is not a percentage"),
    (["aaa1", "aaa2", "--threshold", "150"], "must be between 0 and 100"),
    (["aaa1", "aaa2", "--json", "/nonexistent-dir/x.json"], "--json: directory /nonexistent-dir does not exist"),
    (["aaa1"], "the following arguments are required: run_b"),
])
def test_compare_bad_input_exits_2_with_one_line(stored, argv, needle):
    code, out, err = run_cli("compare", *argv, "--db", str(stored))
    assert code == EXIT_BAD_INPUT and out == ""
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_compare_without_a_results_database_exits_2(tmp_path):
    code, _, err = run_cli("compare", "a", "b", "--db", str(tmp_path / "missing.duckdb"))
    assert code == EXIT_BAD_INPUT and "no results database at" in err
    assert not (tmp_path / "missing.duckdb").exists()


def test_show_takes_any_unique_prefix_and_prints_the_doubt(stored):
    code, out, err = run_cli("show", "bbb", "--db", str(stored))
    assert code == EXIT_OK, err
    assert out.startswith("run bbb333")
    assert "p50 µs [95% CI]" in out and "CV %" in out and "hit %" in out and "100.0 [" in out
    code, _, err = run_cli("show", "aaa", "--db", str(stored))
    assert code == EXIT_BAD_INPUT and "ambiguous" in err and "aaa111" in err and "aaa222" in err
