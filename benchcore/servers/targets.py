"""Where each backend's server is: an explicit URL, the local default, or an embedded server we start.

What to do per backend is decided once, by benchcore.servers.plan.decide(), from the settings and what answers
at the configured URL; facts about each backend come from benchcore.servers.backends.
resolve_targets() executes the plans and may start embedded servers; probe_targets() reports them and never
starts anything (Targets page, `benchcore targets`).
Settings.server_cpus pins embedded servers only (see benchcore.servers.embedded); an external server is never
re-pinned, and both the Target note and the probe row say so when server_cpus is set.
Version lookups use short timeouts and never raise. Backends are resolved in parallel, so three unreachable
hosts cost about one connect timeout, not three.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any, TypeVar

from benchcore.errors import ConfigError, TierUnavailable
from benchcore.models import ServerInfo
from benchcore.servers import backends, embedded
from benchcore.servers.backends import Backend, connect
from benchcore.servers.embedded import EmbeddedServer
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
    ServerKind,
    decide,
)
from benchcore.settings import Settings
from benchcore.urls import redact, scrub, secrets_of

__all__ = [
    "CHECK_TIMEOUT_S",
    "CONNECT_TIMEOUT_S",
    "KIND_EMBEDDED",
    "KIND_EXTERNAL",
    "KIND_NOT_STARTED",
    "KIND_UNAVAILABLE",
    "KIND_WOULD_START",
    "VERSION_TIMEOUT_S",
    "ConnectionCheck",
    "ProbeRow",
    "Target",
    "Targets",
    "check_connection",
    "connect_error",
    "external_not_pinned",
    "probe_targets",
    "resolve_targets",
    "server_version",
]

CONNECT_TIMEOUT_S = 1.0
# Hard deadline for the version query (PostgreSQL's is enforced by us: libpq rounds connect_timeout up to 2 s).
# A server that accepts TCP but does not answer it in time counts as not answering, so an explicit but silent
# URL fails within ~1 s here instead of again, later, in its tier.
VERSION_TIMEOUT_S = 1.0
# The Targets page's "Test connection": a remote server may be slower to answer than a local one.
CHECK_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Target:
    """One backend, resolved. `url` is for drivers only (it may hold a password); show `server.address`."""

    backend: str
    url: str = field(repr=False)
    server: ServerInfo
    available: bool
    reason: str = ""  # why not available, with what to do about it; never contains a password
    note: str = ""  # how it was chosen and placed (e.g. "embedded ... started in 0.52 s, pinned to CPU 0")

    @property
    def label(self) -> str:
        return backends.get(self.backend).label


@dataclass(frozen=True)
class Targets:
    postgres: Target
    redis: Target
    memcached: Target
    redis_cluster: Target

    def get(self, backend: str) -> Target:
        target: Target = getattr(self, backends.get(backend).name.replace("-", "_"))
        return target

    __getitem__ = get

    def __iter__(self) -> Iterator[Target]:
        return iter([self.get(name) for name in backends.NAMES])

    def servers(self) -> dict[str, ServerInfo]:
        """Per backend, for capture_environment() and TierResult.server."""
        return {t.backend: t.server for t in self}

    def apply(self, settings: Settings) -> Settings:
        """settings with each available backend's chosen URL, to hand to the tiers."""
        return settings.with_urls(**{backends.get(t.backend).settings_attr: t.url for t in self if t.available})


@dataclass(frozen=True)
class ProbeRow:
    """One line of the Targets page / `benchcore targets`."""

    backend: str
    address: str  # redacted
    kind: str  # external | embedded | embedded (not started yet) | would start embedded | unavailable
    reachable: bool
    version: str
    error: str  # why it is not reachable / cannot be used / what will happen; "" when all is well
    note: str = ""  # CPU placement: embedded servers' pin, or that an external server is not re-pinned

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------------------------
# public API


def resolve_targets(settings: Settings) -> Targets:
    """Find (or start) each backend's server. Never raises for an unreachable server: see Target.reason."""
    if settings.embedded != "never":
        embedded.install_exit_hooks()  # signal handlers only take effect when called from the main thread
    done = _parallel(lambda backend: _resolve(backend, settings))
    return Targets(**{name.replace("-", "_"): target for name, target in done.items()})


def probe_targets(settings: Settings) -> list[ProbeRow]:
    """Where each backend points, whether it answers, its version. Starts nothing."""
    done = _parallel(lambda backend: _probe(backend, settings))
    return [_with_placement(done[name], settings) for name in backends.NAMES]


@dataclass(frozen=True)
class ConnectionCheck:
    """One "Test connection": did the server at url answer benchcore's version query, and how fast."""

    backend: str
    address: str  # redacted
    ok: bool
    version: str
    elapsed_ms: float
    message: str  # one line for people, password removed

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_connection(backend: str, url: str, timeout: float = CHECK_TIMEOUT_S) -> ConnectionCheck:
    """Connect to url and ask its version (the query a run's target lookup makes), each within timeout.
    Starts nothing and never raises: a failure is ok=False with why, the URL redacted and its secrets scrubbed."""
    label = backends.get(backend).label
    address = redact(url)
    try:
        backends.get(backend).endpoint(url)
    except ConfigError as exc:
        return ConnectionCheck(backend, address, False, "", 0.0, scrub(f"{label}: {exc}", secrets_of(url)))
    started = time.perf_counter()
    error = connect_error(backend, url, timeout)
    version = ""
    if error is None:
        version, error = server_version(backend, url, timeout)
    elapsed_ms = (time.perf_counter() - started) * 1000
    if error is None:
        shown = f" {version}" if version else ""
        message = f"{label}{shown} answers at {address} ({elapsed_ms:.0f} ms)."
    else:
        message = f"{label} at {address} did not answer: {error}"
    return ConnectionCheck(backend, address, error is None, version, elapsed_ms, scrub(message, secrets_of(url)))


def external_not_pinned(settings: Settings) -> str:
    """The note for an external server when server CPUs are set: benchcore never moves a server it did not start."""
    return (f"external server: not pinned to CPUs {_cpu_list(settings.server_cpus)} (BENCHCORE_SERVER_CPUS / "
            "--server-cpus applies to embedded servers only; benchcore never re-pins a server it did not start)")


def _cpu_list(cpus: tuple[int, ...] | None) -> str:
    return ",".join(map(str, cpus or ()))


def _with_placement(row: ProbeRow, settings: Settings) -> ProbeRow:
    if row.kind == KIND_EMBEDDED:
        server = embedded.running(row.backend)
        note = ""
        if server is not None:
            cpus = embedded.affinity(server)
            note = f"runs on CPUs {_cpu_list(tuple(cpus))}" if cpus else ""
            if server.cpus != settings.server_cpus:
                where = _cpu_list(settings.server_cpus) or "all allowed"
                note += f"{'; ' if note else ''}moves to CPUs {where} with the next run"
        return replace(row, note=note)
    if settings.server_cpus is None:
        return row
    if row.kind in (KIND_NOT_STARTED, KIND_WOULD_START):
        return replace(row, note=f"will be pinned to CPUs {_cpu_list(settings.server_cpus)}")
    if row.kind == KIND_EXTERNAL:
        return replace(row, note=external_not_pinned(settings))
    return row


def server_version(backend: str, url: str, timeout: float = VERSION_TIMEOUT_S) -> tuple[str, str | None]:
    """(version, None) or ("", error without password). Never raises."""
    version, error, _ = _lookup_version(backends.get(backend), url, timeout)
    return version, error


def _lookup_version(backend: Backend, url: str, timeout: float = VERSION_TIMEOUT_S) -> tuple[str, str | None, bool]:
    """(version, error, timed_out)."""
    try:
        return backend.version(url, timeout), None, False
    except Exception as exc:
        # builtin TimeoutError (socket, ours) and redis.exceptions.TimeoutError share the name, not a base
        timed_out = any(c.__name__ == "TimeoutError" for c in type(exc).__mro__)
        message = f"no answer within {timeout:g} s" if timed_out else _describe(exc)
        return "", _clean(message, url), timed_out


def connect_error(backend: str, url: str, timeout: float = CONNECT_TIMEOUT_S) -> str | None:
    """None when something accepts a connection at url's address within timeout, else why not. Never raises."""
    try:
        endpoint = backends.get(backend).endpoint(url)
    except ConfigError as exc:
        return str(exc)
    try:
        connect(endpoint, timeout).close()
        return None
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__


# ---------------------------------------------------------------------------------------------------------------
# executing the plan


def _observe(backend: Backend, url: str) -> Observed:
    """Does a server answer at url, and does it serve us? (a connect, then the version query)"""
    error = connect_error(backend.name, url)
    if error is not None:
        return Observed(error=error)
    version, version_error, timed_out = _lookup_version(backend, url)
    if timed_out:  # accepted the connection, never replied: as good as not answering
        return Observed(error=f"accepts connections but {version_error}")
    return Observed(version=version, version_error=version_error, ours=embedded.find(url) is not None)


def _plan(backend: Backend, settings: Settings, running: EmbeddedServer | None) -> tuple[Plan, Observed | None]:
    observed = None if settings.embedded == "always" else _observe(backend, backend.url(settings))
    option = EmbeddedOption(running=running is not None, reason=embedded.unavailable_reason(backend.name))
    return decide(backend, settings, observed, option), observed


def _resolve(backend: Backend, settings: Settings) -> Target:
    url = backend.url(settings)
    secrets = [*settings.secrets, *secrets_of(url)]
    plan, observed = _plan(backend, settings, embedded.running(backend.name))
    if plan.action is Action.USE_URL:
        assert observed is not None
        return _answering(backend, url, settings, secrets, observed)
    if plan.action is Action.EMBEDDED:
        return _embedded_target(backend, settings, url, plan, secrets)
    return _unavailable(backend, url, plan.kind, secrets, plan.reason)


def _answering(backend: Backend, url: str, settings: Settings, secrets: list[str],
               observed: Observed) -> Target:
    found = embedded.find(url)
    if found is not None and found.cpus != settings.server_cpus:  # ours: put it where these settings ask
        moved = embedded.start(found.backend, settings)
        found = moved if moved.url == url else found
    kind: ServerKind = "embedded" if found is not None else "external"
    if found is not None:
        note = f"embedded {backend.label} (pid {found.pid}) already running"
        note += f", {found.placement}" if found.placement else ""
    else:
        note = external_not_pinned(settings) if settings.server_cpus is not None else ""
    if observed.version_error:
        note += f"{'; ' if note else ''}version lookup failed: {observed.version_error}"
    return Target(backend.name, url, ServerInfo(kind=kind, address=redact(url), version=observed.version), True,
                  note=scrub(note, secrets))


def _embedded_target(backend: Backend, settings: Settings, url: str, plan: Plan,
                     secrets: list[str]) -> Target:
    already = embedded.running(backend.name)
    try:
        server = embedded.start(backend.name, settings)
    except TierUnavailable as exc:
        return _unavailable(backend, url, "embedded", secrets, (
            f"{plan.why}, and the embedded {backend.label} did not start: {exc}. "
            f"Point {backend.env_var} at a running server instead"))
    except Exception as exc:  # a bug or an OS surprise: report it on this backend, keep the run going
        return _unavailable(backend, url, "embedded", secrets, (
            f"{plan.why}, and the embedded {backend.label} failed to start: {_describe(exc)}"))
    version, version_error = server_version(backend.name, server.url)
    how = "already running" if already is not None and already.pid == server.pid else (
        f"started in {server.startup_s:.2f} s")
    note = f"{plan.note}embedded {backend.label} (pid {server.pid}) {how}"
    note += f", {server.placement}" if server.placement else ""
    if version_error:
        note += f"; version lookup failed: {version_error}"
    return Target(backend.name, server.url, ServerInfo(kind="embedded", address=server.address, version=version),
                  True, note=scrub(note, [*secrets, *secrets_of(server.url)]))


def _unavailable(backend: Backend, url: str, kind: ServerKind, secrets: list[str], reason: str) -> Target:
    address = redact(url) if kind != "embedded" else ""
    return Target(backend.name, url, ServerInfo(kind=kind, address=address), False, reason=scrub(reason, secrets))


def _probe(backend: Backend, settings: Settings) -> ProbeRow:
    url = backend.url(settings)
    secrets = [*settings.secrets, *secrets_of(url)]
    running = embedded.running(backend.name)
    plan, observed = _plan(backend, settings, running)
    if plan.action is Action.EMBEDDED and running is not None:  # it would be reused: show it as it is now
        return _row(backend, running.url, KIND_EMBEDDED, _observe(backend, running.url), secrets)
    if plan.action is Action.USE_URL:
        assert observed is not None
        return _row(backend, url, plan.probe_kind, observed, secrets)
    address = "" if observed is None else redact(url)  # "always" looked at no URL
    return ProbeRow(backend.name, address, plan.probe_kind, False, "", scrub(plan.problem, secrets))


def _row(backend: Backend, url: str, kind: str, observed: Observed, secrets: list[str]) -> ProbeRow:
    return ProbeRow(backend.name, redact(url), kind, observed.answers, observed.version,
                    scrub(observed.problem, secrets))


# ---------------------------------------------------------------------------------------------------------------
# helpers

_T = TypeVar("_T")


def _parallel(work: Callable[[Backend], _T]) -> dict[str, _T]:
    with ThreadPoolExecutor(max_workers=len(backends.NAMES), thread_name_prefix="benchcore-resolve") as pool:
        futures = {name: pool.submit(work, backends.get(name)) for name in backends.NAMES}
        return {name: future.result() for name, future in futures.items()}


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _clean(text: str, url: str) -> str:
    return scrub(text, secrets_of(url))
