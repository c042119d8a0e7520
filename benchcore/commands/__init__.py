"""The CLI's commands, one module per family: arguments (the parser), measure (run, sweep), stored (runs, show,
compare, export, import, rename, delete), targets. benchcore.cli ties them to `python -m benchcore`.

Exit codes: 0 every requested tier completed; 1 the run finished but a tier failed (or the run could not be
saved); 2 bad input; 130 cancelled with Ctrl-C (what was measured is saved as partial).
"""

from __future__ import annotations

import argparse

from benchcore.servers.backends import BACKENDS
from benchcore.settings import Settings

EXIT_OK, EXIT_TIER_FAILED, EXIT_BAD_INPUT, EXIT_CANCELLED = 0, 1, 2, 130


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The environment's settings with whatever the command's flags override."""
    return Settings.from_env(
        **{b.settings_attr: getattr(args, b.settings_attr, None) for b in BACKENDS.values()},
        embedded=getattr(args, "embedded", None),
        db_path=getattr(args, "db", None),
        server_cpus=getattr(args, "server_cpus", None),
    )
