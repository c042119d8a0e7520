"""Run B against run A: per tier x mode, is B faster, slower or not significantly different? And what differs
between the two runs besides the code under test (the warnings)?

The unit of repetition is the trial (results/stats.py): the samples of one trial share a placement and a noise
burst, so they are not independent draws. Per tier x mode the evidence is therefore the two runs' trial p50s:

* a two-sided Mann-Whitney U test on them (scipy.stats.mannwhitneyu; exact for small samples, an exact
  permutation distribution when trial p50s tie, the tie-corrected normal approximation for large ones), and
* the effect: B/A = median of B's trial p50s / median of A's (the reported p50 of each run).

B is "slower" only when p < alpha AND B/A > 1 + floor ("faster": B/A < 1 / (1 + floor)), the effect floor being
the largest of min_effect, either run's own CV of trial p50s, and this machine's drift between identical runs
(results/drift.py, from the stored runs of the same workload) when enough of them exist. The floor scales with
noise because the trials of one run are interleaved (they share its placement and its drift) while two runs are
not: on this 2-core machine identical unpinned runs drifted 5-17 % apart with their trials 2-6 % apart, and a
rank test on 5 vs 5 tight trials calls any such shift significant. A change inside that noise is "no
significant change", and Comparison.notes names the pairs it held back. Otherwise "no significant change".
With fewer than MIN_TRIALS trials on a side there is no verdict ("too few trials"). The smallest p a rank test
can give is 2 / C(n_a + n_b, n_a): 0.10 for 3 vs 3 trials, so such pairs are "no significant change" by
construction, and Comparison.notes says so. No presentation here: views/ turn a Comparison into tables.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchcore.models import Environment, Run, RunSpec, ServerEnvironment, TierResult
from benchcore.presets import REFERENCE_KEY
from benchcore.results.drift import MIN_HISTORY, NO_DRIFT, Drift, pair_key
from benchcore.results.stats import cv_pct
from benchcore.tiers.registry import MODES, TIER_NAMES, tier_info, tier_order

ALPHA = 0.05
MIN_EFFECT = 0.05  # a 5 % change in p50: smaller ones are within this machine's run-to-run drift
MIN_TRIALS = 3
WATCHED_PCT = 10.0  # a dashboard run whose progress a browser redrew for at least this share of its time
# Exact permutation distribution (ties) only up to this many splits of the pooled trials (8 vs 8 = 12,870);
# beyond it the tie-corrected normal approximation is accurate enough and much cheaper.
MAX_EXACT_SPLITS = 20_000

FASTER, SLOWER, NO_CHANGE, TOO_FEW = "faster", "slower", "no significant change", "too few trials"
NOT_COMPARED = "not compared"  # the count of pairs without figures on both sides (failed, cancelled, absent)
NOT_MEASURED = "not measured"
MEANS_ONLY = "ratio of means (reference run: no test)"  # one side is a published table, means only

# How the p-value was computed (PairComparison.test).
EXACT, PERMUTATION, NORMAL = "exact", "exact permutation (tied trials)", "normal approximation"


@dataclass(frozen=True)
class Side:
    """One run's figures for one tier x mode."""

    status: str  # "ok", "failed", "cancelled" or NOT_MEASURED (the run did not include it)
    trial_p50s_us: tuple[float, ...] = ()
    p50_us: float | None = None  # median of the trial p50s
    ci_low_us: float | None = None  # 95% CI of that median (results/stats.py); None with one trial
    ci_high_us: float | None = None
    cv_pct: float | None = None
    unstable: bool | None = None
    ops_per_sec: float | None = None
    mean_us: float | None = None

    @property
    def trials(self) -> int:
        return len(self.trial_p50s_us)


@dataclass(frozen=True)
class PairComparison:
    tier: str
    mode: str
    verdict: str  # FASTER, SLOWER, NO_CHANGE, TOO_FEW, or why not compared ("failed in B", ...)
    a: Side
    b: Side
    ratio: float | None = None  # B/A of the medians of the trial p50s
    p_value: float | None = None
    test: str | None = None  # EXACT, PERMUTATION or NORMAL
    concurrency: int | None = None  # set when either run is a sweep: pairs are then per level
    floor: float | None = None  # the smallest |B/A - 1| called a change (effect_floor), when a test was made
    drift: float | None = None  # this machine's drift floor for the pair (results/drift.py); None: not known

    @property
    def floor_reason(self) -> str:
        """What set the floor: 'drift 14 %', 'CV 19 %' or, the fixed minimum, '5 %'."""
        if self.floor is None:
            return ""
        if self.drift is not None and self.drift >= self.floor:
            return f"drift {self.floor * 100:.0f} %"
        cv = max(trial_cv(self.a.trial_p50s_us), trial_cv(self.b.trial_p50s_us))
        return f"CV {self.floor * 100:.0f} %" if cv >= self.floor else f"{self.floor * 100:.0f} %"

    @property
    def where(self) -> str:
        """'redis', or 'redis at C=8' in a sweep comparison."""
        return self.tier if self.concurrency is None else f"{self.tier} at C={self.concurrency}"

    @property
    def compared(self) -> bool:
        """Both runs have figures (the verdict may still be TOO_FEW)."""
        return self.verdict in (FASTER, SLOWER, NO_CHANGE, TOO_FEW)


@dataclass(frozen=True)
class Comparison:
    run_a: str
    run_b: str
    alpha: float
    min_effect: float
    pairs: tuple[PairComparison, ...]
    warnings: tuple[str, ...]  # the runs differ in something that changes what is measured
    notes: tuple[str, ...]  # limits of the verdicts themselves (too few trials, significance impossible)
    drift: Drift | None = None  # the machine's run-to-run drift the floors used; None: not consulted

    @property
    def method(self) -> str:
        return method_name(self.alpha, self.min_effect)

    @property
    def slower(self) -> tuple[PairComparison, ...]:
        return tuple(p for p in self.pairs if p.verdict == SLOWER)

    def counts(self) -> dict[str, int]:
        """Pairs per outcome: FASTER, SLOWER, NO_CHANGE, TOO_FEW and NOT_COMPARED (always all five keys)."""
        out = dict.fromkeys((SLOWER, FASTER, NO_CHANGE, TOO_FEW, NOT_COMPARED), 0)
        for pair in self.pairs:
            out[pair.verdict if pair.compared else NOT_COMPARED] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        """The `compare --json` document (strict JSON: no NaN)."""
        return {
            "run_a": self.run_a,
            "run_b": self.run_b,
            "method": self.method,
            "alpha": self.alpha,
            "min_effect_pct": _clean(self.min_effect * 100.0),
            "drift_history_runs": self.drift.runs if self.drift is not None else None,
            "counts": self.counts(),
            "pairs": [_pair_dict(p) for p in self.pairs],
            "notes": list(self.notes),
            "warnings": list(self.warnings),
        }


def method_name(alpha: float = ALPHA, min_effect: float = MIN_EFFECT) -> str:
    """'Mann-Whitney U on trial p50s, α = 0.05, minimum effect 5 %, the runs' CV or the machine's drift'."""
    return (f"Mann-Whitney U on trial p50s, α = {alpha:g}, minimum effect {min_effect * 100:g} %, the runs' CV or "
            "the machine's drift")


def min_possible_p(n_a: int, n_b: int) -> float:
    """The smallest two-sided p a rank test can reach with n_a and n_b values: every B above every A."""
    return min(1.0, 2.0 / math.comb(n_a + n_b, n_a)) if n_a and n_b else 1.0


def mann_whitney(a: Iterable[float], b: Iterable[float]) -> tuple[float, str]:
    """Two-sided Mann-Whitney U p-value of a against b, and how it was computed."""
    from scipy.stats import PermutationMethod, mannwhitneyu  # lazy: scipy costs ~0.3 s to import

    xa, xb = np.asarray(list(a), dtype=float), np.asarray(list(b), dtype=float)
    tied = np.unique(np.concatenate([xa, xb])).size < xa.size + xb.size
    small = min(xa.size, xb.size) <= 8  # scipy's own limit for its exact method
    if tied and math.comb(xa.size + xb.size, xa.size) <= MAX_EXACT_SPLITS:
        # scipy's exact U distribution assumes no ties; every split of the pooled values is exact with them.
        method: Any = PermutationMethod(n_resamples=MAX_EXACT_SPLITS)
        test = PERMUTATION
    else:
        method, test = "auto", (EXACT if small and not tied else NORMAL)
    result = mannwhitneyu(xa, xb, alternative="two-sided", method=method)
    return float(result.pvalue), test


def _values(trial_p50s: Iterable[float]) -> list[float]:
    return [float(v) for v in trial_p50s if v is not None and math.isfinite(v)]


def trial_cv(trial_p50s: Iterable[float]) -> float:
    """Coefficient of variation of one run's trial p50s, as a fraction (the cv_pct its summary shows / 100)."""
    return cv_pct(np.asarray(_values(trial_p50s), dtype=float)) / 100.0


def effect_floor(a: Iterable[float], b: Iterable[float], min_effect: float = MIN_EFFECT,
                 drift: float | None = None) -> float:
    """The smallest |B/A - 1| called a change: min_effect, the noisier run's CV of trial p50s, or the machine's
    drift between identical runs, whichever is largest."""
    return max(min_effect, trial_cv(a), trial_cv(b), drift or 0.0)


def decide(a: Iterable[float], b: Iterable[float], alpha: float = ALPHA, min_effect: float = MIN_EFFECT,
           drift: float | None = None) -> tuple[str, float | None, float | None, str | None]:
    """(verdict, ratio B/A, p, test) from two runs' trial p50s; ratio and p are None when not computable."""
    xa, xb = _values(a), _values(b)
    ma, mb = (float(np.median(x)) if x else None for x in (xa, xb))
    ratio = mb / ma if ma is not None and mb is not None and ma > 0 else None
    if len(xa) < MIN_TRIALS or len(xb) < MIN_TRIALS or ratio is None:
        return TOO_FEW, ratio, None, None
    p, test = mann_whitney(xa, xb)
    floor = effect_floor(xa, xb, min_effect, drift)
    # Symmetric in log space: 2x slower and 2x faster are as far from 1, and a floor above 100 % (a drifting
    # machine) still leaves "faster" reachable.
    if p < alpha and ratio > 1.0 + floor:
        return SLOWER, ratio, p, test
    if p < alpha and ratio < 1.0 / (1.0 + floor):
        return FASTER, ratio, p, test
    return NO_CHANGE, ratio, p, test


def held_back(pair: PairComparison, alpha: float = ALPHA, min_effect: float = MIN_EFFECT) -> bool:
    """A pair that would have been faster or slower with the fixed minimum effect, but is inside its runs'
    own trial-to-trial spread or the machine's drift."""
    return (pair.verdict == NO_CHANGE and pair.p_value is not None and pair.p_value < alpha
            and pair.ratio is not None and pair.ratio > 0 and abs(math.log(pair.ratio)) > math.log1p(min_effect))


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def side_of(result: TierResult | None) -> Side:
    """A run's figures for one tier x mode (None: the run did not include it)."""
    if result is None:
        return Side(NOT_MEASURED)
    p50s = tuple(float(t.stats.p50_us) for t in result.trials if t.stats.ops > 0 and math.isfinite(t.stats.p50_us))
    s = result.summary
    if s is None:
        return Side(result.status, p50s)
    # Runs stored before the repeat statistics have a pooled-sample p50: the median of the trials is the figure.
    p50 = float(np.median(p50s)) if p50s else _finite(s.p50_us)
    return Side(result.status, p50s, p50, _finite(s.p50_ci_low_us), _finite(s.p50_ci_high_us), _finite(s.cv_pct),
                s.unstable, _finite(s.ops_per_sec), _finite(s.mean_us))


def _unavailable(a: Side, b: Side) -> str | None:
    """Why a pair cannot be compared ("failed in B", "not measured in A, cancelled in B"); None if it can."""
    why = [f"{side.status if side.status != 'ok' else NOT_MEASURED} in {name}" for name, side in (("A", a), ("B", b))
           if side.status != "ok" or side.p50_us is None]
    return ", ".join(why) or None


def compare_means(tier: str, mode: str, a: Side, b: Side, concurrency: int | None = None) -> PairComparison:
    """Against a reference run (a published table of means): B/A of the means, and no verdict."""
    if a.status == "ok" and b.status == "ok" and a.mean_us and b.mean_us:
        return PairComparison(tier, mode, MEANS_ONLY, a, b, b.mean_us / a.mean_us, concurrency=concurrency)
    why = [f"{side.status if side.status != 'ok' else NOT_MEASURED} in {name}" for name, side in (("A", a), ("B", b))
           if side.status != "ok" or not side.mean_us]
    return PairComparison(tier, mode, ", ".join(why), a, b, concurrency=concurrency)


def compare_pair(tier: str, mode: str, a: Side, b: Side, alpha: float = ALPHA, min_effect: float = MIN_EFFECT,
                 concurrency: int | None = None, drift: float | None = None) -> PairComparison:
    if (why := _unavailable(a, b)) is not None:
        return PairComparison(tier, mode, why, a, b, concurrency=concurrency, drift=drift)
    verdict, ratio, p, test = decide(a.trial_p50s_us, b.trial_p50s_us, alpha, min_effect, drift)
    floor = effect_floor(a.trial_p50s_us, b.trial_p50s_us, min_effect, drift) if p is not None else None
    if ratio is None and a.p50_us and b.p50_us:  # no trials stored: the pooled figures still give a ratio
        ratio = b.p50_us / a.p50_us
    return PairComparison(tier, mode, verdict, a, b, ratio, p, test, concurrency, floor, drift)


def _pair_key(key: tuple[str, str, int | None]) -> tuple[int, int, str, int]:
    tier, mode, level = key
    return level or 0, tier_order(tier), tier, MODES.index(mode) if mode in MODES else len(MODES)


def compare_runs(run_a: Run, run_b: Run, alpha: float = ALPHA, min_effect: float = MIN_EFFECT,
                 drift: Drift | None = None) -> Comparison:
    """Every tier x mode measured (or attempted) in either run, in registry order; warnings and notes. When
    either run is a concurrency sweep, every (tier, mode, level) is a pair of its own. drift: the machine's
    run-to-run drift for runs like B (results/drift.of_stored), which raises the effect floor where known;
    None: not consulted (no floor from it, no note about it)."""
    per_level = run_a.spec.sweep is not None or run_b.spec.sweep is not None

    def key(r: TierResult) -> tuple[str, str, int | None]:
        return r.tier, r.mode, int(r.concurrency) if per_level else None

    by_a = {key(r): r for r in run_a.results}
    by_b = {key(r): r for r in run_b.results}
    keys = sorted(set(by_a) | set(by_b), key=_pair_key)
    reference = [r for r in (run_a, run_b) if REFERENCE_KEY in r.environment.extra]
    if reference:
        pairs = tuple(compare_means(t, m, side_of(by_a.get((t, m, c))), side_of(by_b.get((t, m, c))), c)
                      for t, m, c in keys)
        notes = [f"Run {r.run_id} is a reference run ({r.environment.extra[REFERENCE_KEY]}): B/A is the ratio of the "
                 "means, and no test is possible." for r in reference]
        return Comparison(run_a.run_id, run_b.run_id, alpha, min_effect, pairs,
                          tuple(comparison_warnings(run_a, run_b)), tuple(notes))
    pairs = tuple(compare_pair(t, m, side_of(by_a.get((t, m, c))), side_of(by_b.get((t, m, c))), alpha, min_effect,
                               c, (drift or NO_DRIFT).floor(pair_key(run_b, t, m, c))) for t, m, c in keys)
    notes = [*verdict_notes(pairs, alpha, min_effect), *drift_notes(pairs, drift)]
    return Comparison(run_a.run_id, run_b.run_id, alpha, min_effect, pairs,
                      tuple(comparison_warnings(run_a, run_b)), tuple(notes), drift)


def drift_notes(pairs: Iterable[PairComparison], drift: Drift | None) -> list[str]:
    """What the machine's drift did to the floors, or that it is not known while a verdict relies on trials."""
    pairs = [p for p in pairs if p.compared and p.verdict != TOO_FEW]
    if not pairs or drift is None:
        return []
    known = [p.drift for p in pairs if p.drift is not None]
    if known:
        spans = list(drift.spans.values())
        return [f"The minimum effect includes this machine's drift between identical runs, from the "
                f"{drift.runs} newest stored runs of this workload: {min(known) * 100:.0f}–{max(known) * 100:.0f} % "
                "by tier x mode (two identical runs differ by more than that only 5 % of the time; those runs' p50s "
                f"spanned {min(spans):.2f}–{max(spans):.2f}x). A smaller change needs quieter runs: pinned CPUs "
                "(README: CPU placement) or a quieter machine; more stored runs also tighten the estimate."]
    called = [p for p in pairs if p.verdict in (FASTER, SLOWER)]
    if not called:
        return []
    return [f"The drift between identical runs on this machine is not known yet ({drift.runs} comparable stored "
            f"run(s), {MIN_HISTORY} needed), so the verdicts rest on the trials alone; runs drift apart more than "
            "their trials do (5-17 % unpinned on a 2-core machine): make a few more identical runs, or pin CPUs, "
            "before trusting a change under 20 %."]


def verdict_notes(pairs: Iterable[PairComparison], alpha: float = ALPHA, min_effect: float = MIN_EFFECT) -> list[str]:
    """What limits the verdicts: pairs with too few trials, trial counts that cannot reach p < alpha, pairs held
    back by their runs' own noise, and every pair moving one way (the machine, more often than the code)."""
    pairs = [p for p in pairs if p.compared]
    notes: list[str] = []
    noisy = [p for p in pairs if held_back(p, alpha, min_effect)]
    if noisy:
        shown = "; ".join(f"{p.where} {p.mode} B/A {p.ratio:.2f} within {p.floor_reason}"
                          for p in noisy if p.ratio is not None)
        notes.append(f"Not called a change because the shift is smaller than the runs' own trial-to-trial spread "
                     f"(CV) or this machine's drift between identical runs: {shown}. Re-run both with less noise "
                     "(pinned, a quieter machine, more reads per trial).")
    ratios = [p.ratio for p in pairs if p.ratio is not None and p.verdict != TOO_FEW]
    if len(ratios) >= 3 and (min(ratios) > 1.0 + min_effect or max(ratios) < 1.0 - min_effect):
        notes.append(f"Every compared tier x mode moved the same way (B/A {min(ratios):.2f}–{max(ratios):.2f}). "
                     "A shift this uniform is more often the machine (placement, frequency, a neighbour) than the "
                     "code under test: compare runs made side by side before trusting it.")
    few = sorted({(p.a.trials, p.b.trials) for p in pairs if p.verdict == TOO_FEW})
    for n_a, n_b in few:
        notes.append(f"With {n_a} trial(s) in A and {n_b} in B there is no verdict: at least {MIN_TRIALS} per run "
                     "are needed.")
    weak = sorted({(p.a.trials, p.b.trials) for p in pairs if p.verdict != TOO_FEW
                   and min_possible_p(p.a.trials, p.b.trials) >= alpha})
    for n_a, n_b in weak:
        notes.append(f"With {n_a} trials in A and {n_b} in B the smallest possible p is "
                     f"{min_possible_p(n_a, n_b):.3f} (not below α = {alpha:g}), so those pairs are \"{NO_CHANGE}\" "
                     "whatever the ratio: use at least 4 trials per run (5 is the default).")
    return notes


# ---- what differs between the runs ------------------------------------------------------------------------


def _shown(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, tuple | list):
        return ",".join(map(str, value)) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _caches(cold: bool) -> str:
    return "cold" if cold else "warmed"


def _pinned(cpus: tuple[int, ...] | None) -> str:
    return f"pinned to CPUs {_shown(cpus)}" if cpus else "not pinned"


# RunSpec field -> (what it is, how a value reads). Tiers, modes, label, table and key prefix are not here: they
# choose what is shown, or name things, without changing how one read is measured.
_WORKLOAD: dict[str, tuple[str, Callable[[Any], str]]] = {
    "ops": ("reads per trial", _shown),
    "trials": ("trials", _shown),
    "warmup": ("warmup reads", _shown),
    "concurrency": ("concurrency", _shown),
    "keys": ("key count", _shown),
    "distribution": ("key distribution", _shown),
    "seed": ("key seed", _shown),
    "cold": ("caches", _caches),
    "cache_ttl_s": ("cache TTL (s)", _shown),
    "read_timeout_s": ("read timeout (s)", _shown),
    "interleave": ("interleaved trials", _shown),
    "cpus": ("client", _pinned),
    "connection": ("connection handling", _shown),
    "serializer": ("cache serializer", _shown),
    "value_bytes": ("cached value size (bytes)", lambda v: "the bare record" if v is None else f"{v:,}"),
    "loop": ("async event loop", _shown),
    "sync_driver": ("raw PostgreSQL driver (sync)", _shown),
    "async_driver": ("raw PostgreSQL driver (async)", _shown),
    "rate": ("open-loop rate (reads/s; none = closed loop)", _shown),
    "duration_s": ("open-loop duration per trial (s)", _shown),
    "arrival": ("open-loop arrivals", _shown),
    "sweep": ("concurrency sweep levels", _shown),
    "processes": ("client processes", _shown),
}


def workload_warnings(a: RunSpec, b: RunSpec) -> list[str]:
    """One line per workload setting that differs."""
    out = [f"Different workload: {what} {show(getattr(a, name))} in A vs {show(getattr(b, name))} in B."
           for name, (what, show) in _WORKLOAD.items() if getattr(a, name) != getattr(b, name)]
    # No capacity given = the key space (compared above): only an explicit capacity adds something.
    if (a.cache_capacity is not None or b.cache_capacity is not None) and a.capacity != b.capacity:
        out.append(f"Different workload: in-process cache capacity {a.capacity} in A vs {b.capacity} in B.")
    return out


def _known(value: object) -> bool:
    return value is not None and value != ""  # runs stored before a field existed leave it empty


_MACHINE: tuple[tuple[str, str], ...] = (
    ("hostname", "host"), ("cpu_model", "CPU"), ("cpu_count", "CPU count"), ("cpu_affinity", "process CPUs"),
    ("client_cpu_affinity", "client CPUs"), ("python", "Python"), ("os", "OS"),
)


def environment_warnings(a: Environment, b: Environment) -> list[str]:
    """Machine, client CPUs, Python, OS, benchcore, driver and library versions (fields known in both runs)."""
    out = [f"Different {what}: {_shown(getattr(a, name))} in A vs {_shown(getattr(b, name))} in B."
           for name, what in _MACHINE
           if _known(getattr(a, name)) and _known(getattr(b, name)) and getattr(a, name) != getattr(b, name)]
    watched = [(name, env.progress_watched_pct or 0.0) for name, env in (("A", a), ("B", b))]
    if any(pct >= WATCHED_PCT for _, pct in watched) and any(pct < WATCHED_PCT for _, pct in watched):
        name, pct = max(watched, key=lambda w: w[1])
        out.append(f"A browser redrew the progress during {pct:.0f} % of run {name} and not during the other: if it "
                   "ran on the client's machine it shared its CPUs, which lifts p99 and max (up to 2.3x here) more "
                   "than p50.")
    pa = {**a.packages, **({"benchcore": a.benchcore_version} if a.benchcore_version else {})}
    pb = {**b.packages, **({"benchcore": b.benchcore_version} if b.benchcore_version else {})}
    changed = [f"{k} {pa[k]} -> {pb[k]}" for k in sorted(set(pa) & set(pb)) if pa[k] != pb[k]]
    if changed:
        out.append("Different driver/library versions: " + "; ".join(changed) + ".")
    return out


def servers_of(run: Run) -> dict[str, ServerEnvironment]:
    """Backend -> its server as the run recorded it; runs without that record fall back to their results'."""
    servers = dict(run.environment.servers)
    for result in run.results:
        backend = tier_info(result.tier).server if result.tier in TIER_NAMES else None
        if backend is not None and backend not in servers and (result.server.kind != "unknown"
                                                               or result.server.version):
            servers[backend] = ServerEnvironment(result.server.kind, result.server.address, result.server.version)
    return servers


def _placement(server: ServerEnvironment) -> tuple[int, ...] | None:
    return server.placement.pinned_cpus if server.placement is not None else None


def server_warnings(a: Mapping[str, ServerEnvironment], b: Mapping[str, ServerEnvironment]) -> list[str]:
    """Per backend both runs reached: embedded vs external, address, version, embedded server pinning."""
    out: list[str] = []
    for backend in sorted(set(a) & set(b)):
        sa, sb = a[backend], b[backend]
        if _known(sa.kind) and _known(sb.kind) and "unknown" not in (sa.kind, sb.kind) and sa.kind != sb.kind:
            out.append(f"Different {backend} server: {sa.kind} in A vs {sb.kind} in B.")
        elif sa.kind == sb.kind == "external" and _known(sa.address) and _known(sb.address) \
                and sa.address != sb.address:  # an embedded server's port changes from process to process
            out.append(f"Different {backend} server: {sa.address} in A vs {sb.address} in B.")
        if _known(sa.version) and _known(sb.version) and sa.version != sb.version:
            out.append(f"Different {backend} server version: {sa.version} in A vs {sb.version} in B.")
        if _placement(sa) != _placement(sb) and "embedded" in (sa.kind, sb.kind):
            out.append(f"Different {backend} server CPUs: {_pinned(_placement(sa))} in A vs "
                       f"{_pinned(_placement(sb))} in B.")
    return out


def comparison_warnings(run_a: Run, run_b: Run) -> list[str]:
    """Why A vs B may not be apples to apples: anything besides the code under test that changes what is
    measured (workload, machine, client CPUs, servers, software versions)."""
    # Only servers a tier of both runs needs: the in-process tier needs none, so two in-process runs never warn
    # about a database they did not read from.
    shared = {r.tier for r in run_a.results} & {r.tier for r in run_b.results}
    needed = {backend for tier in shared if tier in TIER_NAMES for backend in tier_info(tier).needs}
    servers_a = {k: v for k, v in servers_of(run_a).items() if k in needed}
    return [*workload_warnings(run_a.spec, run_b.spec), *environment_warnings(run_a.environment, run_b.environment),
            *server_warnings(servers_a, servers_of(run_b))]


# ---- the JSON document ------------------------------------------------------------------------------------


def _clean(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def _side_dict(side: Side) -> dict[str, Any]:
    return {"status": side.status, "trials": side.trials, "trial_p50s_us": list(side.trial_p50s_us),
            "p50_us": side.p50_us, "p50_ci_low_us": side.ci_low_us, "p50_ci_high_us": side.ci_high_us,
            "cv_pct": side.cv_pct, "unstable": side.unstable, "ops_per_sec": side.ops_per_sec, "mean_us": side.mean_us}


def _pair_dict(pair: PairComparison) -> dict[str, Any]:
    return {"tier": pair.tier, "mode": pair.mode, "concurrency": pair.concurrency, "verdict": pair.verdict,
            "ratio": _clean(pair.ratio),
            "p_value": _clean(pair.p_value), "test": pair.test, "trials_a": pair.a.trials,
            "effect_floor_pct": _clean(pair.floor * 100.0) if pair.floor is not None else None,
            "drift_pct": _clean(pair.drift * 100.0) if pair.drift is not None else None,
            "trials_b": pair.b.trials, "a": _side_dict(pair.a), "b": _side_dict(pair.b)}
