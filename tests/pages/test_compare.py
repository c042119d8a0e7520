"""Compare runs page: empty state, two seeded runs -> charts, delta table, downloads, rename, delete."""

from __future__ import annotations

from benchcore.models import TIER_NAMES
from benchcore.results.storage import RunRepository
from benchcore.views import formatting as fmt
from tests.pages.conftest import app, charts_of, no_exceptions


def compare(db_path):
    return app().run().switch_page("pages/compare.py").run()


def test_empty_state_points_to_run_benchmark(db_path):
    at = compare(db_path)
    no_exceptions(at)
    assert any("No runs yet" in i.value for i in at.info)
    assert not charts_of(at)


def test_two_runs_charts_and_delta_table(seeded, db_path):
    at = compare(db_path)
    no_exceptions(at)
    baseline, after = seeded
    # Newest two selected by default.
    assert set(at.multiselect(key="runs").value) == {baseline.run_id, after.run_id}
    specs = charts_of(at)
    titles = [str(s.get("title", "")) for s in specs]
    assert any("per tier and run" in t for t in titles)
    assert any("sync vs async" in t for t in titles)
    assert any("ECDF" in t for t in titles)
    assert any("over time" in t for t in titles)
    runs_table = at.dataframe[0].value
    assert runs_table["Run id"].tolist() == [after.run_id, baseline.run_id]  # newest first
    table = at.dataframe[1].value
    assert list(table.columns) == ["Tier", "Mode", "p50 A (µs)", "p50 B (µs)", "p50 B/A", "p", "min effect",
                                   "trials A / B", "throughput A (ops/s)", "throughput B (ops/s)", "Verdict"]
    delta = table.set_index(["Tier", "Mode"])
    raw = delta.loc[("postgres-raw", "sync")]
    assert float(raw["p50 B/A"].removesuffix("x")) > 1.2
    assert raw["p"] == "0.008" and raw["trials A / B"] == "5 / 5"  # 5 trials each, fully separated
    assert raw["p50 A (µs)"].startswith("18") and "[" in raw["p50 A (µs)"]  # ~180 µs with its CI
    assert raw["Verdict"] == "slower"
    assert delta.loc[("redis", "async"), "Verdict"] == "failed in B"
    assert delta.loc[("redis", "async"), "p50 B (µs)"] == fmt.DASH
    assert "None" not in table.to_string()
    pairs = 2 * len(TIER_NAMES)
    sentence = (f"Run B against run A, of {pairs} tier x mode pairs: slower on {pairs - 1}, faster on 0, no significant"
                " change on 0, not compared on 1 (Mann-Whitney U on trial p50s, α = 0.05, minimum effect 5 %, the "
                "runs' CV or the machine's drift).")
    assert [m.value for m in at.markdown if m.value.startswith("Run B against")] == [sentence]
    assert not at.warning  # same machine, same servers: no environment warning


def test_swapping_a_and_b_says_faster(seeded, db_path):
    at = compare(db_path)
    baseline, after = seeded
    at.selectbox(key="run_a").set_value(after.run_id)
    at.selectbox(key="run_b").set_value(baseline.run_id).run()
    no_exceptions(at)
    delta = at.dataframe[1].value.set_index(["Tier", "Mode"])
    assert delta.loc[("memcached", "sync"), "Verdict"] == "faster"
    assert delta.loc[("redis", "async"), "Verdict"] == "failed in A"


def test_three_trials_each_can_show_no_significant_change_and_the_page_says_why(db_path):
    from datetime import UTC, datetime, timedelta

    from tests.pages.conftest import make_run

    t0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    repo = RunRepository(db_path)
    repo.save(make_run("three", t0, 1.0, tiers=("redis",), trials=3, seed=1))
    repo.save(make_run("three, twice as slow", t0 + timedelta(hours=1), 2.0, tiers=("redis",), trials=3, seed=2))
    at = compare(db_path)
    no_exceptions(at)
    delta = at.dataframe[1].value.set_index(["Tier", "Mode"])
    assert delta["Verdict"].tolist() == ["no significant change"] * 2
    assert delta["p"].tolist() == ["0.100"] * 2 and delta.loc[("redis", "sync"), "p50 B/A"].startswith("2.0")
    assert any("smallest possible p is 0.100" in c.value and "at least 4 trials" in c.value for c in at.caption)


def test_different_workloads_warn(db_path):
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    from tests.pages.conftest import make_run

    t0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    repo = RunRepository(db_path)
    repo.save(make_run("a", t0, tiers=("inprocess",), seed=1))
    run = make_run("b", t0 + timedelta(hours=1), tiers=("inprocess",), seed=2)
    repo.save(replace(run, spec=replace(run.spec, cold=True, seed=7)))
    at = compare(db_path)
    assert at.multiselect(key="runs").value == [run.run_id]  # no earlier run has its workload: not paired
    at.multiselect(key="runs").set_value([run.run_id, repo.list_runs()["run_id"].iloc[1]]).run()
    no_exceptions(at)
    warnings = [w.value for w in at.warning]
    assert any("caches warmed in A vs cold in B" in w for w in warnings)
    assert any("key seed 1 in A vs 7 in B" in w for w in warnings)


def test_filter_narrows_the_runs_table(seeded, db_path):
    at = compare(db_path)
    at.text_input(key="filter").set_value("baseline").run()
    no_exceptions(at)
    assert at.dataframe[0].value["Label"].tolist() == ["baseline"]


def test_one_run_selected_shows_charts_without_delta(seeded, db_path):
    at = compare(db_path)
    at.multiselect(key="runs").set_value([seeded[0].run_id]).run()
    no_exceptions(at)
    assert charts_of(at)
    assert len(at.dataframe) == 1  # runs table only
    assert any("second run" in c.value for c in at.caption)


def test_download_buttons(seeded, db_path):
    at = compare(db_path)
    no_exceptions(at)
    buttons = {b.proto.label: b.proto for b in at.get("download_button")}
    assert {"Summaries (CSV)", "Samples (Parquet)"} <= set(buttons)
    assert buttons["Summaries (CSV)"].url  # built eagerly: small
    assert buttons["Samples (Parquet)"].HasField("deferred_file_id")  # built on click: can be large


def test_rename_and_delete_with_confirmation(seeded, db_path):
    baseline, after = seeded
    at = compare(db_path)
    at.selectbox(key="manage_run").set_value(baseline.run_id).run()
    at.text_input(key=f"new_label_{baseline.run_id}").set_value("renamed baseline")
    at.button(key="rename").click().run()
    no_exceptions(at)
    repo = RunRepository(db_path)
    assert repo.get_run(baseline.run_id, with_samples=False).label == "renamed baseline"

    at.selectbox(key="manage_run@1").set_value(after.run_id).run()  # a rename draws every widget anew
    at.button(key="delete").click().run()
    assert any("cannot be undone" in w.value for w in at.warning)
    assert len(repo.list_runs()) == 2  # nothing deleted before the confirmation
    at.button(key="confirm_no").click().run()
    assert len(repo.list_runs()) == 2
    at.button(key="delete").click().run()
    at.button(key="confirm_yes").click().run()
    no_exceptions(at)
    assert repo.list_runs()["run_id"].tolist() == [baseline.run_id]
    assert any("deleted" in s.value for s in at.success)
    assert at.multiselect(key="runs@1").value == [baseline.run_id]


def test_label_with_markup_is_shown_as_text(db_path):
    from datetime import UTC, datetime

    from tests.pages.conftest import make_run

    run = make_run("<script>alert(1)</script> **bold**", datetime(2025, 1, 1, tzinfo=UTC), tiers=("inprocess",))
    RunRepository(db_path).save(run)
    at = compare(db_path)
    no_exceptions(at)
    assert at.dataframe[0].value["Label"].tolist() == ["<script>alert(1)</script> **bold**"]
    assert not any("<script>" in m.value for m in at.markdown)


def test_unusable_results_db_is_an_error_message_not_a_traceback(db_path):
    db_path.write_bytes(b"not a duckdb file" * 200)
    for page in ("pages/compare.py", "pages/home.py"):
        at = app().run().switch_page(page).run()
        assert not at.exception
        assert any("not a DuckDB database" in e.value for e in at.error), page
        assert not any("Traceback" in e.value for e in at.error)


def test_published_reference_run_is_added_and_held_against_a_run_with_the_method_differences(seeded, db_path):
    from benchcore import presets

    at = compare(db_path)
    at.button(key="add_published").click().run()
    no_exceptions(at)
    assert presets.PUBLISHED_ID in RunRepository(db_path).list_runs()["run_id"].tolist()
    ours = seeded[0].run_id
    at.multiselect(key="runs").set_value([presets.PUBLISHED_ID, ours]).run()
    at.selectbox(key="run_a").set_value(presets.PUBLISHED_ID)
    at.selectbox(key="run_b").set_value(ours).run()
    no_exceptions(at)
    assert any("Ratio of means" in m.value for m in at.markdown)
    assert any("BEGIN + SELECT + ROLLBACK" in m.value.replace("\\", "") for m in at.markdown)


def test_two_sweeps_compare_per_level_with_their_series_percentiles_and_sweep_charts(db_path):
    from benchcore.models import RunSpec, ServerInfo
    from benchcore.running.session import run_benchmark
    from benchcore.settings import Settings

    def no_postgres(s):
        return s, {"postgres": ServerInfo()}, {"postgres": "not used here"}

    repo = RunRepository(db_path)
    for label in ("sweep A", "sweep B"):
        spec = RunSpec(tiers=("inprocess",), ops=300, warmup=10, trials=3, keys=100, sweep=(1, 2), label=label)
        repo.save(run_benchmark(spec, Settings(), resolve=no_postgres))
    at = compare(db_path)
    no_exceptions(at)
    delta = at.dataframe[1].value
    assert delta[["Tier", "Mode"]].values.tolist() == [
        ["inprocess at C=1", "sync"], ["inprocess at C=1", "async"], ["inprocess at C=2", "sync"],
        ["inprocess at C=2", "async"]]
    titles = [str(s.get("title", "")) for s in charts_of(at)]
    for title in ("reads per second", "latency by percentile", "throughput vs concurrency (red ring: async "
                  "overtakes sync)", "p50 and p99 vs concurrency"):
        assert title in titles


# ---- what the page opens with, shared links, renames --------------------------------------------------------


def save_runs(db_path, *runs):
    repo = RunRepository(db_path)
    for run in runs:
        repo.save(run)
    return repo


def test_default_is_the_newest_run_and_the_newest_earlier_run_of_its_workload(db_path):
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    from tests.pages.conftest import make_run

    t0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    same = make_run("same workload", t0, tiers=("inprocess",), seed=1)
    other = make_run("other workload", t0 + timedelta(hours=1), tiers=("inprocess",), ops=300, seed=2)
    newest = make_run("newest", t0 + timedelta(hours=2), tiers=("inprocess",), seed=3)
    # A run cancelled before it measured anything (status failed, every tier cancelled) is passed over.
    stopped = make_run("stopped", t0 + timedelta(hours=3), tiers=("inprocess",), seed=4)
    stopped = replace(stopped, status="failed", results=tuple(
        replace(r, status="cancelled", summary=None, trials=()) for r in stopped.results))
    save_runs(db_path, same, other, newest, stopped)
    at = compare(db_path)
    no_exceptions(at)
    assert at.multiselect(key="runs").value == [same.run_id, newest.run_id]
    assert at.selectbox(key="run_a").value == same.run_id and at.selectbox(key="run_b").value == newest.run_id
    assert not at.warning  # same workload, same machine: nothing to warn about
    table = at.dataframe[0].value.set_index("Run id")
    assert table.loc[stopped.run_id, "Status"] == "cancelled"  # not "failed"
    assert {"Status", "Distribution", "Concurrency", "Trials"} <= set(table.columns)
    delta = at.dataframe[1].value
    assert {"throughput A (ops/s)", "throughput B (ops/s)"} <= set(delta.columns)
    assert all(v != "-" for v in delta["throughput B (ops/s)"])


def test_a_shared_runs_link_opens_that_comparison_and_the_page_shows_its_link(seeded, db_path):
    baseline, after = seeded
    at = app()
    at.query_params["runs"] = f"{after.run_id},{baseline.run_id[:8]},nosuchrun"
    at.run()
    at.switch_page("pages/compare.py").run()
    no_exceptions(at)
    assert at.multiselect(key="runs").value == [after.run_id, baseline.run_id]
    # The link's order is A then B: here the newer run is the baseline.
    assert at.selectbox(key="run_a").value == after.run_id and at.selectbox(key="run_b").value == baseline.run_id
    assert any("nosuchrun" in w.value and "Not stored here" in w.value for w in at.warning)
    links = [c.value for c in at.code]
    assert links == [f"/compare?runs={after.run_id},{baseline.run_id}"]
    assert at.query_params["runs"] == f"{after.run_id},{baseline.run_id}"
    # Swapping A and B is a new comparison: the address and the link follow.
    at.selectbox(key="run_a").set_value(baseline.run_id)
    at.selectbox(key="run_b").set_value(after.run_id).run()
    assert [c.value for c in at.code] == [f"/compare?runs={baseline.run_id},{after.run_id}"]
    assert at.query_params["runs"] == f"{baseline.run_id},{after.run_id}"


def test_rename_refreshes_every_selector_and_keeps_the_comparison(seeded, db_path):
    baseline, after = seeded
    at = compare(db_path)
    at.selectbox(key="run_a").set_value(after.run_id)
    at.selectbox(key="run_b").set_value(baseline.run_id).run()
    at.selectbox(key="manage_run").set_value(baseline.run_id).run()
    at.text_input(key=f"new_label_{baseline.run_id}").set_value("new name")
    at.button(key="rename").click().run()
    no_exceptions(at)
    assert any("renamed" in s.value for s in at.success)
    chips = at.multiselect(key="runs@1")
    assert chips.value == [baseline.run_id, after.run_id] or set(chips.value) == {baseline.run_id, after.run_id}
    shown = {chips.proto.options[i] for i in range(len(chips.proto.options))}
    assert any(o.startswith("new name · ") for o in shown) and not any(o.startswith("baseline") for o in shown)
    a, b = at.selectbox(key="run_a@1"), at.selectbox(key="run_b@1")
    assert (a.value, b.value) == (after.run_id, baseline.run_id)  # the choice survives the rename
    assert any(o.startswith("new name · ") for o in b.options) and not any(o.startswith("baseline") for o in b.options)
    assert at.selectbox(key="manage_run@1").value == baseline.run_id
    # The charts name it anew as well.
    assert any("new name · " in str(d) for d in charts_of(at))  # a legend's domain


def test_identical_stored_runs_set_the_drift_floor_and_the_page_says_so(db_path):
    from datetime import timedelta

    from tests.results.synthetic import T0
    from tests.results.synthetic import make_run as exact_run

    tight = (0.99, 1.0, 1.01, 0.995, 1.005)
    runs = [exact_run(f"run{i}", {("redis", "sync"): [p50 * f for f in tight]}, started=T0 + timedelta(hours=i))
            for i, p50 in enumerate((100.0, 118.0, 96.0, 115.0, 92.0, 100.0, 115.0))]
    save_runs(db_path, *runs)
    at = compare(db_path)  # the newest run against the newest earlier run of its workload
    no_exceptions(at)
    pair = at.dataframe[1].value.set_index(["Tier", "Mode"]).loc[("redis", "sync")]
    assert pair["p50 B/A"] == "1.15x" and pair["min effect"].startswith("drift ")
    assert pair["Verdict"] == "no significant change"
    assert any("from the 7 newest stored runs of this workload" in c.value for c in at.caption)
