"""Unreachable host, wrong port, wrong password, missing database, a server that never answers.

Each must give a clear message within 3 seconds naming the URL with its password redacted, both in
run_benchmark's TierResult.error and on the CLI's stderr; the known password appears in no output.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from benchcore.running.session import run_benchmark
from benchcore.urls import redact
from tests.faults.conftest import KNOWN_PASSWORD, Cli, make_settings, small_run_args
from tests.faults.helpers import result, spec
from tests.faults.servers import PG_PASSWORD_DB, PG_PASSWORD_USER, FullBacklog, SilentListener, closed_port

P = KNOWN_PASSWORD
WRONG = "Wr0ng-" + P  # contains P: a leaked wrong password is caught by the same search
TIER_OF = {"postgres": "postgres-raw", "redis": "redis", "memcached": "memcached"}
LIMIT_S = 3.0
TIMEOUT = ("timeout", "timed out", "no answer within")


@dataclass(frozen=True)
class Case:
    backend: str
    url: str
    expect: tuple[str, ...]  # one of these fragments of the reason must reach the user
    slow: bool = False  # a timeout: run one mode only to keep the suite fast


@pytest.fixture(scope="module")
def silent() -> Iterator[SilentListener]:
    listener = SilentListener()
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def backlog() -> Iterator[FullBacklog]:
    listener = FullBacklog()
    yield listener
    listener.close()


CASES = [
    "pg-closed-port", "pg-other-loopback-host", "pg-silent", "pg-connect-hangs", "pg-wrong-password",
    "pg-missing-database", "pg-wrong-port-is-redis",
    "redis-closed-port", "redis-silent", "redis-connect-hangs", "redis-wrong-password", "redis-missing-database",
    "redis-wrong-port-is-memcached",
    "mc-closed-port", "mc-silent", "mc-connect-hangs", "mc-wrong-port-is-redis",
]


def make_case(name: str, pg, redis_srv, redis_pw, mc_srv, silent, backlog) -> Case:
    closed = closed_port()
    return {
        "pg-closed-port": Case("postgres", f"postgresql://postgres:{P}@127.0.0.1:{closed}/postgres",
                               ("Connection refused",)),
        # Another address of the loopback network: nothing listens there, so it is refused at once.
        "pg-other-loopback-host": Case("postgres", f"postgresql://postgres:{P}@127.0.0.9:{pg.port}/postgres",
                                       ("Connection refused",)),
        "pg-silent": Case("postgres", f"postgresql://postgres:{P}@127.0.0.1:{silent.port}/postgres", TIMEOUT,
                          slow=True),
        "pg-connect-hangs": Case("postgres", f"postgresql://postgres:{P}@127.0.0.1:{backlog.port}/postgres",
                                 TIMEOUT, slow=True),
        "pg-wrong-password": Case("postgres", pg.url(PG_PASSWORD_USER, WRONG, PG_PASSWORD_DB),
                                  ("password authentication failed",)),
        "pg-missing-database": Case("postgres", pg.url("postgres", P, "no_such_db"),
                                    ('database "no_such_db" does not exist',)),
        "pg-wrong-port-is-redis": Case("postgres", f"postgresql://postgres:{P}@127.0.0.1:{redis_srv.port}/postgres",
                                       TIMEOUT, slow=True),
        "redis-closed-port": Case("redis", f"redis://:{P}@127.0.0.1:{closed}/0", ("Connection refused",)),
        "redis-silent": Case("redis", f"redis://:{P}@127.0.0.1:{silent.port}/0", TIMEOUT, slow=True),
        "redis-connect-hangs": Case("redis", f"redis://:{P}@127.0.0.1:{backlog.port}/0", TIMEOUT, slow=True),
        "redis-wrong-password": Case("redis", f"redis://:{WRONG}@127.0.0.1:{redis_pw.port}/0", ("password",)),
        "redis-missing-database": Case("redis", f"redis://:{P}@127.0.0.1:{redis_pw.port}/99",
                                       ("DB index is out of range",)),
        "redis-wrong-port-is-memcached": Case("redis", f"redis://:{P}@127.0.0.1:{mc_srv.port}/0", ("Protocol error",)),
        "mc-closed-port": Case("memcached", f"memcached://u:{P}@127.0.0.1:{closed}", ("Connection refused",)),
        "mc-silent": Case("memcached", f"memcached://127.0.0.1:{silent.port}", TIMEOUT, slow=True),
        "mc-connect-hangs": Case("memcached", f"memcached://127.0.0.1:{backlog.port}", TIMEOUT, slow=True),
        "mc-wrong-port-is-redis": Case("memcached", f"memcached://127.0.0.1:{redis_srv.port}",
                                       ("unexpected response", "unexpected answer", "reset by peer")),
    }[name]


@pytest.mark.servers
@pytest.mark.parametrize("name", CASES)
def test_unreachable_target_message(name, tmp_path, pg, redis_srv, redis_pw, mc_srv, silent, backlog):
    case = make_case(name, pg, redis_srv, redis_pw, mc_srv, silent, backlog)
    urls = {"postgres": pg.url(), "redis": redis_srv.url, "memcached": mc_srv.url, case.backend: case.url}
    settings = make_settings(tmp_path, urls["postgres"], urls["redis"], urls["memcached"])
    tier = TIER_OF[case.backend]
    modes = ("async",) if case.slow and name.startswith("redis") else ("sync",) if case.slow else ("sync", "async")
    for mode in modes:
        t0 = time.monotonic()
        run = run_benchmark(spec(tiers=(tier,), modes=(mode,)), settings)
        elapsed = time.monotonic() - t0
        r = result(run, tier, mode)
        assert r.status == "failed" and run.status == "failed"
        assert r.error is not None
        assert redact(case.url) in r.error, r.error  # names the URL ...
        assert P not in r.error and P not in repr(run.environment)  # ... without its password
        assert any(e.lower() in r.error.lower() for e in case.expect), r.error  # and says why
        assert "Traceback" not in r.error and "\n" not in r.error
        assert elapsed < LIMIT_S, f"{name} ({mode}): message after {elapsed:.2f} s"


@pytest.fixture(scope="module")
def cli_startup_s() -> float:
    """How long `python -m benchcore` takes to start and do nothing much (not part of the 3 s budget)."""
    import subprocess
    import sys

    from tests.faults.conftest import ROOT

    t0 = time.monotonic()
    subprocess.run([sys.executable, "-c", "import benchcore.cli, benchcore.running.session, benchcore.results.storage, "
                    "benchcore.tiers.postgres, benchcore.tiers.redis, benchcore.tiers.memcached"],
                   cwd=ROOT, check=True)
    return time.monotonic() - t0


CLI_CASES = ["pg-closed-port", "pg-wrong-password", "pg-missing-database", "pg-silent", "redis-closed-port",
             "redis-wrong-password", "mc-closed-port"]


@pytest.mark.servers
def test_unreachable_targets_via_cli(tmp_path, cli: Cli, pg, redis_srv, redis_pw, mc_srv, silent,
                                     backlog):
    flags = {"postgres": "--postgres-url", "redis": "--redis-url", "memcached": "--memcached-url"}
    started = {}
    for name in CLI_CASES:  # all at once: each is its own process with its own results file
        case = make_case(name, pg, redis_srv, redis_pw, mc_srv, silent, backlog)
        args = small_run_args("--tiers", TIER_OF[case.backend], "--modes", "sync", flags[case.backend], case.url,
                              "--db", str(tmp_path / f"{name}.duckdb"))
        started[name] = (case, 0.0, cli.popen(*args))
    for name, (case, _, proc) in started.items():
        out, err = proc.communicate(timeout=60)
        text = out + err
        assert proc.returncode == 1, (name, text)  # the run finished, a tier failed
        assert redact(case.url) in err, (name, err)
        assert any(e.lower() in err.lower() for e in case.expect), (name, err)
        assert P not in text, name
        assert "Traceback" not in text, name


@pytest.mark.servers
def test_silent_server_via_cli_within_limit(tmp_path, cli: Cli, cli_startup_s, pg, redis_srv, redis_pw, mc_srv,
                                            silent, backlog):
    """The slowest case end to end, alone: a server that accepts and never answers."""
    case = make_case("pg-silent", pg, redis_srv, redis_pw, mc_srv, silent, backlog)
    res = cli(*small_run_args("--tiers", "postgres-raw", "--modes", "sync", "--postgres-url", case.url))
    assert res.code == 1 and redact(case.url) in res.err and P not in res.text
    assert res.seconds - cli_startup_s < LIMIT_S, f"{res.seconds:.2f} s (start-up {cli_startup_s:.2f} s)"
