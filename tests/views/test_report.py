"""The CLI's results table: the p50 with its CI, CV, the unstable mark and the cache split."""

from __future__ import annotations

from benchcore.views import formatting as fmt
from benchcore.views import report
from tests.results.synthetic import make_run


def rows_of(text: str) -> dict[tuple[str, str], str]:
    """(tier, mode) -> its line of the table."""
    rows: dict[tuple[str, str], str] = {}
    for line in text.splitlines():
        words = line.split()
        if words[:1] in (["redis"], ["postgres-raw"]):
            rows[(words[0], words[1])] = line
    return rows


def test_results_table_shows_the_doubt_and_the_cache_split():
    run = make_run("r", {("redis", "sync"): [100.0, 130.0, 98.0, 101.0, 99.0],
                         ("postgres-raw", "sync"): [60.0, 61.0, 59.0, 60.5, 60.2], ("redis", "async"): [90.0]})
    text = report.results_table(run)
    header = text.splitlines()[0]
    for column in ("p50 µs [95% CI]", "CV %", "hit %", "hit p50 µs", "miss p50 µs", "ops/s", "reads"):
        assert column in header
    rows = rows_of(text)
    redis = rows[("redis", "sync")]
    assert "100.0 [" in redis and "unstable" in redis and "100.0" in redis.split("unstable")[1]  # hit % after the mark
    postgres = rows[("postgres-raw", "sync")]
    assert "60.2 [" in postgres and "unstable" not in postgres
    assert postgres.split().count(fmt.DASH) == 4  # no cache: hit %, hit p50, miss p50; no CPU figure in this run
    single = rows[("redis", "async")]
    assert "90.0 " in single and "[" not in single and "unstable" not in single  # one trial: no CI, no CV
    assert "unstable: the trial p50s vary by more than 10 % (CV)" in text
    assert "None" not in text and "nan" not in text


def test_no_unstable_footnote_without_an_unstable_figure():
    run = make_run("r", {("redis", "sync"): [100.0, 101.0, 99.0]})
    assert "unstable" not in report.results_table(run)
