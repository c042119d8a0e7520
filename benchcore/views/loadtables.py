"""Dashboard tables and sentences for runs under load: the sweep (one row per tier, mode and level) and the open
loop (target, achieved, late reads, service and intended-start percentiles). Pooled summary rows in, a DataFrame
or str out; the rules behind every verdict are in results/load.py.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from benchcore.models import LATE_MS, MODES
from benchcore.results import load
from benchcore.tiers.registry import TIER_NAMES, tier_order
from benchcore.views import formatting as fmt

SWEEP_COLUMNS: tuple[str, ...] = ("Tier", "Mode", "Concurrency", "Throughput (reads/s)", "p50 (µs)", "p99 (µs)",
                                  "client CPU (µs/read)", "client cores", "machine CPU (%)", "knee")
OPEN_LOOP_COLUMNS: tuple[str, ...] = ("Tier", "Mode", "Concurrency", "target (reads/s)", "achieved (reads/s)",
                                      "achieved (%)", "late reads", "late (%)", "service p50 (µs)",
                                      "service p99 (µs)", "intended p50 (µs)", "intended p99 (µs)",
                                      "intended p99.9 (µs)", "kept up")


def _records(summaries: pd.DataFrame) -> list[dict[str, Any]]:
    df = summaries[summaries["trial"] == 0] if "trial" in summaries.columns else summaries
    return df.to_dict("records")


def _order(record: dict[str, Any]) -> tuple[int, int, str, int]:
    tier, mode = str(record["tier"]), str(record["mode"])
    return (int(record["concurrency"]), tier_order(tier) if tier in TIER_NAMES else len(TIER_NAMES), tier,
            MODES.index(mode) if mode in MODES else len(MODES))


def sweep_table(summaries: pd.DataFrame, processes: int = 1) -> pd.DataFrame:
    """One row per measured tier, mode and level, by level; the knee of each tier x mode marked."""
    records = sorted((r for r in _records(summaries) if r["status"] == "ok" and not fmt.missing(r["ops_per_sec"])),
                     key=_order)
    knees = {(k.point.tier, k.point.mode): k for k in load.knees(load.points_of_records(records), processes)}
    rows = []
    for r in records:
        cpu, ops = r.get("client_cpu_us_per_read"), float(r["ops_per_sec"])
        knee = knees.get((str(r["tier"]), str(r["mode"])))
        rows.append({
            "Tier": r["tier"], "Mode": r["mode"], "Concurrency": int(r["concurrency"]),
            "Throughput (reads/s)": round(ops),
            "p50 (µs)": fmt.p50_with_ci(r["p50_us"], r.get("p50_ci_low_us"), r.get("p50_ci_high_us")),
            "p99 (µs)": fmt.us(r["p99_us"]), "client CPU (µs/read)": fmt.number(cpu),
            "client cores": fmt.DASH if cpu is None or fmt.missing(cpu) else f"{float(cpu) * ops / 1e6:.2f}",
            "machine CPU (%)": fmt.number(r.get("machine_cpu_pct"), 0),
            "knee": f"knee: {knee.limit} limit" if knee is not None and knee.point.concurrency == r["concurrency"]
            else "",
        })
    return pd.DataFrame(rows, columns=list(SWEEP_COLUMNS))


def sweep_sentences(summaries: pd.DataFrame, processes: int = 1) -> list[str]:
    """The knees (and what limits each) and, per tier, whether and where async overtakes sync."""
    points = load.points_of_records(_records(summaries))
    return [k.sentence() for k in load.knees(points, processes)] + [c.sentence() for c in load.crossovers(points)]


def _verdict(record: dict[str, Any]) -> load.KeepUp | None:
    if fmt.missing(record.get("target_rate")) or record["status"] != "ok" or fmt.missing(record.get("ops")):
        return None
    return load.KeepUp(str(record["tier"]), str(record["mode"]), int(record["concurrency"]),
                       float(record["target_rate"]), float(record.get("achieved_rate") or 0.0), int(record["ops"]),
                       0 if fmt.missing(record.get("late_reads")) else int(record["late_reads"]),
                       None if fmt.missing(record.get("p99_us")) else float(record["p99_us"]),
                       None if fmt.missing(record.get("intended_p99_us")) else float(record["intended_p99_us"]))


def open_loop_table(summaries: pd.DataFrame) -> pd.DataFrame:
    """One row per open-loop result: the rate asked for and done, late reads, both latency distributions."""
    rows = []
    for r in sorted(_records(summaries), key=_order):
        k = _verdict(r)
        if k is None:
            continue
        rows.append({
            "Tier": k.tier, "Mode": k.mode, "Concurrency": k.concurrency,
            "target (reads/s)": fmt.number(k.target_rate, 0), "achieved (reads/s)": fmt.number(k.achieved_rate, 0),
            "achieved (%)": fmt.number(k.achieved_pct), "late reads": fmt.count(k.late_reads),
            "late (%)": fmt.number(k.late_pct), "service p50 (µs)": fmt.us(r["p50_us"]),
            "service p99 (µs)": fmt.us(r["p99_us"]), "intended p50 (µs)": fmt.us(r.get("intended_p50_us")),
            "intended p99 (µs)": fmt.us(r.get("intended_p99_us")),
            "intended p99.9 (µs)": fmt.us(r.get("intended_p999_us")),
            "kept up": "yes" if k.kept_up else f"no: {100 - k.achieved_pct:.1f} % short",
        })
    return pd.DataFrame(rows, columns=list(OPEN_LOOP_COLUMNS))


def behind(summaries: pd.DataFrame) -> list[str]:
    """A sentence for every open-loop result that could not keep up with its rate."""
    return [k.sentence() for r in sorted(_records(summaries), key=_order)
            if (k := _verdict(r)) is not None and not k.kept_up]


OPEN_LOOP_NOTE = (f"Open loop: each read has an intended start on the schedule; 'intended' latency runs from it "
                  f"(coordinated omission corrected: a stall delays the reads behind it and they show it), 'service' "
                  f"from the actual send. Late = started more than {LATE_MS:g} ms after its intended time. Kept up = "
                  f"achieved at least {100 - load.KEEP_UP_TOLERANCE_PCT:g} % of the target.")
