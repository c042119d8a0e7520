"""The benchmark scripts run end to end at tiny sizes against the real servers (test table and key prefix)."""

from __future__ import annotations

import json
import math
import shutil
import statistics

import pytest

from tests.conftest import TEST_PREFIX, TEST_TABLE

pytestmark = pytest.mark.servers
SMALL = ["--table", TEST_TABLE, "--key-prefix", TEST_PREFIX]


@pytest.fixture
def servers(postgres_url: str, redis_url: str, memcached_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for var, url in (("BENCHCORE_POSTGRES_URL", postgres_url), ("BENCHCORE_REDIS_URL", redis_url),
                     ("BENCHCORE_MEMCACHED_URL", memcached_url)):
        monkeypatch.setenv(var, url)


def _server_affinities(urls: dict[str, str]) -> dict[str, dict[int, set[int]]]:
    from benchmarks import _util

    found = {}
    for backend, url in urls.items():
        pid = _util.listening_pid(_util.host_port(url, backend)[1])
        if pid is not None:
            found[backend] = _util.thread_affinities(pid, tree=backend == "postgres")
    return found


def test_fidelity_reports_every_tier_and_mode(servers: None, capsys: pytest.CaptureFixture[str],
                                              postgres_url: str, redis_url: str, memcached_url: str) -> None:
    import os

    from benchmarks import fidelity

    urls = {"postgres": postgres_url, "redis": redis_url, "memcached": memcached_url}
    client_before, servers_before = os.sched_getaffinity(0), _server_affinities(urls)
    rows = fidelity.main(["--rounds", "1", "--ops", "20", "--inprocess-ops", "500", "--keys", "50", *SMALL])
    assert [(r["tier"], r["mode"]) for r in rows] == list(fidelity.PAIRS)
    for r in rows:
        assert r["benchcore_p50_us"] > 0 and r["bare_p50_us"] > 0 and math.isfinite(r["ratio"]), r
        assert r["misses"] == 0, r  # benchcore's prepare() warmed every key the bare loops read
    out = capsys.readouterr().out
    assert "| tier" in out and "command: python" in out and "machine:" in out and "placement: " in out
    if "placement: pinned" in out:  # the default when the local servers are found: all put back afterwards
        assert all(r["pinned_cpu"] == min(client_before) for r in rows)
        assert out.count("\n  restored ") == 1 + len(servers_before), out
    assert os.sched_getaffinity(0) == client_before
    after = _server_affinities(urls)
    for backend, threads in servers_before.items():  # threads alive before and after: same affinity
        assert {t: c for t, c in after[backend].items() if t in threads} == \
            {t: c for t, c in threads.items() if t in after[backend]}, backend


def test_fidelity_no_pin_touches_nothing(servers: None, capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import fidelity

    rows = fidelity.main(["--rounds", "1", "--ops", "10", "--inprocess-ops", "300", "--keys", "20",
                          "--tiers", "redis,inprocess", "--no-pin", *SMALL])
    assert {r["tier"] for r in rows} == {"redis", "inprocess"} and all(r["pinned_cpu"] is None for r in rows)
    out = capsys.readouterr().out
    assert "placement: not pinned (--no-pin)" in out and "restored" not in out


def test_pinned_restores_a_process_tree_including_children_born_while_pinned() -> None:
    """_util.pinned on a real process tree: all on one CPU inside, each one's own affinity after."""
    import os
    import subprocess
    import sys

    import psutil

    from benchmarks import _util

    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        pytest.skip("needs two CPUs")
    # A parent with one child at once and one more when told (a new PostgreSQL backend, in miniature).
    code = ("import subprocess, sys\n"
            "kids = [subprocess.Popen(['sleep', '60'])]\n"
            "print(kids[0].pid, flush=True)\n"
            "sys.stdin.readline()\n"
            "kids.append(subprocess.Popen(['sleep', '60']))\n"
            "print(kids[1].pid, flush=True)\n"
            "sys.stdin.readline()\n"
            "[k.kill() for k in kids]\n")
    parent = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None and parent.stdin is not None
        first = int(parent.stdout.readline())
        os.sched_setaffinity(first, {allowed[0]})  # a child with its own, narrower affinity
        cpu = allowed[-1]
        lines: list[str] = []
        with _util.pinned([_util.PinTarget("tree", parent.pid, tree=True)], cpu, log=lines.append) as done:
            assert done[0].children == [first]
            parent.stdin.write("\n")
            parent.stdin.flush()
            second = int(parent.stdout.readline())
            for pid in (parent.pid, first, second):
                assert os.sched_getaffinity(pid) == {cpu}
        assert os.sched_getaffinity(parent.pid) == set(allowed)
        assert os.sched_getaffinity(first) == {allowed[0]}  # its own affinity, not the parent's
        assert os.sched_getaffinity(second) == set(allowed)  # born pinned: gets the root's original
        assert len(lines) == 1 and lines[0].startswith("  restored tree") and "started while pinned" in lines[0]
    finally:
        for p in psutil.Process(parent.pid).children(recursive=True):
            p.kill()
        parent.kill()
        parent.wait()


@pytest.mark.skipif(not (shutil.which("redis-benchmark") and shutil.which("pgbench")),
                    reason="redis-benchmark / pgbench not installed")
def test_native_writes_json_and_saves_the_run_it_measured(servers: None, tmp_path, monkeypatch) -> None:
    from benchcore.results.storage import RunRepository
    from benchcore.views.presentation import native_figures
    from benchmarks import native

    out, db = tmp_path / "native.json", tmp_path / "results.duckdb"
    monkeypatch.setenv("BENCHCORE_DB", str(tmp_path / "not-this.duckdb"))  # --db wins over BENCHCORE_DB
    doc = native.main(["--rounds", "2", "--ops", "50", "--keys", "50", "--out", str(out), "--db", str(db), *SMALL])
    stored = json.loads(out.read_text())
    assert stored == doc and stored["format"] == native.NATIVE_FORMAT
    pairs = {("redis", "sync"), ("redis", "async"), ("postgres-raw", "sync"), ("postgres-raw", "async")}
    assert {(r["tier"], r["mode"]) for r in stored["results"]} == pairs
    for r in stored["results"]:
        assert r["native_p50_us"] > 0 and r["python_p50_us"] > 0 and len(r["ratios"]) == 2
        # The headline ratio is the median of the per-round ratios, by construction (never compared with
        # the ratio of median p50s: that holds only when the rounds agree, i.e. on a quiet machine).
        assert r["ratio"] == pytest.approx(statistics.median(r["ratios"]), abs=1e-3)
        assert all(x > 0 for x in r["ratios"])
        assert TEST_TABLE in r["native_command"] or r["tier"] != "redis"

    # The saved run is the one measured in the chosen round, and its figures match its own p50s.
    assert stored["saved_to"] == str(db) and not (tmp_path / "not-this.duckdb").exists()
    run = RunRepository(db).get_run(stored["run_id"], with_samples=False)
    assert run.label == native.LABEL and run.spec.table == TEST_TABLE and run.status == "complete"
    figures = native_figures(run.environment)
    assert set(figures) == pairs
    for result in run.results:
        figure = figures[(result.tier, result.mode)]
        assert result.summary is not None
        assert figure["python_p50_us"] == pytest.approx(result.summary.p50_us, abs=1e-3)
        assert figure["ratio"] == pytest.approx(figure["python_p50_us"] / figure["native_p50_us"], rel=1e-3)
        assert figure["round"] == stored["saved_round"] and figure["native_tool"]


@pytest.mark.skipif(not (shutil.which("redis-benchmark") and shutil.which("pgbench")),
                    reason="redis-benchmark / pgbench not installed")
def test_native_no_save_stores_nothing(servers: None, tmp_path) -> None:
    from benchmarks import native

    db = tmp_path / "results.duckdb"
    doc = native.main(["--rounds", "1", "--ops", "20", "--keys", "20", "--out", str(tmp_path / "n.json"),
                       "--db", str(db), "--no-save", *SMALL])
    assert doc["saved_to"] is None and doc["run_id"] and not db.exists()


def test_scale_small(servers: None, tmp_path) -> None:
    from benchmarks import scale

    figures = scale.main(["--runs", "3", "--samples-per-trial", "5", "--big", "1000", "--rss-reads", "2000",
                          "--skip-full-run", "--dir", str(tmp_path), *SMALL])
    assert figures["runs"] == 3 and figures["compare_cold_s"] > 0 and figures["save_big_s"] > 0
    assert figures["rss_peak_mib"] > figures["rss_after_imports_mib"] > 0


def test_placement_moves_only_the_client(servers: None) -> None:
    import os

    from benchmarks import placement

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs")
    before = os.sched_getaffinity(0)
    rows = placement.main(["--rounds", "1", "--ops", "20", "--no-pin-server", *SMALL])
    assert os.sched_getaffinity(0) == before  # the client's affinity is put back
    assert {r["backend"] for r in rows} == {"redis", "memcached", "postgres (raw SELECT)"}
    assert all(r["same"] > 0 and r["other"] > 0 for r in rows)


def test_native_saves_the_round_nearest_the_medians() -> None:
    from benchmarks import native

    ratios = {("redis", "sync"): [1.0, 2.0, 9.0], ("postgres-raw", "sync"): [3.0, 2.1, 2.0]}
    assert native.closest_round(ratios) == 1  # medians 2.0 and 2.1: round 2 has both
    assert native.closest_round({("redis", "sync"): [5.0]}) == 0


@pytest.mark.skipif(not (shutil.which("redis-benchmark") and shutil.which("pgbench") and shutil.which("redis-server")),
                    reason="redis-benchmark, pgbench and redis-server are needed for every section")
def test_load_reports_every_done_when(servers: None, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import load

    doc = load.main(["--quick", "--duration", "2", "--rate", "500", "--ops", "200", "--levels", "1,2", "--keys",
                     "100", "--out", str(tmp_path / "load.json"), *SMALL])
    assert json.loads((tmp_path / "load.json").read_text())["format"] == load.FORMAT
    assert doc["open"]["target_rate"] == 500.0 and doc["open"]["reads"] == 1000
    assert isinstance(doc["open"]["within_2_pct"], bool)
    stall = doc["stall"]
    assert stall["stall_second"] is not None and sum(s["reads"] for s in stall["series"]) == 2000
    assert stall["intended_p999_us"] >= 100_000  # a 200 ms pause shows from the intended start, whatever the noise
    clients = {r["client"] for r in doc["processes"]["rows"]}
    assert clients == {"sync x1", "sync x2", "async x1", "async x2", "redis-benchmark"}
    assert "of redis-benchmark" in doc["processes"]["verdict"]
    sweep = doc["sweep"]
    assert {(r["tier"], r["mode"], r["concurrency"]) for r in sweep["rows"]} == {
        (t, m, c) for t in ("postgres-raw", "redis", "memcached") for m in ("sync", "async") for c in (1, 2)}
    assert len(sweep["knees"]) == 6 and not sweep["failed"]
    assert all(r["native_ops_per_sec"] for r in sweep["rows"] if r["tier"] != "memcached")
    out = capsys.readouterr().out
    for heading in ("## 1. Open loop", "## 2. A 200 ms stall", "## 3. Past one Python process", "## 4. The sweep"):
        assert heading in out
