"""Figures as table cells: every missing value is "-", never "None" or "nan"; latencies keep their doubt."""

from __future__ import annotations

import math
from typing import Any

DASH = "-"


def missing(value: Any) -> bool:
    """None, NaN, pandas' NA (anything not equal to itself or without a value)."""
    if value is None:
        return True
    try:
        return bool(value != value) or (isinstance(value, float) and math.isinf(value))
    except (TypeError, ValueError):  # pd.NA refuses bool()
        return True


def _digits(value: float) -> int:
    # About three significant figures: the in-process tier reads in 0.4 µs, a database in 400 µs.
    magnitude = abs(value)
    return 3 if magnitude < 1 else 2 if magnitude < 10 else 1 if magnitude < 10_000 else 0


def us(value: Any, digits: int | None = None) -> str:
    """A latency in µs: '0.412', '36.82', '364.9', '12,345'."""
    if missing(value):
        return DASH
    v = float(value)
    return f"{v:,.{_digits(v) if digits is None else digits}f}"


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
