from pathlib import Path

import pytest

from benchcore.errors import ConfigError
from benchcore.settings import DEFAULT_REDIS_URL, Settings


def test_environment_then_flags():
    env = {"BENCHCORE_REDIS_URL": "redis://:pw@10.0.0.1:6380/1", "BENCHCORE_DB": "/tmp/x.duckdb",
           "BENCHCORE_EMBEDDED": "NEVER"}
    s = Settings.from_env(env)
    assert s.redis_url == "redis://:pw@10.0.0.1:6380/1" and s.db_path == Path("/tmp/x.duckdb")
    assert s.embedded == "never" and s.explicit == {"redis_url"}
    s2 = Settings.from_env(env, redis_url="redis://127.0.0.1:1/0", db_path="y.duckdb", postgres_url=None)
    assert s2.redis_url == "redis://127.0.0.1:1/0" and s2.db_path == Path("y.duckdb")
    assert "postgres_url" not in s2.explicit


def test_defaults_and_bad_embedded():
    assert Settings.from_env({}).redis_url == DEFAULT_REDIS_URL
    with pytest.raises(ConfigError, match="auto, always, never"):
        Settings.from_env({"BENCHCORE_EMBEDDED": "sometimes"})


def test_scrub_and_redacted_urls_hide_every_password():
    s = Settings(postgres_url="postgresql://u:pgpw@h/d", redis_url="redis://:rpw@h:1/0")
    assert s.scrub("pgpw and rpw") == "*** and ***"
    assert "pgpw" not in str(s.redacted_urls()) and "rpw" not in str(s.redacted_urls())


def test_server_cpus_from_env_and_flag():
    import os

    cpus = sorted(os.sched_getaffinity(0))
    assert Settings.from_env({}).server_cpus is None
    assert Settings.from_env({"BENCHCORE_SERVER_CPUS": " "}).server_cpus is None
    s = Settings.from_env({"BENCHCORE_SERVER_CPUS": ",".join(map(str, reversed(cpus)))})
    assert s.server_cpus == tuple(cpus)  # sorted tuple, whatever order was given
    assert Settings.from_env({"BENCHCORE_SERVER_CPUS": "9999"}, server_cpus=str(cpus[0])).server_cpus == (cpus[0],)
    assert s.with_urls(redis_url="redis://127.0.0.1:1/0").server_cpus == tuple(cpus)


@pytest.mark.parametrize("value", ["9999", "a", ",", "0,x", "-1"])
def test_bad_server_cpus_is_a_config_error_naming_the_allowed_cpus(value):
    import os

    allowed = ",".join(map(str, sorted(os.sched_getaffinity(0))))
    with pytest.raises(ConfigError, match="BENCHCORE_SERVER_CPUS") as info:
        Settings.from_env({"BENCHCORE_SERVER_CPUS": value})
    expected = "comma list of CPU numbers" if any(c.isalpha() for c in value) else f"may use: {allowed}"
    assert expected in str(info.value)
    with pytest.raises(ConfigError):
        Settings(server_cpus=value)  # type: ignore[arg-type]
