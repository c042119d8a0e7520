"""Run bundles: one run in one file (JSON, or gzipped JSON), to ship results between machines and teams.

A bundle is {"bundle_format", "benchcore_version", "exported_at", "run"}: the run is codec.run_to_dict (config,
environment, summaries, trials, per-second series and, unless left out, every sample with its miss and
intended-start positions), written as strict JSON (NaN and inf as null, read back as NaN). Importing is idempotent
by run id: a run already stored is left as it is. A bundle of a newer format is refused, naming both versions.
"""

from __future__ import annotations

import gzip
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import benchcore
from benchcore.errors import ConfigError
from benchcore.models import Run
from benchcore.results import codec

BUNDLE_FORMAT = 1
GZIP_MAGIC = b"\x1f\x8b"


def _strict(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    return value


def to_bytes(run: Run, *, samples: bool = True, compress: bool = False) -> bytes:
    """The bundle of run, as bytes (gzip when compress)."""
    document = {"bundle_format": BUNDLE_FORMAT, "benchcore_version": benchcore.__version__,
                "exported_at": datetime.now(UTC).isoformat(), "samples": samples,
                "run": _strict(codec.run_to_dict(run, samples=samples))}
    data = json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    return gzip.compress(data, mtime=0) if compress else data


def from_bytes(data: bytes, source: str = "the bundle") -> Run:
    """The run in a bundle; ConfigError (one line) for anything that is not a bundle this benchcore can read."""
    try:
        if data[:2] == GZIP_MAGIC:
            data = gzip.decompress(data)
        document = json.loads(data)
    except (OSError, EOFError, ValueError) as exc:
        raise ConfigError(f"{source} is not a benchcore run bundle (JSON or JSON.gz): {exc}") from None
    if not isinstance(document, dict) or "bundle_format" not in document or "run" not in document:
        raise ConfigError(f"{source} is not a benchcore run bundle (no bundle_format / run)")
    version = document["bundle_format"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ConfigError(f"{source} has an unreadable bundle_format {version!r}")
    if version > BUNDLE_FORMAT:
        raise ConfigError(f"{source} is bundle format {version}, written by a newer benchcore "
                          f"({document.get('benchcore_version', 'unknown version')}); this benchcore "
                          f"({benchcore.__version__}) reads up to format {BUNDLE_FORMAT}: upgrade benchcore to "
                          "import it")
    try:
        return codec.run_from_dict(document["run"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{source} holds a damaged run ({type(exc).__name__}: {exc})") from None


def export_run(repo: Any, run_id: str, path: Path, *, samples: bool = True) -> Run:
    """Write a stored run's bundle to path (gzip when the name ends in .gz); returns the run."""
    run = repo.get_run(run_id, with_samples=samples)
    path.write_bytes(to_bytes(run, samples=samples, compress=path.name.endswith(".gz")))
    return run


def import_bytes(repo: Any, data: bytes, source: str = "the bundle") -> tuple[Run, bool]:
    """Store the bundle's run unless its id is already stored; (run, True when it was added now)."""
    from benchcore.results.storage import RunNotFound

    run = from_bytes(data, source)
    try:
        repo.get_run(run.run_id, with_samples=False)
        return run, False
    except RunNotFound:
        repo.save(run)
        return run, True
