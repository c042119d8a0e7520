"""Case 8: `runs --limit` takes 1.. only; labels with DEL, C1 controls or bidi overrides/isolates are refused and
stored text is escaped on the terminal; a run over the per-run sample cap is refused with its estimate, which every
run prints (CLI, one stderr line) or shows (Run page caption; the button is disabled over the cap).
(The missing --db directory of case 8 is in test_output_paths.py.)
"""

from __future__ import annotations

import dataclasses

import pytest
from streamlit.testing.v1 import AppTest

from benchcore import models
from benchcore.models import RunSpec
from benchcore.results.storage import RunRepository
from tests.faults.conftest import ROOT, Cli, Result, small_run_args
from tests.faults.helpers import stored_run

HOSTILE = "red \x1b[31m\x1b]0;pwned\x07 DEL\x7f NEL\x85 CSI\x9b2J rlo\u202eevil lri\u2066x\u2069 nl\n"


def _one_line_error(res: Result, fragment: str) -> None:
    assert res.code == 2, res.text
    assert "Traceback" not in res.text
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("benchcore: error:") and fragment in lines[0], res.err


@pytest.mark.servers
def test_runs_limit_must_be_at_least_one(cli: Cli, tmp_path):
    RunRepository(tmp_path / "results.duckdb").save(stored_run())
    for limit in ("0", "-1"):
        _one_line_error(cli("runs", "--limit", limit), "must be 1 or more")
    listed = cli("runs", "--limit", "1")
    assert listed.code == 0 and "a stored run" in listed.out, listed.text


@pytest.mark.servers
@pytest.mark.parametrize("char", ["\x7f", "\x85", "\x9b", "\u202e", "\u2066", "\u2069", "\x1b"],
                         ids=["DEL", "NEL", "CSI", "RLO", "LRI", "PDI", "ESC"])
def test_labels_with_controls_or_bidi_are_refused(char, cli: Cli, tmp_path):
    res = cli(*small_run_args("--tiers", "inprocess", "--label", f"ok{char}label"))
    _one_line_error(res, "must not contain control characters or bidi overrides")
    assert f"U+{ord(char):04X}" in res.err
    assert not (tmp_path / "results.duckdb").exists()


@pytest.mark.servers
def test_stored_text_is_escaped_on_the_terminal(cli: Cli, tmp_path):
    run = stored_run()
    hostile = RunSpec.from_dict({**run.spec.to_dict(), "label": HOSTILE})  # a database written before the rule
    RunRepository(tmp_path / "results.duckdb").save(dataclasses.replace(run, spec=hostile))
    for args in (["runs"], ["show", run.run_id]):
        res = cli(*args)
        assert res.code == 0, res.text
        raw = [c for c in HOSTILE if not c.isprintable() and c != "\n"]  # output lines end in a newline anyway
        assert not [c for c in raw if c in res.out], (args, res.out)
        for escaped in ("\\x1b[31m", "\\x07", "\\x7f", "\\x85", "\\x9b", "\\u202e", "\\u2066", "nl\\n"):
            assert escaped in res.out, (args, escaped, res.out)


@pytest.mark.servers
def test_run_over_the_sample_cap_is_refused_with_its_estimate(cli: Cli, tmp_path):
    res = cli(*small_run_args("--tiers", "all", "--ops", "10000000", "--trials", "20"))
    _one_line_error(res, "3,200,000,000 timed reads (8 tiers x 2 modes x 20 trials x 10,000,000 reads), "
                         "25,600.0 MB of samples")
    assert f"the cap is {models.MAX_SAMPLES:,} timed reads" in res.err
    assert not (tmp_path / "results.duckdb").exists()


@pytest.mark.servers
def test_every_run_states_its_estimate_before_it_starts(cli: Cli):
    res = cli(*small_run_args("--tiers", "inprocess,postgres-raw", "--modes", "sync"))
    assert res.code == 0, res.text
    first = res.err.splitlines()[0]
    assert first.startswith("benchcore: this run makes 400 timed reads (2 tiers x 1 mode x 1 trial x 200 reads), "
                            "0.0 MB of samples; expect about "), res.err
    assert "MB of memory at peak" in first  # the Run page's estimate, in the terminal too


@pytest.mark.servers
def test_run_page_shows_the_estimate_and_disables_the_button_over_the_cap(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHCORE_DB", str(tmp_path / "results.duckdb"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run().switch_page("pages/run.py").run()
    assert not at.exception
    default = f"This run makes {RunSpec().estimate.reads:,} timed reads"
    assert any(default in c.value for c in at.caption), [c.value for c in at.caption]
    assert not at.button(key="run").disabled
    at.number_input(key="ops").set_value(10_000_000)
    at.number_input(key="trials").set_value(20)
    at.run()
    over = f"{10_000_000 * 20 * len(RunSpec().tiers) * 2:,} timed reads"  # the default tiers, both modes
    assert any("Over the cap" in c.value and over in c.value for c in at.caption)
    assert at.button(key="run").disabled
