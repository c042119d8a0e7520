import pytest

from benchcore.errors import ConfigError
from benchcore.models import MAX_CONCURRENCY, MAX_OPS, TIER_NAMES, RunSpec
from benchcore.tiers.registry import DEFAULT_TIERS


def test_defaults_are_valid_and_round_trip():
    spec = RunSpec()
    assert spec.tiers == DEFAULT_TIERS and spec.modes == ("sync", "async")
    assert RunSpec.from_dict(spec.to_dict()) == spec


def test_tiers_parse_from_text_in_canonical_order():
    assert RunSpec(tiers="redis,inprocess", modes="async").tiers == ("redis", "inprocess")
    assert RunSpec(tiers="all").tiers == TIER_NAMES


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tiers": "redis,mongo"}, "unknown tiers 'mongo'; valid tiers: postgres-orm"),
        ({"modes": "threads"}, "valid modes: sync, async"),
        ({"ops": 0}, "ops must be between 1 and"),
        ({"ops": -5}, "ops must be between 1 and"),
        ({"ops": MAX_OPS + 1}, "ops must be between"),
        ({"ops": 2.5}, "ops must be a whole number"),
        ({"concurrency": MAX_CONCURRENCY + 1}, "concurrency must be between 1 and 64"),
        ({"table": "users; DROP TABLE x"}, "must be a lower-case SQL identifier"),
        ({"key_prefix": "a b"}, "key_prefix"),
        ({"label": "x" * 201}, "at most 200"),
        ({"label": "a\x00b"}, "control characters"),
        ({"distribution": "pareto"}, "unknown distribution"),
    ],
)
def test_bad_input_is_a_clear_config_error(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        RunSpec(**kwargs)


def test_label_with_sql_and_html_is_allowed_verbatim():
    label = "'); DROP TABLE runs; -- <script>alert(1)</script>"
    assert RunSpec(label=label).label == label


def test_cpus_must_be_available():
    import os

    cpu = min(os.sched_getaffinity(0))
    assert RunSpec(cpus=str(cpu)).cpus == (cpu,)
    with pytest.raises(ConfigError, match="subset of this process's CPUs"):
        RunSpec(cpus=(9999,))
    with pytest.raises(ConfigError, match="comma list"):
        RunSpec(cpus="a,b")
