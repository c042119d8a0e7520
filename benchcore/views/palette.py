"""The dashboard's one visual language, shared by every chart builder (views/charts.py, views/loadcharts.py).

* A tier keeps its registry colour (tiers/registry.py) on every chart that colours by tier.
* A run keeps one colour on every run-comparison chart: RunPalette is built once per page from the selected
  runs (oldest first) and handed to each builder, so the Per tier, Distribution, Trend and load tabs agree.
* Mode is never a colour: a point shape (sync circle, async square) and, on lines, a dash (sync solid).
* Every scale's domain is what the chart plots, so a legend never lists a tier, run or mode that is not there.
* Time axes are UTC and say so, with the date.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import altair as alt
import pandas as pd

from benchcore.models import MODES
from benchcore.tiers.registry import TIER_NAMES, TIERS

# Okabe-Ito (colour-blind safe) then a few of Paul Tol's: darker and more saturated than the tier colours
# (Tableau 10), so a run is not mistaken for a tier. More runs than colours reuse them in order.
RUN_PALETTE: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#332288",
                                "#882255", "#117733", "#000000")
OTHER_RUNS = "other stored runs"
OTHER_COLOR = "#b8b8b8"
UNKNOWN_TIER_COLORS: tuple[str, ...] = ("#9d755d", "#bab0ac", "#eeca3b")  # tiers stored by another version
MODE_SHAPES = {"sync": "circle", "async": "square"}
MODE_DASHES = {"sync": [1, 0], "async": [6, 3]}
LINE_GREY = "#8a8a8a"
# A legend symbol that looks like the mark it names: a short line through a dot (line charts with points) or
# a plain line; the dash of the series applies to it.
LINE_POINT_SYMBOL = "M-1,0L1,0M0.25,0A0.25,0.25,0,1,1,-0.25,0A0.25,0.25,0,1,1,0.25,0"
LINE_SYMBOL = "stroke"
BOTTOM_LEGEND = alt.Legend(orient="bottom", columns=1, labelLimit=400)
UTC_FORMAT = "%Y-%m-%d %H:%M"
# Seconds only on ticks that have them (runs a few seconds apart), so no two labels read the same.
UTC_LABEL = (f"utcFormat(datum.value, utcseconds(datum.value) ? '{UTC_FORMAT}:%S' : '{UTC_FORMAT}') + ' UTC'")


class RunPalette(dict[str, str]):
    """run_id -> display name (a plain mapping for code that only needs names), plus run_id -> colour."""

    def __init__(self, names: Mapping[str, str], order: Sequence[str]) -> None:
        ordered = list(dict.fromkeys([*(r for r in order if r in names), *names]))
        super().__init__((r, names[r]) for r in ordered)
        self.colors = {r: RUN_PALETTE[i % len(RUN_PALETTE)] for i, r in enumerate(ordered)}

    def color_of(self, run_id: str) -> str:
        return self.colors.get(run_id, OTHER_COLOR)


def palette_for(df: pd.DataFrame, names: Mapping[str, str] | None) -> RunPalette:
    """The page's palette when it gave one; else one by start time (or first appearance) of the runs in df, a
    frame with run_id and its display name in "run"."""
    if isinstance(names, RunPalette):
        return names
    frame = df.sort_values("started_at", kind="stable") if "started_at" in df.columns else df
    first = frame.drop_duplicates("run_id")
    labels = dict(zip(first["run_id"].astype(str), first["run"].astype(str), strict=True))
    return RunPalette(labels, list(labels))


def run_color(df: pd.DataFrame, palette: RunPalette, field: str = "run", legend: alt.Legend | None = None,
              others: bool = False) -> alt.Color:
    """Colour = run: the runs in df (by their display name in `field`), each in its palette colour. others: rows
    whose run is not in the palette are labelled OTHER_RUNS and drawn grey."""
    present = set(df[field].astype(str))
    domain = [name for name in palette.values() if name in present]
    colors = [palette.colors[r] for r, name in palette.items() if name in present]
    if others and OTHER_RUNS in present:
        domain, colors = [*domain, OTHER_RUNS], [*colors, OTHER_COLOR]
    return alt.Color(f"{field}:N", title="run", sort=domain, scale=alt.Scale(domain=domain, range=colors),
                     legend=legend or BOTTOM_LEGEND)


def tier_domain(tiers: Iterable[object]) -> list[str]:
    """The tiers present, in registry order; unknown names last."""
    present = {str(t) for t in tiers}
    return [t for t in TIER_NAMES if t in present] + sorted(present - set(TIER_NAMES))


def tier_color(tiers: Iterable[object], legend: alt.Legend | bool = True) -> alt.Color:
    """Colour = tier, in each tier's registry colour, with only the tiers present in the legend."""
    domain = tier_domain(tiers)
    known = {t.name: t.color for t in TIERS}
    unknown = iter(UNKNOWN_TIER_COLORS * len(domain))
    colors = [known.get(t) or next(unknown) for t in domain]
    scale = alt.Scale(domain=domain, range=colors)
    if legend is True:
        return alt.Color("tier:N", title="tier", sort=domain, scale=scale)
    return alt.Color("tier:N", title="tier", sort=domain, scale=scale, legend=None if legend is False else legend)


def mode_domain(modes: Iterable[object]) -> list[str]:
    present = {str(m) for m in modes}
    return [m for m in MODES if m in present] + sorted(present - set(MODES))


def mode_shape(modes: Iterable[object]) -> alt.Shape:
    """Mode as a point shape: sync circle, async square."""
    domain = mode_domain(modes)
    return alt.Shape("mode:N", title="mode", sort=domain,
                     scale=alt.Scale(domain=domain, range=[MODE_SHAPES.get(m, "triangle") for m in domain]))


def mode_dash(modes: Iterable[object], with_points: bool = False) -> alt.StrokeDash:
    """Mode as a line dash (sync solid, async dashed); the legend draws a line (through a dot when the lines
    have points)."""
    domain = mode_domain(modes)
    return alt.StrokeDash("mode:N", title="mode", sort=domain,
                          scale=alt.Scale(domain=domain, range=[MODE_DASHES.get(m, [2, 2]) for m in domain]),
                          legend=line_legend(with_points))


def line_legend(with_points: bool = False, title: str | None = None) -> alt.Legend:
    legend = alt.Legend(symbolType=LINE_POINT_SYMBOL if with_points else LINE_SYMBOL, symbolStrokeColor="#444",
                        symbolFillColor="#444", symbolStrokeWidth=1.5, symbolSize=300, labelLimit=300)
    if title is not None:
        legend.title = title
    return legend


def utc_x(field: str = "when", title: str = "run started (UTC)") -> alt.X:
    """A time axis in UTC with the date: '2026-12-02 21:36 UTC' (never the browser's zone, never 12-hour)."""
    return alt.X(f"{field}:T", title=title, scale=alt.Scale(type="utc"),
                 axis=alt.Axis(labelExpr=UTC_LABEL, labelAngle=-30, labelLimit=260, tickCount=6,
                               labelOverlap=True, grid=True))


def utc_iso(values: pd.Series) -> pd.Series:
    """Timestamps as ISO 8601 with a Z, which Vega parses as UTC whatever the browser's zone."""
    return pd.to_datetime(values, utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_text(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True).dt.strftime("%Y-%m-%d %H:%M:%S UTC")
