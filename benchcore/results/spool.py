"""The spool: runs kept next to a results file that could not take them (locked, corrupt, newer schema).

<db>.spool/<run_id>.json (codec.run_to_dict) + .npz (the samples, miss positions and intended latencies per
trial). The .npz is written first and the .json last, each by an atomic rename, so a .json marks a complete
pair. RunRepository imports the spool at the start of every write, a run that is already stored just cleaned up.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from contextlib import suppress
from pathlib import Path

import duckdb
import numpy as np

from benchcore.errors import BenchError
from benchcore.models import Run
from benchcore.results import codec, writing
from benchcore.results.database import transaction

log = logging.getLogger(__name__)

# Format of <db>.spool/<run_id>.json: 2 = codec.run_to_dict; 1 (benchcore 0.1.0) is still read, since a spooled
# run may wait for an upgrade.
SPOOL_VERSION = 2
_SPOOL_READABLE = (1, 2)


def spool_dir_of(path: Path) -> Path:
    return path.with_name(path.name + ".spool")


def _files(spool_dir: Path, run_id: str) -> tuple[Path, Path]:
    safe = run_id if re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", run_id) and not run_id.startswith(".") \
        else "run-" + hashlib.sha256(run_id.encode()).hexdigest()[:32]
    return spool_dir / f"{safe}.json", spool_dir / f"{safe}.npz"


def write(spool_dir: Path, run: Run) -> Path:
    """Keep run in spool_dir/<run_id>.json + .npz; returns the .json."""
    spool_dir.mkdir(exist_ok=True)  # never creates a missing database directory
    json_path, npz_path = _files(spool_dir, run.run_id)
    arrays = {codec.sample_key(i, j): writing.as_samples(t.samples)
              for i, result in enumerate(run.results) for j, t in enumerate(result.trials)}
    for i, result in enumerate(run.results):
        for j, t in enumerate(result.trials):
            arrays[codec.miss_key(i, j)] = writing.as_samples(t.miss_index)
            arrays[codec.intended_key(i, j)] = writing.as_samples(t.intended)
    tmp = npz_path.with_suffix(".npz.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub fears a key named allow_pickle
    os.replace(tmp, npz_path)
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(writing.scrub_urls(writing.dumps({"spool_version": SPOOL_VERSION,
                                                     "run": codec.run_to_dict(run)})) or "", encoding="utf-8")
    os.replace(tmp, json_path)
    return json_path


def read(json_path: Path, npz_path: Path) -> Run:
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    if doc.get("spool_version") not in _SPOOL_READABLE:
        raise ValueError(f"unknown spool format {doc.get('spool_version')!r}")
    with np.load(npz_path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    return codec.run_from_dict(doc["run"], arrays)


def pending(spool_dir: Path) -> list[Path]:
    """Spooled runs waiting to be imported (their .json files)."""
    return sorted(spool_dir.glob("*.json")) if spool_dir.is_dir() else []


def import_into(con: duckdb.DuckDBPyConnection, spool_dir: Path, db_path: Path) -> list[str]:
    """Import every spooled run, one transaction each (idempotent); a file that cannot be read or stored is left
    in place with a warning. Returns the imported run ids."""
    imported: list[str] = []
    for json_path in pending(spool_dir):
        npz_path = json_path.with_suffix(".npz")
        try:
            run = read(json_path, npz_path)
        except (OSError, ValueError, KeyError, TypeError, BenchError) as exc:
            log.warning("cannot read spooled run %s (left in place): %s", json_path, exc)
            continue
        try:
            with transaction(con):
                if not writing.exists(con, run.run_id):  # already imported once: just clean up
                    writing.insert_run(con, run)
        except (duckdb.Error, BenchError) as exc:
            log.warning("cannot import spooled run %s (left in place): %s", json_path, exc)
            continue
        json_path.unlink(missing_ok=True)
        npz_path.unlink(missing_ok=True)
        imported.append(run.run_id)
        log.info("imported spooled run %s into %s", run.run_id, db_path)
    with suppress(OSError):
        spool_dir.rmdir()  # only succeeds when empty
    return imported
