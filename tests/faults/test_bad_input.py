"""Bad input through the CLI: a one-line message, the documented exit code, never a traceback.

Decisions: invalid numbers, names and labels are rejected before anything runs (exit 2, nothing saved).
A malformed URL is a property of one backend: its tiers fail with a clear message naming the (redacted)
URL while the other tiers still run (exit 1), the same as any other unusable target.
"""

from __future__ import annotations

import json
import re

import pytest

from benchcore.models import MAX_CONCURRENCY, MAX_LABEL, MAX_OPS
from benchcore.results.storage import RunRepository
from tests.faults.conftest import KNOWN_PASSWORD, Cli, small_run_args

P = KNOWN_PASSWORD

REJECTED: dict[str, tuple[list[str], str]] = {
    # name: (arguments after `run`, fragment of the message)
    "ops-zero": (["--ops", "0"], "ops must be between 1"),
    "ops-negative": (["--ops", "-1"], "ops must be between 1"),
    "ops-absurd": (["--ops", str(10**12)], f"ops must be between 1 and {MAX_OPS:,}"),
    "ops-not-a-number": (["--ops", "lots"], "not a whole number"),
    "ops-fraction": (["--ops", "1.5"], "not a whole number"),
    "concurrency-above-cap": (["--concurrency", str(MAX_CONCURRENCY + 1)], f"between 1 and {MAX_CONCURRENCY}"),
    "concurrency-zero": (["--concurrency", "0"], "concurrency must be between 1"),
    "trials-zero": (["--trials", "0"], "trials must be between 1"),
    "keys-zero": (["--keys", "0"], "keys must be between 1"),
    "warmup-negative": (["--warmup", "-5"], "warmup must be between 0"),
    "unknown-tier": (["--tiers", "postgres,mongodb"], "unknown tiers 'postgres', 'mongodb'"),
    "no-tier": (["--tiers", " , "], "no tiers given"),
    "unknown-mode": (["--modes", "sideways"], "unknown modes 'sideways'"),
    "unknown-distribution": (["--distribution", "pareto"], "invalid choice"),
    "table-sql": (["--table", "users; DROP TABLE users"], "must be a lower-case SQL identifier"),
    "table-quoted": (["--table", 'bench"users'], "must be a lower-case SQL identifier"),
    "key-prefix-space": (["--key-prefix", "a b"], "key_prefix"),
    "label-control-chars": (["--label", "red \x1b[31m text"], "control characters"),
    "label-too-long": (["--label", "x" * (MAX_LABEL + 1)], f"at most {MAX_LABEL} characters"),
    "json-dir-missing": (["--json", "/nonexistent-dir/out.json"], "does not exist"),
    "unknown-flag": (["--opps", "5"], "unrecognized arguments"),
}


def _check_one_line_error(code: int, out: str, err: str, fragment: str) -> None:
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("benchcore: error:"), lines[0]
    assert fragment in lines[0], lines[0]


@pytest.mark.servers
def test_rejected_inputs(cli: Cli, tmp_path):
    # One subprocess per input, all at once: each is a real `python -m benchcore run ...`.
    procs = {name: cli.popen(*small_run_args(*args)) for name, (args, _) in REJECTED.items()}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=60)
        try:
            _check_one_line_error(proc.returncode, out, err, REJECTED[name][1])
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
    assert not (tmp_path / "results.duckdb").exists()  # nothing ran, nothing was stored


@pytest.mark.servers
def test_other_commands_reject_bad_input(cli: Cli, tmp_path):
    res = cli("frobnicate")
    _check_one_line_error(res.code, res.out, res.err, "invalid choice")
    res = cli("runs", "--limit", "many")
    _check_one_line_error(res.code, res.out, res.err, "not a whole number")
    res = cli("show", "no-such-run")
    assert res.code in (1, 2) and "Traceback" not in res.text and len(res.err.strip().splitlines()) == 1


MALFORMED = {
    # flag, url, fragment of the message
    "pg-broken-ipv6": ("--postgres-url", f"postgresql://u:{P}@[::1:5432/x", "malformed"),
    "pg-wrong-scheme": ("--postgres-url", f"mysql://u:{P}@127.0.0.1/x", "must start with postgresql://"),
    "redis-port-not-a-number": ("--redis-url", f"redis://:{P}@h:notaport/0", "invalid port"),
    "memcached-no-host": ("--memcached-url", "memcached://", "no host"),
}
TIER_OF_FLAG = {"--postgres-url": "postgres-raw", "--redis-url": "redis", "--memcached-url": "memcached"}


@pytest.mark.servers
@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_url_fails_its_tiers_only(name, cli: Cli):
    flag, url, fragment = MALFORMED[name]
    tier = TIER_OF_FLAG[flag]
    res = cli(*small_run_args("--tiers", f"{tier},inprocess", "--modes", "sync", flag, url))
    assert res.code == 1, res.text
    assert "Traceback" not in res.text
    assert P not in res.text
    problems = [line for line in res.out.splitlines() if line.strip().startswith(f"{tier} (sync):") and
                fragment in line]
    assert len(problems) == 1, res.out
    assert re.search(r"FAILED: .*" + re.escape(fragment), res.err), res.err
    assert re.search(r"^inprocess\s+sync\s.*\bok\b", res.out, re.M), res.out  # the rest of the run went on


LABEL = "Robert'); DROP TABLE runs;-- <script>alert('x')</script> <b>bold</b> &amp; %s {0} ü"


@pytest.mark.servers
def test_label_with_sql_and_html_is_stored_and_shown_verbatim(cli: Cli, tmp_path):
    res = cli(*small_run_args("--tiers", "inprocess", "--modes", "sync", "--label", LABEL))
    assert res.code == 0, res.text
    run_id = re.search(r"^run ([0-9a-f]{12}): ", res.out, re.M).group(1)

    repo = RunRepository(tmp_path / "results.duckdb")
    assert repo.list_runs().label.tolist() == [LABEL]  # stored verbatim; and the runs table is still there
    assert repo.get_run(run_id).label == LABEL
    shown = cli("show", run_id)
    assert shown.code == 0 and LABEL in shown.out
    as_json = cli("show", run_id, "--json")
    assert json.loads(as_json.out)["label"] == LABEL
    listed = cli("runs")
    assert listed.code == 0 and LABEL in listed.out



@pytest.mark.servers
def test_targets_command_with_malformed_urls(cli: Cli):
    args = [arg for name in ("pg-broken-ipv6", "redis-port-not-a-number", "memcached-no-host")
            for arg in MALFORMED[name][:2]]
    res = cli("targets", *args)
    assert res.code == 0, res.text
    assert "Traceback" not in res.text and P not in res.text
    for name in ("pg-broken-ipv6", "redis-port-not-a-number", "memcached-no-host"):
        assert MALFORMED[name][2] in res.out, (name, res.out)
