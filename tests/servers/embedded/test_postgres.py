"""Embedded PostgreSQL: loopback only, password required, root-safe, reusable, one slot per process."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import psutil
import psycopg2
import pytest

from benchcore.servers import embedded
from benchcore.servers.embedded import postgres
from benchcore.servers.embedded._fs import is_root
from tests.conftest import TEST_TABLE
from tests.servers.embedded.helpers import closed_settings, python_child, wait_gone


def _listening(pid: int) -> list[tuple[str, int]]:
    return [c.laddr[:2] for c in psutil.Process(pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]


def test_listens_on_loopback_tcp_only_and_requires_the_password(data_dir: Path) -> None:
    server = embedded.start("postgres", closed_settings(data_dir, "always"))

    addresses = _listening(server.pid)
    assert addresses and {host for host, _ in addresses} == {"127.0.0.1"}
    assert not [c for c in psutil.Process(server.pid).net_connections(kind="unix") if c.status == "LISTEN"]
    assert not list(server.data_dir.glob(".s.PGSQL.*")) if server.data_dir else True
    port = addresses[0][1]
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(f"postgresql://postgres:wrong@127.0.0.1:{port}/postgres", connect_timeout=3)


@pytest.mark.skipif(not is_root(), reason="the server account and /var/tmp layout are used only as root")
def test_as_root_runs_unprivileged_and_loosens_no_home_directory(data_dir: Path) -> None:
    home = Path.home()
    before = stat.S_IMODE(home.stat().st_mode)

    server = embedded.start("postgres", closed_settings(data_dir, "always"))

    assert stat.S_IMODE(home.stat().st_mode) == before  # /root stays 0700 here
    assert psutil.Process(server.pid).username() == postgres.SERVER_ACCOUNT
    assert server.data_dir is not None and not server.data_dir.is_relative_to(home)
    assert not server.data_dir.is_relative_to(data_dir)
    st, server_account = server.data_dir.stat(), postgres.account(postgres.SERVER_ACCOUNT)
    assert server_account is not None
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == server_account.uid
    exe = Path(psutil.Process(server.pid).exe())
    assert not exe.is_relative_to(home)  # runs the mirrored binaries, not the ones under ~/.pyenv
    password = server.data_dir.parent / "password"
    assert stat.S_IMODE(password.stat().st_mode) == 0o600 and password.stat().st_uid == os.geteuid()


def test_data_survives_a_restart_and_the_warm_start_skips_initdb(data_dir: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    helpers_run: list[str] = []  # every short helper the start runs (postgres --version, initdb)
    run_once = postgres.run_once

    def recording_run_once(argv: list[str], **kwargs: Any) -> str:
        helpers_run.append(Path(argv[0]).name)
        return run_once(argv, **kwargs)

    monkeypatch.setattr(postgres, "run_once", recording_run_once)
    settings = closed_settings(data_dir, "always")
    cold = embedded.start("postgres", settings)
    assert "initdb" in helpers_run
    with psycopg2.connect(cold.url) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {TEST_TABLE} (id int primary key)")
        cur.execute(f"INSERT INTO {TEST_TABLE} VALUES (7)")
    conn.close()
    embedded.stop_embedded()
    assert wait_gone([cold.pid]) == []

    helpers_run.clear()
    warm = embedded.start("postgres", settings)
    assert helpers_run and "initdb" not in helpers_run  # the cluster is reused, not made afresh
    with psycopg2.connect(warm.url) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT id FROM {TEST_TABLE}")
        assert cur.fetchall() == [(7,)]
    conn.close()
    assert warm.data_dir == cold.data_dir and warm.pid != cold.pid
    print(f"\nembedded PostgreSQL: cold start {cold.startup_s:.3f} s, warm start {warm.startup_s:.3f} s")


_OTHER_PROCESS = """
import json, sys, time
from pathlib import Path
from benchcore.servers import embedded
from tests.servers.embedded.helpers import closed_settings
server = embedded.start("postgres", closed_settings(Path(sys.argv[1]), "always"))
print(json.dumps({"pid": server.pid, "pgdata": str(server.data_dir), "url": server.url}), flush=True)
time.sleep(30)
"""


def test_two_processes_with_one_data_dir_each_get_their_own_server(data_dir: Path) -> None:
    mine = embedded.start("postgres", closed_settings(data_dir, "always"))
    child = python_child(_OTHER_PROCESS, str(data_dir))
    try:
        assert child.stdout is not None and child.stderr is not None
        line = child.stdout.readline()
        assert line, child.stderr.read()
        theirs = json.loads(line)
        assert theirs["pgdata"] != str(mine.data_dir)  # the next slot: dashboard and CLI side by side
        for url in (mine.url, theirs["url"]):
            conn = psycopg2.connect(url, connect_timeout=3)
            conn.close()
    finally:
        child.terminate()
        child.wait(15)
    assert wait_gone([theirs["pid"]]) == []
    assert embedded.running("postgres") == mine  # ours is untouched
