"""Figures as table cells: every missing value is "—", never "None" or "nan"; latencies keep their doubt.

Latencies are always µs (the unit is in every header) with thousands separators and about three significant
figures, so 155956.37 reads 155,956 and 0.4123 reads 0.412: one unit across a table, comparable at a glance."""

from __future__ import annotations

import math
from typing import Any

DASH = "—"
# A percentile the sample count cannot support (README "How it measures"): fewer reads than this and the figure is
# decided by a handful of reads (p99 of 300 reads is the 3rd slowest), so the tables mark it instead of showing it.
TOO_FEW_CELL = "n/a"
MIN_SAMPLES = {"p99": 1_000, "p99.9": 10_000}


def missing(value: Any) -> bool:
    """None, NaN, pandas' NA (anything not equal to itself or without a value)."""
    if value is None:
        return True
    try:
        return bool(value != value) or (isinstance(value, float) and math.isinf(value))
    except (TypeError, ValueError):  # pd.NA refuses bool()
        return True


def _digits(value: float) -> int:
    # About three significant figures: the in-process tier reads in 0.4 µs, a database in 400 µs, a stall in
    # 155,956 µs (decimals of a figure that large are noise).
    magnitude = abs(value)
    return 3 if magnitude < 1 else 2 if magnitude < 10 else 1 if magnitude < 1_000 else 0


def us(value: Any, digits: int | None = None) -> str:
    """A latency in µs: '0.412', '36.82', '364.9', '12,345'."""
    if missing(value):
        return DASH
    v = float(value)
    return f"{v:,.{_digits(v) if digits is None else digits}f}"


def supported(percentile: str, samples: Any) -> bool:
    """Whether `samples` reads are enough for that percentile ("p99", "p99.9"; anything else always is)."""
    need = MIN_SAMPLES.get(percentile)
    return need is None or (not missing(samples) and int(samples) >= need)


def tail_us(value: Any, percentile: str, samples: Any) -> str:
    """A tail percentile's cell: the figure, or TOO_FEW_CELL when `samples` cannot support it."""
    if missing(value):
        return DASH
    return us(value) if supported(percentile, samples) else TOO_FEW_CELL


def p50_with_ci(p50: Any, low: Any, high: Any) -> str:
    """'61.2 [58.0–64.3]': the p50 and its 95% CI, in the p50's precision; just the p50 without a CI."""
    if missing(p50):
        return DASH
    digits = _digits(float(p50))
    text = us(p50, digits)
    if missing(low) or missing(high):
        return text
    return f"{text} [{us(low, digits)}–{us(high, digits)}]"


def number(value: Any, digits: int = 1) -> str:
    return DASH if missing(value) else f"{float(value):,.{digits}f}"


def count(value: Any) -> str:
    return DASH if missing(value) else f"{int(value):,}"


def ratio(value: Any) -> str:
    return DASH if missing(value) else f"{float(value):.2f}x"


def p_value(value: Any) -> str:
    if missing(value):
        return DASH
    return "< 0.001" if float(value) < 0.001 else f"{float(value):.3f}"


def percent(fraction: Any, digits: int = 1) -> str:
    """A fraction (0.995) as a percentage ('99.5')."""
    return DASH if missing(fraction) else f"{float(fraction) * 100:.{digits}f}"


def stability(cv_pct: Any, unstable: Any) -> str:
    """'⚠ unstable (CV 14 %)', 'stable', or '-' with fewer than two trials (no CV)."""
    if missing(cv_pct):
        return DASH
    if not missing(unstable) and bool(unstable):
        return f"⚠ unstable (CV {float(cv_pct):.0f} %)"
    return "stable"
