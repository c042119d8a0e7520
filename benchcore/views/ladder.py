"""The PostgreSQL access ladder: what each step from one raw round trip to an ORM read costs, in µs and %.

Steps, per mode, from the run's p50s (median of the trial p50s): the raw tier (1 round trip), + the transaction's
two round trips (Core in a Session: core - raw), + the ORM's objects (orm - core). With a second run that used the
other connection setting, its raw p50 adds the connection step (pool checkout vs held connection). Each step's %
is of the top of the ladder (the ORM read). Pure: DataFrames in, an Altair chart out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import altair as alt
import pandas as pd

from benchcore.tiers.registry import LADDER

ORM, CORE, RAW = LADDER["orm"], LADDER["core"], LADDER["raw"]
LADDER_COLUMNS = ["mode", "order", "step", "start_us", "end_us", "cost_us", "pct"]


def _p50s(summaries: pd.DataFrame) -> dict[tuple[str, str], float]:
    df = summaries
    if "trial" in df.columns:
        df = df[df["trial"] == 0]
    df = df[df["p50_us"].notna() & (df["status"] == "ok")]
    return {(str(r.tier), str(r.mode)): float(r.p50_us) for r in df.itertuples()}


def ladder_steps(summaries: pd.DataFrame, connection: str,
                 other_raw: Mapping[str, float] | None = None) -> pd.DataFrame:
    """One row per step and mode (LADDER_COLUMNS). connection: the run's ("pool" / "held"); other_raw: mode -> the
    raw p50 of a run with the other setting (adds the connection step), or None."""
    p50 = _p50s(summaries)
    rows: list[tuple[object, ...]] = []
    for mode in ("sync", "async"):
        raw, core, orm = (p50.get((t, mode)) for t in (RAW, CORE, ORM))
        if raw is None or core is None or orm is None:
            continue
        steps: list[tuple[str, float]] = []
        other = (other_raw or {}).get(mode)
        if other is not None and connection == "pool":
            steps += [("1 round trip, held connection (raw)", other),
                      ("+ pool checkout (raw: pool - held)", raw - other)]
        else:
            steps.append((f"1 round trip, {'pool checkout' if connection == 'pool' else 'held connection'} (raw)", raw))
        steps += [("+ BEGIN and ROLLBACK: 2 round trips (core - raw)", core - raw),
                  ("+ ORM objects (orm - core)", orm - core)]
        if other is not None and connection == "held":
            steps.append(("+ pool checkout (raw: pool - held, from the other run)", other - raw))
        total = sum(cost for _, cost in steps)
        start = 0.0
        for order, (step, cost) in enumerate(steps):
            pct = 100.0 * cost / total if total > 0 else math.nan
            rows.append((mode, order, step, start, start + cost, cost, pct))
            start += cost
    return pd.DataFrame(rows, columns=LADDER_COLUMNS)


def ladder_table(steps: pd.DataFrame) -> pd.DataFrame:
    """The steps as the page lists them: mode, step, µs and % of the ORM read."""
    return pd.DataFrame({"mode": steps["mode"], "step": steps["step"],
                         "cost (µs)": steps["cost_us"].map(lambda v: f"{v:+,.1f}"),
                         "% of the ORM read": steps["pct"].map(lambda v: "-" if math.isnan(v) else f"{v:.0f} %")})


def ladder_chart(steps: pd.DataFrame) -> alt.Chart | alt.LayerChart:
    """Stacked bars per mode, one segment per step, labelled with its µs and %."""
    if steps.empty:
        return (alt.Chart(pd.DataFrame({"text": ["measure the ORM, Core and raw tiers in one run to see the ladder"]}))
                .mark_text(size=14, color="gray").encode(text="text:N").properties(height=60))
    df = steps.assign(label=[f"{c:+,.0f} µs ({p:.0f} %)" if not math.isnan(p) else "" for c, p in
                             zip(steps["cost_us"], steps["pct"], strict=True)],
                      mid=(steps["start_us"] + steps["end_us"]) / 2)
    order = list(dict.fromkeys(df.sort_values("order")["step"]))
    base = alt.Chart(df).encode(y=alt.Y("mode:N", title=None, sort=["sync", "async"]))
    bars = base.mark_bar(height=28).encode(
        x=alt.X("start_us:Q", title="p50 per read (µs), step by step"), x2="end_us:Q",
        color=alt.Color("step:N", sort=order, title="step", legend=alt.Legend(orient="bottom", columns=1,
                                                                             labelLimit=400)),
        tooltip=["mode:N", "step:N", alt.Tooltip("cost_us:Q", title="µs", format="+,.1f"),
                 alt.Tooltip("pct:Q", title="% of the ORM read", format=".1f")])
    labels = base.mark_text(color="white", fontSize=11).encode(x="mid:Q", text="label:N")
    return (bars + labels).properties(height=110)
