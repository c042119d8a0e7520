"""The one resolve/probe decision, branch by branch: pure, so no server is needed."""

from __future__ import annotations

import itertools
from dataclasses import astuple

import pytest

from benchcore.servers import backends
from benchcore.servers.backends import Backend
from benchcore.servers.plan import (
    KIND_EMBEDDED,
    KIND_EXTERNAL,
    KIND_NOT_STARTED,
    KIND_UNAVAILABLE,
    KIND_WOULD_START,
    Action,
    EmbeddedOption,
    Observed,
    Plan,
    decide,
)
from benchcore.settings import Settings

SECRET = "Pl4n-secret-pw"
URLS = {
    "postgres": f"postgresql://u:{SECRET}@db.example:5432/app",
    "redis": f"redis://:{SECRET}@cache.example:6379/0",
    "memcached": f"memcached://u:{SECRET}@cache.example:11211",
    "redis-cluster": f"redis://:{SECRET}@cluster.example:7000/0",
}
SHOWN = {  # the same URLs as every message must show them
    "postgres": "postgresql://u:***@db.example:5432/app",
    "redis": "redis://:***@cache.example:6379/0",
    "memcached": "memcached://u:***@cache.example:11211",
    "redis-cluster": "redis://:***@cluster.example:7000/0",
}
REFUSAL = 'OperationalError: password authentication failed for user "u"'
OBSERVED = {
    "answers": Observed(version="16.4"),
    "refuses": Observed(version_error=REFUSAL),
    "silent": Observed(error="accepts connections but no answer within 1 s"),
    "closed": Observed(error="Connection refused"),
}
NO_EMBEDDED = "memcached is not installed (no `memcached` on PATH)"
OPTIONS = {"embedded available": EmbeddedOption(running=False),
           "no embedded": EmbeddedOption(running=False, reason=NO_EMBEDDED)}

USE, EMBEDDED = (Action.USE_URL, "external"), (Action.EMBEDDED, "embedded")
GIVEN_UP = (Action.UNAVAILABLE, "external")  # an explicit URL that does not answer: never replaced
NOTHING = (Action.UNAVAILABLE, "unknown")  # never, and nothing answers
NO_EMB = (Action.UNAVAILABLE, "embedded")  # an embedded server was the answer, and none can be had

# (explicit, observed, BENCHCORE_EMBEDDED) -> (action, ServerInfo.kind) with an embedded server available / not
EXPECTED = {
    (True, "answers", "auto"): (USE, USE),
    (True, "answers", "never"): (USE, USE),
    (True, "answers", "always"): (EMBEDDED, NO_EMB),
    (True, "refuses", "auto"): (USE, USE),  # given explicitly: used; its tier says why it fails
    (True, "refuses", "never"): (USE, USE),
    (True, "refuses", "always"): (EMBEDDED, NO_EMB),
    (True, "silent", "auto"): (GIVEN_UP, GIVEN_UP),
    (True, "silent", "never"): (GIVEN_UP, GIVEN_UP),
    (True, "silent", "always"): (EMBEDDED, NO_EMB),
    (True, "closed", "auto"): (GIVEN_UP, GIVEN_UP),
    (True, "closed", "never"): (GIVEN_UP, GIVEN_UP),
    (True, "closed", "always"): (EMBEDDED, NO_EMB),
    (False, "answers", "auto"): (USE, USE),
    (False, "answers", "never"): (USE, USE),
    (False, "answers", "always"): (EMBEDDED, NO_EMB),
    (False, "refuses", "auto"): (EMBEDDED, NO_EMB),  # a stock local server that will not serve us: skipped
    (False, "refuses", "never"): (USE, USE),
    (False, "refuses", "always"): (EMBEDDED, NO_EMB),
    (False, "silent", "auto"): (EMBEDDED, NO_EMB),
    (False, "silent", "never"): (NOTHING, NOTHING),
    (False, "silent", "always"): (EMBEDDED, NO_EMB),
    (False, "closed", "auto"): (EMBEDDED, NO_EMB),
    (False, "closed", "never"): (NOTHING, NOTHING),
    (False, "closed", "always"): (EMBEDDED, NO_EMB),
}
GRID = list(itertools.product(backends.NAMES, (True, False), OBSERVED, ("auto", "always", "never"), OPTIONS))


def settings_for(backend: Backend, mode: str, explicit: bool) -> Settings:
    return Settings(**{backend.settings_attr: URLS[backend.name]}, embedded=mode,  # type: ignore[arg-type]
                    explicit=frozenset({backend.settings_attr} if explicit else ()))


def plan_for(name: str, explicit: bool, observed: str, mode: str, option: str) -> Plan:
    backend = backends.get(name)
    return decide(backend, settings_for(backend, mode, explicit), OBSERVED[observed], OPTIONS[option])


def test_the_grid_covers_every_combination() -> None:
    assert len(EXPECTED) == 2 * len(OBSERVED) * 3 and len(GRID) == len(backends.NAMES) * len(EXPECTED) * 2


@pytest.mark.parametrize(("name", "explicit", "observed", "mode", "option"), GRID,
                         ids=["-".join((n, "explicit" if e else "implicit", o, m, x.replace(" ", "-")))
                              for n, e, o, m, x in GRID])
def test_every_branch(name: str, explicit: bool, observed: str, mode: str, option: str) -> None:
    plan = plan_for(name, explicit, observed, mode, option)
    backend = backends.get(name)

    expected = EXPECTED[(explicit, observed, mode)][0 if option == "embedded available" else 1]
    assert (plan.action, plan.kind) == expected, plan
    assert SECRET not in " ".join(map(str, astuple(plan)))
    if plan.action is Action.USE_URL:
        assert plan.probe_kind == KIND_EXTERNAL and plan.reason == "" and plan.note == ""
        assert plan.problem == ("" if observed == "answers" else f"answers but cannot be used: {REFUSAL}")
    elif plan.action is Action.EMBEDDED:
        assert plan.reason == ""
        assert plan.probe_kind == (KIND_NOT_STARTED if mode == "always" else KIND_WOULD_START)
        assert "starts with the first run" in plan.problem
    else:
        assert plan.probe_kind == (KIND_EXTERNAL if expected == GIVEN_UP else KIND_UNAVAILABLE)
        assert plan.reason.startswith(backend.label) or "no embedded " + backend.label in plan.reason
        assert (SHOWN[name] in plan.reason) is (mode != "always")  # "always" never looked at the URL
        assert plan.problem and plan.note == "" and plan.why == ""


@pytest.mark.parametrize("name", backends.NAMES)
@pytest.mark.parametrize("observed", ["silent", "closed"])
def test_an_explicit_url_that_does_not_answer_says_so_and_how_to_fix_it(name: str, observed: str) -> None:
    backend, error = backends.get(name), OBSERVED[observed].error
    auto = plan_for(name, True, observed, "auto", "embedded available")
    never = plan_for(name, True, observed, "never", "embedded available")

    assert auto.reason == (
        f"{backend.label} is not answering at {SHOWN[name]} ({error}). That URL was given explicitly "
        f"({backend.env_var} or a flag), so benchcore will not replace it: start the server, fix {backend.env_var}, "
        "or unset it to use the local default or an embedded server")
    assert never.reason.endswith("or unset it to use the local default")  # never: no embedded server to offer
    assert auto.problem == never.problem == f"not answering: {error}"


@pytest.mark.parametrize("name", backends.NAMES)
def test_never_with_nothing_answering_says_what_to_set(name: str) -> None:
    backend = backends.get(name)
    plan = plan_for(name, False, "closed", "never", "embedded available")

    assert plan.reason == (
        f"{backend.label} is not answering at {SHOWN[name]} (Connection refused) and BENCHCORE_EMBEDDED=never: "
        f"start {backend.label} there, set {backend.env_var} to a server that answers, or set BENCHCORE_EMBEDDED=auto "
        "to start an embedded one")
    assert plan.problem == "not answering: Connection refused; BENCHCORE_EMBEDDED=never, so nothing else will be tried"


def test_auto_says_why_the_local_server_was_skipped() -> None:
    refused = plan_for("postgres", False, "refuses", "auto", "embedded available")
    closed = plan_for("postgres", False, "closed", "auto", "embedded available")

    assert refused.note == f"a server answers at {SHOWN['postgres']} but cannot be used ({REFUSAL}); "
    assert refused.why == f"nothing usable at {SHOWN['postgres']} (answers but cannot be used: {REFUSAL})"
    assert refused.problem == f"answers but cannot be used: {REFUSAL}; an embedded server starts with the first run"
    assert closed.note == "" and closed.why == f"nothing usable at {SHOWN['postgres']} (Connection refused)"
    assert closed.problem == "not answering: Connection refused; an embedded server starts with the first run"


def test_no_embedded_server_gives_the_embedded_reason() -> None:
    auto = plan_for("memcached", False, "closed", "auto", "no embedded")
    always = plan_for("memcached", False, "closed", "always", "no embedded")

    assert auto.reason == (f"nothing usable at {SHOWN['memcached']} (Connection refused), and no embedded Memcached "
                           f"can be started here: {NO_EMBEDDED}")
    assert auto.problem == f"not answering: Connection refused; no embedded server either: {NO_EMBEDDED}"
    assert always.reason == f"BENCHCORE_EMBEDDED=always, and no embedded Memcached can be started here: {NO_EMBEDDED}"
    assert always.problem == NO_EMBEDDED


def test_always_says_which_given_url_it_skips() -> None:
    given = plan_for("redis", True, "answers", "always", "embedded available")
    default = plan_for("redis", False, "answers", "always", "embedded available")

    assert given.note == f"BENCHCORE_EMBEDDED=always: not using {SHOWN['redis']}; "
    assert given.why == "BENCHCORE_EMBEDDED=always"
    assert default.note == ""
    assert given.problem == "BENCHCORE_EMBEDDED=always: starts with the first run"


@pytest.mark.parametrize("mode", ["auto", "never"])
def test_our_own_embedded_server_is_used_even_when_its_version_lookup_fails(mode: str) -> None:
    backend = backends.get("redis")
    ours = Observed(version_error="ConnectionError: Error 104 reading from socket", ours=True)

    plan = decide(backend, settings_for(backend, mode, False), ours, OPTIONS["embedded available"])

    assert (plan.action, plan.kind, plan.probe_kind) == (Action.USE_URL, "embedded", KIND_EMBEDDED)


@pytest.mark.parametrize("mode", ["auto", "always"])
def test_a_running_embedded_server_is_reused_even_when_no_new_one_could_start(mode: str) -> None:
    backend = backends.get("memcached")
    running = EmbeddedOption(running=True, reason=NO_EMBEDDED)  # e.g. memcached left PATH after it started

    plan = decide(backend, settings_for(backend, mode, False), OBSERVED["closed"], running)

    assert (plan.action, plan.kind, plan.probe_kind) == (Action.EMBEDDED, "embedded", KIND_EMBEDDED)
    assert plan.problem == "" and plan.reason == ""


def test_always_needs_no_observation_and_the_others_refuse_to_guess() -> None:
    backend = backends.get("postgres")

    assert decide(backend, settings_for(backend, "always", False), None, OPTIONS["embedded available"]).action \
        is Action.EMBEDDED
    for mode in ("auto", "never"):
        with pytest.raises(ValueError, match="needs what was observed"):
            decide(backend, settings_for(backend, mode, False), None, OPTIONS["embedded available"])
