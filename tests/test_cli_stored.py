"""The commands on stored runs (benchcore/commands/stored.py): rename, delete, unique id prefixes, the runs listing.

Stored runs only, built by tests.results.synthetic: no server needed.
"""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import timedelta

import pytest

from benchcore import presets
from benchcore.cli import EXIT_BAD_INPUT, EXIT_OK, main
from benchcore.results.storage import RunNotFound, RunRepository
from tests.results.synthetic import T0, make_run

PAIRS = {("redis", "sync"): [100.0, 101.0, 99.0], ("inprocess", "sync"): [0.4, 0.41, 0.39]}


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def db(tmp_path):
    """aaa111 (complete, 'baseline'), aaa222 (a partial zipf sweep), bbb333 (failed); newest last."""
    path = tmp_path / "r.duckdb"
    repo = RunRepository(path)
    repo.save(make_run("aaa111", PAIRS, label="baseline"))
    repo.save(replace(make_run("aaa222", PAIRS, started=T0 + timedelta(hours=1), distribution="zipf",
                               sweep=(1, 4, 16)), status="partial"))
    repo.save(replace(make_run("bbb333", {("redis", "sync"): [100.0, 101.0]}, started=T0 + timedelta(hours=2)),
                      status="failed"))
    return path


def _one_line_error(code: int, out: str, err: str, needle: str) -> None:
    assert code == EXIT_BAD_INPUT and out == ""
    assert needle in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_rename_takes_a_unique_prefix_and_stores_the_label(db):
    code, out, err = run_cli("rename", "aaa1", "after the upgrade", "--db", str(db))
    assert code == EXIT_OK, err
    assert out == "renamed run aaa111: 'baseline' -> 'after the upgrade'\n"
    repo = RunRepository(db)
    run = repo.get_run("aaa111", with_samples=False)
    assert run.label == "after the upgrade" and run.spec.label == "after the upgrade"
    assert repo.get_run("aaa222", with_samples=False).label == ""  # only the named run changed
    code, out, _ = run_cli("rename", "aaa111", "", "--db", str(db))
    assert code == EXIT_OK and out.endswith("-> no label\n")
    assert RunRepository(db).get_run("aaa111", with_samples=False).label == ""


@pytest.mark.parametrize(("label", "needle"), [
    ("bad\x1b[31m", "must not contain control characters"),
    ("x" * 201, "200"),
])
def test_rename_refuses_a_bad_label_and_changes_nothing(db, label, needle):
    _one_line_error(*run_cli("rename", "aaa111", label, "--db", str(db)), needle)
    assert RunRepository(db).get_run("aaa111", with_samples=False).label == "baseline"


def test_delete_without_yes_refuses_and_keeps_the_run(db):
    code, out, err = run_cli("delete", "bbb", "--db", str(db))
    _one_line_error(code, out, err, "not deleted: add --yes to delete run bbb333 (no label, failed, started "
                                    "2025-06-01 11:00:00 UTC, 1 result(s))")
    assert "bbb333" in RunRepository(db).list_runs().run_id.tolist()


def test_delete_yes_removes_only_that_run(db):
    code, out, err = run_cli("delete", "aaa2", "--yes", "--db", str(db))
    assert code == EXIT_OK, err
    assert out.startswith("deleted run aaa222 (no label, partial, started 2025-06-01 10:00:00 UTC, 2 result(s))")
    repo = RunRepository(db)
    assert repo.list_runs().run_id.tolist() == ["bbb333", "aaa111"]
    with pytest.raises(RunNotFound):
        repo.get_run("aaa222")
    assert set(repo.summaries().run_id) == {"aaa111", "bbb333"} and set(repo.samples("aaa222").run_id) == set()
    # The same id again: nothing left to delete, said as bad input.
    _one_line_error(*run_cli("delete", "aaa222", "--yes", "--db", str(db)), "no run with an id starting with 'aaa222'")


@pytest.mark.parametrize("command", ["rename", "delete"])
def test_the_published_reference_run_is_read_only(db, command):
    assert presets.ensure_published(RunRepository(db))
    argv = ["rename", "published", "mine"] if command == "rename" else ["delete", "published", "--yes"]
    _one_line_error(*run_cli(*argv, "--db", str(db)), "is a read-only reference run")
    assert RunRepository(db).get_run(presets.PUBLISHED_ID, with_samples=False).label == presets.PUBLISHED_LABEL


# Every command that takes a run id takes any unique start of one, and says the same when it is not one.
RUN_ID_COMMANDS = {
    "show": ["show", "{id}"],
    "show --json": ["show", "{id}", "--json"],
    "compare A": ["compare", "{id}", "bbb3"],
    "compare B": ["compare", "bbb3", "{id}"],
    "export": ["export", "{id}", "-o", "{tmp}/x.json"],
    "rename": ["rename", "{id}", "new"],
    "delete": ["delete", "{id}", "--yes"],
    "advise --from-run": ["advise", "--keys", "1000", "--from-run", "{id}"],
}


def _argv(command: str, run_id: str, tmp_path) -> list[str]:
    return [a.format(id=run_id, tmp=tmp_path) for a in RUN_ID_COMMANDS[command]]


@pytest.mark.parametrize("command", RUN_ID_COMMANDS)
def test_every_run_id_argument_refuses_an_unknown_or_ambiguous_prefix(db, tmp_path, command):
    _one_line_error(*run_cli(*_argv(command, "nope", tmp_path), "--db", str(db)),
                    "no run with an id starting with 'nope'")
    _one_line_error(*run_cli(*_argv(command, "aaa", tmp_path), "--db", str(db)),
                    "run id 'aaa' is ambiguous: it starts 2 run ids: aaa222")
    assert RunRepository(db).list_runs().run_id.tolist() == ["bbb333", "aaa222", "aaa111"]  # nothing changed
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("command", ["show", "show --json", "compare A", "export", "rename", "delete"])
def test_every_run_id_argument_takes_a_unique_prefix(db, tmp_path, command):
    code, out, err = run_cli(*_argv(command, "aaa1", tmp_path), "--db", str(db))
    assert code in (EXIT_OK, 1), err  # compare may find a difference; it must not be bad input
    assert "aaa111" in out + err


def test_runs_lists_status_distribution_concurrency_and_trials(db):
    code, out, err = run_cli("runs", "--db", str(db))
    assert code == EXIT_OK, err
    header, _rule, *rows = out.splitlines()
    assert header.split() == ["run", "id", "started", "(UTC)", "status", "label", "tiers", "modes", "distribution",
                              "concurrency", "trials", "ops", "machine"]
    by_id = {row.split()[0]: row.split() for row in rows}
    assert list(by_id) == ["bbb333", "aaa222", "aaa111"]
    # run id, date, time, status, [label,] tiers, modes, distribution, concurrency, trials, ops
    assert by_id["bbb333"][3:10] == ["failed", "redis", "sync,async", "uniform", "1", "2", "2,000"]
    assert by_id["aaa222"][3:10] == ["partial", "redis,inprocess", "sync,async", "zipf", "1,4,16", "3", "2,000"]
    assert by_id["aaa111"][3:11] == ["complete", "baseline", "redis,inprocess", "sync,async", "uniform", "1", "3",
                                     "2,000"]
    code, out, _ = run_cli("runs", "--db", str(db), "--limit", "1")
    assert code == EXIT_OK and "bbb333" in out and "aaa" not in out
