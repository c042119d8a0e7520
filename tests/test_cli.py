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
        (["run", "--tiers", "redis,mongo"], "valid tiers: postgres-orm, postgres-raw, redis, memcached, inprocess"),
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
    assert run.results[1].summary.ops == 120


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
