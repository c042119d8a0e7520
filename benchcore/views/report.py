"""Plain-text tables and the JSON document for a Run (CLI output; no terminal control here).

Text in a table or a line comes from storage or a server: its control and bidi characters are escaped
(benchcore.text), so a stored label cannot move the cursor or reorder what the terminal shows.
"""

from __future__ import annotations

import math
from typing import Any

from benchcore import text
from benchcore.models import Run
from benchcore.results import codec


def _num(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: use null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def run_dict(run: Run) -> dict[str, Any]:
    """The `--json` document: {"run_id", "status", "config", "environment", "results": [...]} (codec.run_to_dict),
    as strict JSON: NaN and inf become null."""
    document = codec.run_to_dict(run)
    for result in document["results"]:
        if result["ops"] is None:  # a tier that measured nothing reports 0 reads and 0 errors, not null
            result["ops"] = result["errors"] = 0
    cleaned: dict[str, Any] = _clean(document)
    return cleaned


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> str:
    rows = [[text.escape(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths,
                                                                                                   strict=True)))

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def results_table(run: Run) -> str:
    headers = ["tier", "mode", "conc", "mean µs", "p50 µs", "p99 µs", "ops/s", "hits/misses", "status"]
    rows = []
    for r in run.results:
        s = r.summary
        hm = "-" if s is None or s.hits is None else f"{s.hits:,}/{s.misses:,}"
        status = r.status if not (s and s.errors) else f"{r.status} ({s.errors:,} errors)"
        figures = [None] * 4 if s is None else [s.mean_us, s.p50_us, s.p99_us, s.ops_per_sec]
        rows.append([r.tier, r.mode, str(r.concurrency), *(_num(v) for v in figures[:3]), _num(figures[3], 0), hm,
                     status])
    parts = [_table(headers, rows, right={2, 3, 4, 5, 6, 7})]
    described = {(r.tier, r.mode): r.description for r in run.results if r.description}
    if described:
        parts.append("\nWhat one read does:")
        parts += [text.escape(f"  {t} ({m}): {d}") for (t, m), d in described.items()]
    failed = [r for r in run.results if r.error]
    if failed:
        parts.append("\nProblems:")
        parts += [text.escape(f"  {r.tier} ({r.mode}): {r.error}") for r in failed]
    parts.append(f"\nTimer cost per read (included in every sample): {run.timer_overhead_ns:,.0f} ns. "
                 f"{run.spec.trials} trial(s) x {run.spec.ops:,} reads, warmup {run.spec.warmup:,}, "
                 f"keys {run.spec.keys:,} ({run.spec.distribution}), concurrency {run.spec.concurrency}, "
                 f"caches {'cold' if run.spec.cold else 'warmed'}.")
    return "\n".join(parts)


def plain_table(headers: list[str], rows: list[list[Any]]) -> str:
    return _table(headers, [[("-" if v is None else str(v)) for v in r] for r in rows], right=set())
