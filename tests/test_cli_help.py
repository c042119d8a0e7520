"""Every `--help` says each option's default (benchcore/commands/arguments.py HelpFormatter)."""

from __future__ import annotations

import argparse

import pytest

from benchcore.cli import build_parser, main


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (group,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(group.choices)


def test_every_command_is_listed():
    assert set(_subparsers()) == {"run", "sweep", "runs", "show", "compare", "export", "import", "rename", "delete",
                                  "targets", "advise"}


@pytest.mark.parametrize("command", sorted(_subparsers()))
def test_every_option_that_takes_a_value_says_its_default(command):
    sub = _subparsers()[command]
    formatter = sub._get_formatter()
    missing = []
    for action in sub._actions:
        if not action.option_strings or action.nargs == 0 or action.required:
            continue  # positionals, flags (off unless given), required options: no default to say
        text = formatter._expand_help(action) if action.help else ""
        if "default" not in text:
            missing.append(action.option_strings[-1])
    assert missing == []


@pytest.mark.parametrize(("argv", "needles"), [
    (["run", "--help"], ["--ops OPS", "(default: 2000)", "(default: uniform)", "(default: 5)",
                         "(default: BENCHCORE_DB, else results.duckdb)"]),
    (["sweep", "--help"], ["(default: 1,2,4,8,16,32,64)"]),
    (["runs", "--help"], ["(default: 50)"]),
    (["compare", "--help"], ["(default: 5.0)"]),
    (["delete", "--help"], ["--yes", "a run id, or any unique start of one"]),
])
def test_help_prints_the_defaults(capsys, argv, needles):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines at the terminal width
    for needle in needles:
        assert needle in out


def test_help_never_shows_a_password_from_the_environment(capsys, monkeypatch):
    monkeypatch.setenv("BENCHCORE_REDIS_URL", "redis://:hunter22@127.0.0.1:6379/0")
    with pytest.raises(SystemExit):
        main(["targets", "--help"])
    out = capsys.readouterr().out
    assert "hunter22" not in out and "redis://127.0.0.1:6379/0" in out
