"""Compare's default pair and shared links: the listing in, run ids out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from benchcore.results.frames import RUN_COLUMNS, build_frame
from benchcore.views import selection


def listing(*runs: dict) -> pd.DataFrame:
    t0 = datetime(2026, 12, 2, 21, 0, tzinfo=UTC)
    base = {"status": "complete", "label": "", "tiers": "redis", "modes": "sync,async", "ops": 300,
            "concurrency": 1, "trials": 3, "keys": 1000, "distribution": "uniform", "warmup": 50, "cold": False,
            "seed": 1, "cache_capacity": None, "machine": "m", "timer_overhead_ns": 60.0}
    rows = [{**base, "run_id": f"run{i}", "started_at": t0 + timedelta(minutes=i),
             "finished_at": t0 + timedelta(minutes=i, seconds=5), **r} for i, r in enumerate(runs)]
    return build_frame([tuple(r[c] for c in RUN_COLUMNS) for r in rows], RUN_COLUMNS)


def test_default_pairs_the_newest_run_with_the_newest_earlier_run_of_its_workload():
    runs = listing({}, {}, {"distribution": "zipf"}, {"concurrency": 4}, {})
    assert selection.default_comparison(runs) == ["run1", "run4"]


def test_runs_that_measured_nothing_are_passed_over_and_a_lone_workload_is_alone():
    assert selection.default_comparison(listing({}, {}, {"status": "failed"})) == ["run0", "run1"]
    assert selection.default_comparison(listing({}, {"ops": 500})) == ["run1"]
    assert selection.default_comparison(listing({"status": "failed"})) == ["run0"]
    assert selection.default_comparison(listing()) == []


def test_runs_param_keeps_the_links_order_takes_unique_starts_and_names_the_rest():
    known = ["aaa111", "aaa222", "bbb333"]
    assert selection.parse_runs_param("bbb, aaa111,aaa,zzz,bbb333", known) == (["bbb333", "aaa111"], ["aaa", "zzz"])
    assert selection.parse_runs_param(["aaa2", "bbb"], known) == (["aaa222", "bbb333"], [])
    assert selection.parse_runs_param(None, known) == ([], [])
    assert len(selection.parse_runs_param(",".join(["aaa111"] * 500), known)[0]) == 1


def test_the_link_puts_a_then_b_first_and_names_the_page_once():
    assert selection.link_ids(["x", "a", "b"], "a", "b") == ["a", "b", "x"]
    assert selection.comparison_link("http://h:8501/compare", ["a", "b"]) == "http://h:8501/compare?runs=a,b"
    assert selection.comparison_link("http://h:8501/", ["a"]) == "http://h:8501/compare?runs=a"
    assert selection.comparison_link(None, ["a"]) == "/compare?runs=a"
