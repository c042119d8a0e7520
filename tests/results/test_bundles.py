"""Run bundles (export / import) and the published reference run, through the real codec and storage."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from benchcore import cli, presets
from benchcore.errors import ConfigError
from benchcore.results import bundles
from benchcore.results.compare import MEANS_ONLY, NO_CHANGE, compare_runs
from benchcore.results.storage import RunRepository
from tests.results.synthetic import make_run

P50S = {("redis", "sync"): [50.0, 52.0, 51.0, 49.0, 50.5], ("postgres-orm", "async"): [400.0, 410.0, 405.0, 398.0]}


def _stored(tmp_path: Path) -> RunRepository:
    repo = RunRepository(tmp_path / "a.duckdb")
    repo.save(make_run("run-a", P50S, label="shipped"))
    return repo


@pytest.mark.parametrize("name", ["bundle.json", "bundle.json.gz"])
def test_export_then_import_into_a_fresh_database_reproduces_the_summaries(tmp_path: Path, name: str) -> None:
    repo = _stored(tmp_path)
    path = tmp_path / name
    bundles.export_run(repo, "run-a", path)
    assert (path.read_bytes()[:2] == bundles.GZIP_MAGIC) == name.endswith(".gz")
    fresh = RunRepository(tmp_path / "fresh.duckdb")
    run, added = bundles.import_bytes(fresh, path.read_bytes())
    assert added and run.run_id == "run-a"
    original, imported = repo.summaries("run-a", pooled_only=False), fresh.summaries("run-a", pooled_only=False)
    assert original.equals(imported)
    assert repo.samples("run-a").equals(fresh.samples("run-a"))
    comparison = compare_runs(repo.get_run("run-a"), fresh.get_run("run-a"))
    assert {p.verdict for p in comparison.pairs} == {NO_CHANGE} and not comparison.warnings
    again, added = bundles.import_bytes(fresh, path.read_bytes())
    assert again.run_id == "run-a" and not added  # idempotent by run id
    assert fresh.list_runs()["run_id"].tolist() == ["run-a"]


def test_a_bundle_without_samples_keeps_every_summary(tmp_path: Path) -> None:
    repo = _stored(tmp_path)
    data = bundles.to_bytes(repo.get_run("run-a"), samples=False)
    fresh = RunRepository(tmp_path / "fresh.duckdb")
    bundles.import_bytes(fresh, data)
    assert repo.summaries("run-a").equals(fresh.summaries("run-a")) and fresh.samples("run-a").empty


def test_a_newer_or_foreign_file_is_refused_in_one_line(tmp_path: Path) -> None:
    repo = _stored(tmp_path)
    newer = json.loads(bundles.to_bytes(repo.get_run("run-a")))
    newer["bundle_format"] = bundles.BUNDLE_FORMAT + 1
    with pytest.raises(ConfigError, match="newer benchcore") as info:
        bundles.from_bytes(gzip.compress(json.dumps(newer).encode()))
    assert "\n" not in str(info.value)
    for junk in (b"not json", b"{}", b"[1]"):
        with pytest.raises(ConfigError, match="not a benchcore run bundle"):
            bundles.from_bytes(junk)


def test_cli_export_and_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _stored(tmp_path)
    out = tmp_path / "r.json"
    assert cli.main(["export", "run-", "-o", str(out), "--db", str(tmp_path / "a.duckdb")]) == 0
    assert cli.main(["import", str(out), str(out), "--db", str(tmp_path / "b.duckdb")]) == 0
    printed = capsys.readouterr().out
    assert "imported: run run-a" in printed and "already stored: run run-a" in printed
    assert cli.main(["import", str(tmp_path / "missing.json"), "--db", str(tmp_path / "b.duckdb")]) == 2


def test_the_published_run_is_read_only_and_compares_as_a_ratio_of_means(tmp_path: Path) -> None:
    repo = _stored(tmp_path)
    assert presets.ensure_published(repo) and not presets.ensure_published(repo)
    published = repo.get_run(presets.PUBLISHED_ID)
    assert presets.is_reference(published) and published.label == presets.PUBLISHED_LABEL
    orm = next(r for r in published.results if r.tier == "postgres-orm" and r.mode == "sync")
    assert orm.summary is not None and (orm.summary.mean_us, orm.summary.ops_per_sec) == (1051.61, 951)
    for refused in (lambda: repo.delete(presets.PUBLISHED_ID), lambda: repo.rename(presets.PUBLISHED_ID, "x")):
        with pytest.raises(ConfigError, match="read-only reference run"):
            refused()
    ours = make_run("ours", {("postgres-orm", "sync"): [500.0] * 3})
    comparison = compare_runs(published, ours)
    pair = next(p for p in comparison.pairs if p.tier == "postgres-orm" and p.mode == "sync")
    assert pair.verdict == MEANS_ONLY and pair.ratio == pytest.approx(ours.results[0].summary.mean_us / 1051.61)
    assert any("reference run" in n for n in comparison.notes)


def test_the_seed_preset_sets_the_blog_method_and_flags_win() -> None:
    from benchcore.models import RunSpec

    spec = presets.apply("seed", RunSpec(ops=100), given={"ops"})
    assert (spec.keys, spec.ops, spec.distribution, spec.trials, spec.warmup) == (5000, 100, "sequential", 1, 0)
    assert (spec.serializer, spec.loop, spec.preset) == ("orjson", "uvloop", "seed")
    assert set(spec.tiers) == set(presets.SEED_TIERS) and "postgres-core" in spec.tiers
    assert RunSpec.from_dict({}).connection == "held"  # stored before the option: every tier held its connection
