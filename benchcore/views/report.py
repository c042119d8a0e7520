"""Plain-text tables and the JSON document for a Run (CLI output; no terminal control here).

Text in a table or a line comes from storage or a server: its control and bidi characters are escaped
(benchcore.text), so a stored label cannot move the cursor or reorder what the terminal shows.
"""

from __future__ import annotations

import math
from typing import Any

from benchcore import text
from benchcore.models import LATE_MS, Run, RunSpec, Stats
from benchcore.presets import METHOD_DIFFERENCES, is_reference
from benchcore.results import codec
from benchcore.results import load as load_figures
from benchcore.results.compare import Comparison
from benchcore.results.stats import UNSTABLE_CV_PCT
from benchcore.views import formatting as fmt


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
    for result, record in zip(document["results"], run.results, strict=True):
        if result["ops"] is None:  # a tier that measured nothing reports 0 reads and 0 errors, not null
            result["ops"] = result["errors"] = 0
        verdict = load_figures.keep_up(record.tier, record.mode, record.concurrency, record.summary)
        result["load"] = None if verdict is None else verdict.to_dict()  # open loop: did it keep up, by how much
    document["sweep"] = load_figures.sweep_dict(run)
    cleaned: dict[str, Any] = _clean(document)
    return cleaned


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> str:
    rows = [[text.escape(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths,
                                                                                                   strict=True)))

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _stability_mark(s: Stats) -> str:
    return "unstable" if s.unstable else ""


def results_table(run: Run) -> str:
    """One line per tier x mode: the p50 with its 95% CI, how much the trials agree, the cache split, throughput."""
    headers = ["tier", "mode", "conc", "p50 µs [95% CI]", "CV %", "", "mean µs", "p99 µs", "hit %", "hit p50 µs",
               "miss p50 µs", "ops/s", "reads", "cpu µs/read", "status"]
    rows = []
    for r in run.results:
        s = r.summary
        status = r.status if not (s and s.errors) else f"{r.status} ({s.errors:,} errors)"
        if s is None:
            figures = [fmt.DASH] * 11
        else:
            cache = s.hits is not None
            figures = [fmt.p50_with_ci(s.p50_us, s.p50_ci_low_us, s.p50_ci_high_us), fmt.number(s.cv_pct),
                       _stability_mark(s), fmt.us(s.mean_us), fmt.us(s.p99_us),
                       fmt.percent(s.hit_ratio) if cache else fmt.DASH,
                       fmt.us(s.hit_p50_us) if cache else fmt.DASH, fmt.us(s.miss_p50_us) if cache else fmt.DASH,
                       fmt.number(s.ops_per_sec, 0), fmt.count(s.ops), fmt.number(s.client_cpu_us_per_read)]
        rows.append([r.tier, r.mode, str(r.concurrency), *figures, status])
    parts = [_table(headers, rows, right=set(range(2, 14)) - {5})]
    parts += _open_loop_part(run) + _sweep_part(run)
    if any(r.summary is not None and r.summary.unstable for r in run.results):
        parts.append(f"\nunstable: the trial p50s vary by more than {UNSTABLE_CV_PCT:g} % (CV); the figure is "
                     "doubtful, rerun with the client pinned (--cpus) or more trials.")
    described = {(r.tier, r.mode): r.description for r in run.results if r.description}
    if described:
        parts.append("\nWhat one read does:")
        parts += [text.escape(f"  {t} ({m}): {d}") for (t, m), d in described.items()]
    failed = [r for r in run.results if r.error]
    if failed:
        parts.append("\nProblems:")
        parts += [text.escape(f"  {r.tier} ({r.mode}): {r.error}") for r in failed]
    parts.append(f"\np50 = median of the trials' p50s, [95% CI] over trials (none with one trial); CV = spread of "
                 f"the trial p50s. Timer cost per read (included in every sample): {run.timer_overhead_ns:,.0f} ns. "
                 f"{run.spec.trials} trial(s) x {run.spec.ops_per_trial:,} reads, warmup {run.spec.warmup:,}, "
                 f"keys {run.spec.keys:,} ({run.spec.distribution}), {load_words(run.spec)}, "
                 f"caches {'cold' if run.spec.cold else 'warmed'}. cpu µs/read = the client's CPU time per read.")
    return "\n".join(parts)


def load_words(spec: RunSpec) -> str:
    """'concurrency 4' / 'concurrency sweep 1, 2, 4', then the open loop and the client processes, if any."""
    words = (f"concurrency sweep {', '.join(map(str, spec.sweep))}" if spec.sweep is not None
             else f"concurrency {spec.concurrency}")
    if spec.rate is not None:
        words += f", open loop at {spec.rate:,.0f} reads/s ({spec.arrival} arrivals"
        words += f", {spec.duration_s:g} s per trial)" if spec.duration_s is not None else ")"
    if spec.processes > 1:
        words += f", workers spread over {spec.processes} client processes"
    return words


def _open_loop_part(run: Run) -> list[str]:
    """Open loop: per result the rate asked for and done, late reads, service and intended-start percentiles."""
    verdicts = {(k.tier, k.mode, k.concurrency): k for k in load_figures.keep_ups(run)}
    if not verdicts:
        return []
    headers = ["tier", "mode", "conc", "target/s", "achieved/s", "achieved %", "late reads", "late %",
               "service p50 µs", "service p99 µs", "intended p50 µs", "intended p99 µs", "intended p99.9 µs",
               "kept up"]
    rows = []
    for r in run.results:
        k, s = verdicts.get((r.tier, r.mode, r.concurrency)), r.summary
        if k is None or s is None:
            continue
        rows.append([r.tier, r.mode, str(r.concurrency), fmt.number(k.target_rate, 0), fmt.number(k.achieved_rate, 0),
                     fmt.number(k.achieved_pct), fmt.count(k.late_reads), fmt.number(k.late_pct), fmt.us(s.p50_us),
                     fmt.us(s.p99_us), fmt.us(s.intended_p50_us), fmt.us(s.intended_p99_us),
                     fmt.us(s.intended_p999_us),
                     "yes" if k.kept_up else f"no, {100 - k.achieved_pct:.1f} % short"])
    parts = ["\nOpen loop (latency from the intended start corrects for coordinated omission; service = from the "
             f"actual send; late = started more than {LATE_MS:g} ms after its intended time):",
             _table(headers, rows, right=set(range(2, 13)))]
    behind = [k for k in verdicts.values() if not k.kept_up]
    parts += [text.escape(f"  {k.sentence()}") for k in behind]
    return parts


def _sweep_part(run: Run) -> list[str]:
    figures = load_figures.sweep_dict(run)
    if figures is None:
        return []
    parts = [f"\nSweep: knee = the lowest concurrency reaching {load_figures.KNEE_FRACTION * 100:g} % of a tier and "
             "mode's peak throughput."]
    parts += [text.escape(f"  {k['sentence']}") for k in figures["knees"]]
    parts += [text.escape(f"  {c['sentence']}") for c in figures["async_vs_sync"]]
    return parts


def _run_line(name: str, run: Run) -> str:
    label = f"  label {run.label!r}" if run.label else ""
    return (f"{name}: {run.run_id}  {run.status}  started {run.started_at:%Y-%m-%d %H:%M:%S} UTC  "
            f"{run.spec.trials} trial(s) x {run.spec.ops:,} reads{label}")


def comparison_report(comparison: Comparison, run_a: Run, run_b: Run) -> str:
    """The `compare` output: both runs, the verdict table, the sentence, the notes and the warnings."""
    from benchcore.views import presentation  # pandas: only the commands that print a comparison pay for it

    headers = ["tier", "mode", "p50 A µs [95% CI]", "p50 B µs [95% CI]", "B/A", "p", "min effect", "trials A/B",
               "ops/s A", "ops/s B", "verdict"]
    rows = [[str(v) for v in row] for row in presentation.delta_table(comparison).itertuples(index=False)]
    parts = [_run_line("A", run_a), _run_line("B", run_b), "", _table(headers, rows, right={2, 3, 4, 5, 7, 8, 9}), "",
             presentation.delta_summary(comparison)]
    if any(p.a.unstable or p.b.unstable for p in comparison.pairs):
        parts.append(f"{presentation.UNSTABLE_MARK} = unstable: that run's trial p50s vary by more than "
                     f"{UNSTABLE_CV_PCT:g} % (CV).")
    parts += [f"Note: {note}" for note in comparison.notes]
    if any(is_reference(r) for r in (run_a, run_b)):
        parts += ["", "How the published method differs from benchcore's, and what each difference does:"]
        parts += [f"  - {line}" for line in METHOD_DIFFERENCES]
    if comparison.warnings:
        parts += ["", "Warnings: the runs differ in what they measured"]
        parts += [f"  {w}" for w in comparison.warnings]
    return "\n".join(parts)


def comparison_dict(comparison: Comparison) -> dict[str, Any]:
    """The `compare --json` document, strict JSON."""
    cleaned: dict[str, Any] = _clean(comparison.to_dict())
    return cleaned


def plain_table(headers: list[str], rows: list[list[Any]]) -> str:
    return _table(headers, [[("-" if v is None else str(v)) for v in r] for r in rows], right=set())
