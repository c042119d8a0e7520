"""Run benchmark page: a small real run driven through the widgets, then results, charts and the save."""

from __future__ import annotations

import re
import time

from benchcore.results.storage import RunRepository
from benchcore.views import formatting as fmt
from tests.conftest import TEST_PREFIX, TEST_TABLE
from tests.pages.conftest import app, charts_of, finished, no_exceptions, wait_until

TAIL_ADVICE = ("This panel updates every 10 s, so that its redraws stay out of p99 and max. For the truest tails, go "
               "to another page or tab: the run goes on in its own process and is saved, and this page shows it when "
               "you come back.")


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
    assert at.multiselect(key="tiers").value == ["postgres-orm", "postgres-core", "postgres-raw", "redis", "memcached",
                                                 "inprocess"]
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
    assert any("A browser redrew the progress during" in c.value for c in at.caption)  # wait_until polled it
    tables = [d.value for d in at.dataframe]
    assert len(tables) == 2  # sync and async
    for table in tables:
        assert table["Storage layer"].tolist() == ["redis", "inprocess"]
        assert list(table.columns)[:3] == ["Storage layer", "Avg latency (µs)", "Throughput (ops/sec)"]
        p50s = table["p50 (µs)"].str.split(" ").str[0].str.replace(",", "").astype(float)
        assert (p50s > 0).all() and table["p50 (µs)"].str.contains(r"\[").all()  # two trials: a CI
        assert table["CV (%)"].ne(fmt.DASH).all() and table["stability"].ne(fmt.DASH).all()
        row = table.set_index("Storage layer").loc["inprocess"]
        assert row["hits / misses (reads)"] == "300 / 0" and row["hit ratio (%)"] == "100.0"
        assert row["miss p50 (µs)"] == fmt.DASH  # warmed: no misses
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
    wait_until(at, lambda a: any("inprocess" in s.label and "trial" in s.label for s in a.expander), timeout_s=30)
    status = next(e for e in at.expander if e.label.startswith("Running:"))
    assert status.label.startswith("Running: inprocess") and "trial" in status.label
    assert status.icon == ":material/hourglass_top:"  # running, and no animation redrawing 60 times a second
    assert at.get("progress")
    assert any(c.value == TAIL_ADVICE for c in at.caption)  # a long run: a slow redraw, and how to avoid even that
    assert at.button(key="run").disabled
    # Another session (a second tab) sees the same running job and cannot start a second one.
    other = fill_small(run_page(), tiers=("inprocess",), ops=10)
    assert other.button(key="run").disabled
    assert any(e.label.startswith("Running: inprocess") for e in other.expander)
    at.button(key="cancel").click().run()
    wait_until(at, finished)
    assert any("cancelled" in w.value for w in at.warning)
    assert len(RunRepository(db_path).list_runs()) == 1


def test_leaving_the_page_mid_run_keeps_the_run_and_coming_back_shows_it(db_path):
    at = fill_small(run_page(), tiers=("inprocess",), ops=300_000)
    at.button(key="run").click().run()
    wait_until(at, lambda a: any("trial" in s.label for s in a.expander), timeout_s=30)
    at.switch_page("pages/compare.py").run()  # what TAIL_ADVICE suggests: nothing on this page polls the run
    no_exceptions(at)
    assert not [e for e in at.expander if e.label.startswith("Running:")]
    deadline = time.monotonic() + 60
    while RunRepository(db_path).list_runs().empty:  # the run finishes and is saved with no page watching it
        assert time.monotonic() < deadline, "the run was not saved while the page was away"
        time.sleep(0.3)
    at.switch_page("pages/run.py").run()
    wait_until(at, finished)
    no_exceptions(at)
    assert any("saved to the results database" in s.value for s in at.success)
    assert [d.value["Storage layer"].tolist() for d in at.dataframe] == [["inprocess"], ["inprocess"]]


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
    at.multiselect(key="tiers").set_value([]).run()
    assert not at.exception
    assert any("no tiers given" in e.value for e in at.error)
    assert at.button(key="run").disabled


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


def test_a_sweep_from_the_run_page_shows_its_table_sentences_and_charts(db_path):
    at = fill_small(run_page(), tiers=("inprocess",), ops=120)
    at.radio(key="load").set_value("Concurrency sweep").run()
    assert "concurrency" not in [n.key for n in at.number_input]  # the levels replace it
    at.multiselect(key="levels").set_value([1, 2, 4]).run()
    assert any("x 3 concurrency levels x 120 reads" in c.value for c in at.caption)
    at.button(key="run").click().run()
    wait_until(at, finished)
    no_exceptions(at)
    (table,) = [d.value for d in at.dataframe]
    assert table[["Tier", "Mode", "Concurrency"]].values.tolist() == [
        ["inprocess", m, c] for c in (1, 2, 4) for m in ("sync", "async")]
    assert (table["knee"] != "").sum() == 2  # one knee per mode
    sentences = [m.value.replace("\\", "") for m in at.markdown]  # shown as typed: Markdown escaped
    assert any(s.startswith("- inprocess (sync): knee at concurrency") for s in sentences)
    assert any("inprocess: async" in s for s in sentences)
    titles = [s.get("title") for s in charts_of(at)]
    assert titles[:4] == ["throughput vs concurrency (red ring: async overtakes sync)", "p50 and p99 vs concurrency",
                          "the knee: throughput vs p99 (red ring: the knee of each tier x mode)",
                          "client CPU per read and the machine's CPU use vs concurrency"]
    assert "latency by percentile" in titles and "reads per second" in titles
    run = RunRepository(db_path).get_run(RunRepository(db_path).list_runs().run_id[0], with_samples=False)
    assert run.spec.sweep == (1, 2, 4) and sorted({r.concurrency for r in run.results}) == [1, 2, 4]


def test_an_open_loop_from_the_run_page_shows_who_kept_up(db_path):
    at = fill_small(run_page(), tiers=("inprocess",), ops=100)
    at.radio(key="load").set_value("Open loop (target rate)").run()
    at.number_input(key="rate").set_value(400.0)
    at.number_input(key="duration").set_value(0.5)
    at.selectbox(key="arrival").set_value("poisson").run()
    assert any("x 2 trials x 200 reads" in c.value for c in at.caption)  # rate x duration per trial
    at.button(key="run").click().run()
    wait_until(at, finished)
    no_exceptions(at)
    assert any(s.value == "Open loop" for s in at.subheader)
    open_loop = next(d.value for d in at.dataframe if "target (reads/s)" in d.value.columns)
    assert open_loop["target (reads/s)"].tolist() == ["400", "400"]
    assert open_loop["kept up"].str.match(r"^(yes|no: )").all()
    at.radio(key="series_metric").set_value("intended_p99_us").run()
    no_exceptions(at)
    assert "p99 from the intended start, each second" in [s.get("title") for s in charts_of(at)]
    run = RunRepository(db_path).get_run(RunRepository(db_path).list_runs().run_id[0])
    assert (run.spec.rate, run.spec.duration_s, run.spec.arrival) == (400.0, 0.5, "poisson")
    assert all(t.intended.size == 200 for r in run.results for t in r.trials)


def shown(elements) -> list[str]:
    """Element texts as the user reads them (the page escapes Markdown in stored and computed text)."""
    return [re.sub(r"\\(.)", r"\1", e.value) for e in elements]


def test_out_of_range_input_blocks_run_and_names_the_field(db_path):
    at = run_page()
    at.number_input(key="ops").set_value(99_999_999).run()
    no_problem = shown(at.error)
    assert not at.exception
    assert at.number_input(key="ops").value == 99_999_999  # kept as typed, not silently replaced by the last value
    assert any("Reads per trial must be between 1 and 10,000,000, got 99,999,999" in e for e in no_problem), no_problem
    assert at.button(key="run").disabled
    at.number_input(key="ops").set_value(500).run()
    no_exceptions(at)
    assert not at.button(key="run").disabled


def test_the_form_estimates_duration_and_memory(db_path):
    at = run_page()
    no_exceptions(at)
    captions = " ".join(shown(at.caption))
    assert "This run makes 120,000 timed reads" in captions and "MB of memory at peak" in captions
    assert "typical times for postgres-orm (sync)" in captions  # nothing stored yet: typical figures


def test_cancel_is_amber_and_a_stopped_tier_says_after_how_many_reads(db_path):
    at = fill_small(run_page(), tiers=("inprocess",), ops=2_000_000)
    at.button(key="run").click().run()
    wait_until(at, lambda a: any("trial" in s.label for s in a.expander), timeout_s=30)
    progress = at.get("progress")[0].proto.text
    assert "elapsed" in progress and "left" in progress, progress  # an ETA while it runs
    at.button(key="cancel").click().run()
    wait_until(at, finished)
    assert not at.success  # a cancelled run is never a green success
    texts = shown(at.warning)
    assert any("cancelled: stopped after" in t and "timed reads" in t for t in texts), texts
    assert not any("did not run" in t and "inprocess (sync)" in t for t in texts), texts
    assert any("Stopped part-way: inprocess (sync) after" in t for t in texts), texts


def test_failed_tiers_with_one_reason_share_one_warning(db_path, monkeypatch):
    monkeypatch.setenv("BENCHCORE_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("BENCHCORE_EMBEDDED", "never")
    at = fill_small(run_page(), ops=100)
    at.button(key="run").click().run()
    wait_until(at, finished)
    no_exceptions(at)
    assert not at.success
    redis = [w for w in shown(at.warning) if "redis" in w and "did not run" in w]
    assert len(redis) == 1 and "redis (sync), redis (async) did not run" in redis[0], redis
    assert any("partial: stopped after 400 of 800 timed reads" in w for w in shown(at.warning))


def test_a_fresh_tab_shows_the_latest_stored_run(seeded, db_path):
    at = run_page()
    no_exceptions(at)
    assert any(s.value == "Latest stored run" for s in at.subheader)
    assert any("after change" in c for c in shown(at.caption))  # seeded[1], the newer run
    assert any("partial" in w.value for w in at.warning)  # its redis async failed: amber, not green
    assert len(at.dataframe) == 2 and charts_of(at)
    assert any("Compare" in str(link.proto.label) for link in at.get("page_link"))



def test_after_enough_identical_runs_the_page_says_how_far_they_drift(db_path):
    from dataclasses import replace
    from datetime import timedelta

    at = fill_small(run_page(), tiers=("inprocess",))
    at.button(key="run").click().run()
    wait_until(at, finished)
    no_exceptions(at)
    assert not any("drift apart" in c.value for c in at.caption)  # one stored run: nothing known yet
    repo = RunRepository(db_path)
    run = repo.get_run(repo.list_runs()["run_id"].iloc[0])
    for k in range(1, 5):  # four more runs of the same workload, on the same machine
        repo.save(replace(run, run_id=f"{run.run_id[:8]}{k:04d}", started_at=run.started_at - timedelta(hours=k)))
    at.run()
    no_exceptions(at)
    assert any(c.value.startswith("Identical runs of this workload on this machine drift apart: from the 5 newest")
               for c in at.caption)
