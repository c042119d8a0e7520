"""Case 4 (and case 8's --db): a bad --json or --db path is refused before the run starts; a JSON write that fails
after the run (a full disk: /dev/full) says so, exits 1, and the run is saved anyway (it is saved first).

"Nothing ran" is checked by what a run always leaves: the one-line estimate on stderr, progress lines, a run id on
stdout and a results database.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from benchcore.results.storage import RunRepository
from tests.faults.conftest import Cli, Result, small_run_args

RUN = ("--tiers", "inprocess", "--modes", "sync")


def _refused_before_running(res: Result, fragment: str, db: Path) -> None:
    assert res.code == 2, res.text
    assert "Traceback" not in res.text
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("benchcore: error:") and fragment in lines[0], res.err
    assert res.out == "" and "timed reads" not in res.err  # no estimate, no progress, no results: nothing ran
    assert not db.exists()


def _bad_paths(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """name: (path, fragment of the message). /sys refuses new files even to root; /proc/version is a file."""
    (tmp_path / "a-directory").mkdir()
    return {
        "directory": (str(tmp_path / "a-directory"), "is a directory"),
        "missing-parent": (str(tmp_path / "no-such-dir" / "out"), "does not exist"),
        "parent-is-a-file": ("/proc/version/out", "is not a directory"),
        "unwritable": (f"/sys/benchcore-{os.getpid()}-out", "cannot write"),
    }


@pytest.mark.servers
@pytest.mark.parametrize("flag", ["--json", "--db"])
def test_bad_output_path_is_refused_before_the_run(flag, cli: Cli, tmp_path):
    db = tmp_path / "results.duckdb"
    procs = {}
    for name, (path, fragment) in _bad_paths(tmp_path).items():
        suffix = ".json" if flag == "--json" else ".duckdb"
        target = path if name == "directory" else path + suffix
        procs[name] = (fragment, cli.popen(*small_run_args(*RUN, flag, target)))
    for name, (fragment, proc) in procs.items():
        out, err = proc.communicate(timeout=60)
        try:
            _refused_before_running(Result(proc.returncode, out, err, 0.0), fragment, db)
        except AssertionError as exc:
            raise AssertionError(f"{flag} {name}: {exc}") from None


@pytest.mark.servers
def test_json_write_failing_after_the_run_keeps_the_run_saved(cli: Cli, tmp_path):
    res = cli(*small_run_args(*RUN, "--json", "/dev/full"))  # opens fine, every write is ENOSPC
    assert res.code == 1, res.text
    assert "Traceback" not in res.text
    run_id = re.search(r"^run ([0-9a-f]{12}): ", res.out, re.M).group(1)
    assert f"saved run {run_id} (complete)" in res.err
    assert f"writing /dev/full failed: No space left on device; run {run_id} is saved" in res.err, res.err
    assert RunRepository(tmp_path / "results.duckdb").list_runs().run_id.tolist() == [run_id]


@pytest.mark.servers
def test_json_to_a_good_path_and_to_stdout(cli: Cli, tmp_path):
    out = tmp_path / "out.json"
    res = cli(*small_run_args(*RUN, "--json", str(out)))
    assert res.code == 0, res.text
    assert json.loads(out.read_text())["status"] == "complete"
    piped = cli(*small_run_args(*RUN, "--json", "/dev/stdout"))  # a device, not a file in a writable directory
    assert piped.code == 0, piped.text
    assert '"run_id"' in piped.out
