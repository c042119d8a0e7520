"""results.duckdb locked by another process, corrupt, or written by a newer benchcore.

Locked: the run retries the lock; if it stays locked the run goes to <db>.spool/ with a message saying how it
will be imported, and the next write imports it. Corrupt / newer schema: a clear one-line message, exit 1 or 2,
no traceback, and the file is byte-identical afterwards.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from benchcore.results.storage import RunRepository
from tests.faults.conftest import Cli, small_run_args
from tests.faults.helpers import stored_run

QUICK = small_run_args("--tiers", "inprocess", "--modes", "sync")


class Locker:
    """Another process holding DuckDB's read-write lock on `path` until release()."""

    def __init__(self, path: Path) -> None:
        code = ("import duckdb, sys; c = duckdb.connect(sys.argv[1]); c.execute('SELECT 1'); "
                "print('locked', flush=True); sys.stdin.read(); c.close()")
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "locked"

    def release(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(10)


@pytest.fixture
def locker():
    held: list[Locker] = []

    def lock(path: Path) -> Locker:
        held.append(Locker(path))
        return held[-1]

    yield lock
    for item in held:
        item.release()


def _run_id(stdout: str) -> str:
    found = re.search(r"^run ([0-9a-f]{12}): ", stdout, re.M)
    assert found, stdout
    return found.group(1)


def _no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text, text


@pytest.mark.servers
def test_locked_db_retries_then_saves(cli: Cli, tmp_path, locker):
    db = tmp_path / "results.duckdb"
    RunRepository(db).import_spool()  # nothing to import; just make sure the call is harmless
    lock = locker(db)
    proc = cli.popen(*QUICK)
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:  # non-tty progress: one line when the tier is done, then the save starts
        lines.append(line)
        if "inprocess (sync) done" in line:
            break
    time.sleep(1.0)  # the save is now waiting for the lock
    lock.release()
    out, err = proc.communicate(timeout=60)
    err = "".join(lines) + err
    assert proc.returncode == 0, err
    assert re.search(r"saved run [0-9a-f]{12} \(complete\)", err), err
    _no_traceback(out, err)
    assert RunRepository(db).list_runs().run_id.tolist() == [_run_id(out)]
    assert not (tmp_path / "results.duckdb.spool").exists()


@pytest.mark.servers
def test_locked_db_spools_and_imports_later(cli: Cli, tmp_path, locker):
    db = tmp_path / "results.duckdb"
    lock = locker(db)
    first = cli(*QUICK, timeout=90)  # waits out the lock timeout (10 s), then spools
    lock.release()
    _no_traceback(first.out, first.err)
    assert first.code == 1, first.text
    spooled_id = _run_id(first.out)
    message = [line for line in first.err.splitlines() if "not saved" in line]
    assert len(message) == 1, first.err  # one line ...
    assert "locked" in message[0] and "will be imported" in message[0]  # ... saying why and what happens next
    spool = tmp_path / "results.duckdb.spool"
    assert (spool / f"{spooled_id}.json").exists()

    second = cli(*QUICK)  # the next write imports the spooled run first
    assert second.code == 0, second.text
    listed = cli("runs")
    assert listed.code == 0
    assert spooled_id in listed.out and _run_id(second.out) in listed.out
    stored = RunRepository(db).get_run(spooled_id)
    assert stored.status == "complete"
    assert sum(len(t.samples) for r in stored.results for t in r.trials) == 200
    assert not spool.exists() or not list(spool.glob("*.json"))
    shown = cli("show", spooled_id)
    assert shown.code == 0 and spooled_id in shown.out


def _valid_db(path: Path) -> None:
    RunRepository(path).save(stored_run())


def _corrupt(kind: str, path: Path) -> None:
    if kind == "garbage":
        path.write_bytes(b"this is not a database\n" * 500)
    elif kind == "zeroed-header":
        _valid_db(path)
        data = bytearray(path.read_bytes())
        data[:4096] = bytes(4096)
        path.write_bytes(bytes(data))
    elif kind == "damaged-blocks":
        _valid_db(path)
        data = bytearray(path.read_bytes())
        data[12288:] = b"\xab" * (len(data) - 12288)  # every block after the three header blocks
        path.write_bytes(bytes(data))
    elif kind == "newer-schema":
        _valid_db(path)
        con = duckdb.connect(str(path))
        con.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
        con.close()
    elif kind == "foreign-duckdb":
        con = duckdb.connect(str(path))
        con.execute("CREATE TABLE invoices (id INTEGER, total DOUBLE)")
        con.execute("INSERT INTO invoices VALUES (1, 9.5)")
        con.close()
    else:
        raise AssertionError(kind)


EXPECT = {
    "garbage": "not a DuckDB database",
    "zeroed-header": "not a DuckDB database",
    "damaged-blocks": "results.duckdb",
    "newer-schema": "newer benchcore",
    "foreign-duckdb": "not a benchcore results database",
}


@pytest.mark.servers
@pytest.mark.parametrize("kind", list(EXPECT))
def test_unusable_db_is_reported_and_never_touched(kind, cli: Cli, tmp_path):
    db = tmp_path / "results.duckdb"
    _corrupt(kind, db)
    for extra in (db.with_name(db.name + ".wal"),):
        assert not extra.exists()
    before = hashlib.sha256(db.read_bytes()).hexdigest()

    # All three at once (each opens the file on its own): listing, showing, and a run that wants to save.
    procs = [cli.popen("runs"), cli.popen("show", "0123456789ab"), cli.popen(*QUICK)]
    results = [(p, *p.communicate(timeout=60)) for p in procs]
    for proc, out, err in results[:2]:
        _no_traceback(out, err)
        assert proc.returncode in (1, 2), out + err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("benchcore:"), err
        assert EXPECT[kind] in lines[0], lines[0]
        assert "untouched" in lines[0] or kind == "damaged-blocks", lines[0]
    proc, out, err = results[2]  # the run itself works; saving it is refused and it is kept aside instead
    _no_traceback(out, err)
    assert proc.returncode in (1, 2), out + err
    lines = [line for line in err.splitlines() if "not saved" in line]
    assert len(lines) == 1 and EXPECT[kind] in lines[0], err

    assert hashlib.sha256(db.read_bytes()).hexdigest() == before, "the database file was modified"
    assert not db.with_name(db.name + ".wal").exists()
