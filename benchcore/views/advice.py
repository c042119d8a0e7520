"""The advisor's tables and its predicted-vs-measured chart (pure: DataFrames and Altair, no Streamlit)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import altair as alt
import pandas as pd

from benchcore.advisor.advise import Advice
from benchcore.views.charts import FIT_WIDTH

PREDICTED, MEASURED = "predicted", "measured"


def _pct(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1%}"


def options_frame(advice: Advice) -> pd.DataFrame:
    """One row per strategy: predicted hit ratio, latency, staleness, memory; the recommended one marked."""
    rows = []
    for o in advice.options:
        rows.append({
            "strategy": o.strategy, "tier": o.tier, "hit ratio": _pct(o.hit_ratio),
            "L1 / L2": f"{_pct(o.l1_hit_ratio)} / {_pct(o.l2_hit_ratio)}" if o.l1_hit_ratio is not None else "-",
            "mean (µs)": round(o.mean_us, 1), "p99 (µs)": None if o.p99_us is None else round(o.p99_us, 1),
            "write (µs)": None if o.write_us is None else round(o.write_us, 1),
            "stale reads": _pct(o.stale_ratio),
            "max stale age": "unbounded" if math.isinf(o.max_stale_ms) else f"{o.max_stale_ms:,.4g} ms",
            "memory per instance (MB)": round(o.memory_mb, 2),
            "": "recommended" if o.strategy == advice.recommended else ("" if o.acceptable else "too stale"),
        })
    return pd.DataFrame(rows)


def verification_frame(advice: Advice) -> pd.DataFrame:
    return pd.DataFrame([{
        "strategy": v["strategy"], "predicted mean (µs)": round(v["predicted_mean_us"], 1),
        "measured mean (µs)": None if v["measured_mean_us"] is None else round(v["measured_mean_us"], 1),
        "measured / predicted": None if v["ratio"] is None else round(v["ratio"], 3),
        "predicted hit ratio": _pct(v.get("predicted_hit_ratio")),
        "measured hit ratio": _pct(v.get("measured_hit_ratio")),
        "within 10%": "yes" if v["within"] else "no", "why not": v["why"]} for v in advice.verification])


def comparison_rows(advice: Advice) -> pd.DataFrame:
    """label, kind (predicted / measured), mean_us: every strategy's prediction, and measurement once verified."""
    rows: list[dict[str, Any]] = [{"label": o.strategy, "kind": PREDICTED, "mean_us": o.mean_us}
                                  for o in advice.options]
    rows += [{"label": v["strategy"], "kind": MEASURED, "mean_us": v["measured_mean_us"]}
             for v in advice.verification if v["measured_mean_us"] is not None]
    return pd.DataFrame(rows, columns=["label", "kind", "mean_us"])


def summary_rows(summary: pd.DataFrame, figure: str = "hit_ratio") -> pd.DataFrame:
    """From a run's pooled summary: label ("tier (mode)"), kind, value of `figure` and its predicted_ twin."""
    pooled = summary[(summary["trial"] == 0) & summary[f"predicted_{figure}"].notna()]
    rows: list[dict[str, Any]] = []
    for r in pooled.to_dict("records"):
        label = f"{r['tier']} ({r['mode']})"
        rows.append({"label": label, "kind": MEASURED, figure: r[figure]})
        rows.append({"label": label, "kind": PREDICTED, figure: r[f"predicted_{figure}"]})
    return pd.DataFrame(rows, columns=["label", "kind", figure])


def predicted_vs_measured(rows: pd.DataFrame, value: str = "mean_us", title: str = "mean read latency (µs)",
                          order: Sequence[str] | None = None) -> alt.Chart:
    """Bars side by side per label: the model's prediction and the measurement."""
    fmt = ".1%" if value.endswith("ratio") else ",.1f"
    return alt.Chart(rows).mark_bar().encode(
        y=alt.Y("label:N", title=None, sort=list(order) if order else None),
        yOffset=alt.YOffset("kind:N", sort=[PREDICTED, MEASURED]),
        x=alt.X(f"{value}:Q", title=title, axis=alt.Axis(format=fmt)),
        color=alt.Color("kind:N", scale=alt.Scale(domain=[PREDICTED, MEASURED], range=["#9ecae1", "#3182bd"]),
                        legend=alt.Legend(orient="bottom", title=None)),
        tooltip=["label:N", "kind:N", alt.Tooltip(f"{value}:Q", format=fmt)],
    ).properties(height=max(120, 34 * rows["label"].nunique()), autosize=FIT_WIDTH)
