"""Children die with us: spawner thread, chained signal handlers."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from benchcore.servers.embedded import _process
from tests.servers.embedded.helpers import python_child, wait_gone


@pytest.mark.skipif(not _process.PDEATHSIG_SUPPORTED, reason="PR_SET_PDEATHSIG is Linux-only")
def test_child_outlives_the_short_lived_thread_that_asked_for_it(tmp_path: Path) -> None:
    # The kernel's parent-death signal follows the *thread* that forked; Streamlit scripts and the runner
    # resolve targets in threads that end, so the server must have been forked by the long-lived spawner.
    procs = []

    def worker() -> None:
        argv = [sys.executable, "-c", "import time; time.sleep(30)"]
        procs.append(_process.spawn("sleeper", argv, log_path=tmp_path / "log", cwd=tmp_path))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    time.sleep(0.3)
    try:
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
