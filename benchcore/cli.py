"""`benchcore` / `python -m benchcore`: the headless face of the engine.

run | sweep | runs | show | compare | export | import | rename | delete | targets | advise; the commands live in
benchcore.commands (arguments: the parser; measure, stored, targets: what each command does).

Exit codes: 0 every requested tier completed; 1 the run finished but a tier failed (or the run
could not be saved); 2 bad input; 130 cancelled with Ctrl-C (what was measured is saved as partial).
`compare`: 0 no tier x mode significantly slower by more than the threshold, 1 some are, 2 bad input.
`delete` without --yes deletes nothing and exits 2.
"""

from __future__ import annotations

import argparse
import atexit
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, TextIO

from benchcore.commands import EXIT_BAD_INPUT, EXIT_CANCELLED, EXIT_OK, EXIT_TIER_FAILED, settings_from_args
from benchcore.commands.arguments import build_parser
from benchcore.commands.measure import cmd_run, cmd_sweep
from benchcore.commands.stored import (
    cmd_compare,
    cmd_delete,
    cmd_export,
    cmd_import,
    cmd_rename,
    cmd_runs,
    cmd_show,
)
from benchcore.commands.targets import cmd_targets
from benchcore.errors import BenchError, ConfigError

__all__ = ["COMMANDS", "EXIT_BAD_INPUT", "EXIT_CANCELLED", "EXIT_OK", "EXIT_TIER_FAILED", "build_parser", "main"]

Command = Callable[[argparse.Namespace, TextIO, TextIO], int]

# The name tests and older callers used for the flags-to-Settings step.
_settings = settings_from_args


def cmd_advise(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from benchcore.advisor.command import cmd_advise as advise

    return advise(args, settings_from_args(args), out, err)


COMMANDS: dict[str, Command] = {
    "run": cmd_run, "sweep": cmd_sweep, "runs": cmd_runs, "show": cmd_show, "compare": cmd_compare,
    "export": cmd_export, "import": cmd_import, "rename": cmd_rename, "delete": cmd_delete,
    "targets": cmd_targets, "advise": cmd_advise,
}


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = build_parser().parse_args(argv)
        args._argv = list(sys.argv[1:] if argv is None else argv)
        return COMMANDS[args.command](args, out, err)
    except ConfigError as exc:
        err.write(f"benchcore: error: {exc}\n")
        return EXIT_BAD_INPUT
    except BenchError as exc:
        err.write(f"benchcore: {exc}\n")
        return EXIT_TIER_FAILED
    except KeyboardInterrupt:
        err.write("benchcore: aborted\n")
        return EXIT_CANCELLED


def console() -> NoReturn:
    """The `benchcore` command and `python -m benchcore`: main(), its exit hooks, then exit at once.

    Every file is closed and every result saved by then: run the exit hooks (embedded servers stop there) and skip
    the interpreter's teardown of pandas, scipy, DuckDB and the drivers (~1 s on a busy machine, e.g. after Ctrl-C).
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    os._exit(code)
