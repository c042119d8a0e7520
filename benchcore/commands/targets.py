"""`targets`: where each backend is, whether it answers, its version, and how to point benchcore elsewhere."""

from __future__ import annotations

import argparse
from typing import TextIO

from benchcore.commands import EXIT_OK, settings_from_args
from benchcore.servers.backends import BACKENDS
from benchcore.views import report


def cmd_targets(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from benchcore.servers.targets import probe_targets

    rows = probe_targets(settings_from_args(args))
    table = [[r.backend, r.address, r.kind, "yes" if r.reachable else "no", r.version or "-", r.error or ""]
             for r in rows]
    out.write(report.plain_table(["backend", "address", "kind", "answers", "version", "problem"], table) + "\n")
    notes = [f"  {r.backend}: {r.note}" for r in rows if r.note]
    if notes:
        out.write("\nCPU placement:\n" + "\n".join(notes) + "\n")
    out.write(f"\nPoint benchcore elsewhere with {', '.join(b.env_var for b in BACKENDS.values())} "
              f"(or {', '.join(b.flag for b in BACKENDS.values())}).\n")
    return EXIT_OK
