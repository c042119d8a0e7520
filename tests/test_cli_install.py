"""Packaging: pyproject.toml's console script and package list, the requirements split, and the installed
`benchcore` command working from outside the checkout (.ci/run installs it with `pip install -e .`)."""

from __future__ import annotations

import importlib.metadata
import os
import pkgutil
import shutil
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

import benchcore
from benchcore import cli
from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DEV_ONLY = ("pytest", "pytest-timeout", "playwright", "ruff", "mypy")


def _names(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line.split(";")[0].split("==")[0].split("[")[0].strip().lower() for line in lines if line]


def test_the_console_script_is_cli_console():
    target = PYPROJECT["project"]["scripts"]["benchcore"]
    assert target == "benchcore.cli:console"
    assert pkgutil.resolve_name(target) is cli.console


def test_every_package_is_in_the_distribution_and_needs_no_data_files():
    patterns = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "benchcore").rglob("__init__.py")}
    assert "benchcore.commands" in packages
    assert {p for p in packages if not any(fnmatch(p, pattern) for pattern in patterns)} == set()
    # Only modules ship: a data file added to benchcore/ needs package-data in pyproject.toml (then update this).
    others = [p for p in (ROOT / "benchcore").rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")]
    assert others == []


def test_runtime_and_dev_requirements_are_split():
    runtime, dev = _names(ROOT / "requirements.txt"), _names(ROOT / "requirements-dev.txt")
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["dependencies"] == {"file": ["requirements.txt"]}
    assert {"streamlit", "duckdb", "redis", "sqlalchemy", "scipy"} <= set(runtime)
    assert [n for n in runtime if n in DEV_ONLY or n.startswith("types-")] == []
    assert dev[0] == "-r requirements.txt"
    assert set(DEV_ONLY) <= set(dev) and any(n.startswith("types-") for n in dev)


def _installed() -> importlib.metadata.EntryPoint:
    found = importlib.metadata.entry_points(group="console_scripts", name="benchcore")
    if not found:
        msg = "benchcore is not installed: pip install -e . (README 'Install')"
        if IN_CI:
            pytest.fail(msg + " -- .ci/run installs it", pytrace=False)
        pytest.skip(msg)
    (entry,) = found
    return entry


def test_the_installed_benchcore_command_runs_from_another_directory(tmp_path):
    entry = _installed()
    assert entry.value == "benchcore.cli:console" and entry.load().__module__ == "benchcore.cli"
    script = shutil.which("benchcore", path=os.pathsep.join([str(Path(sys.executable).parent),
                                                              os.environ.get("PATH", "")]))
    assert script, "the benchcore console script is not on PATH nor next to the interpreter"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # found through the install, not the checkout
    where = subprocess.run([sys.executable, "-c", "import benchcore; print(benchcore.__file__)"], cwd=tmp_path,
                           env=env, capture_output=True, text=True, timeout=60)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).parent.name == "benchcore"
    help_ = subprocess.run([script, "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert help_.returncode == 0, help_.stderr
    assert "rename" in help_.stdout and "delete" in help_.stdout
    runs = subprocess.run([sys.executable, "-m", "benchcore", "runs", "--help"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert runs.returncode == 0 and "(default: 50)" in runs.stdout
    assert benchcore.__version__ == importlib.metadata.version("benchcore")
