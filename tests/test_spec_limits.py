"""One table of numeric caps: RunSpec (and so the CLI) and the Run page refuse the same values in the same words."""

from __future__ import annotations

import pytest

from benchcore.errors import ConfigError
from benchcore.spec import LIMITS, MAX_OPS, RunSpec, input_problems


def test_input_problems_name_the_field_and_its_range():
    assert input_problems({"ops": 2000, "trials": 5, "rate": None}) == []
    assert input_problems({"ops": 99_999_999}) == [
        f"Reads per trial must be between 1 and {MAX_OPS:,}, got 99,999,999"]
    assert input_problems({"warmup": -1, "duration": 0.05}) == [
        "Warmup reads must be between 0 and 1,000,000, got -1",
        "Duration per trial (s) must be between 0.1 and 3,600, got 0.05"]
    assert input_problems({"seed": 1.5}) == ["Seed must be a whole number between 0 and 4,294,967,295, got 1.5"]


@pytest.mark.parametrize("name", ["ops", "warmup", "trials", "concurrency", "keys", "processes"])
def test_runspec_refuses_exactly_what_the_page_refuses(name):
    limit = LIMITS[name]
    for bad in (int(limit.low) - 1, int(limit.high) + 1):
        with pytest.raises(ConfigError, match=f"{name} must be between"):
            RunSpec(**{name: bad}, tiers=("inprocess",), modes=("sync",))
        assert input_problems({name: bad})
    fields = {"trials": 1, "ops": 1, name: int(limit.high)}  # the largest allowed value is allowed
    assert RunSpec(**fields, tiers=("inprocess",), modes=("sync",))
