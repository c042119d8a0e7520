"""capture_environment on this machine, and machine_summary on fixed inputs."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import replace

import duckdb
import numpy as np
import pytest

import benchcore
from benchcore.models import Environment, ServerEnvironment, ServerInfo
from benchcore.results import codec
from benchcore.running import environment
from benchcore.running.environment import capture_environment, machine_summary

PASSWORD = "s3cret-Pa55"


def test_captures_this_machine_and_what_the_runner_passes() -> None:
    env = capture_environment({"redis": ServerInfo("external", "127.0.0.1:6379", "7.2.4")},
                              client_cpu_affinity=[1, 0], timer_overhead_ns=61)
    document = codec.environment_to_dict(env)
    assert json.loads(json.dumps(document)) == document  # only JSON types: a stored run loads back equal
    assert codec.environment_from_dict(document) == env
    assert env.python_version == platform.python_version()
    assert env.python == f"{platform.python_implementation()} {platform.python_version()}"
    assert env.os_system == platform.system() and env.os
    assert env.cpu_count == os.cpu_count() and env.cpu_model
    if hasattr(os, "sched_getaffinity"):
        assert env.cpu_affinity == tuple(sorted(os.sched_getaffinity(0)))
    assert env.hostname
    assert env.benchcore_version == benchcore.__version__ and document["benchcore"] == benchcore.__version__
    assert env.packages["duckdb"] == duckdb.__version__ and env.packages["numpy"] == np.__version__
    assert set(env.packages) >= {"sqlalchemy", "psycopg2", "asyncpg", "redis", "hiredis", "pymemcache",
                                 "aiomcache", "cachetools", "duckdb", "numpy", "streamlit"}
    assert env.servers == {"redis": ServerEnvironment("external", "127.0.0.1:6379", "7.2.4")}  # no placement
    assert document["servers"] == {"redis": {"kind": "external", "address": "127.0.0.1:6379", "version": "7.2.4"}}
    assert env.client_cpu_affinity == (1, 0) and env.timer_overhead_ns == 61.0
    assert env.native == () and env.extra == {}


def test_missing_package_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(environment, "PACKAGES", {"ghost": ("benchcore-no-such-dist",), "numpy": ("numpy",)})
    assert environment.package_versions() == {"ghost": "not installed", "numpy": np.__version__}


def test_never_contains_a_password() -> None:
    servers = {
        "postgres": ServerInfo("external", f"postgresql://bench:{PASSWORD}@127.0.0.1:5432/postgres", "16.4"),
        "redis": ServerInfo("external", f"redis://:{PASSWORD}@127.0.0.1:6379/0", "7.2.4"),
        "memcached": ServerInfo("embedded", "127.0.0.1:41211", "1.6.21"),
    }
    env = capture_environment(servers)
    text = json.dumps(codec.environment_to_dict(env))
    assert PASSWORD not in text
    assert env.servers["postgres"].address == "postgresql://bench:***@127.0.0.1:5432/postgres"
    # Embedded, but not one this process started: no placement to read.
    assert env.servers["memcached"] == ServerEnvironment("embedded", "127.0.0.1:41211", "1.6.21")
    assert not any(value in text for key, value in os.environ.items() if len(value) > 12 and "PASS" in key.upper())


@pytest.mark.parametrize(("cpuinfo", "model"), [
    ("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz\n",
     "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz"),
    ("processor\t: 0\nBogoMIPS\t: 108.00\nHardware\t: BCM2835\n", "BCM2835"),
    ("processor\t: 0\n", None),
])
def test_cpu_model_from_proc_cpuinfo(cpuinfo: str, model: str | None) -> None:
    assert environment._linux_cpu_model(cpuinfo) == model


def test_machine_summary_is_one_short_line() -> None:
    env = Environment(cpu_model="Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz", cpu_count=2, cpu_affinity=(0, 1),
                      os_system="Linux", os_release="6.1.0-18-amd64", python_version="3.11.7",
                      python_implementation="CPython")
    assert machine_summary(env) == "Intel Xeon Gold 6148 @ 2.40GHz x2, Linux 6.1, Python 3.11.7"
    pinned = replace(env, cpu_count=8, cpu_affinity=(3,), os_system="Darwin", os_release="23.4.0",
                     python_implementation="PyPy")
    assert machine_summary(pinned) == "Intel Xeon Gold 6148 @ 2.40GHz x8 (pinned to 1), Darwin 23.4.0, PyPy 3.11.7"
    assert machine_summary(Environment()) == ""
    assert machine_summary(Environment(timer_overhead_ns=50.0, servers={"redis": ServerEnvironment()})) == ""
    line = machine_summary(capture_environment({}))
    assert "\n" not in line and f"Python {platform.python_version()}" in line
