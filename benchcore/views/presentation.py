"""Plain tables and sentences for the dashboard: results per mode, run-vs-run deltas, warnings.

Pure pandas in, pandas / str out; the pages only render what this returns.

Noise rule for the delta table (p50 of run B against run A, per tier x mode):
  * |B/A - 1| < NOISE_FLOOR (5 %) is always "within noise": this machine's run-to-run jitter is
    at least that large, so smaller differences mean nothing.
  * When both runs have per-trial results, compare every trial of B with every trial of A. If the
    range of those per-trial p50 ratios (min..max) contains 1.0 - some trial of B was slower than
    some trial of A and another faster - the runs overlap: "within noise".
  * Otherwise B is "faster" (ratio < 1) or "slower" (ratio > 1). The pooled ratio must agree with
    the trial range; if it does not (possible with skewed trials), it is "within noise".
p99 ratios are shown but do not decide the verdict: with a few thousand reads p99 rests on a few
dozen samples and moves much more than p50 between identical runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from benchcore.models import MODES, Environment, Progress
from benchcore.tiers.registry import tier_order

NOISE_FLOOR = 0.05

RESULT_COLUMNS: tuple[str, ...] = (
    "Storage layer",
    "Avg latency (µs)",
    "Throughput (ops/sec)",
    "p50",
    "p90",
    "p99",
    "p99.9",
    "max",
    "hits/misses",
    "description",
)
# Added after "p50" when the run carries native figures (benchmarks/native.py --save): Environment.native.
NATIVE_P50, NATIVE_RATIO, NATIVE_TOOL = "native p50 (µs)", "Python/native", "native tool"
NATIVE_COLUMNS: tuple[str, ...] = (NATIVE_P50, NATIVE_RATIO, NATIVE_TOOL)
_STAT_OF = {
    "Avg latency (µs)": "mean_us",
    "Throughput (ops/sec)": "ops_per_sec",
    "p50": "p50_us",
    "p90": "p90_us",
    "p99": "p99_us",
    "p99.9": "p999_us",
    "max": "max_us",
}
DELTA_COLUMNS: tuple[str, ...] = (
    "Tier",
    "Mode",
    "p50 A (µs)",
    "p50 B (µs)",
    "p50 B/A",
    "p99 A (µs)",
    "p99 B (µs)",
    "p99 B/A",
    "trial p50 B/A range",
    "Verdict",
)
FASTER, SLOWER, NOISE = "faster", "slower", "within noise"

PHASE_WORDS = {"prepare": "preparing", "warmup": "warming up", "timed": "measuring", "done": "done",
               "failed": "failed"}


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value)) and value is not pd.NA


def _tier_sort_key(tier: str) -> tuple[int, str]:
    return (tier_order(tier), tier)


def _pooled(summaries: pd.DataFrame) -> pd.DataFrame:
    return summaries[summaries["trial"] == 0] if "trial" in summaries.columns else summaries


def hits_misses(hits: Any, misses: Any) -> str:
    """'1,990 / 10' for a cache tier; '-' for a tier that does not count them (the databases)."""
    if not _present(hits) and not _present(misses):
        return "-"
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


def results_table(summaries: pd.DataFrame, mode: str,
                  native: Mapping[tuple[str, str], Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """The seed's table for one mode, one row per measured tier; failed tiers go to failed_tiers().

    native (from native_figures(run.environment)): when it has figures for this mode, the columns
    NATIVE_COLUMNS follow "p50" ("-"/empty on tiers without a native measurement).
    """
    native = {k: v for k, v in (native or {}).items() if k[1] == mode}
    df = _pooled(summaries)
    df = df[(df["mode"] == mode) & df["p50_us"].notna()]
    rows = []
    for r in sorted(df.to_dict("records"), key=lambda r: _tier_sort_key(str(r["tier"]))):
        row: dict[str, Any] = {"Storage layer": r["tier"]}
        for column, field in _STAT_OF.items():
            row[column] = float(r[field]) if _present(r[field]) else None
        if row["Throughput (ops/sec)"] is not None:  # whole reads per second; decimals are noise
            row["Throughput (ops/sec)"] = round(row["Throughput (ops/sec)"])
        row["hits/misses"] = hits_misses(r.get("hits"), r.get("misses"))
        row["description"] = r.get("description") or ""
        figure = native.get((str(r["tier"]), mode))
        if figure is not None:
            row[NATIVE_P50] = float(figure["native_p50_us"])
            row[NATIVE_RATIO] = row["p50"] / row[NATIVE_P50] if row["p50"] is not None else None
            row[NATIVE_TOOL] = str(figure.get("native_tool") or "")
        rows.append(row)
    columns = list(RESULT_COLUMNS)
    if native:
        at = columns.index("p50") + 1
        columns[at:at] = list(NATIVE_COLUMNS)
    table = pd.DataFrame(rows, columns=columns)
    if native:
        table[NATIVE_TOOL] = table[NATIVE_TOOL].fillna("")
    return table


def failed_tiers(summaries: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(tier, mode, reason) for every tier x mode that did not finish; the reason is already scrubbed."""
    df = _pooled(summaries)
    df = df[df["status"] != "ok"]
    out = []
    for r in df.to_dict("records"):
        reason = r.get("error") if _present(r.get("error")) else ""
        out.append((str(r["tier"]), str(r["mode"]), str(reason or r["status"])))
    return sorted(out, key=lambda t: (_tier_sort_key(t[0]), MODES.index(t[1]) if t[1] in MODES else 9))


def trial_ratio_range(trials_a: Sequence[float], trials_b: Sequence[float]) -> tuple[float, float] | None:
    """min..max of p50_B[j] / p50_A[i] over every pair of trials; None without trials on both sides."""
    a = np.asarray([x for x in trials_a if _present(x) and x > 0], dtype=float)
    b = np.asarray([x for x in trials_b if _present(x) and x > 0], dtype=float)
    if len(a) == 0 or len(b) == 0:
        return None
    ratios = b[:, None] / a[None, :]
    return float(ratios.min()), float(ratios.max())


def verdict(ratio: float, trial_range: tuple[float, float] | None, noise_floor: float = NOISE_FLOOR) -> str:
    """B against A from the p50 ratio B/A and the per-trial ratio range; see the module docstring."""
    if not _present(ratio) or ratio <= 0:
        return NOISE
    if abs(ratio - 1.0) < noise_floor:
        return NOISE
    if trial_range is not None:
        lo, hi = trial_range
        if lo <= 1.0 <= hi:
            return NOISE
        if (ratio < 1.0) != (hi < 1.0):
            return NOISE
    return FASTER if ratio < 1.0 else SLOWER


def _trial_p50s(summaries: pd.DataFrame, run_id: str, tier: str, mode: str) -> list[float]:
    if "trial" not in summaries.columns:
        return []
    rows = summaries[
        (summaries["run_id"] == run_id) & (summaries["tier"] == tier) & (summaries["mode"] == mode)
        & (summaries["trial"] > 0)
    ]
    return [float(x) for x in rows["p50_us"] if _present(x)]


def delta_table(summaries: pd.DataFrame, run_a: str, run_b: str) -> pd.DataFrame:
    """Run B against run A per tier x mode. `summaries` may include per-trial rows (trial > 0)."""
    pooled = _pooled(summaries)
    a = pooled[pooled["run_id"] == run_a].set_index(["tier", "mode"])
    b = pooled[pooled["run_id"] == run_b].set_index(["tier", "mode"])
    keys = sorted(set(a.index) | set(b.index), key=lambda k: (_tier_sort_key(k[0]), MODES.index(k[1])
                                                              if k[1] in MODES else 9))
    rows = []
    for tier, mode in keys:
        ra = a.loc[(tier, mode)] if (tier, mode) in a.index else None
        rb = b.loc[(tier, mode)] if (tier, mode) in b.index else None
        p50a = float(ra["p50_us"]) if ra is not None and _present(ra["p50_us"]) else None
        p50b = float(rb["p50_us"]) if rb is not None and _present(rb["p50_us"]) else None
        p99a = float(ra["p99_us"]) if ra is not None and _present(ra["p99_us"]) else None
        p99b = float(rb["p99_us"]) if rb is not None and _present(rb["p99_us"]) else None
        row: dict[str, Any] = {"Tier": tier, "Mode": mode, "p50 A (µs)": p50a, "p50 B (µs)": p50b,
                               "p99 A (µs)": p99a, "p99 B (µs)": p99b, "p50 B/A": None, "p99 B/A": None,
                               "trial p50 B/A range": ""}
        if p50a is None or p50b is None:
            why = [f"{'failed' if r is not None else 'not measured'} in run {name}"
                   for name, value, r in (("A", p50a, ra), ("B", p50b, rb)) if value is None]
            row["Verdict"] = "n/a: " + ", ".join(why)
        else:
            ratio = p50b / p50a
            rng = trial_ratio_range(_trial_p50s(summaries, run_a, tier, mode),
                                    _trial_p50s(summaries, run_b, tier, mode))
            row["p50 B/A"] = ratio
            row["p99 B/A"] = p99b / p99a if p99a and p99b else None
            row["trial p50 B/A range"] = f"{rng[0]:.2f}-{rng[1]:.2f}" if rng else "one trial"
            row["Verdict"] = verdict(ratio, rng)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(DELTA_COLUMNS))


def delta_summary(delta: pd.DataFrame) -> str:
    """One sentence: how many tier x mode pairs got faster, slower or stayed within noise."""
    counts = delta["Verdict"].value_counts() if not delta.empty else pd.Series(dtype=int)
    compared = int(counts.get(FASTER, 0) + counts.get(SLOWER, 0) + counts.get(NOISE, 0))
    if compared == 0:
        return "No tier was measured in both runs, so nothing can be compared."
    parts = [f"faster on {counts.get(FASTER, 0)}", f"slower on {counts.get(SLOWER, 0)}",
             f"within noise on {counts.get(NOISE, 0)}"]
    return f"Run B against run A (p50), of {compared} tier x mode pairs: " + ", ".join(parts) + "."


def _server_versions(summaries: pd.DataFrame, run_id: str) -> dict[str, str]:
    df = _pooled(summaries)
    df = df[df["run_id"] == run_id]
    out: dict[str, str] = {}
    for r in df.to_dict("records"):
        kind = str(r.get("server_kind") or "")
        version = str(r.get("server_version") or "")
        if kind or version:
            out[str(r["tier"])] = " ".join(x for x in (kind, version) if x and x != "nan")
    return out


def _capacity(run: Mapping[str, Any]) -> Any:
    capacity = run.get("cache_capacity")
    return capacity if _present(capacity) else run.get("keys")


def _caches(cold: Any) -> str:
    return "cold" if cold else "warmed"


def _known(value: Any) -> bool:
    return value is not None and value != ""  # runs stored before a field existed leave it empty


def _shown(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def comparison_warnings(
    run_a: Mapping[str, Any],
    run_b: Mapping[str, Any],
    summaries: pd.DataFrame,
    env_a: Environment | None = None,
    env_b: Environment | None = None,
) -> list[str]:
    """Why A vs B may not be apples to apples: machine, workload, server versions, Python/OS, client CPUs.

    run_a / run_b are rows of RunRepository.list_runs(); env_a / env_b are Run.environment when loaded.
    """
    warnings: list[str] = []
    ma, mb = str(run_a.get("machine") or ""), str(run_b.get("machine") or "")
    if ma != mb:
        warnings.append(f"Different machines: A ran on {ma or 'unknown'}, B on {mb or 'unknown'}.")
    for key, what in (("concurrency", "concurrency"), ("keys", "key count"), ("ops", "reads per trial"),
                      ("distribution", "key distribution"), ("warmup", "warmup reads")):
        va, vb = run_a.get(key), run_b.get(key)
        if _present(va) and _present(vb) and va != vb:
            warnings.append(f"Different workload: {what} {va} in A vs {vb} in B.")
    if _present(run_a.get("cache_capacity")) or _present(run_b.get("cache_capacity")):
        ka, kb = _capacity(run_a), _capacity(run_b)  # no capacity given = the key space, compared above
        if _present(ka) and _present(kb) and ka != kb:
            warnings.append(f"Different workload: in-process cache capacity {ka} in A vs {kb} in B.")
    ca, cb = run_a.get("cold"), run_b.get("cold")
    if _present(ca) and _present(cb) and bool(ca) != bool(cb):
        warnings.append(f"Different workload: caches {_caches(ca)} in A vs {_caches(cb)} in B.")
    if env_a and env_b:
        for key, what in (("hostname", "host"), ("cpu_model", "CPU"), ("cpu_count", "CPU count"),
                          ("cpu_affinity", "CPU affinity"), ("client_cpu_affinity", "client CPUs"),
                          ("python", "Python"), ("os", "OS")):
            va, vb = getattr(env_a, key), getattr(env_b, key)
            if _known(va) and _known(vb) and va != vb:
                warnings.append(f"Different {what}: {_shown(va)} in A vs {_shown(vb)} in B.")
        pa, pb = env_a.packages, env_b.packages
        changed_pkgs = [f"{k} {pa[k]} -> {pb[k]}" for k in sorted(set(pa) & set(pb)) if pa[k] != pb[k]]
        if changed_pkgs:
            warnings.append("Different driver/library versions: " + "; ".join(changed_pkgs) + ".")
    sa, sb = _server_versions(summaries, str(run_a["run_id"])), _server_versions(summaries, str(run_b["run_id"]))
    changed = [f"{t}: {sa[t]} -> {sb[t]}" for t in sorted(set(sa) & set(sb), key=_tier_sort_key) if sa[t] != sb[t]]
    if changed:
        warnings.append("Different servers: " + "; ".join(changed) + ".")
    return warnings


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


def runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """list_runs() for display: newest first, readable column names, run id kept for selection."""
    columns = ["Started (UTC)", "Label", "Status", "Tiers", "Machine", "Modes", "Ops", "Concurrency", "Trials",
               "Keys", "Distribution", "Caches", "Run id"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    df = runs.sort_values("started_at", ascending=False)
    started = pd.to_datetime(df["started_at"], utc=True).dt.strftime("%Y-%m-%d %H:%M:%S")
    return pd.DataFrame(
        {
            "Started (UTC)": started.to_numpy(),
            "Label": df["label"].fillna("").astype(str).to_numpy(),
            "Status": df["status"].astype(str).to_numpy(),
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
