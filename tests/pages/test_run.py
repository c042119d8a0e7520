"""Run benchmark page: a small real run driven through the widgets, then results, charts and the save."""

from __future__ import annotations

from benchcore.results.storage import RunRepository
from tests.conftest import TEST_PREFIX, TEST_TABLE
from tests.pages.conftest import app, charts_of, finished, no_exceptions, wait_until


def run_page():
    return app().run().switch_page("pages/run.py").run()


def fill_small(at, tiers=("inprocess", "redis"), ops=150):
    at.multiselect(key="tiers").set_value(list(tiers))
    at.number_input(key="ops").set_value(ops)
    at.number_input(key="warmup").set_value(20)
    at.number_input(key="trials").set_value(2)
    at.number_input(key="keys").set_value(500)
    at.text_input(key="table").set_value(TEST_TABLE)
    at.text_input(key="key_prefix").set_value(TEST_PREFIX)
    at.text_input(key="label").set_value("apptest")
    return at


def test_defaults_are_all_tiers_and_a_short_run(db_path):
    at = run_page()
    no_exceptions(at)
    assert at.multiselect(key="tiers").value == ["postgres-orm", "postgres-raw", "redis", "memcached", "inprocess"]
    assert at.multiselect(key="modes").value == ["sync", "async"]
    assert at.number_input(key="ops").value == 2000
    assert at.number_input(key="trials").value == 5
    assert at.button(key="run").label == "Run benchmark"


def test_run_small_benchmark_shows_tables_charts_and_saves(db_path, redis_url):
    at = fill_small(run_page())
    at.button(key="run").click().run()
    no_exceptions(at)
    wait_until(at, finished)
    no_exceptions(at)
    assert any("saved to the results database" in s.value for s in at.success)
    tables = [d.value for d in at.dataframe]
    assert len(tables) == 2  # sync and async
    for table in tables:
        assert table["Storage layer"].tolist() == ["redis", "inprocess"]
        assert list(table.columns)[:3] == ["Storage layer", "Avg latency (µs)", "Throughput (ops/sec)"]
        p50s = table["p50 (µs)"].str.split(" ").str[0].str.replace(",", "").astype(float)
        assert (p50s > 0).all() and table["p50 (µs)"].str.contains(r"\[").all()  # two trials: a CI
        assert table["CV (%)"].ne("-").all() and table["stability"].ne("-").all()
        row = table.set_index("Storage layer").loc["inprocess"]
        assert row["hits / misses (reads)"] == "300 / 0" and row["hit ratio (%)"] == "100.0"
        assert row["miss p50 (µs)"] == "-"  # warmed: no misses
        assert row["samples (reads)"] == 300 and row["errors (reads)"] == 0
        assert "None" not in table.to_string()
    specs = charts_of(at)
    titles = [s.get("title") for s in specs]
    assert titles[2:] == ["latency by percentile", "reads per second"] and len(specs) == 4
    assert any(s["encoding"]["x"]["scale"]["type"] == "log" for s in specs if "encoding" in s)
    runs = RunRepository(db_path).list_runs()
    assert runs["label"].tolist() == ["apptest"]
    assert any("Compare" in str(link.proto.label) for link in at.get("page_link"))


def test_second_click_while_running_does_not_start_another(db_path):
    at = fill_small(run_page(), tiers=("inprocess",), ops=2_000_000)
    at.button(key="run").click().run()
    no_exceptions(at)
    wait_until(at, lambda a: any("inprocess" in s.label and "trial" in s.label for s in a.status), timeout_s=30)
    status = at.status[0]
    assert status.label.startswith("Running: inprocess") and "trial" in status.label
    assert status.icon == "spinner"  # still running, not shown as complete
    assert at.get("progress")
    assert at.button(key="run").disabled
    # Another session (a second tab) sees the same running job and cannot start a second one.
    other = fill_small(run_page(), tiers=("inprocess",), ops=10)
    assert other.button(key="run").disabled
    assert other.status and other.status[0].label.startswith("Running: inprocess")
    at.button(key="cancel").click().run()
    wait_until(at, finished)
    assert any("cancelled" in w.value for w in at.warning)
    assert len(RunRepository(db_path).list_runs()) == 1


def test_failed_tier_warns_and_others_still_show(db_path, monkeypatch):
    monkeypatch.setenv("BENCHCORE_REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    monkeypatch.setenv("BENCHCORE_EMBEDDED", "never")
    at = fill_small(run_page(), ops=100)
    at.button(key="run").click().run()
    wait_until(at, finished)
    no_exceptions(at)
    assert any("redis" in w.value for w in at.warning)
    assert [d.value["Storage layer"].tolist() for d in at.dataframe] == [["inprocess"], ["inprocess"]]
    summaries = RunRepository(db_path).summaries()
    assert set(summaries.loc[summaries["tier"] == "redis", "status"]) == {"failed"}


def test_invalid_input_is_an_error_not_a_traceback(db_path):
    at = run_page()
    at.multiselect(key="tiers").set_value([])
    at.button(key="run").click().run()
    assert not at.exception
    assert any("no tiers given" in e.value for e in at.error)


def test_pinning_the_client_is_recorded_with_the_run(db_path):
    import os

    cpu = min(os.sched_getaffinity(0))
    at = fill_small(run_page(), tiers=("inprocess",), ops=100)
    at.multiselect(key="cpus").set_value([cpu])
    at.button(key="run").click().run()
    wait_until(at, finished)
    no_exceptions(at)
    repo = RunRepository(db_path)
    run = repo.get_run(repo.list_runs().run_id[0], with_samples=False)
    assert run.spec.cpus == (cpu,)
    assert run.environment.client_cpu_affinity == (cpu,)
