"""Child-process plumbing for the embedded servers: spawn so they die with us, stop them on every exit path.

Three layers, so no server outlives benchcore:
1. atexit stops every child on a normal interpreter exit (CLI end, KeyboardInterrupt, Streamlit's own shutdown).
2. SIGTERM/SIGINT/SIGHUP handlers (installed only from the main thread) chain to whatever handler was there
   before; only when that was the default action (death without atexit) do they stop the children first.
3. On Linux each child asks the kernel for PR_SET_PDEATHSIG, so even SIGKILL of benchcore takes the servers
   down. The kernel sends that signal when the *thread* that forked the child exits, so children are forked
   from one spawner thread that lives as long as the process (Streamlit and the runner use short-lived threads).
   Elsewhere (macOS) layers 1-2 apply.
Children get their own process group, so a terminal's Ctrl-C reaches benchcore (which may cancel the run and
save what was measured) and not the servers it is still reading from.

CPU placement (Linux): each child sets its CPU affinity before exec, so every thread and every process it
later forks (PostgreSQL backends) inherits it: the CPUs asked for (Settings.server_cpus), else the CPUs this
process may use (settings.PROCESS_CPUS). Never the calling thread's own affinity: a run that pins its client
thread (RunSpec.cpus) would otherwise pass that pin on to the servers it starts, through the threads it creates.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import ctypes
import functools
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchcore.errors import TierUnavailable
from benchcore.servers.embedded._fs import read_log, tail
from benchcore.settings import PROCESS_CPUS

_PR_SET_PDEATHSIG = 1
AFFINITY_SUPPORTED = hasattr(os, "sched_setaffinity")
STOP_TIMEOUT_S = 10.0


def _load_libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc if hasattr(libc, "prctl") else None
    except OSError:
        return None


_LIBC = _load_libc()
PDEATHSIG_SUPPORTED = _LIBC is not None


def _die_with_parent(sig: int) -> Callable[[], None] | None:
    """preexec_fn asking the kernel to send sig to the child when its parent thread dies (Linux only).

    Runs after subprocess has switched uid/gid (the kernel clears the setting on a credential change), so it
    survives dropping privileges; the exec'd servers are not set-uid, so exec keeps it too.
    """
    if _LIBC is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died between fork and prctl: nobody would signal us
            os.kill(os.getpid(), sig)

    return preexec


def die_with_parent(sig: int, parent: int) -> bool:
    """From a child that is already running: ask the kernel for `sig` when the thread that started it dies
    (Linux); if that parent is already gone, signal ourselves now. False where the OS cannot do it."""
    if _LIBC is None:
        return False
    _LIBC.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if os.getppid() != parent:
        os.kill(os.getpid(), sig)
    return True


def placement(cpus: tuple[int, ...] | None) -> tuple[int, ...] | None:
    """The CPUs a server child gets: the ones asked for, else the process's own; None where not supported."""
    if not AFFINITY_SUPPORTED:
        return None
    return cpus if cpus is not None else PROCESS_CPUS


def _child_setup(sig: int, cpus: tuple[int, ...] | None) -> Callable[[], None] | None:
    """preexec_fn: pin to cpus (inherited by every thread and forked process of the server), then die-with-parent."""
    die = _die_with_parent(sig)
    if cpus is None:
        return die

    def preexec() -> None:
        os.sched_setaffinity(0, cpus)
        if die is not None:
            die()

    return preexec


def pin_tree(pid: int, cpus: tuple[int, ...]) -> None:
    """Re-pin a running server: every thread of pid and of all its descendants (PostgreSQL backends).

    Processes or threads that end meanwhile are skipped; new ones inherit the pin from their parent.
    """
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return
    for proc in procs:
        try:
            threads = proc.threads()
        except psutil.Error:
            continue
        for thread in threads:
            try:
                os.sched_setaffinity(thread.id, cpus)
            except OSError:  # the thread ended meanwhile
                continue


def tree_affinity(pid: int) -> list[int] | None:
    """CPUs any thread of pid or its descendants may run on (sorted); None when unknown."""
    if not AFFINITY_SUPPORTED:
        return None
    import psutil

    cpus: set[int] = set()
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    for proc in procs:
        try:
            for thread in proc.threads():
                try:
                    cpus |= os.sched_getaffinity(thread.id)
                except OSError:
                    continue
        except psutil.Error:
            continue
    return sorted(cpus) or None


class _Spawner:
    """Forks every long-lived child from one daemon thread that exists until the process ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Callable[[], subprocess.Popen[bytes]], concurrent.futures.Future[Any]]]
        self._queue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def run(self, start: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        if not PDEATHSIG_SUPPORTED:
            return start()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():  # also after a fork: threads do not survive it
                self._thread = threading.Thread(target=self._serve, name="benchcore-embedded-spawner", daemon=True)
                self._thread.start()
        done: concurrent.futures.Future[subprocess.Popen[bytes]] = concurrent.futures.Future()
        self._queue.put((start, done))
        return done.result()

    def _serve(self) -> None:
        while True:
            start, done = self._queue.get()
            try:
                done.set_result(start())
            except BaseException as exc:
                done.set_exception(exc)


_SPAWNER = _Spawner()


@dataclass(frozen=True)
class Account:
    """An unprivileged OS account a child runs as when benchcore runs as root."""

    name: str
    uid: int
    gid: int


def account(name: str) -> Account | None:
    try:
        import pwd  # POSIX only; imported here so that importing benchcore never fails elsewhere

        entry = pwd.getpwnam(name)
    except (ImportError, KeyError):
        return None
    return Account(name, entry.pw_uid, entry.pw_gid)


@dataclass(frozen=True)
class Started:
    """What a backend module hands back: the URL for drivers, the process, and how to stop it cleanly."""

    url: str = field(repr=False)  # may hold a generated password
    proc: subprocess.Popen[bytes]
    data_dir: Path | None
    stop: Callable[[], None]


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    stop_signal: int
    owner_pid: int  # a forked copy of this process must not stop its parent's servers


_children: dict[int, Child] = {}
_hooks_lock = threading.Lock()
_atexit_installed = False
_signals_installed = False


def spawn(
    name: str,
    argv: list[str],
    *,
    log_path: Path,
    stop_signal: int = signal.SIGTERM,
    cwd: Path | None = None,
    run_as: Account | None = None,
    cpus: tuple[int, ...] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server process that dies with this process; stdout+stderr go to log_path.

    cpus: pin it (and everything it starts) there; None = the CPUs this process may use (see placement()).
    """
    install_exit_hooks()
    preexec = _child_setup(stop_signal, placement(cpus))

    def start() -> subprocess.Popen[bytes]:
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as log:  # the child keeps its own copy of the descriptor
            kwargs: dict[str, Any] = {}
            if run_as is not None:
                kwargs.update(user=run_as.uid, group=run_as.gid, extra_groups=[])
            # process_group=0: a terminal's Ctrl-C goes to benchcore only, which may first cancel and save a
            # partial run; the servers stop when benchcore exits (atexit / die-with-parent).
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                preexec_fn=preexec, close_fds=True, process_group=0, **kwargs,
            )
        _children[proc.pid] = Child(name, proc, stop_signal, os.getpid())  # at once: exit hooks must see it
        return proc

    try:
        return _SPAWNER.run(start)
    except OSError as exc:
        raise TierUnavailable(f"could not start {name} ({argv[0]}): {exc}") from None
    except subprocess.SubprocessError as exc:  # the child's setup (CPU pinning, die-with-parent) failed
        raise TierUnavailable(f"could not start {name} ({argv[0]}) on CPUs {placement(cpus)}: {exc}") from None


def run_once(argv: list[str], *, run_as: Account | None = None, timeout: float = 60.0) -> str:
    """Run a short helper (initdb) to completion; returns its output; TierUnavailable on failure."""
    kwargs: dict[str, Any] = {}
    if run_as is not None:
        kwargs.update(user=run_as.uid, group=run_as.gid, extra_groups=[])
    try:
        done = subprocess.run(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
            preexec_fn=_die_with_parent(signal.SIGKILL), check=False, **kwargs,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TierUnavailable(f"{Path(argv[0]).name} failed: {exc}") from None
    output = done.stdout.decode(errors="replace")
    if done.returncode != 0:
        raise TierUnavailable(f"{Path(argv[0]).name} failed (exit {done.returncode}): {tail(output)}")
    return output


def stop(proc: subprocess.Popen[bytes], stop_signal: int, timeout: float = STOP_TIMEOUT_S) -> None:
    """Ask politely, then insist. Never raises."""
    child = _children.get(proc.pid)
    if child is not None and child.owner_pid != os.getpid():
        return
    try:
        if proc.poll() is None:
            proc.send_signal(stop_signal)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
    except (OSError, subprocess.TimeoutExpired):
        pass
    finally:
        _children.pop(proc.pid, None)


def request_stop(proc: subprocess.Popen[bytes]) -> None:
    """Send proc its stop signal without waiting, so several servers shut down in parallel."""
    child = _children.get(proc.pid)
    if child is None or child.owner_pid != os.getpid():
        return
    try:
        if proc.poll() is None:
            proc.send_signal(child.stop_signal)
    except OSError:
        pass


def stop_all_children() -> None:
    """Stop every child this process started; safe from atexit and from a signal handler (takes no locks)."""
    mine = [c for c in list(_children.values()) if c.owner_pid == os.getpid()]
    for child in mine:  # signal all first so they shut down in parallel
        request_stop(child.proc)
    for child in mine:
        stop(child.proc, child.stop_signal)


def install_exit_hooks() -> None:
    """Register atexit once; chain signal handlers once, when called from the main thread."""
    global _atexit_installed, _signals_installed
    with _hooks_lock:
        if not _atexit_installed:
            atexit.register(stop_all_children)
            _atexit_installed = True
        if _signals_installed or threading.current_thread() is not threading.main_thread():
            return
        for name in ("SIGTERM", "SIGINT", "SIGHUP"):
            sig = getattr(signal, name, None)
            if sig is not None:
                try:
                    signal.signal(sig, _chained(sig, signal.getsignal(sig)))
                except (ValueError, OSError):  # not allowed here (e.g. an embedded interpreter)
                    continue
        _signals_installed = True


def _chained(sig: int, previous: Any) -> Callable[[int, Any], None]:
    def handler(signum: int, frame: Any) -> None:
        if callable(previous):
            # Python's KeyboardInterrupt, Streamlit's or the CLI's handler: the process ends normally and
            # atexit stops the servers, after the owner had its chance to save a partial run.
            previous(signum, frame)
            return
        if previous == signal.SIG_IGN:
            return
        # Default action = death without atexit: stop the servers now, then die the way we would have.
        stop_all_children()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    handler.benchcore_previous = previous  # type: ignore[attr-defined]
    return handler


def _forget_children_after_fork() -> None:
    _children.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_children_after_fork)


def free_port() -> int:
    """A loopback port nobody listens on right now (a race remains; callers retry on 'address in use')."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn_on_free_port(
    name: str,
    argv_for: Callable[[int], list[str]],
    ready: Callable[[int, subprocess.Popen[bytes]], bool],
    *,
    log_path: Path,
    stop_signal: int,
    cwd: Path,
    run_as: Account | None = None,
    cpus: tuple[int, ...] | None = None,
    attempts: int = 3,
) -> tuple[subprocess.Popen[bytes], int]:
    """spawn() on a free loopback port and wait until ready(port, proc); a new port if another process took it."""
    for attempt in range(attempts):
        port = free_port()
        proc = spawn(name, argv_for(port), log_path=log_path, stop_signal=stop_signal, cwd=cwd, run_as=run_as,
                     cpus=cpus)
        try:
            wait_ready(name, proc, functools.partial(ready, port, proc), log_path)
            return proc, port
        except TierUnavailable as exc:
            stop(proc, signal.SIGKILL)
            if "already in use" not in str(exc) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def wait_ready(
    name: str, proc: subprocess.Popen[bytes], ready: Callable[[], bool], log_path: Path, timeout: float = 30.0
) -> None:
    """Poll ready() until it is true; TierUnavailable (with the log's tail) if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        if proc.poll() is not None:
            raise TierUnavailable(f"embedded {name} exited with code {proc.returncode}: {tail(read_log(log_path))}")
        try:
            if ready():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop(proc, signal.SIGKILL)
            raise TierUnavailable(f"embedded {name} did not become ready within {timeout:.0f} s: "
                                  f"{tail(read_log(log_path))}")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def ask(port: int, payload: bytes, expect: bytes, timeout: float = 1.0) -> bytes:
    """Send payload to 127.0.0.1:port and read until expect appears (or the peer closes); returns what was read."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        data = b""
        while expect not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data
