"""The dashboard listens on 127.0.0.1 unless told otherwise; the README says how to expose it on purpose."""

from __future__ import annotations

import subprocess
import sys
import time
import tomllib
import urllib.request

import psutil
import pytest

from tests.faults.conftest import ROOT
from tests.faults.servers import free_port


def test_config_binds_loopback():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    readme = (ROOT / "README.md").read_text()
    assert "--server.address" in readme and "127.0.0.1" in readme  # how to expose it deliberately


def test_streamlit_run_without_flags_listens_on_loopback_only(tmp_path):
    if not (ROOT / "app.py").exists():
        pytest.fail("app.py is missing")
    port = free_port()
    env = {"BENCHCORE_DB": str(tmp_path / "results.duckdb"), "BENCHCORE_EMBEDDED": "never",
           "BENCHCORE_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    # No --server.address: whatever binds comes from .streamlit/config.toml.
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.headless", "true"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as resp:
                    assert resp.read() == b"ok"
                break
            except OSError:
                assert proc.poll() is None, "streamlit exited"
                assert time.monotonic() < deadline, "streamlit did not answer on 127.0.0.1"
                time.sleep(0.2)
        listening = {c.laddr.ip for c in psutil.Process(proc.pid).net_connections(kind="inet")
                     if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
        assert listening == {"127.0.0.1"}, listening
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
