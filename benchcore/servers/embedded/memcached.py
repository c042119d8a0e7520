"""Embedded Memcached: a `memcached` binary from PATH (none is on PyPI) on a free loopback port, UDP off.

As root it is spawned directly as `nobody`: memcached refuses to run as root, and its own `-u` switch would
drop privileges *after* exec, which also clears our die-with-parent setting. It stores nothing on disk.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

from benchcore.errors import TierUnavailable
from benchcore.servers import backends
from benchcore.servers.embedded._fs import is_root, private_dir
from benchcore.servers.embedded._process import Started, account, ask, spawn_on_free_port, stop
from benchcore.settings import Settings

BACKEND = backends.get("memcached")
NAME = BACKEND.label
INSTALL_HINT = ("install it with `apt-get install memcached` (Debian/Ubuntu) or `brew install memcached` (macOS), "
                f"or set {BACKEND.env_var} to a running server")
RUN_AS_WHEN_ROOT = "nobody"
# memcached takes ~0.7 s to honour SIGTERM (its clock tick); it holds nothing worth a clean shutdown,
# so SIGKILL keeps the CLI's exit instant.
STOP_SIGNAL = signal.SIGKILL


def executable() -> Path | None:
    found = shutil.which("memcached")
    return Path(found) if found else None


def unavailable_reason() -> str | None:
    if sys.platform not in ("linux", "darwin"):
        return f"embedded {NAME} is offered on Linux and macOS only"
    if executable() is None:
        return f"memcached is not installed (no `memcached` on PATH); {INSTALL_HINT}"
    if is_root() and account(RUN_AS_WHEN_ROOT) is None:
        return f"memcached refuses to run as root and there is no '{RUN_AS_WHEN_ROOT}' account to run it as"
    return None


def start(settings: Settings) -> Started:
    reason = unavailable_reason()
    if reason:
        raise TierUnavailable(reason)
    exe = executable()
    assert exe is not None
    run_as = account(RUN_AS_WHEN_ROOT) if is_root() else None
    workdir = private_dir(settings.data_dir.expanduser() / "memcached", 0o700)

    def argv(port: int) -> list[str]:
        return [str(exe), "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "64"]

    def ready(port: int, proc: subprocess.Popen[bytes]) -> bool:
        return ask(port, b"version\r\n", b"\r\n").startswith(b"VERSION")

    # cwd "/": the unprivileged account may not be allowed into our data dir
    proc, port = spawn_on_free_port(NAME, argv, ready, log_path=workdir / "memcached.log",
                                    stop_signal=STOP_SIGNAL, cwd=Path("/"), run_as=run_as, cpus=settings.server_cpus)
    return Started(url=f"memcached://127.0.0.1:{port}", proc=proc, data_dir=workdir,
                   stop=lambda: stop(proc, STOP_SIGNAL))
