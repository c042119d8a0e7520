"""Overview page: empty state, and the latest run at a glance."""

from __future__ import annotations

from benchcore.views import formatting as fmt
from tests.pages.conftest import app, charts_of, no_exceptions


def test_empty_state(db_path):
    at = app().run()
    no_exceptions(at)
    assert any("No runs yet" in i.value for i in at.info)
    assert not charts_of(at)


def test_latest_run_summary(seeded, db_path):
    at = app().run()
    no_exceptions(at)
    latest = seeded[1]
    assert any(latest.run_id[:6] in t.value and "after change" in t.value for t in at.text)
    assert len(charts_of(at)) == 1
    sync_table = at.dataframe[0].value
    assert sync_table["Storage layer"].tolist()[0] == "postgres-orm"
    assert "redis" not in at.dataframe[1].value["Storage layer"].tolist()  # redis async failed
    assert any("redis" in w.value and "refused" in w.value for w in at.warning)
    assert "6399" in " ".join(w.value for w in at.warning)  # the reason is shown, escaped but intact
    assert any(m.label == "Stored runs" and m.value == "2" for m in at.metric)


def test_native_figures_of_the_latest_run_sit_next_to_their_tier(db_path):
    from dataclasses import replace
    from datetime import UTC, datetime

    from benchcore.results.storage import RunRepository
    from tests.pages.conftest import make_run

    run = make_run("native comparison", datetime(2025, 3, 2, 9, 0, tzinfo=UTC), tiers=("postgres-raw", "redis"),
                   trials=1, seed=3)
    figures = (
        {"tier": "redis", "mode": "sync", "native_tool": "redis-benchmark 7.0.15", "native_p50_us": 40.0,
         "python_p50_us": 160.0, "ratio": 4.0, "median_ratio": 3.9, "rounds": 5},
        {"tier": "postgres-raw", "mode": "async", "native_tool": "pgbench 15 --protocol=prepared",
         "native_p50_us": 50.0, "python_p50_us": 200.0, "ratio": 4.0, "median_ratio": 4.1, "rounds": 5},
    )
    RunRepository(db_path).save(replace(run, environment=replace(run.environment, native=figures)))
    at = app().run()
    no_exceptions(at)
    sync, asynchronous = (d.value.set_index("Storage layer") for d in at.dataframe[:2])
    for table, tier, native in ((sync, "redis", 40.0), (asynchronous, "postgres-raw", 50.0)):
        assert table.loc[tier, "native p50 (µs)"] == f"{native:.1f}"
        p50 = float(table.loc[tier, "p50 (µs)"].replace(",", ""))  # one trial: the figure alone, no CI
        assert table.loc[tier, "Python/native (x)"] == f"{p50 / native:.2f}x"
        assert table.loc[tier, "native tool"] in ("redis-benchmark 7.0.15", "pgbench 15 --protocol=prepared")
    assert sync["native p50 (µs)"].tolist() == [fmt.DASH, "40.0"]  # postgres-raw has no sync figure
    captions = " ".join(c.value for c in at.caption)
    assert "benchmarks/native" in captions and "Median over 5 rounds" in captions


def test_a_run_without_native_figures_has_no_native_columns(seeded, db_path):
    at = app().run()
    no_exceptions(at)
    assert all("native p50 (µs)" not in d.value.columns for d in at.dataframe)
