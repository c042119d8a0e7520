"""When each read finished, and per-second figures from that: a stall or a restart shows where it happened.

A loop records a tick (clock, samples so far) every CHECK_EVERY reads. A worker reads back to back, so
between two ticks its reads finish one after another: the completion time of each is the previous tick plus
the running sum of the latencies since, scaled to land on the next tick (the untimed bookkeeping between reads
is spread in proportion). A 200 ms stall is one 200 ms sample, and lands exactly where it was.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from benchcore.models import Second

NS = 1_000_000_000


def completion_times(samples: np.ndarray, ticks: np.ndarray, t0: int) -> np.ndarray:
    """ns clock reading at which each sample's read finished. ticks: flat (clock, samples so far) pairs, the
    last one at the loop's end; t0: the clock when the loop started (0 samples)."""
    times = np.empty(samples.size, dtype=np.int64)
    pairs = ticks.reshape(-1, 2) if ticks.size else np.empty((0, 2), np.int64)
    start_t, start_n = t0, 0
    for tick_t, tick_n in pairs:
        n = int(tick_n) - start_n
        if n > 0:
            lat = samples[start_n:int(tick_n)].astype(np.float64)
            cum = np.cumsum(lat)
            span = float(tick_t - start_t)
            scale = span / cum[-1] if cum[-1] > 0 and span > cum[-1] else 1.0
            times[start_n:int(tick_n)] = start_t + (cum * scale).astype(np.int64)
        start_t, start_n = int(tick_t), int(tick_n)
    if start_n < samples.size:  # no closing tick (should not happen): extend from the last one
        times[start_n:] = start_t + np.cumsum(samples[start_n:])
    return times


def per_second(samples: np.ndarray, times: np.ndarray, origin: int, intended: np.ndarray | None = None,
               span: tuple[int, int] | None = None) -> tuple[Second, ...]:
    """reads, p50, p99 and max of the reads that finished in each whole second after origin (the run's start)
    and, given each read's latency from its intended start (open loop, same order), that latency's p99: an
    open loop catches up after a stall within the second, so its service times hide it and these show it.

    span: the phase's (start, end) on the clock; each second's rate is then its reads over the part of it the
    phase covered (a trial of 0.1 s is 15,000 reads/s, not 1,500 "reads in that second")."""
    if samples.size == 0:
        return ()
    seconds = ((times - origin) // NS).astype(np.int64)
    order = np.argsort(seconds, kind="stable")
    seconds, values = seconds[order], samples[order]
    wanted = intended[order] if intended is not None and intended.size == samples.size else None
    bounds = np.flatnonzero(np.diff(seconds)) + 1
    parts = np.split(wanted, bounds) if wanted is not None else [None] * (bounds.size + 1)
    out = []
    for part_s, part, late in zip(np.split(seconds, bounds), np.split(values, bounds), parts, strict=True):
        p50, p99 = np.percentile(part, (50.0, 99.0)) / 1000.0
        second = int(part_s[0])
        out.append(Second(second=second, reads=int(part.size), p50_us=float(p50), p99_us=float(p99),
                          max_us=int(part.max()) / 1000.0,
                          intended_p99_us=None if late is None else float(np.percentile(late, 99.0)) / 1000.0,
                          reads_per_s=None if span is None else _rate(part.size, second, origin, span)))
    return tuple(out)


MIN_COVERED_NS = 1_000_000  # a rate over less than 1 ms of a second says nothing


def _rate(reads: int, second: int, origin: int, span: tuple[int, int]) -> float:
    low = max(span[0], origin + second * NS)
    high = min(span[1], origin + (second + 1) * NS)
    return reads / (max(high - low, MIN_COVERED_NS) / NS)


def merge(series: Sequence[tuple[Second, ...]]) -> tuple[Second, ...]:
    """Series of separate phases (trials) that never share a second, in time order."""
    return tuple(sorted((s for part in series for s in part), key=lambda s: s.second))
