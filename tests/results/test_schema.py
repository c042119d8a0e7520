"""The stored format: the schema of a fresh file is frozen, version-1 files upgrade in place, newer ones are refused.

tests/results/fixtures/results-v1.duckdb.gz was written by schema version 1 (see its README); every test
works on a copy, never on the fixture.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest

from benchcore.errors import SchemaTooNew, StorageError
from benchcore.results import codec, schema
from benchcore.results.storage import RunRepository
from tests.results.test_storage import assert_same_run, make_run

FIXTURE = Path(__file__).parent / "fixtures" / "results-v1.duckdb.gz"
V1_RUNS = ("eb6424c32adb", "9ff6095fdaff")

N, NULL = "NO", "YES"  # information_schema's is_nullable
# The schema of each version, written out: (table, column) -> (type, nullable); keys, views. Change the DDL in
# benchcore/results/schema.py and this fails: bump SCHEMA_VERSION, add MIGRATIONS[old version] (and a test of
# it with a file written by the old code), then add the new version here.
FROZEN: dict[int, dict[str, Any]] = {
    2: {
        "tables": {
            "meta": [("key", "VARCHAR", N), ("value", "VARCHAR", N)],
            "runs": [
                ("run_id", "VARCHAR", N), ("started_at", "TIMESTAMP", N), ("finished_at", "TIMESTAMP", N),
                ("status", "VARCHAR", N), ("label", "VARCHAR", N), ("tiers", "VARCHAR", N),
                ("modes", "VARCHAR", N), ("ops", "BIGINT", N), ("concurrency", "BIGINT", N),
                ("trials", "BIGINT", N), ("keys", "BIGINT", N), ("machine", "VARCHAR", N),
                ("timer_overhead_ns", "DOUBLE", NULL), ("spec", "VARCHAR", N), ("environment", "VARCHAR", N),
                ("distribution", "VARCHAR", N), ("warmup", "BIGINT", N), ("cold", "BOOLEAN", N),
                ("seed", "BIGINT", N), ("cache_capacity", "BIGINT", NULL),
            ],
            "results": [
                ("result_id", "BIGINT", N), ("run_id", "VARCHAR", N), ("tier", "VARCHAR", N),
                ("mode", "VARCHAR", N), ("concurrency", "BIGINT", N), ("trial", "BIGINT", N),
                ("status", "VARCHAR", N), ("error", "VARCHAR", NULL), ("description", "VARCHAR", NULL),
                ("ops", "BIGINT", NULL), ("errors", "BIGINT", NULL), ("hits", "BIGINT", NULL),
                ("misses", "BIGINT", NULL), ("mean_us", "DOUBLE", NULL), ("stddev_us", "DOUBLE", NULL),
                ("min_us", "DOUBLE", NULL), ("p50_us", "DOUBLE", NULL), ("p90_us", "DOUBLE", NULL),
                ("p99_us", "DOUBLE", NULL), ("p999_us", "DOUBLE", NULL), ("max_us", "DOUBLE", NULL),
                ("ops_per_sec", "DOUBLE", NULL), ("wall_s", "DOUBLE", NULL), ("server_kind", "VARCHAR", NULL),
                ("server_address", "VARCHAR", NULL), ("server_version", "VARCHAR", NULL),
            ],
            "sample_values": [("result_id", "BIGINT", N), ("latency_ns", "BIGINT", N)],
        },
        "views": {
            "samples": [("run_id", "VARCHAR", NULL), ("tier", "VARCHAR", NULL), ("mode", "VARCHAR", NULL),
                        ("concurrency", "BIGINT", NULL), ("trial", "BIGINT", NULL), ("latency_ns", "BIGINT", NULL)],
        },
        "keys": [
            ("meta", "PRIMARY KEY", ["key"]),
            ("results", "PRIMARY KEY", ["run_id", "tier", "mode", "concurrency", "trial"]),
            ("results", "UNIQUE", ["result_id"]),
            ("runs", "PRIMARY KEY", ["run_id"]),
        ],
    },
}
# Version 3: hit/miss and repeat statistics on results, a miss flag per sample (the view shows it).
FROZEN[3] = {
    "tables": {
        **FROZEN[2]["tables"],
        "results": [*FROZEN[2]["tables"]["results"],
                    *((name, "DOUBLE", NULL) for name in ("hit_ratio", "hit_p50_us", "hit_p99_us", "miss_p50_us",
                                                          "miss_p99_us", "p50_ci_low_us", "p50_ci_high_us",
                                                          "cv_pct")),
                    ("unstable", "BOOLEAN", NULL)],
        "sample_values": [*FROZEN[2]["tables"]["sample_values"], ("miss", "BOOLEAN", NULL)],
    },
    "views": {"samples": [*FROZEN[2]["views"]["samples"], ("miss", "BOOLEAN", NULL)]},
    "keys": FROZEN[2]["keys"],
}
# Version 4: load figures on results, an intended-start latency per sample, the per-second series table.
LOAD = ("client_cpu_us_per_read", "machine_cpu_pct", "target_rate", "achieved_rate", "late_reads", "intended_p50_us",
        "intended_p99_us", "intended_p999_us")
FROZEN[4] = {
    "tables": {
        **FROZEN[3]["tables"],
        "results": [*FROZEN[3]["tables"]["results"],
                    *((name, "BIGINT" if name == "late_reads" else "DOUBLE", NULL) for name in LOAD)],
        "sample_values": [*FROZEN[3]["tables"]["sample_values"], ("intended_ns", "BIGINT", NULL)],
        "series": [("result_id", "BIGINT", N), ("second", "BIGINT", N), ("reads", "BIGINT", N),
                   ("p50_us", "DOUBLE", NULL), ("p99_us", "DOUBLE", NULL)],
    },
    "views": {"samples": [*FROZEN[3]["views"]["samples"], ("intended_ns", "BIGINT", NULL)]},
    "keys": FROZEN[3]["keys"],
}
# Version 5: the per-second series gains the slowest read and the open-loop intended-start p99 of each second.
FROZEN[5] = {
    "tables": {
        **FROZEN[4]["tables"],
        "series": [*FROZEN[4]["tables"]["series"], ("max_us", "DOUBLE", NULL), ("intended_p99_us", "DOUBLE", NULL),
                   ("reads_per_s", "DOUBLE", NULL)],
    },
    "views": FROZEN[4]["views"],
    "keys": FROZEN[4]["keys"],
}
# Version 6: caching figures on results (hit/miss means, writes and stale reads, the two-level split, the model's
# predictions) and the per-instance table of several-instance runs.
CACHING = (("hit_mean_us", "DOUBLE"), ("miss_mean_us", "DOUBLE"), ("writes", "BIGINT"), ("write_mean_us", "DOUBLE"),
           ("write_p50_us", "DOUBLE"), ("write_p99_us", "DOUBLE"), ("stale_reads", "BIGINT"),
           ("stale_ratio", "DOUBLE"), ("max_stale_age_ms", "DOUBLE"), ("l1_hits", "BIGINT"), ("l2_hits", "BIGINT"),
           ("predicted_hit_ratio", "DOUBLE"), ("predicted_mean_us", "DOUBLE"), ("predicted_stale_ratio", "DOUBLE"))
FROZEN[6] = {
    "tables": {
        **FROZEN[5]["tables"],
        "results": [*FROZEN[5]["tables"]["results"], *((name, kind, NULL) for name, kind in CACHING)],
        "instances": [("result_id", "BIGINT", N), ("instance", "BIGINT", N), ("host", "VARCHAR", N),
                      ("pid", "BIGINT", N), ("ops", "BIGINT", N), ("writes", "BIGINT", N), ("hits", "BIGINT", NULL),
                      ("misses", "BIGINT", NULL), ("hit_ratio", "DOUBLE", NULL), ("l1_hits", "BIGINT", NULL),
                      ("l2_hits", "BIGINT", NULL), ("stale_reads", "BIGINT", NULL), ("ops_per_sec", "DOUBLE", NULL),
                      ("rss_mb", "DOUBLE", NULL), ("cache_entries", "BIGINT", NULL)],
    },
    "views": FROZEN[5]["views"],
    "keys": sorted([*FROZEN[5]["keys"], ("instances", "PRIMARY KEY", ["result_id", "instance"])]),
}
V3_RESULT_COLUMNS = ("hit_ratio", "hit_p50_us", "hit_p99_us", "miss_p50_us", "miss_p99_us", "p50_ci_low_us",
                     "p50_ci_high_us", "cv_pct", "unstable", *LOAD,
                     *(name for name, _ in CACHING))  # every result column added after version 1
V1_RUN_COLUMNS = ("run_id", "started_at", "finished_at", "status", "label", "tiers", "modes", "ops", "concurrency",
                  "trials", "keys", "machine", "timer_overhead_ns", "spec", "environment")


def describe(path: Path) -> dict[str, Any]:
    """Tables, views (columns, types, nullability, in order) and keys of a database, read by plain duckdb."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        kinds = dict(con.execute("SELECT table_name, table_type FROM information_schema.tables "
                                 "WHERE table_schema = 'main'").fetchall())
        columns: dict[str, list[tuple[str, str, str]]] = {}
        for table, column, dtype, nullable in con.execute(
                "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
                "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position").fetchall():
            columns.setdefault(table, []).append((column, dtype, nullable))
        keys = [tuple(r) for r in con.execute(
            "SELECT table_name, constraint_type, constraint_column_names FROM duckdb_constraints() "
            "WHERE constraint_type IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY', 'CHECK') ORDER BY ALL").fetchall()]
        version = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    finally:
        con.close()
    return {
        "version": int(version[0]) if version else None,
        "tables": {t: c for t, c in columns.items() if kinds[t] == "BASE TABLE"},
        "views": {t: c for t, c in columns.items() if kinds[t] == "VIEW"},
        "keys": [list(k) if isinstance(k, list) else k for k in keys],
    }


def _frozen(version: int) -> dict[str, Any]:
    return {"version": version, **FROZEN[version]}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def v1_file(tmp_path: Path) -> Path:
    path = tmp_path / "results.duckdb"
    with gzip.open(FIXTURE, "rb") as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return path


def _read_v1(path: Path) -> dict[str, Any]:
    """Everything the v1 file stores, by plain duckdb: runs and results rows by name, samples per result."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        def rows(sql: str) -> list[dict[str, Any]]:
            cursor = con.execute(sql)
            names = [d[0] for d in cursor.description or ()]
            return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]

        runs = {r["run_id"]: r for r in rows(f"SELECT {', '.join(V1_RUN_COLUMNS)} FROM runs")}
        for r in runs.values():  # version 3 records that version-1 runs ran their trials back to back
            spec = json.loads(r["spec"])
            r["spec"] = spec if spec.pop("interleave", False) is False else {**spec, "interleave": True}
        results = [{k: v for k, v in r.items() if k not in V3_RESULT_COLUMNS}
                   for r in rows("SELECT * FROM results ORDER BY result_id")]
        samples = {rid: np.asarray(values, dtype=np.int64) for rid, values in con.execute(
            "SELECT result_id, list(latency_ns ORDER BY rowid) FROM sample_values GROUP BY result_id").fetchall()}
    finally:
        con.close()
    return {"runs": runs, "results": results, "samples": samples}


# ---- the schema of a fresh file ----------------------------------------------------------------


def test_a_fresh_database_has_exactly_the_frozen_schema(tmp_path: Path) -> None:
    db = tmp_path / "fresh.duckdb"
    RunRepository(db).save(make_run())
    assert schema.SCHEMA_VERSION in FROZEN, "schema changed? bump SCHEMA_VERSION, add a migration, freeze it here"
    assert describe(db) == _frozen(schema.SCHEMA_VERSION)
    # Every older version has its step to the next one.
    assert sorted(schema.MIGRATIONS) == list(range(1, schema.SCHEMA_VERSION))


def test_column_lists_match_the_tables_and_the_codec() -> None:
    tables = FROZEN[schema.SCHEMA_VERSION]["tables"]
    assert tuple(c for c, _, _ in tables["runs"]) == schema.RUN_COLUMNS
    assert tuple(c for c, _, _ in tables["results"]) == schema.RESULT_COLUMNS
    # What the codec produces is exactly what the tables hold (storage adds ids and the JSON documents).
    assert set(schema.RESULT_COLUMNS) - {"result_id", "run_id"} == set(codec.RESULT_FIELDS)
    assert set(schema.RUN_COLUMNS) - {"spec", "environment"} == set(codec.run_record(make_run()))


def test_a_field_without_a_column_fails_loudly_and_writes_nothing(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """What happens when Stats gains a field and the schema does not: the save fails, it does not guess."""
    repo = RunRepository(tmp_path / "results.duckdb")
    repo.save(make_run("kept"))
    records = codec.result_records
    monkeypatch.setattr(codec, "result_records", lambda r: [{**rec, "p75_us": 1.0} for rec in records(r)])
    with pytest.raises(ValueError, match=r"fields without a column \['p75_us'\]"):
        repo.save(make_run("new", seed=1))
    monkeypatch.undo()
    assert repo.list_runs()["run_id"].tolist() == ["kept"]


# ---- version 1 -> 2 --------------------------------------------------------------------------------


def test_a_version_1_file_is_upgraded_and_keeps_every_figure(v1_file: Path) -> None:
    before = _read_v1(v1_file)
    assert describe(v1_file)["version"] == 1 and set(before["runs"]) == set(V1_RUNS)

    repo = RunRepository(v1_file)
    listed = repo.list_runs()  # reading is enough: an older file is upgraded first
    assert describe(v1_file) == _frozen(schema.SCHEMA_VERSION)  # the same schema as a fresh file

    # Every stored value of the version-1 tables, read again by plain duckdb.
    after = _read_v1(v1_file)
    assert after["runs"] == before["runs"]
    assert after["results"] == before["results"]
    assert after["samples"].keys() == before["samples"].keys()
    for rid, values in before["samples"].items():
        np.testing.assert_array_equal(after["samples"][rid], values)

    # The new columns, filled from each run's spec.
    con = duckdb.connect(str(v1_file), read_only=True)
    workload = {r[0]: r[1:] for r in con.execute(
        "SELECT run_id, distribution, warmup, cold, seed, cache_capacity FROM runs").fetchall()}
    con.close()
    for run_id, row in before["runs"].items():
        spec = row["spec"]
        assert workload[run_id] == (spec["distribution"], spec["warmup"], spec["cold"], spec["seed"],
                                    spec["cache_capacity"])
    assert workload["eb6424c32adb"] == ("uniform", 20, False, 1, None)
    assert workload["9ff6095fdaff"] == ("zipf", 10, True, 1, None)
    listing = listed.set_index("run_id")
    assert listing.loc["9ff6095fdaff", "distribution"] == "zipf" and bool(listing.loc["9ff6095fdaff", "cold"])
    assert listing.loc["eb6424c32adb", "machine"] == before["runs"]["eb6424c32adb"]["machine"]

    # The runs load through the new code with the same figures and samples.
    by_run: dict[str, list[dict[str, Any]]] = {}
    for row in before["results"]:
        by_run.setdefault(row["run_id"], []).append(row)
    for run_id in V1_RUNS:
        run = repo.get_run(run_id)
        stored = before["runs"][run_id]
        assert run.label == stored["label"] and run.status == stored["status"]
        assert run.timer_overhead_ns == stored["timer_overhead_ns"]
        records = [rec for result in run.results for rec in codec.result_records(result)]
        assert [{k: v for k, v in rec.items() if k not in V3_RESULT_COLUMNS} for rec in records] == [
            {k: v for k, v in row.items() if k not in ("result_id", "run_id")} for row in by_run[run_id]]
        assert all(rec[k] is None for rec in records for k in V3_RESULT_COLUMNS)  # not measured by version 1
        assert not run.spec.interleave
        trial_rows = [row["result_id"] for row in by_run[run_id] if row["trial"] > 0]
        trials = [t for result in run.results for t in result.trials]
        assert len(trials) == len(trial_rows)
        for trial, rid in zip(trials, trial_rows, strict=True):
            np.testing.assert_array_equal(trial.samples, before["samples"].get(rid, np.empty(0, np.int64)))
            assert trial.miss_index.size == 0
        # The environment: typed, and every key version 1 stored comes back with its value.
        environment = json.loads(stored["environment"])
        document = codec.environment_to_dict(run.environment)
        assert {k: document[k] for k in environment} == environment
        assert set(document) - set(environment) == {"native", "progress_watched_pct"}  # fields added since
        assert run.environment.client_cpu_affinity == (0, 1) and run.environment.benchcore_version == "0.1.0"
        assert run.environment.timer_overhead_ns == stored["timer_overhead_ns"]
    partial = repo.get_run("9ff6095fdaff")
    assert partial.spec.distribution == "zipf" and partial.spec.cold
    assert [(r.tier, r.status, r.summary is None) for r in partial.results] == [("redis", "failed", True),
                                                                               ("inprocess", "ok", False)]
    samples = repo.samples(list(V1_RUNS))
    assert len(samples) == sum(len(v) for v in before["samples"].values()) > 0
    assert samples["miss"].isna().all()  # version 1 did not record which reads missed

    # A new run saves into the upgraded file, beside the old ones.
    new = make_run("after-upgrade", seed=4)
    repo.save(new)
    assert_same_run(new, repo.get_run("after-upgrade"))
    assert set(repo.list_runs()["run_id"]) == {*V1_RUNS, "after-upgrade"}
    assert _read_v1(v1_file)["runs"].keys() == {*V1_RUNS, "after-upgrade"}


def test_a_failed_upgrade_leaves_the_file_at_version_1_untouched(v1_file: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    before, files = _digest(v1_file), sorted(p.name for p in v1_file.parent.iterdir())
    # The last step fails: everything before it in the transaction must be rolled back.
    monkeypatch.setitem(schema.MIGRATIONS, 1, (*schema.MIGRATIONS[1], "SELECT no_such_column FROM runs"))
    repo = RunRepository(v1_file)
    for call in (repo.list_runs, lambda: repo.save(make_run())):
        with pytest.raises(StorageError, match=rf"cannot upgrade .* from schema version 1 to {schema.SCHEMA_VERSION} "
                                               r"\(Binder Error: [^\n]*\); it is left at version 1, unchanged\.$"):
            call()
    assert _digest(v1_file) == before
    assert sorted(p.name for p in v1_file.parent.iterdir() if p != repo.spool_dir) == files
    assert describe(v1_file)["version"] == 1
    monkeypatch.undo()
    assert set(RunRepository(v1_file).list_runs()["run_id"]) == set(V1_RUNS)  # and it still upgrades later


def test_a_file_at_a_newer_version_is_refused_untouched(v1_file: Path) -> None:
    con = duckdb.connect(str(v1_file))
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(schema.SCHEMA_VERSION + 1)])
    con.close()
    before = _digest(v1_file)
    repo = RunRepository(v1_file)
    for call in (repo.list_runs, lambda: repo.get_run(V1_RUNS[0]), lambda: repo.save(make_run())):
        with pytest.raises(SchemaTooNew, match=f"schema version {schema.SCHEMA_VERSION + 1}"):
            call()
    assert _digest(v1_file) == before
