"""The run banner's colour follows the data; one notice per reason; a tier stopped part-way says after how much."""

from __future__ import annotations

from benchcore.views import status
from tests.views.test_charts import summaries


def _frame(statuses: dict[tuple[str, str], tuple[str, int, str | None]]):
    df = summaries(tiers=("postgres-raw", "redis", "inprocess"))
    for (tier, mode), (state, ops, error) in statuses.items():
        row = (df["tier"] == tier) & (df["mode"] == mode)
        df.loc[row, ["status", "ops", "error"]] = [state, ops, error]
    return df


def test_complete_run_is_green():
    banner = status.run_banner(_frame({}), run_id="r1", cancelled=False, planned=12_000, elapsed_s=3.04)
    assert banner.level == "success"
    assert banner.text == "Run r1 complete in 3.0 s: 12,000 timed reads, every tier x mode measured."
    assert status.tier_notices(_frame({})) == []


def test_cancelled_run_is_amber_and_says_after_how_many_reads():
    df = _frame({("redis", "sync"): ("cancelled", 54_272, None), ("redis", "async"): ("cancelled", 0, None),
                 ("inprocess", "sync"): ("cancelled", 0, None), ("inprocess", "async"): ("cancelled", 0, None)})
    banner = status.run_banner(df, run_id="r2", cancelled=True, planned=600_000)
    assert banner.level == "warning"
    assert "cancelled: stopped after 58,272 of 600,000 timed reads" in banner.text  # 2 x 2,000 + 54,272
    assert "2 of 6 tier x mode pairs complete" in banner.text
    notices = [n.text for n in status.tier_notices(df)]
    assert notices == ["Stopped part-way: redis (sync) after 54,272 reads. Reason: cancelled",
                       "redis (async), inprocess (sync), inprocess (async) did not run: cancelled"]


def test_partial_run_with_most_pairs_failed_is_amber_not_green():
    refused = "PostgreSQL is not answering at postgresql://postgres@127.0.0.1:1/test (Connection refused)"
    df = _frame({(t, m): ("failed", 0, refused) for t in ("postgres-raw", "redis") for m in ("sync", "async")})
    banner = status.run_banner(df, run_id="r3", cancelled=False)
    assert banner.level == "warning" and "partial" in banner.text and "2 of 6" in banner.text
    (notice,) = status.tier_notices(df)  # four identical failures: one notice listing the four
    assert notice.text == ("postgres-raw (sync), postgres-raw (async), redis (sync), redis (async) did not run: "
                           + refused)


def test_run_that_measured_nothing_is_red():
    df = _frame({(t, m): ("failed", 0, "boom") for t in ("postgres-raw", "redis", "inprocess")
                 for m in ("sync", "async")})
    assert status.run_banner(df, run_id="r4", cancelled=False).level == "error"
    cancelled = status.run_banner(df, run_id="r4", cancelled=True, planned=12_000)
    assert cancelled.level == "warning"  # cancelling is the user's choice, never a red failure
    assert "cancelled before any tier x mode measured a read: stopped after 0 of 12,000" in cancelled.text
