"""What a run's status banner and its per-tier notices say, from the same summary rows the tables show.

The banner's colour follows the data, not the fact that the job ended: complete (every tier x mode ok) is a
success, a run stopped part-way (cancelled, or some tiers failed) is a warning that says after how many reads, and
a run that measured nothing is an error. Tiers that did not finish share one notice per reason (a broken set-up
fails every tier with the same words), and a tier that measured reads before it stopped says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from benchcore.models import MODES
from benchcore.tiers.registry import tier_order
from benchcore.views import formatting as fmt

Level = Literal["success", "warning", "error"]


@dataclass(frozen=True)
class Banner:
    level: Level
    text: str


@dataclass(frozen=True)
class Notice:
    """One reason and every tier x mode it stopped: `ran` = they measured reads first (then `reads` says how many)."""

    reason: str
    pairs: tuple[tuple[str, str, int], ...]  # (tier, mode, reads measured)
    ran: bool

    @property
    def text(self) -> str:
        if self.ran:
            where = ", ".join(f"{t} ({m}) after {n:,} reads" for t, m, n in self.pairs)
            return f"Stopped part-way: {where}. Reason: {self.reason}"
        where = ", ".join(f"{t} ({m})" for t, m, _ in self.pairs)
        return f"{where} did not run: {self.reason}"


def _pooled(summary: pd.DataFrame) -> pd.DataFrame:
    return summary[summary["trial"] == 0] if "trial" in summary.columns else summary


def _reads(row: dict[str, Any]) -> int:
    return int(row["ops"]) if not fmt.missing(row.get("ops")) else 0


def _order(row: dict[str, Any]) -> tuple[int, str, int]:
    mode = str(row["mode"])
    return tier_order(str(row["tier"])), str(row["tier"]), MODES.index(mode) if mode in MODES else 9


def tier_notices(summary: pd.DataFrame) -> list[Notice]:
    """One notice per (reason, measured or not) over every tier x mode whose status is not ok; reasons are the
    stored (already scrubbed) errors, or the status itself ("cancelled")."""
    groups: dict[tuple[str, bool], list[tuple[str, str, int]]] = {}
    for r in sorted(_pooled(summary).to_dict("records"), key=_order):
        if r["status"] == "ok":
            continue
        reason = str(r["error"]) if not fmt.missing(r.get("error")) and r.get("error") else str(r["status"])
        reads = _reads(r)
        groups.setdefault((reason, reads > 0), []).append((str(r["tier"]), str(r["mode"]), reads))
    return [Notice(reason=reason, pairs=tuple(pairs), ran=ran) for (reason, ran), pairs in groups.items()]


def run_banner(summary: pd.DataFrame, *, run_id: str, cancelled: bool, planned: int | None = None,
               elapsed_s: float | None = None) -> Banner:
    """The one-line status of a finished run: level and text (the page adds whether it was saved).

    planned = the timed reads the run set out to make (RunSpec.estimate.reads), for "N of M".
    """
    rows = _pooled(summary).to_dict("records")
    pairs = len(rows)
    ok = sum(r["status"] == "ok" for r in rows)
    reads = sum(_reads(r) for r in rows)
    of = f" of {planned:,}" if planned else ""
    took = f" in {elapsed_s:.1f} s" if elapsed_s is not None else ""
    if pairs and ok == pairs and not cancelled:
        return Banner("success", f"Run {run_id} complete{took}: {reads:,} timed reads, every tier x mode measured.")
    if reads == 0 and cancelled:  # the user's choice, not a failure: amber like any cancelled run
        return Banner("warning", f"Run {run_id} cancelled{took} before any tier x mode measured a read: stopped "
                                 f"after 0{of} timed reads.")
    if reads == 0:
        return Banner("error", f"Run {run_id} failed{took}: no tier x mode measured a read.")
    what = "cancelled" if cancelled else "partial"
    return Banner("warning", f"Run {run_id} {what}: stopped after {reads:,}{of} timed reads{took}; {ok} of {pairs} "
                             "tier x mode pairs complete (see below for the others).")
