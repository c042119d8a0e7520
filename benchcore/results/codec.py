"""The one mapping between a Run and plain data, shared by the spool, the `--json` document, frames and storage.

* run_to_dict / run_from_dict: the canonical JSON-ready document of a Run, in the documented `--json`
  shape (a result's pooled figures flat beside its tier and mode; its trials under "trials"). Floats
  stay floats, NaN and inf included: the strict-JSON writer (views/report.py) turns those into null.
* result_records / results_from_records: a result as flat records, one per stored row (trial 0 = all
  trials pooled, then one per trial); frames and storage take their values by column name (ordered()).
* run_record: the flat listing record of a run (RunRepository's runs table, frames.runs_frame).
* environment_to_dict / environment_from_dict (results/environment_codec.py): the Environment record.

Stats fields come from the Stats dataclass here, and nowhere else: a field added to Stats appears in every
record, and ordered() refuses a record whose fields are not exactly a table's columns. So the stored
schema (results/schema.py) cannot drift from the models without a test failing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import numpy as np

from benchcore.models import (
    InstanceResult,
    Run,
    RunSpec,
    Second,
    ServerInfo,
    Stats,
    TierResult,
    TrialResult,
)
from benchcore.results.environment_codec import environment_from_dict, environment_to_dict
from benchcore.running.environment import machine_summary

STATS_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Stats))
_COUNTS = frozenset({"ops", "errors", "hits", "misses", "late_reads", "writes", "stale_reads", "l1_hits", "l2_hits"})
_FLAGS = frozenset({"unstable"})
# Figures that do not exist for every result (no cache, one trial, stored by an older version): None stays None.
# The others are always computed, so a missing one is "not a number" (NaN), as the strict-JSON writer sends it.
_OPTIONAL = frozenset(f.name for f in fields(Stats) if f.default is None)

# The flat per-result record: one per stored row.
RESULT_FIELDS: tuple[str, ...] = ("tier", "mode", "concurrency", "trial", "status", "error", "description",
                                  *STATS_FIELDS, "server_kind", "server_address", "server_version")


def ordered(record: Mapping[str, Any], names: Sequence[str]) -> tuple[Any, ...]:
    """record's values in the order of names; ValueError unless the record has exactly those fields."""
    if set(record) != set(names) or len(set(names)) != len(names):
        unstored = sorted(set(record) - set(names))
        missing = sorted(set(names) - set(record))
        raise ValueError(f"record and columns differ: fields without a column {unstored}, columns without a "
                         f"value {missing}; change the schema (and its version) and the codec together")
    return tuple(record[name] for name in names)


# ---- times and statistics ----------------------------------------------------------------------


def utc(value: datetime | str) -> datetime:
    """An aware UTC datetime from a datetime (naive = UTC by convention) or an ISO 8601 text."""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def stats_to_dict(stats: Stats | None) -> dict[str, Any]:
    """Stats as plain ints and floats in field order; every field None when nothing was measured."""
    if stats is None:
        return dict.fromkeys(STATS_FIELDS)
    out: dict[str, Any] = {}
    for name in STATS_FIELDS:
        value = getattr(stats, name)
        out[name] = None if value is None else (
            int(value) if name in _COUNTS else bool(value) if name in _FLAGS else float(value))
    return out


def stats_from_dict(data: Mapping[str, Any]) -> Stats | None:
    """Inverse of stats_to_dict (other keys are ignored); None when ops is None: nothing was measured."""
    if data.get("ops") is None:
        return None
    values: dict[str, Any] = {}
    for name in STATS_FIELDS:
        value = data.get(name) if name in _OPTIONAL else data[name]
        if name in _COUNTS:
            values[name] = None if value is None else int(value)
        elif name in _FLAGS:
            values[name] = None if value is None else bool(value)
        elif value is None:  # strict JSON carries NaN and inf as null
            values[name] = None if name in _OPTIONAL else math.nan
        else:
            values[name] = float(value)
    return Stats(**values)


def _trial_stats(data: Mapping[str, Any], trial: int) -> Stats:
    stats = stats_from_dict(data)
    if stats is None:
        raise ValueError(f"trial {trial} has no figures")
    return stats


def _samples(values: Any) -> np.ndarray:
    return np.asarray(values if values is not None else (), dtype=np.int64)


def miss_key(result_index: int, trial_index: int) -> str:
    """Name of one trial's miss positions beside a run document (the spool's .npz)."""
    return f"r{result_index}_t{trial_index}_miss"


def intended_key(result_index: int, trial_index: int) -> str:
    """Name of one trial's intended-start latencies (open loop) beside a run document (the spool's .npz)."""
    return f"r{result_index}_t{trial_index}_intended"


def series_to_list(series: Sequence[Second]) -> list[dict[str, Any]]:
    return [{"second": s.second, "reads": s.reads, "p50_us": s.p50_us, "p99_us": s.p99_us, "max_us": s.max_us,
             "intended_p99_us": s.intended_p99_us, "reads_per_s": s.reads_per_s} for s in series]


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


def series_from_list(values: Iterable[Mapping[str, Any]] | None) -> tuple[Second, ...]:
    return tuple(Second(second=int(v["second"]), reads=int(v["reads"]), p50_us=float(v["p50_us"]),
                        p99_us=float(v["p99_us"]), max_us=_optional(v.get("max_us")),
                        intended_p99_us=_optional(v.get("intended_p99_us")),
                        reads_per_s=_optional(v.get("reads_per_s"))) for v in values or ())


@dataclass(frozen=True)
class TrialData:
    """What a trial has besides its figures: raw samples, miss positions, intended latencies, per-second series."""

    samples: np.ndarray
    miss_index: np.ndarray
    intended: np.ndarray
    series: tuple[Second, ...] = ()


# ---- the run document ------------------------------------------------------------------------


def sample_key(result_index: int, trial_index: int) -> str:
    """Name of one trial's samples beside a run document (the spool's .npz)."""
    return f"r{result_index}_t{trial_index}"


def server_to_dict(server: ServerInfo) -> dict[str, Any]:
    return {"kind": server.kind, "address": server.address, "version": server.version}


INSTANCE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(InstanceResult))


def instance_to_dict(instance: InstanceResult) -> dict[str, Any]:
    return {name: getattr(instance, name) for name in INSTANCE_FIELDS}


def instance_from_dict(data: Mapping[str, Any]) -> InstanceResult:
    def whole(name: str) -> int | None:
        return None if data.get(name) is None else int(data[name])

    def real(name: str) -> float | None:
        return None if data.get(name) is None else float(data[name])

    return InstanceResult(instance=int(data["instance"]), host=str(data["host"]), pid=int(data["pid"]),
                          ops=int(data["ops"]), writes=int(data["writes"]), hits=whole("hits"),
                          misses=whole("misses"), hit_ratio=real("hit_ratio"), l1_hits=whole("l1_hits"),
                          l2_hits=whole("l2_hits"), stale_reads=whole("stale_reads"),
                          ops_per_sec=float(data["ops_per_sec"]), rss_mb=real("rss_mb"),
                          cache_entries=whole("cache_entries"))


def _trial_to_dict(trial: TrialResult, samples: bool) -> dict[str, Any]:
    out = {"trial": int(trial.trial), **stats_to_dict(trial.stats), "series": series_to_list(trial.series)}
    if samples:
        out["samples"] = _samples(trial.samples).tolist()
        out["miss_index"] = _samples(trial.miss_index).tolist()
        out["intended"] = _samples(trial.intended).tolist()
    return out


def result_to_dict(result: TierResult, samples: bool = False) -> dict[str, Any]:
    """One result in the `--json` shape: pooled figures flat, trials (with samples if asked) under "trials"."""
    return {
        "tier": result.tier,
        "mode": result.mode,
        "concurrency": int(result.concurrency),
        **stats_to_dict(result.summary),
        "description": result.description,
        "status": result.status,
        "error": result.error,
        "server": server_to_dict(result.server),
        "trials": [_trial_to_dict(t, samples) for t in result.trials],
        "instances": [instance_to_dict(i) for i in result.instances],
    }


def run_to_dict(run: Run, samples: bool = False) -> dict[str, Any]:
    """The canonical JSON-ready document of a Run; samples (int nanoseconds per trial) only when asked."""
    return {
        "run_id": run.run_id,
        "status": run.status,
        "started_at": utc(run.started_at).isoformat(),
        "finished_at": utc(run.finished_at).isoformat(),
        "label": run.label,
        "config": run.spec.to_dict(),
        "environment": environment_to_dict(run.environment),
        "timer_overhead_ns": float(run.timer_overhead_ns),
        "results": [result_to_dict(r, samples) for r in run.results],
    }


def _stats_of(data: Mapping[str, Any], nested: str) -> Stats | None:
    # Spool version 1 (benchcore 0.1.0) nested a result's figures under "summary" and a trial's under "stats".
    if nested in data:
        inner = data[nested]
        return None if inner is None else stats_from_dict(inner)
    return stats_from_dict(data)


SamplesOf = Callable[[int, Mapping[str, Any]], TrialData]


def _result_from_dict(data: Mapping[str, Any], samples_of: SamplesOf) -> TierResult:
    trials = []
    for j, t in enumerate(data["trials"]):
        stats = _stats_of(t, "stats")
        if stats is None:
            raise ValueError(f"trial {t.get('trial')} of {data['tier']} ({data['mode']}) has no figures")
        raw = samples_of(j, t)
        trials.append(TrialResult(trial=int(t["trial"]), stats=stats, samples=raw.samples,
                                  miss_index=raw.miss_index, intended=raw.intended,
                                  series=series_from_list(t.get("series"))))
    return TierResult(tier=data["tier"], mode=data["mode"], concurrency=int(data["concurrency"]),
                      description=data["description"], status=data["status"], error=data["error"],
                      summary=_stats_of(data, "summary"), trials=tuple(trials), server=ServerInfo(**data["server"]),
                      instances=tuple(instance_from_dict(i) for i in data.get("instances") or ()))


def build_run(head: Mapping[str, Any], results: Sequence[TierResult]) -> Run:
    """A Run from its document's head (run_id, status, times, config, environment, timer_overhead_ns)."""
    return Run(run_id=head["run_id"], started_at=utc(head["started_at"]), finished_at=utc(head["finished_at"]),
               status=head["status"], spec=RunSpec.from_dict(head["config"]),
               environment=environment_from_dict(head["environment"]), results=tuple(results),
               timer_overhead_ns=float(head["timer_overhead_ns"]))


def run_from_dict(data: Mapping[str, Any], samples: Mapping[str, np.ndarray] | None = None) -> Run:
    """Inverse of run_to_dict. A trial's samples come from its "samples" list, else from samples[sample_key(i, j)],
    else empty (miss positions likewise, under "miss_index" / miss_key). Also reads the spool documents of
    benchcore 0.1.0 ("spec"; figures nested)."""
    arrays = samples or {}
    results = []
    for i, r in enumerate(data["results"]):
        def samples_of(j: int, trial: Mapping[str, Any], i: int = i) -> TrialData:
            if "samples" in trial:
                return TrialData(_samples(trial["samples"]), _samples(trial.get("miss_index")),
                                 _samples(trial.get("intended")))
            return TrialData(_samples(arrays.get(sample_key(i, j))), _samples(arrays.get(miss_key(i, j))),
                             _samples(arrays.get(intended_key(i, j))))
        results.append(_result_from_dict(r, samples_of))
    head = {**data, "config": data["config"] if "config" in data else data["spec"]}
    return build_run(head, results)


# ---- flat records (rows) -------------------------------------------------------------------------


def result_records(result: TierResult) -> list[dict[str, Any]]:
    """RESULT_FIELDS records: the pooled summary (trial 0), then one per trial."""
    def record(trial: int, stats: Stats | None) -> dict[str, Any]:
        return {"tier": result.tier, "mode": result.mode, "concurrency": int(result.concurrency), "trial": trial,
                "status": result.status, "error": result.error, "description": result.description,
                **stats_to_dict(stats), "server_kind": result.server.kind,
                "server_address": result.server.address, "server_version": result.server.version}

    return [record(0, result.summary), *(record(int(t.trial), t.stats) for t in result.trials)]


def results_from_records(records: Iterable[Mapping[str, Any]],
                         samples: Sequence[TrialData | None] | None = None) -> tuple[TierResult, ...]:
    """Inverse of result_records over a run's records in stored order: each trial-0 record starts a result and
    its trials follow. samples[k] = the k-th record's TrialData (None or absent: none)."""
    results: list[TierResult] = []
    head: Mapping[str, Any] | None = None
    trials: list[TrialResult] = []

    def flush() -> None:
        if head is not None:
            server = ServerInfo(kind=head["server_kind"], address=head["server_address"],
                                version=head["server_version"])
            results.append(TierResult(tier=head["tier"], mode=head["mode"], concurrency=int(head["concurrency"]),
                                      description=head["description"], status=head["status"], error=head["error"],
                                      summary=stats_from_dict(head), trials=tuple(trials), server=server))

    for k, rec in enumerate(records):
        trial = int(rec["trial"])
        if trial == 0:
            flush()
            head, trials = rec, []
            continue
        if head is None:
            raise ValueError(f"trial {trial} of {rec['tier']} ({rec['mode']}) has no pooled record before it")
        values = samples[k] if samples is not None and k < len(samples) else None
        data = values if values is not None else TrialData(_samples(None), _samples(None), _samples(None))
        trials.append(TrialResult(trial=trial, stats=_trial_stats(rec, trial), samples=data.samples,
                                  miss_index=data.miss_index, intended=data.intended, series=data.series))
    flush()
    return tuple(results)


def run_record(run: Run) -> dict[str, Any]:
    """The flat listing record of a run: what it measured and where, without parsing its documents."""
    spec = run.spec
    return {
        "run_id": run.run_id,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "status": run.status,
        "label": run.label,
        "tiers": ",".join(spec.tiers),
        "modes": ",".join(spec.modes),
        "ops": spec.ops,
        "concurrency": spec.concurrency,
        "trials": spec.trials,
        "keys": spec.keys,
        "distribution": spec.distribution,
        "warmup": spec.warmup,
        "cold": spec.cold,
        "seed": spec.seed,
        "cache_capacity": spec.cache_capacity,
        "machine": machine_summary(run.environment),
        "timer_overhead_ns": float(run.timer_overhead_ns),
    }
