"""Checks made before a run starts, so a bad output path costs one line instead of a finished run.

Each check touches nothing it would not write anyway: an existing file is opened for appending (no byte written),
a missing one is proven creatable with a temporary file next to it, removed at once.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from benchcore.errors import ConfigError


def check_output_file(path: Path, what: str, *, beside: bool = False) -> None:
    """ConfigError (one line) unless `path` can be written: not a directory, in a directory that exists; a missing
    file must be creatable there. beside=True: the directory must accept new files even when the file exists
    (DuckDB adds a .wal, and the spool a directory, next to the results file)."""
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a directory; give a file path")
    parent = path.parent
    if not parent.exists():
        raise ConfigError(f"{what}: directory {parent} does not exist")
    if not parent.is_dir():
        raise ConfigError(f"{what}: {parent} is not a directory")
    try:
        exists = path.exists()
        if exists:  # e.g. /dev/stdout: writable, though /dev is not
            with open(path, "ab"):
                pass
        if beside or not exists:
            with tempfile.TemporaryFile(dir=parent, prefix=".benchcore-check-"):
                pass
    except OSError as exc:
        raise ConfigError(f"{what}: cannot write {path}: {exc.strerror or exc}") from None


def check_run_outputs(json_path: Path | None, db_path: Path | None) -> None:
    """The --json file and the results database (None = not written), checked before anything runs."""
    if json_path is not None:
        check_output_file(json_path, "--json")
    if db_path is not None:
        check_output_file(db_path, "--db / BENCHCORE_DB", beside=True)
        if json_path is not None and os.path.realpath(json_path) == os.path.realpath(db_path):
            raise ConfigError(f"--json {json_path} is the results database; give another file")
