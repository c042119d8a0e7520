"""Runs started at once against one results.duckdb: all complete and are saved; rows never interleave."""

from __future__ import annotations

import re

import duckdb
import pytest

from benchcore.results.storage import RunRepository
from tests.faults.conftest import Cli, small_run_args

PROCESSES = 3
OPS, TRIALS = 300, 2
TIERS, MODES = ("redis", "inprocess"), ("sync", "async")


@pytest.mark.servers
def test_simultaneous_cli_runs_are_all_saved_whole(cli: Cli, tmp_path):
    args = small_run_args("--tiers", ",".join(TIERS), "--ops", str(OPS), "--trials", str(TRIALS))
    procs = [cli.popen(*args, "--label", f"concurrent {i}") for i in range(PROCESSES)]
    outputs = [p.communicate(timeout=120) for p in procs]
    ids = []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "Traceback" not in out + err
        assert re.search(r"saved run [0-9a-f]{12} \(complete\)", err), err
        ids.append(re.search(r"^run ([0-9a-f]{12}): complete", out, re.M).group(1))
    assert len(set(ids)) == PROCESSES

    repo = RunRepository(tmp_path / "results.duckdb")
    listed = repo.list_runs()
    assert sorted(listed.run_id) == sorted(ids)
    per_run_rows = len(TIERS) * len(MODES) * (TRIALS + 1)  # one pooled row + one per trial
    for i, run_id in enumerate(ids):
        summary = repo.summaries(run_id, pooled_only=False)
        assert len(summary) == per_run_rows and set(summary.run_id) == {run_id}
        assert set(summary.label) == {f"concurrent {i}"}
        pooled = summary[summary.trial == 0]
        assert sorted(zip(pooled.tier, pooled["mode"], strict=True)) == sorted((t, m) for t in TIERS for m in MODES)
        assert (pooled.ops == OPS * TRIALS).all() and (pooled.errors == 0).all()
        samples = repo.samples(run_id)
        assert len(samples) == OPS * TRIALS * len(TIERS) * len(MODES) and set(samples.run_id) == {run_id}

    # Stored layout: each run's result ids are one contiguous block, each trial row owns exactly its samples.
    con = duckdb.connect(str(tmp_path / "results.duckdb"), read_only=True)
    try:
        blocks = con.execute("SELECT run_id, min(result_id), max(result_id), count(*) FROM results "
                             "GROUP BY run_id").fetchall()
        for _run_id, lo, hi, n in blocks:
            assert hi - lo + 1 == n == per_run_rows
        counts = con.execute("SELECT r.ops, count(s.latency_ns) FROM results r LEFT JOIN sample_values s "
                             "USING (result_id) WHERE r.trial > 0 GROUP BY r.result_id, r.ops").fetchall()
        assert counts and all(ops == n for ops, n in counts)
    finally:
        con.close()


@pytest.mark.servers
def test_cli_and_app_runs_at_once_are_both_saved(cli: Cli, tmp_path, monkeypatch, cli_env):
    from tests.faults.test_ui_faults import fill, finished, no_exception, open_page, wait_until

    for key, value in cli_env.items():
        monkeypatch.setenv(key, value)
    at = fill(open_page("pages/run.py"), tiers=("redis", "inprocess"), ops=OPS, label="from the app")
    proc = cli.popen(*small_run_args("--tiers", ",".join(TIERS), "--ops", str(OPS), "--label", "from the cli"))
    at.button(key="run").click().run()
    wait_until(at, finished)
    _, err = proc.communicate(timeout=120)
    no_exception(at)
    assert proc.returncode == 0, err
    assert any("saved to the results database" in s.value for s in at.success), [w.value for w in at.warning]

    repo = RunRepository(tmp_path / "results.duckdb")
    listed = repo.list_runs()
    assert sorted(listed.label) == ["from the app", "from the cli"]
    for run_id, label in zip(listed.run_id, listed.label, strict=True):
        summary = repo.summaries(run_id, pooled_only=False)
        assert set(summary.run_id) == {run_id} and set(summary.label) == {label}
        assert (summary[summary.trial == 0].ops == OPS).all()
