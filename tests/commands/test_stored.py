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
