"""The commands on stored runs: runs, show, compare, export, import, rename, delete.

Every run id argument is a run id or any unique start of one (RunRepository.resolve_id); an unknown or ambiguous
one is bad input (exit 2), like any other.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from benchcore import preflight, text
from benchcore.commands import EXIT_OK, EXIT_TIER_FAILED, settings_from_args
from benchcore.errors import ConfigError
from benchcore.models import Run
from benchcore.views import report

if TYPE_CHECKING:
    from benchcore.results.storage import RunRepository

RUNS_HEADERS = ["run id", "started (UTC)", "status", "label", "tiers", "modes", "distribution", "concurrency",
                "trials", "ops", "machine"]


def _repository(args: argparse.Namespace) -> RunRepository:
    from benchcore.results.storage import RunRepository

    settings = settings_from_args(args)
    if not settings.db_path.exists():
        raise ConfigError(f"no results database at {settings.db_path}")
    return RunRepository(settings.db_path)


def resolve(repo: RunRepository, prefix: str) -> str:
    """The id of the run a (unique) id prefix names; an unknown or ambiguous prefix is bad input."""
    from benchcore.results.storage import RunNotFound

    try:
        return repo.resolve_id(prefix)
    except RunNotFound as exc:
        raise ConfigError(str(exc)) from None


def stored_run(repo: RunRepository, prefix: str) -> Run:
    """The run a (unique) id prefix names, without its samples."""
    return repo.get_run(resolve(repo, prefix), with_samples=False)


def _label(label: str) -> str:
    return repr(text.escape(label)) if label else "no label"


def cmd_runs(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from benchcore.results.storage import RunRepository
    from benchcore.views.presentation import run_status_text, stopped_runs

    settings = settings_from_args(args)
    if not settings.db_path.exists():
        out.write(f"no runs yet: {settings.db_path} does not exist (python -m benchcore run)\n")
        return EXIT_OK
    repo = RunRepository(settings.db_path)
    frame = repo.list_runs().head(args.limit)
    if frame.empty:
        out.write("no runs yet (python -m benchcore run)\n")
        return EXIT_OK
    sweeps = repo.sweep_levels()  # a sweep's listing row holds one concurrency; it measured several
    # As Compare lists them: a run its user stopped is "cancelled" or "partial, cancelled", never "failed".
    stopped = stopped_runs(repo.summaries([str(i) for i in frame["run_id"]], pooled_only=True))
    rows = [[r.run_id, str(r.started_at)[:19], run_status_text(r.status, r.run_id in stopped), text.escape(r.label),
             r.tiers, r.modes, r.distribution,
             ",".join(map(str, sweeps[r.run_id])) if r.run_id in sweeps else r.concurrency, r.trials, f"{r.ops:,}",
             text.escape(r.machine)] for r in frame.itertuples()]
    out.write(report.plain_table(RUNS_HEADERS, rows) + "\n")
    return EXIT_OK


def cmd_show(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    run = stored_run(_repository(args), args.run_id)
    if args.as_json:
        out.write(json.dumps(report.run_dict(run), indent=2) + "\n")
        return EXIT_OK
    out.write(f"run {run.run_id}  {run.status}  started {run.started_at:%Y-%m-%d %H:%M:%S} UTC  "
              f"label {run.label!r}\n\n")
    out.write(report.results_table(run) + "\n")
    return EXIT_OK


def cmd_compare(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from benchcore.results import drift
    from benchcore.results.compare import compare_runs

    json_path = Path(args.json_path) if args.json_path else None
    if json_path and not json_path.parent.exists():
        raise ConfigError(f"--json: directory {json_path.parent} does not exist")
    repo = _repository(args)
    run_a, run_b = stored_run(repo, args.run_a), stored_run(repo, args.run_b)
    if run_a.run_id == run_b.run_id:
        raise ConfigError(f"RUN_A and RUN_B are the same run ({run_a.run_id}); give two different runs")
    comparison = compare_runs(run_a, run_b, min_effect=args.threshold / 100.0, drift=drift.of_stored(repo, run_b))
    out.write(report.comparison_report(comparison, run_a, run_b) + "\n")
    if json_path:
        json_path.write_text(json.dumps(report.comparison_dict(comparison), indent=2, ensure_ascii=False) + "\n",
                             encoding="utf-8")
        err.write(f"wrote {json_path}\n")
    slower = comparison.slower
    if slower:
        err.write(f"benchcore: B is significantly slower than A on {len(slower)} tier x mode pair(s): "
                  + ", ".join(f"{p.where} ({p.mode}) {p.ratio:.2f}x" for p in slower) + "\n")
        return EXIT_TIER_FAILED
    return EXIT_OK


def cmd_export(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from benchcore.results import bundles

    path = Path(args.output)
    preflight.check_output_file(path, "-o")
    repo = _repository(args)
    run = bundles.export_run(repo, resolve(repo, args.run_id), path, samples=not args.no_samples)
    err.write(f"wrote run {run.run_id} to {path} ({path.stat().st_size:,} bytes, "
              f"{'without' if args.no_samples else 'with'} samples)\n")
    return EXIT_OK


def cmd_import(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from benchcore.results import bundles
    from benchcore.results.storage import RunRepository

    settings = settings_from_args(args)
    preflight.check_run_outputs(None, settings.db_path)
    repo = RunRepository(settings.db_path)
    for name in args.files:
        try:
            data = Path(name).read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {name}: {exc.strerror or exc}") from None
        run, added = bundles.import_bytes(repo, data, name)
        out.write(f"{'imported' if added else 'already stored'}: run {run.run_id} ({run.status}, "
                  f"{text.escape(run.label) or 'no label'}) from {name}\n")
    return EXIT_OK


def cmd_rename(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    repo = _repository(args)
    run = stored_run(repo, args.run_id)
    repo.rename(run.run_id, args.label)  # validates the label like a new run's; refuses a reference run
    out.write(f"renamed run {run.run_id}: {_label(run.label)} -> {_label(args.label)}\n")
    return EXIT_OK


def cmd_delete(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    repo = _repository(args)
    run = stored_run(repo, args.run_id)
    what = (f"run {run.run_id} ({_label(run.label)}, {run.status}, started {run.started_at:%Y-%m-%d %H:%M:%S} UTC, "
            f"{len(run.results)} result(s))")
    if not args.yes:
        # Deleting cannot be undone (export first to keep a copy): say exactly what would go, and change nothing.
        raise ConfigError(f"not deleted: add --yes to delete {what} with its samples (export it first to keep "
                          "a copy)")
    repo.delete(run.run_id)
    out.write(f"deleted {what}\n")
    return EXIT_OK
