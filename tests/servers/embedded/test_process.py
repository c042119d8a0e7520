"""Children die with us: spawner thread, chained signal handlers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from benchcore.servers.embedded import _process
from tests.servers.embedded.helpers import python_child, wait_gone

# Says "ready" once it can answer, then "pong" for each SIGUSR1, until it is stopped.
_ANSWERING_CHILD = """
import signal, time
signal.signal(signal.SIGUSR1, lambda *_: print("pong", flush=True))
print("ready", flush=True)
while True:
    time.sleep(30)
"""


def _wait_for_line(log: Path, line: str, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> bool:
    """True once log has line; False if proc exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if line in log.read_text().splitlines():
            return True
        if proc.poll() is not None:
            return line in log.read_text().splitlines()
        time.sleep(0.01)
    return False


@pytest.mark.skipif(not _process.PDEATHSIG_SUPPORTED, reason="PR_SET_PDEATHSIG is Linux-only")
def test_child_outlives_the_short_lived_thread_that_asked_for_it(tmp_path: Path) -> None:
    # The kernel's parent-death signal follows the *thread* that forked; Streamlit scripts and the runner
    # resolve targets in threads that end, so the server must have been forked by the long-lived spawner.
    procs, tids = [], []
    log = tmp_path / "log"

    def worker() -> None:
        tids.append(threading.get_native_id())
        procs.append(_process.spawn("answerer", [sys.executable, "-c", _ANSWERING_CHILD], log_path=log, cwd=tmp_path))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    try:
        # join() returns before the OS thread is gone; once its /proc entry is, the kernel has finished that
        # thread's exit, including any parent-death signal. A signal sent after that is handled after it.
        task = Path(f"/proc/self/task/{tids[0]}")
        deadline = time.monotonic() + 15
        while task.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not task.exists()
        assert _wait_for_line(log, "ready", procs[0])
        procs[0].send_signal(signal.SIGUSR1)
        assert _wait_for_line(log, "pong", procs[0]), log.read_text()
        assert procs[0].poll() is None
    finally:
        _process.stop(procs[0], signal.SIGTERM)
    assert procs[0].poll() is not None


_OWN_HANDLER = """
import json, signal, sys, time
from pathlib import Path

def own(signum, frame):
    print("own handler ran", flush=True)
    sys.exit(3)

signal.signal(signal.SIGTERM, own)  # e.g. the CLI saving a partial run
from benchcore.servers import embedded
from tests.servers.embedded.helpers import closed_settings
embedded.install_exit_hooks()
server = embedded.start("redis", closed_settings(Path(sys.argv[1]), "always"))
print(json.dumps({"pid": server.pid}), flush=True)
time.sleep(30)
"""

_DEFAULT_SIGINT = """
import json, sys, time
from pathlib import Path
from benchcore.servers import embedded
from tests.servers.embedded.helpers import closed_settings
embedded.install_exit_hooks()
server = embedded.start("redis", closed_settings(Path(sys.argv[1]), "always"))
print(json.dumps({"pid": server.pid}), flush=True)
time.sleep(30)
"""


def _run_and_signal(code: str, data_dir: Path, sig: int) -> tuple[int, str, str, int]:
    child = python_child(code, str(data_dir))
    try:
        assert child.stdout is not None and child.stderr is not None
        line = child.stdout.readline()
        assert line, child.stderr.read()
        pid = json.loads(line)["pid"]
        child.send_signal(sig)
        code_ = child.wait(15)
        return code_, child.stdout.read(), child.stderr.read(), pid
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_sigterm_handler_chains_to_the_one_installed_before(tmp_path: Path) -> None:
    returncode, out, _, pid = _run_and_signal(_OWN_HANDLER, tmp_path / "data", signal.SIGTERM)

    assert "own handler ran" in out
    assert returncode == 3  # the previous handler decided how to exit
    assert wait_gone([pid]) == []


def test_sigint_still_raises_keyboard_interrupt(tmp_path: Path) -> None:
    returncode, _, err, pid = _run_and_signal(_DEFAULT_SIGINT, tmp_path / "data", signal.SIGINT)

    assert "KeyboardInterrupt" in err
    assert returncode in (-signal.SIGINT, 1, 130)
    assert wait_gone([pid]) == []


_CTRL_C = """
import json, os, signal, sys, time
from pathlib import Path
from benchcore.servers import embedded
from tests.servers.embedded.helpers import alive, closed_settings

def on_sigint(signum, frame):  # like the CLI: first Ctrl-C cancels and saves; the servers must still be up
    time.sleep(0.5)  # finishing the current read, saving the partial run
    print(json.dumps({"alive_at_ctrl_c": alive(pids)}), flush=True)
    sys.exit(0)

signal.signal(signal.SIGINT, on_sigint)
settings = closed_settings(Path(sys.argv[1]), "always")
pids = [embedded.start(b, settings).pid for b in ("redis", "memcached")]
print(json.dumps({"pids": pids}), flush=True)
time.sleep(30)
"""


def test_terminal_ctrl_c_reaches_benchcore_not_its_servers(tmp_path: Path) -> None:
    child = python_child(_CTRL_C, str(tmp_path / "data"), new_session=True)
    try:
        assert child.stdout is not None and child.stderr is not None
        line = child.stdout.readline()
        assert line, child.stderr.read()
        pids = json.loads(line)["pids"]
        os.killpg(child.pid, signal.SIGINT)  # what the terminal does: signal the whole foreground group
        assert child.wait(15) == 0
        report = json.loads(child.stdout.readline())
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert sorted(report["alive_at_ctrl_c"]) == sorted(pids)
    assert wait_gone(pids) == []
