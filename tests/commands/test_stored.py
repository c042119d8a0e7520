"""`runs`: the listing says what Compare says about a run its user stopped."""

from __future__ import annotations

import io
from dataclasses import replace

from benchcore.cli import EXIT_OK, main
from benchcore.results.storage import RunRepository
from tests.results.synthetic import make_run


def test_runs_lists_a_stopped_run_as_cancelled_never_failed(tmp_path):
    db = tmp_path / "r.duckdb"
    repo = RunRepository(db)
    stopped_late = make_run("aaaaaaaaaaaa", {("redis", "sync"): [100.0, 101.0], ("redis", "async"): [90.0]},
                            status={("redis", "async"): "cancelled"})
    repo.save(replace(stopped_late, status="partial"))
    stopped_early = make_run("bbbbbbbbbbbb", {("redis", "sync"): []}, status={("redis", "sync"): "cancelled"})
    repo.save(replace(stopped_early, status="failed"))  # stopped during preparation: nothing measured
    repo.save(make_run("cccccccccccc", {("redis", "sync"): [100.0]}))
    out = io.StringIO()
    assert main(["runs", "--db", str(db)], out=out, err=io.StringIO()) == EXIT_OK
    status = {line.split()[0]: line for line in out.getvalue().splitlines() if line[:12].isalnum()}
    assert "partial, cancelled" in status["aaaaaaaaaaaa"]
    assert " cancelled " in status["bbbbbbbbbbbb"] and "failed" not in status["bbbbbbbbbbbb"]
    assert "complete" in status["cccccccccccc"] and "cancelled" not in status["cccccccccccc"]


def test_compare_raises_the_floor_to_the_drift_of_identical_stored_runs_and_says_so(tmp_path):
    """Six identical runs that drift ±15 % between them: a 15 % slowdown with tight trials is not called, and
    the gate stays open; two runs alone would have called it."""
    from datetime import timedelta

    from benchcore.cli import EXIT_TIER_FAILED
    from tests.results.synthetic import T0

    db = tmp_path / "r.duckdb"
    repo = RunRepository(db)
    tight = (0.99, 1.0, 1.01, 0.995, 1.005)
    for i, p50 in enumerate((100.0, 118.0, 96.0, 115.0, 92.0, 100.0)):
        repo.save(make_run(f"run{i}", {("redis", "sync"): [p50 * f for f in tight]}, started=T0 + timedelta(hours=i)))
    repo.save(make_run("slow", {("redis", "sync"): [115.0 * f for f in tight]}, started=T0 + timedelta(hours=9)))

    def compare(a: str, b: str, path: str) -> tuple[int, str]:
        out = io.StringIO()
        return main(["compare", a, b, "--db", path], out=out, err=io.StringIO()), out.getvalue()

    code, text = compare("run5", "slow", str(db))
    assert code == EXIT_OK, text
    line = next(row for row in text.splitlines() if row.startswith("redis"))
    assert "1.15x" in line and "drift" in line and line.rstrip().endswith("no significant change")
    assert "from the 7 newest stored runs of this workload" in text and "within drift" in text
    two = tmp_path / "two.duckdb"
    for run_id in ("run5", "slow"):
        RunRepository(two).save(repo.get_run(run_id))
    code, text = compare("run5", "slow", str(two))
    assert code == EXIT_TIER_FAILED and "drift between identical runs on this machine is not known yet" in text
