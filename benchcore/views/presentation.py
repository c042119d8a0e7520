"""Plain tables and sentences for the dashboard: results per mode, run-vs-run deltas, progress.

Pure pandas in, pandas / str out; the pages only render what this returns. Every cell that can be missing is
text ("—" when missing, never "None"; latencies in µs, formatting.us); the statistics behind the run-vs-run
verdict are in results/compare.py.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import pandas as pd

from benchcore.errors import ConfigError
from benchcore.models import MODES, Environment, Progress
from benchcore.results.compare import (
    FASTER,
    MEANS_ONLY,
    NO_CHANGE,
    NOT_COMPARED,
    SLOWER,
    TOO_FEW,
    Comparison,
    PairComparison,
    Side,
)
from benchcore.tiers.registry import tier_info, tier_order
from benchcore.views import formatting as fmt

P50 = "p50 (µs)"
CV = "CV (%)"
STABILITY = "stability"
HITS_MISSES = "hits / misses (reads)"
MEAN, STDDEV = "Avg latency (µs)", "stddev (µs)"
RESULT_COLUMNS: tuple[str, ...] = (
    "Storage layer",
    MEAN,
    "Throughput (ops/sec)",
    P50,
    CV,
    STABILITY,
    STDDEV,
    "p90 (µs)",
    "p99 (µs)",
    "p99.9 (µs)",
    "max (µs)",
    "hit ratio (%)",
    "hit p50 (µs)",
    "hit p99 (µs)",
    "miss p50 (µs)",
    "miss p99 (µs)",
    HITS_MISSES,
    "samples (reads)",
    "errors (reads)",
    "description",
)
# Added after STABILITY when the run carries native figures (benchmarks/native.py --save): Environment.native.
NATIVE_P50, NATIVE_RATIO, NATIVE_TOOL = "native p50 (µs)", "Python/native (x)", "native tool"
NATIVE_COLUMNS: tuple[str, ...] = (NATIVE_P50, NATIVE_RATIO, NATIVE_TOOL)
# Latency columns of a measured row -> (summary field, the percentile whose sample count it needs, or "").
_LATENCY_OF = {
    MEAN: ("mean_us", ""),
    STDDEV: ("stddev_us", ""),
    "p90 (µs)": ("p90_us", ""),
    "p99 (µs)": ("p99_us", "p99"),
    "p99.9 (µs)": ("p999_us", "p99.9"),
    "max (µs)": ("max_us", ""),
}
# Cache tiers only: "—" elsewhere (and "—" for misses when there were none); (field, percentile, its count).
_CACHE_US = {
    "hit p50 (µs)": ("hit_p50_us", "", "hits"),
    "hit p99 (µs)": ("hit_p99_us", "p99", "hits"),
    "miss p50 (µs)": ("miss_p50_us", "", "misses"),
    "miss p99 (µs)": ("miss_p99_us", "p99", "misses"),
}
DELTA_COLUMNS: tuple[str, ...] = (
    "Tier",
    "Mode",
    "p50 A (µs)",
    "p50 B (µs)",
    "p50 B/A",
    "p",
    "min effect",
    "trials A / B",
    "throughput A (ops/s)",
    "throughput B (ops/s)",
    "Verdict",
)
UNSTABLE_MARK = "⚠"

PHASE_WORDS = {"prepare": "preparing", "warmup": "warming up", "timed": "measuring", "done": "done",
               "failed": "failed"}


def _present(value: Any) -> bool:
    return not fmt.missing(value)


def _tier_sort_key(tier: str) -> tuple[int, str]:
    return (tier_order(tier), tier)


def _pooled(summaries: pd.DataFrame) -> pd.DataFrame:
    return summaries[summaries["trial"] == 0] if "trial" in summaries.columns else summaries


def hits_misses(hits: Any, misses: Any) -> str:
    """'1,990 / 10' for a cache tier; '-' for a tier that does not count them (the databases)."""
    if not _present(hits) and not _present(misses):
        return fmt.DASH
    h = int(hits) if _present(hits) else 0
    m = int(misses) if _present(misses) else 0
    return f"{h:,} / {m:,}"


def native_figures(environment: Environment | None) -> dict[tuple[str, str], dict[str, Any]]:
    """(tier, mode) -> the native measurement stored with a run (Environment.native, attached by
    benchmarks/native.py --save); {} when there is none. Entries without a positive native_p50_us are skipped."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in environment.native if environment is not None else ():
        if not isinstance(entry, Mapping):
            continue
        value = entry.get("native_p50_us")
        if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
            continue
        out[(str(entry.get("tier")), str(entry.get("mode")))] = dict(entry)
    return out


def native_caption(native: Mapping[tuple[str, str], Mapping[str, Any]], mode: str) -> str:
    """What the native columns of one mode's table mean and where they come from; "" without any."""
    entries = [(key, e) for key, e in native.items() if key[1] == mode]
    if not entries:
        return ""
    entries.sort(key=lambda item: _tier_sort_key(item[0][0]))
    medians = [f"{tier} {float(e['median_ratio']):.2f}x" for (tier, _), e in entries
               if _present(e.get("median_ratio"))]
    rounds = next((e.get("rounds") for _, e in entries if e.get("rounds")), None)
    text = ("Native: the same reads by a native tool (native tool column) on the same server and keys, measured "
            "beside this run by benchmarks/native.py. Python/native = this run's p50 / the native tool's p50.")
    if medians and rounds:
        text += f" Median over {rounds} rounds: " + ", ".join(medians) + "."
    return text


def _is_cache(tier: str) -> bool:
    try:
        return tier_info(tier).is_cache
    except ConfigError:  # a tier stored by another version: show what it has
        return False


def results_table(summaries: pd.DataFrame, mode: str,
                  native: Mapping[tuple[str, str], Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """One mode's results, one row per measured tier; failed tiers go to failed_tiers().

    The p50 is the median of the trial p50s with its 95% CI; CV and stability say how much the trials agree.
    native (from native_figures(run.environment)): when it has figures for this mode, the columns
    NATIVE_COLUMNS follow STABILITY ("—" on tiers without a native measurement).
    Latencies are text in µs (formatting.us); a tail percentile the reads cannot support is formatting.TOO_FEW_CELL
    (percentile_note() says why).
    """
    native = {k: v for k, v in (native or {}).items() if k[1] == mode}
    df = _pooled(summaries)
    df = df[(df["mode"] == mode) & df["p50_us"].notna()]
    rows = []
    for r in sorted(df.to_dict("records"), key=lambda r: _tier_sort_key(str(r["tier"]))):
        tier = str(r["tier"])
        cache = _is_cache(tier) or _present(r.get("hits"))
        row: dict[str, Any] = {"Storage layer": tier}
        samples = r.get("ops")
        for column, (field, percentile) in _LATENCY_OF.items():
            row[column] = fmt.tail_us(r.get(field), percentile, samples)
        # Whole reads per second: decimals are noise.
        row["Throughput (ops/sec)"] = round(float(r["ops_per_sec"])) if _present(r["ops_per_sec"]) else math.nan
        row[P50] = fmt.p50_with_ci(r["p50_us"], r.get("p50_ci_low_us"), r.get("p50_ci_high_us"))
        row[CV] = fmt.number(r.get("cv_pct"))
        row[STABILITY] = fmt.stability(r.get("cv_pct"), r.get("unstable"))
        row["hit ratio (%)"] = fmt.percent(r.get("hit_ratio")) if cache else fmt.DASH
        for column, (field, percentile, counted) in _CACHE_US.items():
            row[column] = fmt.tail_us(r.get(field), percentile, r.get(counted)) if cache else fmt.DASH
        row[HITS_MISSES] = hits_misses(r.get("hits"), r.get("misses"))
        row["samples (reads)"] = int(r["ops"]) if _present(r.get("ops")) else 0
        row["errors (reads)"] = int(r["errors"]) if _present(r.get("errors")) else 0
        row["description"] = r.get("description") if _present(r.get("description")) else ""
        figure = native.get((tier, mode))
        if figure is not None:
            native_p50 = float(figure["native_p50_us"])
            row[NATIVE_P50] = fmt.us(native_p50)
            row[NATIVE_RATIO] = fmt.ratio(float(r["p50_us"]) / native_p50)
            row[NATIVE_TOOL] = str(figure.get("native_tool") or fmt.DASH)
        rows.append(row)
    columns = list(RESULT_COLUMNS)
    if native:
        at = columns.index(STABILITY) + 1
        columns[at:at] = list(NATIVE_COLUMNS)
    table = pd.DataFrame(rows, columns=columns)
    if native:
        table[list(NATIVE_COLUMNS)] = table[list(NATIVE_COLUMNS)].fillna(fmt.DASH)
    return table


def percentile_note(table: pd.DataFrame) -> str:
    """Why some cells of a results_table() read n/a; "" when none do."""
    if table.empty or not (table == fmt.TOO_FEW_CELL).any().any():
        return ""
    return (f"{fmt.TOO_FEW_CELL}: too few reads for that percentile (p99 needs at least "
            f"{fmt.MIN_SAMPLES['p99']:,} reads, p99.9 at least {fmt.MIN_SAMPLES['p99.9']:,}; hit and miss p99 count "
            "hits and misses): with fewer, the figure is just the few slowest reads. Raise reads per trial or trials.")


def failed_tiers(summaries: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(tier, mode, reason) for every tier x mode that did not finish; the reason is already scrubbed."""
    df = _pooled(summaries)
    df = df[df["status"] != "ok"]
    out = []
    for r in df.to_dict("records"):
        reason = r.get("error") if _present(r.get("error")) else ""
        out.append((str(r["tier"]), str(r["mode"]), str(reason or r["status"])))
    return sorted(out, key=lambda t: (_tier_sort_key(t[0]), MODES.index(t[1]) if t[1] in MODES else 9))


def _p50_cell(side: Side) -> str:
    text = fmt.p50_with_ci(side.p50_us, side.ci_low_us, side.ci_high_us)
    return f"{text} {UNSTABLE_MARK}" if side.unstable else text


def _trials(pair: PairComparison) -> str:
    shown = [str(side.trials) if side.p50_us is not None else fmt.DASH for side in (pair.a, pair.b)]
    return " / ".join(shown)


def delta_table(comparison: Comparison) -> pd.DataFrame:
    """Run B against run A per tier x mode (DELTA_COLUMNS, all text): p50s with their CIs (⚠ = unstable),
    B/A, the Mann-Whitney p, the smallest change called and what set it, trial counts, throughputs and the
    verdict."""
    rows = [{
        "Tier": pair.where,
        "Mode": pair.mode,
        "p50 A (µs)": _p50_cell(pair.a),
        "p50 B (µs)": _p50_cell(pair.b),
        "p50 B/A": fmt.ratio(pair.ratio),
        "p": fmt.p_value(pair.p_value),
        "min effect": pair.floor_reason or fmt.DASH,
        "trials A / B": _trials(pair),
        "throughput A (ops/s)": fmt.number(pair.a.ops_per_sec, 0),
        "throughput B (ops/s)": fmt.number(pair.b.ops_per_sec, 0),
        "Verdict": pair.verdict,
    } for pair in comparison.pairs]
    return pd.DataFrame(rows, columns=list(DELTA_COLUMNS))


def delta_summary(comparison: Comparison) -> str:
    """'Run B against run A, of 10 tier x mode pairs: slower on 2, faster on 0, no significant change on 8
    (Mann-Whitney U on trial p50s, α = 0.05, minimum effect 5 %, the runs' CV or the machine's drift).'"""
    counts = comparison.counts()
    means = sum(p.verdict == MEANS_ONLY for p in comparison.pairs)
    if means:
        return (f"Ratio of means on {means} of {len(comparison.pairs)} tier x mode pairs: one run is a reference "
                "table of means, so there is no test and no verdict (B/A < 1: B faster).")
    if counts[NOT_COMPARED] == len(comparison.pairs):
        return "No tier was measured in both runs, so nothing can be compared."
    parts = [f"slower on {counts[SLOWER]}", f"faster on {counts[FASTER]}",
             f"no significant change on {counts[NO_CHANGE]}"]
    if counts[TOO_FEW]:
        parts.append(f"{TOO_FEW} on {counts[TOO_FEW]}")
    if counts[NOT_COMPARED]:
        parts.append(f"not compared on {counts[NOT_COMPARED]}")
    return (f"Run B against run A, of {len(comparison.pairs)} tier x mode pairs: " + ", ".join(parts)
            + f" ({comparison.method}).")


def progress_text(p: Progress | None) -> str:
    """'redis · async · trial 2/3 · measuring (1,024 / 2,000 reads)' for the status box."""
    if p is None:
        return "starting: finding servers and measuring the timer"
    if not p.tier:
        return p.message or "starting"
    parts = [p.tier, p.mode]
    if p.trial:
        parts.append(f"trial {p.trial}/{p.trials}")
    phase = PHASE_WORDS.get(p.phase, str(p.phase))
    if p.phase == "timed" and p.total:
        phase += f" ({p.done:,} / {p.total:,} reads)"
    parts.append(phase)
    text = " · ".join(parts)
    return f"{text}: {p.message}" if p.message else text


def progress_fraction(p: Progress | None) -> float:
    if p is None or p.reads_total <= 0:
        return 0.0
    return max(0.0, min(1.0, p.reads_done / p.reads_total))


def stopped_runs(summaries: pd.DataFrame) -> set[str]:
    """Ids of the runs with a cancelled tier (RunRepository.summaries() rows): their user stopped them."""
    if summaries.empty:
        return set()
    return set(summaries.loc[summaries["status"] == "cancelled", "run_id"].astype(str))


def run_status_text(status: str, cancelled: bool) -> str:
    """A run's status as the user knows it: a run stopped by its user is "cancelled" (status failed: nothing
    was measured) or "partial, cancelled", never "failed"."""
    if not cancelled:
        return status
    return "cancelled" if status == "failed" else f"{status}, cancelled"


def runs_table(runs: pd.DataFrame, cancelled: Collection[str] = ()) -> pd.DataFrame:
    """list_runs() for display: newest first, readable column names, run id kept for selection. cancelled: the
    runs with a cancelled tier (their status says so)."""
    columns = ["Started (UTC)", "Label", "Status", "Tiers", "Machine", "Modes", "Ops", "Concurrency", "Trials",
               "Keys", "Distribution", "Caches", "Run id"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    df = runs.sort_values("started_at", ascending=False)
    stopped = set(cancelled)
    started = pd.to_datetime(df["started_at"], utc=True).dt.strftime("%Y-%m-%d %H:%M:%S")
    return pd.DataFrame(
        {
            "Started (UTC)": started.to_numpy(),
            "Label": df["label"].fillna("").astype(str).to_numpy(),
            "Status": [run_status_text(s, r in stopped) for s, r in zip(df["status"].astype(str),
                                                                          df["run_id"].astype(str), strict=True)],
            "Tiers": df["tiers"].astype(str).str.replace(",", ", ").to_numpy(),
            "Machine": df["machine"].fillna("").astype(str).to_numpy(),
            "Modes": df["modes"].astype(str).str.replace(",", ", ").to_numpy(),
            "Ops": df["ops"].to_numpy(),
            "Concurrency": df["concurrency"].to_numpy(),
            "Trials": df["trials"].to_numpy(),
            "Keys": df["keys"].to_numpy(),
            "Distribution": df["distribution"].astype(str).to_numpy(),
            "Caches": np.where(df["cold"].astype(bool), "cold", "warmed"),
            "Run id": df["run_id"].astype(str).to_numpy(),
        },
        columns=columns,
    )


def filter_runs(runs: pd.DataFrame, text: str) -> pd.DataFrame:
    """Rows of runs_table() whose label, tiers, status, machine, date or id contain text (case-insensitive)."""
    text = text.strip().lower()
    if not text or runs.empty:
        return runs
    haystack = runs.astype(str).agg(" ".join, axis=1).str.lower()
    return runs[haystack.str.contains(text, regex=False)]


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """A frame as UTF-8 CSV (timestamps ISO 8601 with offset) for a download button."""
    return frame.to_csv(index=False).encode("utf-8")


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """A frame as Parquet (pyarrow); latency_ns stays int64, so nothing is rounded on the way out."""
    import io

    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()
