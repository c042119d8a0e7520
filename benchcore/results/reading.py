"""Reading stored runs back: raw samples, per-second series, instances and whole Runs, from an open connection.

Everything is selected by column name; a run's result ids are contiguous, so each read is one range scan.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from benchcore.models import InstanceResult, Run, Second
from benchcore.results import codec, frames, schema

_RUN_HEAD = ("run_id", "started_at", "finished_at", "status", "label", "timer_overhead_ns", "spec", "environment")

SampleArrays = tuple[np.ndarray, np.ndarray, bool, np.ndarray]


def samples(con: duckdb.DuckDBPyConnection | None, ids: list[str], tier: str | None, mode: str | None,
            intended: bool) -> pd.DataFrame:
    """RunRepository.samples over an open connection (None: nothing stored yet)."""
    keys: list[tuple[str, str, str, int, int]] = []
    arrays: list[np.ndarray] = []
    if con is None or not ids:
        return frames.samples_from_parts(keys, arrays)
    sql = ("SELECT r.run_id, r.result_id, r.tier, r.mode, r.concurrency, r.trial FROM results r "
           "JOIN runs u ON u.run_id = r.run_id WHERE list_contains(?::VARCHAR[], r.run_id) AND r.trial > 0")
    params: list[Any] = [ids]
    if tier is not None:
        sql += " AND r.tier = ?"
        params.append(tier)
    if mode is not None:
        sql += " AND r.mode = ?"
        params.append(mode)
    sql += " ORDER BY u.started_at, r.run_id, r.result_id"
    rows = con.execute(sql, params).fetchall()
    by_run: dict[str, list[int]] = {}
    for run_id, result_id, *_ in rows:
        by_run.setdefault(run_id, []).append(result_id)
    fetched: dict[int, SampleArrays] = {}
    for result_ids in by_run.values():
        fetched.update(sample_arrays(con, result_ids))
    misses: list[np.ndarray | None] = []
    for run_id, result_id, t, m, c, trial in rows:
        latencies, miss_index, recorded, wanted = fetched[result_id]
        if intended and wanted.size != latencies.size:
            continue
        keys.append((run_id, t, m, c, trial))
        arrays.append(wanted if intended else latencies)
        misses.append(miss_index if recorded else None)
    return frames.samples_from_parts(keys, arrays, misses)


def run(con: duckdb.DuckDBPyConnection, run_id: str, with_samples: bool) -> Run | None:
    """The stored Run (None when there is none with this id); without samples each trial's array is empty."""
    row = con.execute(f"SELECT {', '.join(_RUN_HEAD)} FROM runs WHERE run_id = ?", [run_id]).fetchone()
    if row is None:
        return None
    cursor = con.execute(f"SELECT {', '.join(schema.RESULT_COLUMNS)} FROM results WHERE run_id = ? "
                         "ORDER BY result_id", [run_id])
    names = [d[0] for d in cursor.description or ()]
    records = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    trial_ids = [rec["result_id"] for rec in records if rec["trial"] > 0]
    arrays = sample_arrays(con, trial_ids) if with_samples else {}
    per_second = series(con, trial_ids)  # small: loaded with or without the samples
    pooled_ids = [rec["result_id"] for rec in records if rec["trial"] == 0]
    by_pooled = instances(con, pooled_ids)
    head = dict(zip(_RUN_HEAD, row, strict=True))
    # The label column is the truth (rename() updates both); the spec JSON holds everything else.
    head["config"] = {**json.loads(head.pop("spec")), "label": head["label"]}
    head["environment"] = json.loads(head["environment"])
    empty = np.empty(0, np.int64)
    data = []
    for rec in records:
        latencies, miss_index, _, wanted = arrays.get(rec["result_id"], (empty, empty, False, empty))
        data.append(codec.TrialData(latencies, miss_index, wanted, per_second.get(rec["result_id"], ())))
    results = codec.results_from_records(records, data)
    results = tuple(replace(r, instances=by_pooled.get(rid, ())) for r, rid in zip(results, pooled_ids, strict=True))
    return codec.build_run(head, results)


def sample_arrays(con: duckdb.DuckDBPyConnection, result_ids: list[int]) -> dict[int, SampleArrays]:
    """result_id -> (samples in measured order, positions of misses, whether misses were recorded, intended-start
    latencies or empty), from one range scan (a run's ids are contiguous). Runs stored before schema version 3
    have no miss flags; only open-loop runs have intended latencies."""
    if not result_ids:
        return {}
    got = con.execute("SELECT result_id, latency_ns, coalesce(miss, false) AS miss, miss IS NOT NULL AS recorded, "
                      "coalesce(intended_ns, -1) AS intended FROM sample_values WHERE result_id BETWEEN ? AND ?",
                      [min(result_ids), max(result_ids)]).fetchnumpy()
    rid = np.asarray(got["result_id"], dtype=np.int64)
    lat = np.asarray(got["latency_ns"], dtype=np.int64)
    miss = np.asarray(got["miss"], dtype=bool)
    recorded = np.asarray(got["recorded"], dtype=bool)
    intended = np.asarray(got["intended"], dtype=np.int64)
    if rid.size > 1 and np.any(rid[1:] < rid[:-1]):
        order = np.argsort(rid, kind="stable")  # keeps measured order within each result
        rid, lat, miss, recorded, intended = rid[order], lat[order], miss[order], recorded[order], intended[order]
    lo = np.searchsorted(rid, result_ids, side="left")
    hi = np.searchsorted(rid, result_ids, side="right")
    out = {}
    for i, a, b in zip(result_ids, lo, hi, strict=True):
        wanted = intended[a:b]
        out[i] = (lat[a:b], np.flatnonzero(miss[a:b]).astype(np.int64), bool(b > a and recorded[a]),
                  wanted if b > a and wanted[0] >= 0 else np.empty(0, np.int64))
    return out


def series(con: duckdb.DuckDBPyConnection, result_ids: list[int]) -> dict[int, tuple[Second, ...]]:
    """result_id -> its per-second figures (none for runs stored before schema version 4)."""
    if not result_ids:
        return {}
    rows = con.execute(f"SELECT {', '.join(schema.SERIES_COLUMNS)} FROM series WHERE result_id BETWEEN ? AND ? "
                       "ORDER BY result_id, second", [min(result_ids), max(result_ids)]).fetchall()
    out: dict[int, list[Second]] = {}
    for rid, second, reads, p50, p99, slowest, intended_p99, rate in rows:
        out.setdefault(rid, []).append(Second(int(second), int(reads), float(p50), float(p99),
                                              None if slowest is None else float(slowest),
                                              None if intended_p99 is None else float(intended_p99),
                                              None if rate is None else float(rate)))
    return {rid: tuple(values) for rid, values in out.items()}


def instances(con: duckdb.DuckDBPyConnection, result_ids: list[int]) -> dict[int, tuple[InstanceResult, ...]]:
    """pooled result_id -> its app instances (several-instance runs, schema version 5 on)."""
    if not result_ids:
        return {}
    cursor = con.execute(f"SELECT {', '.join(schema.INSTANCE_COLUMNS)} FROM instances WHERE result_id BETWEEN ? AND ? "
                         "ORDER BY result_id, instance", [min(result_ids), max(result_ids)])
    out: dict[int, list[InstanceResult]] = {}
    for row in cursor.fetchall():
        record = dict(zip(schema.INSTANCE_COLUMNS, row, strict=True))
        out.setdefault(record["result_id"], []).append(codec.instance_from_dict(record))
    return {rid: tuple(values) for rid, values in out.items()}
