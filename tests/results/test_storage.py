"""RunRepository over a real DuckDB file: round trip, transactions, locks, spool, bad files, labels."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from benchcore.errors import BenchError, ConfigError, SchemaTooNew, StorageError, StorageLocked
from benchcore.models import Environment, Run, RunSpec, ServerEnvironment, ServerInfo, Stats, TierResult, TrialResult
from benchcore.results import frames, writing
from benchcore.results.storage import SCHEMA_VERSION, AmbiguousRunId, RunExists, RunNotFound, RunRepository

NASTY_LABEL = "x'); DROP TABLE runs; -- <script>alert(\"hi\")</script> & ünïcode \t%s ?"
T0 = datetime(2025, 1, 31, 14, 5, 7, 123456, tzinfo=UTC)


def _stats(rng: np.random.Generator, ops: int, cache: bool, pooled: bool = False) -> Stats:
    p = np.sort(rng.random(6) * 1000)
    split: dict[str, Any] = dict(hit_ratio=(ops - 1) / ops, hit_p50_us=float(p[1]), hit_p99_us=float(p[4]),
                                 miss_p50_us=float(p[5]), miss_p99_us=float(p[5])) if cache else {}
    repeat: dict[str, Any] = dict(p50_ci_low_us=float(p[0]), p50_ci_high_us=float(p[2]),
                                  cv_pct=float(rng.random() * 20), unstable=bool(rng.random() < 0.5)) if pooled else {}
    return Stats(ops=ops, errors=int(rng.integers(0, 3)), hits=ops - 1 if cache else None,
                 misses=1 if cache else None, mean_us=float(p[2]), stddev_us=float(rng.random()),
                 min_us=float(p[0]), p50_us=float(p[1]), p90_us=float(p[3]), p99_us=float(p[4]),
                 p999_us=float(p[5]), max_us=float(p[5]) + 0.1, ops_per_sec=float(rng.random() * 1e5),
                 wall_s=float(rng.random()), **split, **repeat)


def make_run(run_id: str = "run1", per_trial: int = 50, *, label: str = "baseline", started: datetime = T0,
             trials: int = 3, tiers: tuple[str, ...] = ("postgres-raw", "redis", "inprocess"),
             modes: tuple[str, ...] = ("sync", "async"), seed: int = 0) -> Run:
    """A realistic run: int64 samples per trial, cache tiers with hits, one failed tier without a summary."""
    rng = np.random.default_rng(seed)
    spec = RunSpec(tiers=tiers, modes=modes, ops=per_trial, trials=trials, label=label, keys=500)
    results = []
    for tier in tiers:
        cache = tier != "postgres-raw"
        server = ServerInfo("in-process", "", "") if tier == "inprocess" else \
            ServerInfo("external", "127.0.0.1:6379" if cache else "postgresql://postgres:***@127.0.0.1:5432/postgres",
                       "7.2.4" if cache else "16.4")
        for mode in modes:
            if tier == "redis" and mode == "async":  # a tier that failed before measuring anything
                results.append(TierResult(tier, mode, 1, "GET + json.loads", "failed",
                                          "redis at 127.0.0.1:6379 refused the connection", None, (), server))
                continue
            trial_results = tuple(
                TrialResult(k, _stats(rng, per_trial, cache), rng.integers(1_000, 900_000, per_trial, dtype=np.int64),
                            np.array([k % per_trial], np.int64) if cache else np.empty(0, np.int64))
                for k in range(1, trials + 1)
            )
            results.append(TierResult(tier, mode, 1, f"{tier} {mode}: one read", "ok", None,
                                      _stats(rng, per_trial * trials, cache, pooled=True), trial_results, server))
    environment = Environment(
        python="CPython 3.11.7", python_version="3.11.7", python_implementation="CPython", os_system="Linux",
        os_release="6.1.0-18-amd64", cpu_model="Intel(R) Xeon(R) Gold", cpu_count=2, cpu_affinity=(0, 1),
        packages={"duckdb": "2.0.1", "hiredis": "not installed"},
        servers={"redis": ServerEnvironment("external", "127.0.0.1:6379", "7.2.4")}, client_cpu_affinity=(1,),
        timer_overhead_ns=71.25, native=({"tier": "redis", "mode": "sync", "native_p50_us": 40.0, "rounds": 5},),
        extra={"nested": {"none": None, "float": 0.1, "list": [1, "two", None]}})  # a key a newer version wrote
    return Run(run_id, started, started + timedelta(seconds=4, microseconds=17), "partial", spec, environment,
               tuple(results), 71.25)


def assert_same_run(a: Run, b: Run) -> None:
    assert a == b  # every field, samples excepted (compare=False on TrialResult.samples)
    for ra, rb in zip(a.results, b.results, strict=True):
        for ta, tb in zip(ra.trials, rb.trials, strict=True):
            assert tb.samples.dtype == np.int64
            np.testing.assert_array_equal(ta.samples, tb.samples)
            np.testing.assert_array_equal(ta.miss_index, tb.miss_index)


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> int:
    row = con.execute(sql, params or []).fetchone()
    assert row is not None
    return int(row[0])


def _rows(path: Path, run_id: str) -> dict[str, int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            "runs": _count(con, "SELECT count(*) FROM runs WHERE run_id = ?", [run_id]),
            "results": _count(con, "SELECT count(*) FROM results WHERE run_id = ?", [run_id]),
            "samples": _count(con, "SELECT count(*) FROM samples WHERE run_id = ?", [run_id]),
            "orphan_samples": _count(con, "SELECT count(*) FROM sample_values WHERE result_id NOT IN "
                                          "(SELECT result_id FROM results)"),
        }
    finally:
        con.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "results.duckdb"


@pytest.fixture
def repo(db: Path) -> RunRepository:
    return RunRepository(db, lock_timeout_s=5)


# ---- round trip and frames --------------------------------------------------------------------


def test_round_trip_rebuilds_the_run_exactly(repo: RunRepository) -> None:
    run = make_run()
    repo.save(run)
    loaded = repo.get_run(run.run_id)
    assert_same_run(run, loaded)
    assert loaded.started_at.tzinfo is not None and loaded.started_at == T0
    assert loaded.results[3].summary is None and loaded.results[3].error == run.results[3].error


def test_get_run_without_samples_keeps_everything_else(repo: RunRepository) -> None:
    run = make_run()
    repo.save(run)
    loaded = repo.get_run(run.run_id, with_samples=False)
    assert loaded == run
    assert all(t.samples.size == 0 for r in loaded.results for t in r.trials)


def test_get_runs_reads_several_in_the_order_asked_and_leaves_out_unknown_ids(repo: RunRepository, db: Path) -> None:
    old, new = make_run("old", started=T0), make_run("new", started=T0 + timedelta(days=1), seed=1)
    assert repo.get_runs(["old"]) == [] and not db.exists()  # no database: nothing, and none created
    repo.save(old)
    repo.save(new)
    assert repo.get_runs(["new", "nope", "old"]) == [new, old]
    with_samples = repo.get_runs(["old"], with_samples=True)[0]
    np.testing.assert_array_equal(with_samples.results[2].trials[0].samples, old.results[2].trials[0].samples)


def test_frames_of_stored_run_equal_frames_of_in_memory_run(repo: RunRepository) -> None:
    run = make_run()
    repo.save(run)
    pd.testing.assert_frame_equal(repo.summaries(run.run_id, pooled_only=False), frames.summary_frame(run))
    pd.testing.assert_frame_equal(repo.summaries([run.run_id]), frames.summary_frame(run, pooled_only=True))
    pd.testing.assert_frame_equal(repo.samples(run.run_id), frames.samples_frame(run))
    pd.testing.assert_frame_equal(repo.list_runs(), frames.runs_frame([run]))


def test_list_runs_newest_first_and_filters(repo: RunRepository) -> None:
    old, new = make_run("old", started=T0), make_run("new", started=T0 + timedelta(days=1), seed=1)
    repo.save(old)
    repo.save(new)
    runs = repo.list_runs()
    assert list(runs.columns) == list(frames.RUN_COLUMNS)
    assert list(runs["run_id"]) == ["new", "old"]
    assert runs.loc[0, "tiers"] == "postgres-raw,redis,inprocess" and runs.loc[0, "trials"] == 3
    assert runs.loc[0, "machine"] == "Intel Xeon Gold x2, Linux 6.1, Python 3.11.7"
    assert list(repo.summaries()["run_id"].unique()) == ["old", "new"]  # chronological for charts
    assert repo.summaries([]).empty and list(repo.summaries([]).columns) == list(frames.SUMMARY_COLUMNS)
    redis = repo.samples(["new", "old", "nope"], tier="redis", mode="sync")
    assert set(redis["tier"]) == {"redis"} and set(redis["mode"]) == {"sync"}
    assert list(redis["run_id"].unique()) == ["old", "new"]
    assert len(redis) == 2 * 3 * 50
    np.testing.assert_array_equal(redis["latency_ns"].to_numpy()[:50], old.results[2].trials[0].samples)


def test_reading_a_missing_database_does_not_create_it(repo: RunRepository, db: Path) -> None:
    assert repo.list_runs().empty
    assert repo.summaries().empty and repo.samples(["x"]).empty
    with pytest.raises(RunNotFound):
        repo.get_run("x")
    assert not db.exists()


def test_unknown_run_id_is_a_clear_error(repo: RunRepository) -> None:
    repo.save(make_run())
    for call in (lambda: repo.get_run("nope"), lambda: repo.rename("nope", "x"), lambda: repo.delete("nope")):
        with pytest.raises(RunNotFound, match="no run with id 'nope'") as info:
            call()
        assert isinstance(info.value, BenchError) and isinstance(info.value, KeyError)


def test_a_run_is_found_by_any_unique_prefix_of_its_id(repo: RunRepository) -> None:
    for run_id, label, hours in (("abc123", "baseline", 0), ("abd456", "", 1), ("abc1234", "longer", 2),
                                 ("xyz", "", 3)):
        repo.save(make_run(run_id, per_trial=5, label=label, started=T0 + timedelta(hours=hours)))
    assert repo.resolve_id("xyz") == "xyz"
    assert repo.resolve_id("x") == "xyz"
    assert repo.resolve_id("abd") == "abd456"
    assert repo.resolve_id(" abc123 ") == "abc123"  # an exact id wins over the longer ids it starts
    with pytest.raises(AmbiguousRunId) as info:
        repo.resolve_id("abc")
    message = str(info.value)
    assert isinstance(info.value, ConfigError)
    assert "'abc' is ambiguous" in message and "2 run ids" in message
    assert message.index("abc1234 (2025-01-31 16:05:07, 'longer')") < message.index("abc123 (2025-01-31 14:05:07, "
                                                                                    "'baseline')")  # newest first
    assert "abd456" not in message
    with pytest.raises(AmbiguousRunId, match=r"3 run ids: .*and 1 more\. Give more of the id\."):
        repo.resolve_id("a", shown=2)
    with pytest.raises(RunNotFound, match="no run with an id starting with 'nope'"):
        repo.resolve_id("nope")
    with pytest.raises(RunNotFound):
        repo.resolve_id("%")  # no LIKE wildcards: a prefix is text
    with pytest.raises(ConfigError, match="no run id given"):
        repo.resolve_id("  ")


def test_saving_the_same_run_twice_is_refused(repo: RunRepository, db: Path) -> None:
    run = make_run()
    repo.save(run)
    with pytest.raises(RunExists):
        repo.save(replace(run, status="complete"))
    assert repo.get_run(run.run_id).status == "partial"
    assert _rows(db, run.run_id)["samples"] == 5 * 3 * 50


def test_samples_must_be_integers(repo: RunRepository, db: Path) -> None:
    run = make_run()
    bad_trial = replace(run.results[0].trials[0], samples=np.array([1.5, 2.5]))
    bad = replace(run, results=(replace(run.results[0], trials=(bad_trial,)), *run.results[1:]))
    with pytest.raises(StorageError, match="integer"):
        repo.save(bad)
    assert _rows(db, run.run_id)["runs"] == 0


def test_a_password_that_slipped_through_is_not_stored(repo: RunRepository, db: Path) -> None:
    secret = "Hunter2-unique-pw"
    run = make_run()
    leaky = replace(run.results[0], error=f"could not connect to postgresql://bench:{secret}@127.0.0.1:1/db",
                    server=ServerInfo("external", f"postgresql://bench:{secret}@127.0.0.1:1/db", "16"))
    run = replace(run, results=(leaky, *run.results[1:]),
                  environment=replace(run.environment,
                                      servers={"postgres": ServerEnvironment(address=f"redis://:{secret}@h:1/0")}))
    repo.save(run)
    repo.spool(replace(run, run_id="spooled"))
    loaded = repo.get_run(run.run_id)
    assert secret not in repr(loaded) and "postgresql://bench:***@127.0.0.1:1/db" in (loaded.results[0].error or "")
    assert loaded.results[0].server.address == "postgresql://bench:***@127.0.0.1:1/db"
    assert secret not in repo.summaries(pooled_only=False).to_csv() + repo.list_runs().to_csv()
    assert not any(secret.encode() in p.read_bytes() for p in [db, *repo.pending_spool()])


# ---- one transaction ---------------------------------------------------------------------------


def test_a_failure_mid_save_leaves_nothing_of_the_run(repo: RunRepository, db: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    kept = make_run("kept")
    repo.save(kept)

    def fail(*args: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(writing, "_insert_samples", fail)
    with pytest.raises(RuntimeError, match="disk on fire"):
        repo.save(make_run("doomed", seed=3))
    monkeypatch.undo()
    assert _rows(db, "doomed") == {"runs": 0, "results": 0, "samples": 0, "orphan_samples": 0}
    assert list(repo.list_runs()["run_id"]) == ["kept"]
    assert_same_run(kept, repo.get_run("kept"))
    repo.save(make_run("doomed", seed=3))  # nothing half-written blocks a retry
    assert _rows(db, "doomed")["samples"] == 5 * 3 * 50


# ---- labels, rename, delete -------------------------------------------------------------------


def test_labels_with_sql_and_html_are_stored_verbatim(repo: RunRepository, db: Path) -> None:
    run = make_run(label=NASTY_LABEL)
    repo.save(run)
    assert repo.list_runs().loc[0, "label"] == NASTY_LABEL
    assert repo.get_run(run.run_id).label == NASTY_LABEL
    assert set(repo.summaries()["label"]) == {NASTY_LABEL}
    assert _rows(db, run.run_id)["runs"] == 1  # the tables are still there


def test_rename_validates_and_updates_label_and_spec(repo: RunRepository) -> None:
    repo.save(make_run())
    repo.rename("run1", NASTY_LABEL + " renamed")
    assert repo.get_run("run1").spec.label == NASTY_LABEL + " renamed"
    assert repo.list_runs().loc[0, "label"] == NASTY_LABEL + " renamed"
    for bad in ("a\x00b", "line\nbreak", "x" * 201):
        with pytest.raises(ConfigError):
            repo.rename("run1", bad)
    assert repo.get_run("run1").label == NASTY_LABEL + " renamed"
    repo.rename("run1", "")
    assert repo.get_run("run1").label == ""


def test_delete_removes_run_results_and_samples_only(repo: RunRepository, db: Path) -> None:
    first, second, third = make_run("a"), make_run("b", seed=1), make_run("c", seed=2)
    for run in (first, second, third):
        repo.save(run)
    repo.delete("b")
    assert _rows(db, "b") == {"runs": 0, "results": 0, "samples": 0, "orphan_samples": 0}
    assert list(repo.list_runs()["run_id"]) == ["c", "a"]
    assert_same_run(first, repo.get_run("a"))
    assert_same_run(third, repo.get_run("c"))
    repo.save(second)  # the id can be reused after delete
    assert_same_run(second, repo.get_run("b"))


# ---- concurrency: threads and processes -------------------------------------------------------

HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])  # read-write: locks the file against every other process
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
print("released", flush=True)
"""


@pytest.fixture
def hold_lock(db: Path) -> Iterator:
    procs: list[subprocess.Popen[str]] = []

    def start(seconds: float) -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(db), str(seconds)], stdout=subprocess.PIPE,
                                text=True)
        procs.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_save_waits_for_another_process_to_release_the_lock(repo: RunRepository, db: Path, hold_lock) -> None:
    repo.save(make_run("first"))
    hold_lock(1.0)
    started = time.monotonic()
    repo.save(make_run("second", seed=1))
    waited = time.monotonic() - started
    assert 0.5 < waited < 5
    assert set(repo.list_runs()["run_id"]) == {"first", "second"}


def test_locked_past_the_timeout_spools_and_imports_later(db: Path, hold_lock) -> None:
    RunRepository(db).save(make_run("before"))
    holder = hold_lock(120)
    impatient = RunRepository(db, lock_timeout_s=0.3)
    with pytest.raises(StorageLocked, match="locked by another process"):
        impatient.save(make_run("x"))
    with pytest.raises(StorageLocked):
        impatient.list_runs()

    spooled = make_run("spooled", seed=5, label=NASTY_LABEL)
    message = impatient.save_or_spool(spooled)
    assert message is not None and "locked" in message and "imported" in message
    assert [p.name for p in impatient.pending_spool()] == ["spooled.json"]

    holder.kill()
    holder.wait(timeout=10)
    repo = RunRepository(db)
    repo.save(make_run("after", seed=6))  # any write imports the spool first
    assert set(repo.list_runs()["run_id"]) == {"before", "spooled", "after"}
    assert_same_run(spooled, repo.get_run("spooled"))
    assert not repo.spool_dir.exists()

    repo.spool(spooled)  # a spool file whose run is already stored (crash after import): cleaned, not doubled
    assert repo.import_spool() == ["spooled"]
    assert repo.pending_spool() == [] and _rows(db, "spooled")["runs"] == 1
    assert repo.save_or_spool(make_run("direct", seed=7)) is None


def test_threads_of_one_process_take_turns(repo: RunRepository) -> None:
    errors: list[BaseException] = []

    def save(i: int) -> None:
        try:
            RunRepository(repo.path).save(make_run(f"t{i}", seed=i))
            RunRepository(repo.path).list_runs()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len(repo.list_runs()) == 6


# ---- files we must not touch ------------------------------------------------------------------


def test_newer_schema_is_refused_and_left_unchanged(repo: RunRepository, db: Path) -> None:
    repo.save(make_run())
    con = duckdb.connect(str(db))
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    con.close()
    before, files = _digest(db), sorted(p.name for p in db.parent.iterdir())
    for call in (lambda: repo.save(make_run("new")), repo.list_runs, lambda: repo.get_run("run1"),
                 lambda: repo.delete("run1")):
        with pytest.raises(SchemaTooNew, match="newer benchcore"):
            call()
    message = repo.save_or_spool(make_run("new"))
    assert message is not None and "newer benchcore" in message
    assert _digest(db) == before
    assert sorted(p.name for p in db.parent.iterdir() if p != repo.spool_dir) == files


@pytest.mark.parametrize("content", [b"this is not a database\n" * 200, b""], ids=["garbage", "empty"])
def test_corrupt_file_is_refused_and_left_unchanged(repo: RunRepository, db: Path, content: bytes) -> None:
    db.write_bytes(content)
    for call in (lambda: repo.save(make_run()), repo.list_runs, lambda: repo.rename("run1", "x")):
        with pytest.raises(StorageError, match="not a DuckDB database") as info:
            call()
        assert not isinstance(info.value, StorageLocked)
    assert db.read_bytes() == content
    assert sorted(p.name for p in db.parent.iterdir()) == ["results.duckdb"]


def test_foreign_duckdb_file_is_refused_and_left_unchanged(repo: RunRepository, db: Path) -> None:
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE invoices (id INTEGER)")
    con.close()
    before = _digest(db)
    with pytest.raises(StorageError, match="not a benchcore results database"):
        repo.save(make_run())
    assert _digest(db) == before


# ---- speed ------------------------------------------------------------------------------------


def test_a_million_samples_save_fast(repo: RunRepository) -> None:
    per_trial = 1_000_000 // 15 + 1  # 5 measured tier x mode pairs x 3 trials
    times = []
    for i in range(3):
        run = make_run(f"big{i}", per_trial, seed=i)
        started = time.perf_counter()
        repo.save(run)
        times.append(time.perf_counter() - started)
    started = time.perf_counter()
    loaded = repo.get_run("big0")
    load_s = time.perf_counter() - started
    print(f"\nsave 1,000,005 samples: best {min(times):.3f} s, all {[round(t, 3) for t in times]}; "
          f"get_run {load_s:.3f} s")
    assert sum(t.samples.size for r in loaded.results for t in r.trials) == 15 * per_trial
    # A guard against a row-at-a-time regression (minutes), not a performance claim: this is ~0.3 s quiet and
    # ~0.6 s on a loaded 2-core VM; benchmarks/scale.py measures it.
    assert min(times) < 5.0


def test_list_runs_over_a_thousand_runs(repo: RunRepository) -> None:
    repo.save(make_run("r0000"))
    con = duckdb.connect(str(repo.path))  # clone the runs row: the listing, not 1,000 saves, is measured here
    con.execute("INSERT INTO runs SELECT runs.* REPLACE ('r' || lpad(i::VARCHAR, 4, '0') AS run_id, "
                "started_at + i * INTERVAL 1 MINUTE AS started_at) FROM runs, range(1, 1000) t(i)")
    con.close()
    times = []
    for _ in range(3):
        started = time.perf_counter()
        runs = repo.list_runs()
        times.append(time.perf_counter() - started)
    print(f"\nlist_runs over 1,000 runs: best {min(times) * 1000:.1f} ms")
    assert len(runs) == 1000 and runs.loc[0, "run_id"] == "r0999"
    assert min(times) < 0.5


def test_a_run_spooled_from_a_corrupt_file_is_imported_once_the_file_is_moved_aside(db: Path) -> None:
    db.write_bytes(b"this is not a duckdb database" * 100)
    repo = RunRepository(db, lock_timeout_s=0.5)
    message = repo.save_or_spool(make_run("spooled"))
    assert message is not None and f"move {db} aside" in message and "never overwrites" in message
    assert db.read_bytes().startswith(b"this is not")
    db.rename(db.with_suffix(".broken"))
    repo.save(make_run("next"))
    assert sorted(repo.list_runs().run_id) == ["next", "spooled"]
    assert repo.pending_spool() == []
