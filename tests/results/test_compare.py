"""The run-vs-run verdict on chosen trial p50s, its notes, the warnings and the JSON document."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from benchcore.models import EmbeddedPlacement, Environment, ServerEnvironment, ServerInfo
from benchcore.results import compare as cmp
from tests.results.synthetic import ENV, make_run

A5 = [100.0, 102.0, 98.0, 101.0, 99.0]


def verdict(a: list[float], b: list[float], **kw: float) -> tuple[str, float, float, str | None]:
    """decide(), with ratio and p as NaN where it gives None (so tests compare them without narrowing)."""
    outcome, ratio, p, test = cmp.decide(a, b, **kw)
    return outcome, math.nan if ratio is None else ratio, math.nan if p is None else p, test


def test_identical_distributions_are_no_significant_change():
    same, ratio, p, test = verdict(A5, [100.5, 99.5, 100.2, 98.7, 101.3])
    assert same == cmp.NO_CHANGE and ratio == pytest.approx(1.002) and p > 0.5 and test == cmp.EXACT
    outcome, ratio, p, test = verdict(A5, A5)  # the very same trials: every value tied
    assert (outcome, ratio, p, test) == (cmp.NO_CHANGE, 1.0, 1.0, cmp.PERMUTATION)


def test_b_twenty_percent_slower_with_five_trials_each_is_slower_and_faster_the_other_way():
    b = [v * 1.2 for v in A5]
    slower, ratio, p, _ = verdict(A5, b)
    assert slower == cmp.SLOWER and ratio == pytest.approx(1.2)
    assert p == pytest.approx(2 / math.comb(10, 5))  # every B above every A: the smallest p of 5 vs 5
    assert verdict(b, A5)[0] == cmp.FASTER


def test_fewer_than_three_trials_gets_no_verdict_whatever_the_ratio():
    for a, b in (([100.0, 101.0], [200.0, 201.0]), (A5, [300.0, 301.0]), ([100.0], A5), ([], A5)):
        outcome, _ratio, p, test = verdict(a, b)
        assert outcome == cmp.TOO_FEW and math.isnan(p) and test is None
    assert verdict([100.0, 101.0], [200.0, 201.0])[1] == pytest.approx(200.5 / 100.5)  # the ratio is still shown


@pytest.mark.parametrize("b", [[1000.0, 1001.0, 1002.0], [50.0, 51.0, 52.0], [200.0, 200.0, 200.0]])
def test_three_vs_three_is_no_significant_change_whatever_the_ratio(b):
    outcome, ratio, p, _ = verdict([100.0, 100.0, 100.0] if b[0] == b[1] else [100.0, 101.0, 102.0], b)
    assert outcome == cmp.NO_CHANGE
    assert p == pytest.approx(0.1)  # tied trials too: the exact permutation distribution, not the normal one
    assert abs(ratio - 1) > 0.4


def test_minimum_effect_and_significance_are_both_needed():
    tight = [100.0, 100.2, 100.4, 100.6, 100.8]
    tiny = [v * 1.03 for v in tight]  # perfectly separated but only 3 % slower
    assert verdict(tight, tiny)[0] == cmp.NO_CHANGE and verdict(tight, tiny)[2] < 0.05
    assert verdict(tight, tiny, min_effect=0.01)[0] == cmp.SLOWER
    noisy = [80.0, 150.0, 95.0, 170.0, 140.0]  # median 40 % slower, trials overlap A's range
    outcome, ratio, p, _ = verdict([100.0, 160.0, 90.0, 130.0, 85.0], noisy)
    assert ratio > 1.05 and p > 0.05 and outcome == cmp.NO_CHANGE


def test_a_shift_inside_the_runs_own_spread_is_no_significant_change():
    steady = [95.0, 97.0, 100.0, 103.0, 106.0]  # CV 4 %
    noisy = [108.0, 109.0, 110.0, 111.0, 160.0]  # every trial above A's, but one 45 % out: CV 19 %
    assert cmp.effect_floor(steady, noisy) == pytest.approx(cmp.trial_cv(noisy)) and cmp.trial_cv(noisy) > 0.18
    outcome, ratio, p, _ = verdict(steady, noisy)
    assert (outcome, ratio) == (cmp.NO_CHANGE, pytest.approx(1.10)) and p < 0.01  # significant, but inside the noise
    assert verdict(steady, [v * 1.3 for v in noisy])[0] == cmp.SLOWER  # 43 % is beyond it
    assert verdict(steady, [v * 1.1 for v in steady])[0] == cmp.SLOWER  # the same 10 % with quiet runs is a change
    c = cmp.compare_runs(make_run("a", {("redis", "sync"): steady}), make_run("b", {("redis", "sync"): noisy}))
    assert c.pairs[0].verdict == cmp.NO_CHANGE and cmp.held_back(c.pairs[0])
    assert len(c.notes) == 1 and "redis sync B/A 1.10 within CV 19 %" in c.notes[0]


def test_a_note_says_when_every_pair_moved_the_same_way():
    keys = [("redis", "sync"), ("redis", "async"), ("memcached", "sync")]
    a = make_run("a", dict.fromkeys(keys, A5))
    slower = {k: [v * f for v in A5] for k, f in zip(keys, (1.2, 1.15, 1.3), strict=True)}
    drift = cmp.compare_runs(a, make_run("b", slower))
    assert [p.verdict for p in drift.pairs] == [cmp.SLOWER] * 3  # the verdicts stand: the note says what to doubt
    assert any("moved the same way (B/A 1.15–1.30)" in n for n in drift.notes)
    one = cmp.compare_runs(a, make_run("b", {**dict.fromkeys(keys, A5), ("redis", "sync"): [v * 1.2 for v in A5]}))
    assert one.notes == ()  # one tier slower, the others unchanged: the code, not the machine


def test_a_run_watched_in_a_browser_against_one_that_was_not_is_a_warning():
    def watched(pct):
        return cmp.comparison_warnings(make_run("a", {("redis", "sync"): A5}, environment=ENV),
                                       make_run("b", {("redis", "sync"): A5},
                                                environment=replace(ENV, progress_watched_pct=pct)))

    assert any("redrew the progress during 80 % of run B" in w for w in watched(80.0))
    assert watched(5.0) == [] and watched(None) == []  # a glance, or a CLI run: nothing to say
    both = cmp.comparison_warnings(make_run("a", {("redis", "sync"): A5},
                                            environment=replace(ENV, progress_watched_pct=90.0)),
                                   make_run("b", {("redis", "sync"): A5},
                                            environment=replace(ENV, progress_watched_pct=60.0)))
    assert both == []  # both watched: alike


def test_the_p_value_method_follows_sample_size_and_ties():
    assert cmp.mann_whitney(A5, [v * 2 for v in A5])[1] == cmp.EXACT
    assert cmp.mann_whitney([1.0, 1.0, 2.0, 3.0], [2.0, 4.0, 5.0, 6.0])[1] == cmp.PERMUTATION
    many = [float(i // 2) for i in range(20)]  # 20 vs 20 with ties: C(40, 20) splits is far too many to list
    assert cmp.mann_whitney(many, [v + 3 for v in many])[1] == cmp.NORMAL


def test_smallest_possible_p():
    assert cmp.min_possible_p(3, 3) == pytest.approx(0.1)
    assert cmp.min_possible_p(3, 4) == pytest.approx(2 / 35)
    assert cmp.min_possible_p(4, 4) == pytest.approx(2 / 70)
    assert cmp.min_possible_p(0, 5) == 1.0


def test_compare_runs_names_every_pair_and_says_why_some_are_not_compared():
    a = make_run("a", {("redis", "sync"): A5, ("redis", "async"): A5, ("memcached", "sync"): A5,
                       ("postgres-raw", "sync"): A5, ("inprocess", "sync"): [0.4, 0.41]},
                 status={("memcached", "sync"): "failed"})
    b = make_run("b", {("redis", "sync"): [v * 1.2 for v in A5], ("redis", "async"): A5,
                       ("memcached", "sync"): A5, ("postgres-orm", "sync"): A5, ("inprocess", "sync"): A5},
                 status={("redis", "async"): "cancelled"})
    c = cmp.compare_runs(a, b)
    got = {(p.tier, p.mode): p.verdict for p in c.pairs}
    assert got == {("postgres-orm", "sync"): "not measured in A", ("postgres-raw", "sync"): "not measured in B",
                   ("redis", "sync"): cmp.SLOWER, ("redis", "async"): "cancelled in B",
                   ("memcached", "sync"): "failed in A", ("inprocess", "sync"): cmp.TOO_FEW}
    assert [(p.tier, p.mode) for p in c.pairs][:2] == [("postgres-orm", "sync"), ("postgres-raw", "sync")]  # registry
    assert c.counts() == {cmp.SLOWER: 1, cmp.FASTER: 0, cmp.NO_CHANGE: 0, cmp.TOO_FEW: 1, cmp.NOT_COMPARED: 4}
    assert [(p.tier, p.mode) for p in c.slower] == [("redis", "sync")]
    slower = next(p for p in c.pairs if p.verdict == cmp.SLOWER)
    assert (slower.a.trials, slower.b.trials) == (5, 5) and slower.b.p50_us == pytest.approx(120.0)
    assert slower.a.ci_low_us is not None and slower.a.ci_high_us is not None
    assert slower.a.ci_low_us <= 100.0 <= slower.a.ci_high_us
    assert c.method == "Mann-Whitney U on trial p50s, α = 0.05, minimum effect 5 %, the runs' CV or the machine's drift"
    assert c.notes == ("With 2 trial(s) in A and 5 in B there is no verdict: at least 3 per run are needed.",)


def test_a_note_says_when_the_trial_counts_make_significance_impossible():
    a = make_run("a", {("redis", "sync"): [100.0, 101.0, 102.0], ("redis", "async"): A5})
    b = make_run("b", {("redis", "sync"): [300.0, 301.0, 302.0], ("redis", "async"): A5})
    c = cmp.compare_runs(a, b)
    assert {p.mode: p.verdict for p in c.pairs} == {"sync": cmp.NO_CHANGE, "async": cmp.NO_CHANGE}
    assert len(c.notes) == 1
    assert "3 trials in A and 3 in B the smallest possible p is 0.100" in c.notes[0]
    assert "at least 4 trials" in c.notes[0]
    four = cmp.compare_runs(make_run("a", {("redis", "sync"): A5[:4]}),
                            make_run("b", {("redis", "sync"): [v * 2 for v in A5[:4]]}))
    assert four.notes == () and four.pairs[0].verdict == cmp.SLOWER  # 4 vs 4 can reach p = 0.029


def test_min_effect_is_a_parameter_and_named_in_the_method():
    a = make_run("a", {("redis", "sync"): A5})
    b = make_run("b", {("redis", "sync"): [v * 1.08 for v in A5]})
    assert cmp.compare_runs(a, b).pairs[0].verdict == cmp.SLOWER
    strict = cmp.compare_runs(a, b, min_effect=0.10)
    assert strict.pairs[0].verdict == cmp.NO_CHANGE and "minimum effect 10 %" in strict.method


def test_to_dict_is_strict_json_with_every_pair():
    a = make_run("a", {("redis", "sync"): A5, ("inprocess", "sync"): [0.4]})
    b = make_run("b", {("redis", "sync"): [v * 1.2 for v in A5]})
    doc = json.loads(json.dumps(cmp.compare_runs(a, b).to_dict(), allow_nan=False))
    assert doc["run_a"] == "a" and doc["run_b"] == "b" and doc["min_effect_pct"] == 5.0 and doc["alpha"] == 0.05
    assert doc["method"].startswith("Mann-Whitney U")
    pair = doc["pairs"][0]
    assert pair["tier"] == "redis" and pair["verdict"] == "slower" and pair["trials_a"] == pair["trials_b"] == 5
    assert pair["ratio"] == pytest.approx(1.2) and 0 < pair["p_value"] < 0.05
    assert pair["a"]["trial_p50s_us"] == A5 and pair["b"]["p50_us"] == pytest.approx(120.0)
    assert doc["pairs"][1]["verdict"] == "not measured in B" and doc["pairs"][1]["ratio"] is None
    assert doc["counts"]["slower"] == 1 and doc["warnings"] == [] and doc["notes"] == []


# ---- warnings ------------------------------------------------------------------------------------------


def warnings_between(spec_b: dict | None = None, env_b: Environment = ENV, env_a: Environment = ENV) -> str:
    a = make_run("a", {("redis", "sync"): A5}, environment=env_a)
    b = make_run("b", {("redis", "sync"): A5}, environment=env_b, **(spec_b or {}))
    return "\n".join(cmp.comparison_warnings(a, b))


def test_same_setup_has_no_warnings():
    assert warnings_between() == ""


@pytest.mark.parametrize(("change", "needle"), [
    ({"distribution": "zipf"}, "key distribution uniform in A vs zipf in B"),
    ({"cold": True}, "caches warmed in A vs cold in B"),
    ({"warmup": 0}, "warmup reads 200 in A vs 0 in B"),
    ({"keys": 500}, "key count 10000 in A vs 500 in B"),
    ({"cache_capacity": 500}, "in-process cache capacity 10000 in A vs 500 in B"),  # A's capacity is its key space
    ({"cache_ttl_s": 60}, "cache TTL (s) 3600 in A vs 60 in B"),
    ({"seed": 2}, "key seed 1 in A vs 2 in B"),
    ({"concurrency": 4}, "concurrency 1 in A vs 4 in B"),
    ({"ops": 500}, "reads per trial 2000 in A vs 500 in B"),
    ({"trials": 7}, "trials 5 in A vs 7 in B"),
    ({"read_timeout_s": 1.5}, "read timeout (s) 5 in A vs 1.5 in B"),
    ({"interleave": False}, "interleaved trials yes in A vs no in B"),
    ({"cpus": (0,)}, "client not pinned in A vs pinned to CPUs 0 in B"),
])
def test_each_workload_setting_that_changes_the_measurement_warns(change, needle):
    text = warnings_between(change)
    assert needle in text and text.count("\n") == 0  # exactly that one warning


def test_label_table_and_key_prefix_do_not_warn():
    assert warnings_between({"label": "after", "table": "other_users", "key_prefix": "x"}) == ""


def test_machine_software_and_client_cpus_warn_only_when_known_on_both_sides():
    other = replace(ENV, hostname="other-box", python="CPython 3.12.1", client_cpu_affinity=(1,),
                    packages={"redis": "5.2.0", "numpy": "2.0.0"}, benchcore_version="0.2.0")
    text = warnings_between(env_b=other)
    assert "Different host: box in A vs other-box in B." in text
    assert "Different Python: CPython 3.11.7 in A vs CPython 3.12.1 in B." in text
    assert "Different client CPUs: 0,1 in A vs 1 in B." in text
    assert "benchcore 0.1.0 -> 0.2.0" in text and "redis 5.0.1 -> 5.2.0" in text and "numpy" not in text
    unknown = replace(ENV, hostname="", python="", client_cpu_affinity=None, packages={}, benchcore_version="")
    assert warnings_between(env_b=unknown) == ""  # a run stored before these were recorded


def test_servers_embedded_vs_external_version_address_and_pinning():
    def env(kind: str, version: str = "7.2.4", address: str = "127.0.0.1:6379", pinned=None) -> Environment:
        placement = EmbeddedPlacement((0, 1), pinned) if kind == "embedded" else None
        return replace(ENV, servers={"redis": ServerEnvironment(kind, address, version, placement)})

    assert warnings_between(env_a=env("external"), env_b=env("external")) == ""
    assert "Different redis server: external in A vs embedded in B." in warnings_between(
        env_a=env("external"), env_b=env("embedded", address="127.0.0.1:40001"))
    assert "Different redis server version: 7.2.4 in A vs 7.0.15 in B." in warnings_between(
        env_a=env("external"), env_b=env("external", "7.0.15"))
    assert "Different redis server: 127.0.0.1:6379 in A vs 10.0.0.5:6379 in B." in warnings_between(
        env_a=env("external"), env_b=env("external", address="10.0.0.5:6379"))
    # An embedded server gets a new port every process: that is not a difference; its CPU pin is.
    assert warnings_between(env_a=env("embedded", address="127.0.0.1:1"),
                            env_b=env("embedded", address="127.0.0.1:2")) == ""
    assert "Different redis server CPUs: not pinned in A vs pinned to CPUs 0 in B." in warnings_between(
        env_a=env("embedded"), env_b=env("embedded", pinned=(0,)))


def test_runs_without_a_server_record_fall_back_to_their_results():
    a = make_run("a", {("redis", "sync"): A5}, environment=replace(ENV, servers={}))
    b = make_run("b", {("redis", "sync"): A5}, environment=replace(ENV, servers={}))
    result = b.results[0]
    b = replace(b, results=(replace(result, server=ServerInfo("external", "127.0.0.1:6379", "6.0.0")),))
    assert cmp.comparison_warnings(a, b) == ["Different redis server version: 7.2.4 in A vs 6.0.0 in B."]


def test_in_process_runs_never_warn_about_a_server_they_did_not_need():
    """The in-process tier needs no server: a different PostgreSQL (or none) behind two in-process runs is not a
    difference between them; a tier of both runs that needs the server still warns."""
    pg = {"postgres": ServerEnvironment("external", "127.0.0.1:5432", "16.4")}
    other = {"postgres": ServerEnvironment("embedded", "127.0.0.1:40000", "17.0")}
    a = make_run("a", {("inprocess", "sync"): [0.4] * 5}, environment=replace(ENV, servers=pg))
    b = make_run("b", {("inprocess", "sync"): [0.4] * 5}, environment=replace(ENV, servers=other))
    assert cmp.comparison_warnings(a, b) == []
    a = make_run("a", {("inprocess", "sync"): [0.4] * 5, ("postgres-raw", "sync"): A5},
                 environment=replace(ENV, servers=pg))
    b = make_run("b", {("inprocess", "sync"): [0.4] * 5, ("postgres-raw", "sync"): A5},
                 environment=replace(ENV, servers=other))
    assert "Different postgres server: external in A vs embedded in B." in cmp.comparison_warnings(a, b)
