"""A 1,000,000-read run keeps memory bounded; Ctrl-C (SIGINT) saves what was measured as partial, exit 130."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

import psutil
import pytest

from benchcore.results.storage import RunRepository
from tests.faults.conftest import ROOT, TEST_PREFIX, TEST_TABLE, Cli

READS = 1_000_000
PEAK_RSS_LIMIT_MB = 400
LONG = ["run", "--tiers", "inprocess", "--modes", "sync", "--ops", str(READS), "--warmup", "1000",
        "--keys", "10000", "--table", TEST_TABLE, "--key-prefix", TEST_PREFIX]


def _spawn_measured(cli: Cli, args: list[str], stderr_fd: int | None = None) -> subprocess.Popen[bytes]:
    out = open(cli.tmp_path / "stdout.txt", "wb")  # noqa: SIM115 - closed by the caller via proc.stdout_file
    proc = subprocess.Popen([sys.executable, "-m", "benchcore", *args], cwd=ROOT, env=cli.base_env(),
                            stdout=out, stderr=stderr_fd if stderr_fd is not None else subprocess.DEVNULL)
    proc.stdout_file = out  # type: ignore[attr-defined]
    return proc


def _wait_peak_rss(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, float]:
    """(exit code, peak MB of the largest process in the CLI's tree), from each process's VmHWM.

    Not wait4's ru_maxrss: Linux carries the forking parent's high-water mark across fork+exec, so a child of a
    pytest process that has grown (other tests) would report pytest's size, not its own. VmHWM belongs to the
    address space exec creates and only grows, so polling it loses at most the last poll interval.
    """
    top = psutil.Process(proc.pid)
    peak_kb = 0
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"no exit within {timeout} s")
        try:
            tree = [top, *top.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for p in tree:
            try:
                with open(f"/proc/{p.pid}/status") as status:
                    line = next((x for x in status if x.startswith("VmHWM:")), "VmHWM: 0 kB")
                peak_kb = max(peak_kb, int(line.split()[1]))
            except (OSError, ValueError):
                pass  # exited between listing and reading
        time.sleep(0.02)
    proc.stdout_file.close()  # type: ignore[attr-defined]
    return proc.returncode, peak_kb / 1024


@pytest.mark.servers
def test_million_reads_memory_bounded(cli: Cli, tmp_path, capsys):
    proc = _spawn_measured(cli, [*LONG, "--trials", "1"])
    code, peak_mb = _wait_peak_rss(proc, 120)
    out = (tmp_path / "stdout.txt").read_text()
    assert code == 0, out
    with capsys.disabled():
        print(f"\n[long run] {READS:,} in-process reads, trials 1: peak RSS {peak_mb:.0f} MB "
              f"(limit {PEAK_RSS_LIMIT_MB} MB)")
    assert peak_mb < PEAK_RSS_LIMIT_MB
    run_id = re.search(r"^run ([0-9a-f]{12}): complete", out, re.M).group(1)
    samples = RunRepository(tmp_path / "results.duckdb").samples(run_id)
    assert len(samples) == READS


@pytest.mark.servers
def test_ctrl_c_saves_partial_run(cli: Cli, tmp_path):
    # stderr on a pseudo-terminal: the CLI then shows live progress, so we know when timed reads are under way.
    master, slave = pty.openpty()
    proc = _spawn_measured(cli, [*LONG, "--trials", "5"], stderr_fd=slave)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    while b"timed trial" not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                seen += os.read(master, 65536)
            except OSError:
                break
    assert b"timed trial" in seen, seen[-500:]
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    while True:  # keep draining the terminal so the CLI never blocks writing to it
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                chunk = b""
            seen += chunk
            if not chunk:
                break
        if proc.poll() is not None:
            break
        if time.monotonic() - t0 > 30:
            proc.kill()
            raise AssertionError("the CLI did not stop within 30 s of Ctrl-C")
    code = proc.wait(10)
    proc.stdout_file.close()  # type: ignore[attr-defined]
    os.close(master)
    err = seen.decode(errors="replace")
    out = (tmp_path / "stdout.txt").read_text()
    assert code == 130, (out, err[-2000:])
    assert "Traceback" not in out + err
    assert "cancelling" in err
    run_id = re.search(r"^run ([0-9a-f]{12}): partial", out, re.M).group(1)
    assert re.search(rf"saved run {run_id} \(partial\)", err), err[-2000:]

    stored = RunRepository(tmp_path / "results.duckdb").get_run(run_id)
    assert stored.status == "partial"
    (result,) = stored.results
    assert result.status == "cancelled"
    measured = sum(len(t.samples) for t in result.trials)
    assert 0 < measured < READS * 5  # what was measured so far, and no more
    assert measured == result.summary.ops
