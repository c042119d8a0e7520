"""The one decision of where a backend's server is, from the settings and what was observed at its URL.

decide() is pure: it opens no socket and starts nothing. resolve_targets() executes its Plan (and may start an
embedded server); probe_targets() reports it (and never starts one). Per backend, by BENCHCORE_EMBEDDED:
- auto (default): (1) a URL given explicitly is used as is and never replaced: if it does not answer, that
  backend is unavailable; (2) else the configured/default URL when a server answers there and accepts us;
  (3) else an embedded server (one already running in this process is reused).
- always: an embedded server, whatever URLs are configured; the configured URL is not even looked at.
- never: (1) or (2) only; a server that answers but refuses us is still used (its tier says why it fails).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal

from benchcore.servers.backends import Backend
from benchcore.settings import Settings
from benchcore.urls import redact

# what the Targets page and `benchcore targets` show as a backend's kind (ServerInfo.kind stays
# external | embedded | unknown)
KIND_EXTERNAL = "external"
KIND_EMBEDDED = "embedded"
KIND_NOT_STARTED = "embedded (not started yet)"
KIND_WOULD_START = "would start embedded"
KIND_UNAVAILABLE = "unavailable"

ALWAYS = "BENCHCORE_EMBEDDED=always"
ServerKind = Literal["external", "embedded", "unknown"]  # the ServerInfo.kind values a plan leads to


class Action(Enum):
    USE_URL = "use the configured URL"
    EMBEDDED = "start or reuse an embedded server"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Observed:
    """What was found at the configured URL. Texts never hold a password."""

    error: str | None = None  # why nothing answers (refused, silent past the deadline, bad URL); None = answers
    version: str = ""
    version_error: str | None = None  # it answers but will not serve us (authentication, another protocol)
    ours: bool = False  # it is one of this process's embedded servers

    @property
    def answers(self) -> bool:
        return self.error is None

    @property
    def usable(self) -> bool:
        return self.answers and self.version_error is None

    @property
    def problem(self) -> str:
        """What is wrong there, as the Targets page says it; "" when it answers and serves us."""
        if self.error is not None:
            return f"not answering: {self.error}"
        return f"answers but cannot be used: {self.version_error}" if self.version_error else ""


@dataclass(frozen=True)
class EmbeddedOption:
    """Whether an embedded server can be had for a backend."""

    running: bool  # one runs in this process already: it is reused
    reason: str | None = None  # why none can be started here; None = one can

    @property
    def available(self) -> bool:
        return self.running or self.reason is None


@dataclass(frozen=True)
class Plan:
    """What to do for one backend, with every text a user may see about it (password-free)."""

    action: Action
    kind: ServerKind  # the Target's ServerInfo.kind
    probe_kind: str  # the Targets page's kind (KIND_*)
    reason: str = ""  # UNAVAILABLE: why, and what to do about it (Target.reason)
    problem: str = ""  # the Targets page's one line: what is wrong or what will happen; "" = all is well
    note: str = ""  # EMBEDDED: why the configured URL is not used (the start of Target.note)
    why: str = ""  # EMBEDDED: why an embedded server, to start the message should it then fail to start


def decide(backend: Backend, settings: Settings, observed: Observed | None, option: EmbeddedOption) -> Plan:
    """The plan for backend. observed is None only with BENCHCORE_EMBEDDED=always, which never looks."""
    url = redact(backend.url(settings))
    explicit = backend.explicit(settings)
    if settings.embedded == "always":
        note = f"{ALWAYS}: not using {url}; " if explicit else ""
        return _embedded(backend, option, why=ALWAYS, note=note, not_started=KIND_NOT_STARTED,
                         problem=f"{ALWAYS}: starts with the first run", unavailable_problem=option.reason or "")
    if observed is None:
        raise ValueError(f"BENCHCORE_EMBEDDED={settings.embedded} needs what was observed at {url}")
    if explicit:
        if observed.answers:
            return _use(observed)
        return Plan(Action.UNAVAILABLE, "external", KIND_EXTERNAL, problem=observed.problem, reason=(
            f"{backend.label} is not answering at {url} ({observed.error}). That URL was given explicitly "
            f"({backend.env_var} or a flag), so benchcore will not replace it: start the server, fix "
            f"{backend.env_var}, or unset it to use the local default"
            f"{'' if settings.embedded == 'never' else ' or an embedded server'}"))
    if observed.usable or (observed.answers and (settings.embedded == "never" or observed.ours)):
        return _use(observed)
    if settings.embedded == "never":  # nothing answers there
        return Plan(Action.UNAVAILABLE, "unknown", KIND_UNAVAILABLE,
                    problem=f"{observed.problem}; BENCHCORE_EMBEDDED=never, so nothing else will be tried", reason=(
                        f"{backend.label} is not answering at {url} ({observed.error}) and BENCHCORE_EMBEDDED=never: "
                        f"start {backend.label} there, set {backend.env_var} to a server that answers, or set "
                        "BENCHCORE_EMBEDDED=auto to start an embedded one"))
    # auto, and nothing usable there. A server that answers but will not serve us (wrong password, peer auth,
    # not that protocol) must not stop a newcomer with a stock local PostgreSQL: embedded, saying why.
    trouble = observed.error if observed.error is not None else f"answers but cannot be used: {observed.version_error}"
    note = "" if observed.error is not None else (
        f"a server answers at {url} but cannot be used ({observed.version_error}); ")
    return _embedded(backend, option, why=f"nothing usable at {url} ({trouble})", note=note,
                     not_started=KIND_WOULD_START,
                     problem=f"{observed.problem}; an embedded server starts with the first run",
                     unavailable_problem=f"{observed.problem}; no embedded server either: {option.reason}")


def _use(observed: Observed) -> Plan:
    kind: ServerKind = "embedded" if observed.ours else "external"
    return Plan(Action.USE_URL, kind, KIND_EMBEDDED if observed.ours else KIND_EXTERNAL, problem=observed.problem)


def _embedded(backend: Backend, option: EmbeddedOption, *, why: str, note: str, not_started: str, problem: str,
              unavailable_problem: str) -> Plan:
    if not option.available:
        return Plan(Action.UNAVAILABLE, "embedded", KIND_UNAVAILABLE, problem=unavailable_problem,
                    reason=f"{why}, and no embedded {backend.label} can be started here: {option.reason}")
    if option.running:  # the Targets page shows the running one as it is now
        return Plan(Action.EMBEDDED, "embedded", KIND_EMBEDDED, note=note, why=why)
    return Plan(Action.EMBEDDED, "embedded", not_started, problem=problem, note=note, why=why)
