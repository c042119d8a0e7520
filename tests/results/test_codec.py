"""The one Run serializer: Run <-> dict, Run <-> DuckDB, the `--json` shape, the spool, the environment record."""

from __future__ import annotations

import json
import math
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchcore.models import EmbeddedPlacement, Environment, ServerEnvironment, ServerInfo, TierResult, TrialResult
from benchcore.results import codec
from benchcore.results.stats import summarize
from benchcore.results.storage import RunRepository
from benchcore.views import report
from tests.results.test_storage import assert_same_run, make_run

# What benchcore 0.1.0 stored as a run's environment (tests/results/fixtures/results-v1.duckdb.gz, run eb6424c32adb).
V1_ENVIRONMENT: dict[str, Any] = {
    "python": "CPython 3.11.7", "python_version": "3.11.7", "python_implementation": "CPython",
    "os": "Linux-6.18.44-fc-v1045-x86_64-with-glibc2.36", "os_system": "Linux", "os_release": "6.18.44-fc-v1045",
    "machine_arch": "x86_64", "hostname": "vm", "cpu_model": "Intel(R) Xeon(R) Processor", "cpu_count": 2,
    "cpu_affinity": [0, 1], "packages": {"duckdb": "2.0.1", "redis": "8.1.0"}, "benchcore": "0.1.0",
    "servers": {
        "postgres": {"kind": "external", "address": "postgresql://postgres@127.0.0.1:5432/postgres",
                     "version": "15.20"},
        "redis": {"kind": "embedded", "address": "127.0.0.1:41234", "version": "7.0.15", "cpu_affinity": [0],
                  "pinned_cpus": None},
    },
    "timer_overhead_ns": 41.0, "client_cpu_affinity": [0, 1],
}


def _nothing_measured() -> TierResult:
    """A tier whose only trial read nothing: ops 0 and NaN latencies (unlike a tier that never started)."""
    empty = summarize(np.empty(0, np.int64), wall_ns=0, errors=20)
    return TierResult("memcached", "sync", 1, "get", "failed", "gone", empty, (TrialResult(1, empty, np.empty(0)),),
                      ServerInfo("external", "127.0.0.1:11211", "1.6"))


def _same_document(a: dict[str, Any], b: dict[str, Any]) -> None:
    np.testing.assert_equal(a, b)  # NaN equals NaN here


# ---- Run <-> dict ----------------------------------------------------------------------------------


def test_run_to_dict_and_back_is_the_same_run_with_samples_when_asked() -> None:
    run = make_run()
    document = codec.run_to_dict(run, samples=True)
    back = codec.run_from_dict(json.loads(json.dumps(document)))  # through JSON text: only JSON types
    assert_same_run(run, back)
    assert sum(t.samples.size for r in back.results for t in r.trials) == 5 * 3 * 50

    without = codec.run_from_dict(codec.run_to_dict(run))
    assert without == run  # every field; samples are not part of equality ...
    assert all(t.samples.size == 0 and t.samples.dtype == np.int64 for r in without.results for t in r.trials)
    assert "samples" not in json.dumps(codec.run_to_dict(run))  # ... and are left out unless asked


def test_samples_can_travel_beside_the_document() -> None:
    run = make_run(trials=2)
    arrays = {codec.sample_key(i, j): t.samples for i, r in enumerate(run.results) for j, t in enumerate(r.trials)}
    arrays.update({codec.miss_key(i, j): t.miss_index
                   for i, r in enumerate(run.results) for j, t in enumerate(r.trials)})
    assert_same_run(run, codec.run_from_dict(codec.run_to_dict(run), arrays))


def test_nan_and_unmeasured_figures_survive(tmp_path: Path) -> None:
    run = replace(make_run(), results=(_nothing_measured(), *make_run().results))
    document = codec.run_to_dict(run)
    back = codec.run_from_dict(document)
    _same_document(codec.run_to_dict(back), document)
    assert math.isnan(back.results[0].summary.p50_us) and back.results[0].summary.ops == 0
    failed = next(r for r in back.results if r.summary is None)  # failed before measuring: no summary at all
    assert failed.tier == "redis" and failed.mode == "async"

    repo = RunRepository(tmp_path / "results.duckdb")
    repo.save(run)
    _same_document(codec.run_to_dict(repo.get_run(run.run_id)), document)


def test_the_document_is_the_documented_json_shape() -> None:
    document = codec.run_to_dict(make_run())
    assert list(document) == ["run_id", "status", "started_at", "finished_at", "label", "config", "environment",
                              "timer_overhead_ns", "results"]
    assert list(document["results"][0]) == [
        "tier", "mode", "concurrency", "ops", "errors", "hits", "misses", "mean_us", "stddev_us", "min_us", "p50_us",
        "p90_us", "p99_us", "p999_us", "max_us", "ops_per_sec", "wall_s", "hit_ratio", "hit_p50_us", "hit_p99_us",
        "miss_p50_us", "miss_p99_us", "p50_ci_low_us", "p50_ci_high_us", "cv_pct", "unstable",
        "client_cpu_us_per_read", "machine_cpu_pct", "target_rate", "achieved_rate", "late_reads", "intended_p50_us",
        "intended_p99_us", "intended_p999_us", "hit_mean_us", "miss_mean_us", "writes", "write_mean_us",
        "write_p50_us", "write_p99_us", "stale_reads", "stale_ratio", "max_stale_age_ms", "l1_hits", "l2_hits",
        "predicted_hit_ratio", "predicted_mean_us", "predicted_stale_ratio", "description", "status", "error",
        "server", "trials", "instances"]
    assert list(document["results"][0]["trials"][0]) == ["trial", *codec.STATS_FIELDS, "series"]
    assert document["started_at"] == "2025-01-31T14:05:07.123456+00:00"


def test_json_report_is_strict_json_and_zero_reads_for_an_unmeasured_tier() -> None:
    run = replace(make_run(), results=(_nothing_measured(), *make_run().results))
    doc = report.run_dict(run)
    text = json.dumps(doc, allow_nan=False)  # raises on NaN / inf
    assert json.loads(text) == doc
    assert doc["results"][0]["p50_us"] is None and doc["results"][0]["ops"] == 0  # measured nothing: NaN -> null
    failed = next(r for r in doc["results"] if r["tier"] == "redis" and r["mode"] == "async")
    assert (failed["ops"], failed["errors"], failed["p50_us"], failed["trials"]) == (0, 0, None, [])
    assert doc["environment"]["client_cpu_affinity"] == [1] and doc["config"]["keys"] == 500


# ---- Run <-> DuckDB --------------------------------------------------------------------------------


def test_run_to_duckdb_and_back_is_the_same_run(tmp_path: Path) -> None:
    run = make_run()
    repo = RunRepository(tmp_path / "results.duckdb")
    repo.save(run)
    loaded = repo.get_run(run.run_id)
    assert_same_run(run, loaded)
    assert codec.run_to_dict(loaded, samples=True) == codec.run_to_dict(run, samples=True)
    assert loaded.environment.extra == {"nested": {"none": None, "float": 0.1, "list": [1, "two", None]}}


def test_result_records_round_trip() -> None:
    run = make_run()
    for result in run.results:
        records = codec.result_records(result)
        assert [r["trial"] for r in records] == [0, *(t.trial for t in result.trials)]
        assert all(tuple(r) == codec.RESULT_FIELDS for r in records)
        (back,) = codec.results_from_records(records, [None, *(codec.TrialData(t.samples, t.miss_index, t.intended,
                                                                               t.series) for t in result.trials)])
        assert back == result
        for a, b in zip(back.trials, result.trials, strict=True):
            np.testing.assert_array_equal(a.samples, b.samples)


def test_ordered_insists_on_exactly_the_columns() -> None:
    assert codec.ordered({"b": 2, "a": 1}, ["a", "b"]) == (1, 2)
    with pytest.raises(ValueError, match=r"fields without a column \['c'\], columns without a value \[\]"):
        codec.ordered({"a": 1, "b": 2, "c": 3}, ["a", "b"])
    with pytest.raises(ValueError, match=r"columns without a value \['b'\]"):
        codec.ordered({"a": 1}, ["a", "b"])


# ---- the spool format of benchcore 0.1.0 -------------------------------------------------------------


def _v1_spool_document(run: Any) -> dict[str, Any]:
    """What benchcore 0.1.0 wrote into a spool file (storage.run_to_dict of schema version 1)."""
    def stats(s: Any) -> dict[str, Any] | None:
        return None if s is None else codec.stats_to_dict(s)

    return {
        "run_id": run.run_id, "started_at": run.started_at.isoformat(), "finished_at": run.finished_at.isoformat(),
        "status": run.status, "spec": run.spec.to_dict(), "environment": V1_ENVIRONMENT,
        "timer_overhead_ns": run.timer_overhead_ns,
        "results": [{"tier": r.tier, "mode": r.mode, "concurrency": r.concurrency, "description": r.description,
                     "status": r.status, "error": r.error, "summary": stats(r.summary),
                     "server": {"kind": r.server.kind, "address": r.server.address, "version": r.server.version},
                     "trials": [{"trial": t.trial, "stats": stats(t.stats)} for t in r.trials]}
                    for r in run.results],
    }


def _v1_figures(stats: Any) -> Any:
    if stats is None:
        return None
    return replace(stats, **dict.fromkeys(("hit_ratio", "hit_p50_us", "hit_p99_us", "miss_p50_us", "miss_p99_us",
                                           "p50_ci_low_us", "p50_ci_high_us", "cv_pct", "unstable",
                                           "client_cpu_us_per_read", "machine_cpu_pct", "target_rate",
                                           "achieved_rate", "late_reads", "intended_p50_us", "intended_p99_us",
                                           "intended_p999_us")))


def test_a_run_spooled_by_version_1_is_still_imported(tmp_path: Path) -> None:
    run = replace(make_run("old-spool"), environment=codec.environment_from_dict(V1_ENVIRONMENT))
    # Version 1 kept neither miss positions nor the hit/miss and repeat figures.
    run = replace(run, results=tuple(replace(r, summary=_v1_figures(r.summary), trials=tuple(
        replace(t, stats=_v1_figures(t.stats), miss_index=np.empty(0, np.int64), series=()) for t in r.trials))
        for r in run.results))
    repo = RunRepository(tmp_path / "results.duckdb")
    repo.spool_dir.mkdir()
    arrays = {codec.sample_key(i, j): t.samples for i, r in enumerate(run.results) for j, t in enumerate(r.trials)}
    np.savez(repo.spool_dir / "old-spool.npz", **arrays)  # type: ignore[arg-type]
    (repo.spool_dir / "old-spool.json").write_text(json.dumps({"spool_version": 1, "run": _v1_spool_document(run)}))
    assert repo.import_spool() == ["old-spool"]
    assert_same_run(run, repo.get_run("old-spool"))


# ---- the environment record ------------------------------------------------------------------------


def test_version_1_environment_reads_into_the_record_and_writes_back_the_same() -> None:
    env = codec.environment_from_dict(V1_ENVIRONMENT)
    assert env.cpu_affinity == (0, 1) and env.client_cpu_affinity == (0, 1) and env.timer_overhead_ns == 41.0
    assert env.benchcore_version == "0.1.0" and env.packages["duckdb"] == "2.0.1"
    assert env.servers["postgres"] == ServerEnvironment("external", "postgresql://postgres@127.0.0.1:5432/postgres",
                                                        "15.20")
    assert env.servers["redis"].placement == EmbeddedPlacement(cpu_affinity=(0,), pinned_cpus=None)
    assert env.native == () and env.extra == {}
    assert codec.environment_to_dict(env) == {**V1_ENVIRONMENT, "native": [], "progress_watched_pct": None}


def test_missing_keys_get_defaults_and_unknown_or_ill_typed_ones_are_kept() -> None:
    assert codec.environment_from_dict({}) == Environment() == codec.environment_from_dict(None)
    stored = {"hostname": "vm", "cpu_count": "two", "gpu": {"model": "none"}, "native": "nonsense"}
    env = codec.environment_from_dict(stored)
    assert env.hostname == "vm" and env.cpu_count is None and env.native == ()
    assert env.extra == {"cpu_count": "two", "gpu": {"model": "none"}, "native": "nonsense"}
    document = codec.environment_to_dict(env)
    assert {k: document[k] for k in stored} == stored  # nothing stored is lost
    assert codec.environment_from_dict(document) == env


def test_every_environment_field_round_trips() -> None:
    env = Environment(
        python="CPython 3.12.1", python_version="3.12.1", python_implementation="CPython", os="Linux-6.1",
        os_system="Linux", os_release="6.1.0", machine_arch="aarch64", hostname="box", cpu_model="Neoverse-N1",
        cpu_count=4, cpu_affinity=(0, 1, 2, 3), packages={"redis": "8.1.0"}, benchcore_version="0.2.0",
        servers={"redis": ServerEnvironment("embedded", "127.0.0.1:1", "7", EmbeddedPlacement((2,), (2,)))},
        client_cpu_affinity=(0,), timer_overhead_ns=55.5, native=({"tier": "redis", "native_p50_us": 20.0},),
        progress_watched_pct=37.5, extra={"future": [1, 2]})
    defaults = Environment()
    # A field added to Environment must be set here, so that this test checks the codec carries it.
    assert [f.name for f in fields(Environment) if getattr(env, f.name) == getattr(defaults, f.name)] == []
    document = codec.environment_to_dict(env)
    assert json.loads(json.dumps(document)) == document
    assert codec.environment_from_dict(json.loads(json.dumps(document))) == env
