"""Where each backend's server is: an explicit URL, the local default, or an embedded server we start.

Per backend ("postgres", "redis", "memcached"), by BENCHCORE_EMBEDDED:
- auto (default): (1) a URL given explicitly (BENCHCORE_*_URL or a flag) is used as is and never replaced:
  if it does not answer, that backend is unavailable and the message names the URL (password removed);
  (2) else the configured/default local URL when a server answers there *and* accepts us (version query
  succeeds); (3) else an embedded server (see benchcore.servers.embedded).
- always: an embedded server, whatever URLs are configured (the issue's "fresh machine" test mode).
- never: (1) or (2) only; otherwise unavailable, saying what to set or install.
resolve_targets() may start embedded servers; probe_targets() never does (Targets page, `targets` CLI).
Settings.server_cpus pins embedded servers only (see benchcore.servers.embedded); an external server is never re-pinned,
and both the Target note and the probe row say so when server_cpus is set.
Version lookups use short timeouts and never raise. Backends are resolved in parallel, so three unreachable
hosts cost about one connect timeout, not three.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from benchcore.errors import ConfigError, TierUnavailable
from benchcore.models import ServerInfo
from benchcore.servers import embedded
from benchcore.settings import Settings
from benchcore.urls import host_port, password_of, redact, scrub

BACKENDS: tuple[str, ...] = ("postgres", "redis", "memcached")
BACKEND_OF_TIER: dict[str, str | None] = {
    "postgres-orm": "postgres",
    "postgres-raw": "postgres",
    "redis": "redis",
    "memcached": "memcached",
    "inprocess": None,
}
LABELS = {"postgres": "PostgreSQL", "redis": "Redis", "memcached": "Memcached"}
ENV_VARS = {
    "postgres": "BENCHCORE_POSTGRES_URL",
    "redis": "BENCHCORE_REDIS_URL",
    "memcached": "BENCHCORE_MEMCACHED_URL",
}
CONNECT_TIMEOUT_S = 1.0
# Hard deadline for the version query (PostgreSQL's is enforced by us: libpq rounds connect_timeout up to 2 s).
# A server that accepts TCP but does not answer it in time counts as not answering, so an explicit but silent
# URL fails within ~1 s here instead of again, later, in its tier.
VERSION_TIMEOUT_S = 1.0

# kinds shown by probe_targets (ServerInfo.kind stays external|embedded|unknown)
KIND_EXTERNAL = "external"
KIND_EMBEDDED = "embedded"
KIND_NOT_STARTED = "embedded (not started yet)"
KIND_WOULD_START = "would start embedded"
KIND_UNAVAILABLE = "unavailable"


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
        return LABELS[self.backend]


@dataclass(frozen=True)
class Targets:
    postgres: Target
    redis: Target
    memcached: Target

    def get(self, backend: str) -> Target:
        if backend not in BACKENDS:
            raise KeyError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
        return getattr(self, backend)  # type: ignore[no-any-return]

    __getitem__ = get

    def __iter__(self) -> Iterator[Target]:
        return iter((self.postgres, self.redis, self.memcached))

    def for_tier(self, tier: str) -> Target | None:
        """The target a tier reads from; None for the in-process tier."""
        backend = BACKEND_OF_TIER[tier]
        return None if backend is None else self.get(backend)

    def servers(self) -> dict[str, ServerInfo]:
        """Per backend, for capture_environment() and TierResult.server."""
        return {t.backend: t.server for t in self}

    def apply(self, settings: Settings) -> Settings:
        """settings with each available backend's chosen URL, to hand to the tiers."""
        return settings.with_urls(**{f"{t.backend}_url": t.url for t in self if t.available})


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
    return Targets(**done)


def probe_targets(settings: Settings) -> list[ProbeRow]:
    """Where each backend points, whether it answers, its version. Starts nothing."""
    done = _parallel(lambda backend: _probe(backend, settings))
    return [_with_placement(done[b], settings) for b in BACKENDS]


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
    version, error, _ = _lookup_version(backend, url, timeout)
    return version, error


def _lookup_version(backend: str, url: str, timeout: float = VERSION_TIMEOUT_S) -> tuple[str, str | None, bool]:
    """(version, error, timed_out)."""
    try:
        lookup = {"postgres": _postgres_version, "redis": _redis_version, "memcached": _memcached_version}[backend]
        return lookup(url, timeout), None, False
    except Exception as exc:
        # builtin TimeoutError (socket, ours) and redis.exceptions.TimeoutError share the name, not a base
        timed_out = any(c.__name__ == "TimeoutError" for c in type(exc).__mro__)
        message = f"no answer within {timeout:g} s" if timed_out else _describe(exc)
        return "", _clean(message, url), timed_out


def connect_error(backend: str, url: str, timeout: float = CONNECT_TIMEOUT_S) -> str | None:
    """None when something accepts a connection at url's address within timeout, else why not. Never raises."""
    try:
        endpoint = _endpoint(backend, url)
    except ConfigError as exc:
        return str(exc)
    try:
        if isinstance(endpoint, str):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(timeout)
                s.connect(endpoint)
        else:
            socket.create_connection(endpoint, timeout=timeout).close()
        return None
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__


# ---------------------------------------------------------------------------------------------------------------
# resolution


def _resolve(backend: str, settings: Settings) -> Target:
    attr = f"{backend}_url"
    url: str = getattr(settings, attr)
    explicit = attr in settings.explicit
    label, env = LABELS[backend], ENV_VARS[backend]
    secrets = [*settings.secrets, password_of(url)]

    if settings.embedded == "always":
        note = f"BENCHCORE_EMBEDDED=always: not using {redact(url)}; " if explicit else ""
        return _embedded_target(backend, settings, url, note, "BENCHCORE_EMBEDDED=always", secrets)

    error = connect_error(backend, url)
    version, version_error = "", None
    if error is None:
        version, version_error, timed_out = _lookup_version(backend, url)
        if timed_out:  # accepted the connection, never replied: as good as not answering
            error = f"accepts connections but {version_error}"
    if explicit:
        if error is not None:
            return _unavailable(backend, url, "external", secrets, (
                f"{label} is not answering at {redact(url)} ({error}). That URL was given explicitly ({env} or a "
                f"flag), so benchcore will not replace it: start the server, fix {env}, or unset it to use the "
                f"local default{'' if settings.embedded == 'never' else ' or an embedded server'}"))
        return _answering(backend, url, settings, secrets, version, version_error)

    note = ""
    if error is None:
        if version_error is None or settings.embedded == "never" or embedded.find(url) is not None:
            return _answering(backend, url, settings, secrets, version, version_error)
        # Something listens but will not serve us (wrong password, peer auth, not that protocol): a newcomer's
        # machine with a stock PostgreSQL must still work, so fall through to embedded, saying why.
        note = f"a server answers at {redact(url)} but cannot be used ({version_error}); "
        error = f"answers but cannot be used: {version_error}"
    if settings.embedded == "never":
        return _unavailable(backend, url, "unknown", secrets, (
            f"{label} is not answering at {redact(url)} ({error}) and BENCHCORE_EMBEDDED=never: start {label} there, "
            f"set {env} to a server that answers, or set BENCHCORE_EMBEDDED=auto to start an embedded one"))
    return _embedded_target(backend, settings, url, note, f"nothing usable at {redact(url)} ({error})", secrets)


def _answering(backend: str, url: str, settings: Settings, secrets: list[str | None], version: str,
               version_error: str | None) -> Target:
    found = embedded.find(url)
    if found is not None and found.cpus != settings.server_cpus:  # ours: put it where these settings ask
        moved = embedded.start(found.backend, settings)
        found = moved if moved.url == url else found
    kind = "embedded" if found is not None else "external"
    if found is not None:
        note = f"embedded {LABELS[backend]} (pid {found.pid}) already running"
        note += f", {found.placement}" if found.placement else ""
    else:
        note = external_not_pinned(settings) if settings.server_cpus is not None else ""
    if version_error:
        note += f"{'; ' if note else ''}version lookup failed: {version_error}"
    return Target(backend, url, ServerInfo(kind=kind, address=redact(url), version=version), True,
                  note=scrub(note, secrets))


def _embedded_target(backend: str, settings: Settings, url: str, note: str, why: str,
                     secrets: list[str | None]) -> Target:
    label, env = LABELS[backend], ENV_VARS[backend]
    reason = embedded.unavailable_reason(backend)
    if reason:
        return _unavailable(backend, url, "embedded", secrets, (
            f"{why}, and no embedded {label} can be started here: {reason}"))
    already = embedded.running(backend)
    try:
        server = embedded.start(backend, settings)
    except TierUnavailable as exc:
        return _unavailable(backend, url, "embedded", secrets, (
            f"{why}, and the embedded {label} did not start: {exc}. Point {env} at a running server instead"))
    except Exception as exc:  # a bug or an OS surprise: report it on this backend, keep the run going
        return _unavailable(backend, url, "embedded", secrets, (
            f"{why}, and the embedded {label} failed to start: {_describe(exc)}"))
    version, version_error = server_version(backend, server.url)
    how = "already running" if already is not None and already.pid == server.pid else (
        f"started in {server.startup_s:.2f} s")
    note += f"embedded {label} (pid {server.pid}) {how}"
    note += f", {server.placement}" if server.placement else ""
    if version_error:
        note += f"; version lookup failed: {version_error}"
    return Target(backend, server.url, ServerInfo(kind="embedded", address=server.address, version=version), True,
                  note=scrub(note, [*secrets, password_of(server.url)]))


def _unavailable(backend: str, url: str, kind: str, secrets: list[str | None], reason: str) -> Target:
    address = redact(url) if kind != "embedded" else ""
    return Target(backend, url, ServerInfo(kind=kind, address=address), False,  # type: ignore[arg-type]
                  reason=scrub(reason, secrets))


# ---------------------------------------------------------------------------------------------------------------
# probing (never starts anything)


def _probe(backend: str, settings: Settings) -> ProbeRow:
    attr = f"{backend}_url"
    url: str = getattr(settings, attr)
    explicit = attr in settings.explicit
    secrets = [*settings.secrets, password_of(url)]
    running = embedded.running(backend)

    if settings.embedded == "always":
        if running is not None:
            return _probe_url(backend, running.url, KIND_EMBEDDED, secrets)
        reason = embedded.unavailable_reason(backend)
        if reason:
            return ProbeRow(backend, "", KIND_UNAVAILABLE, False, "", scrub(reason, secrets))
        return ProbeRow(backend, "", KIND_NOT_STARTED, False, "",
                        "BENCHCORE_EMBEDDED=always: starts with the first run")
    row = _probe_url(backend, url, KIND_EMBEDDED if embedded.find(url) else KIND_EXTERNAL, secrets)
    if explicit or (row.reachable and not row.error) or settings.embedded == "never":
        if not row.reachable and settings.embedded == "never" and not explicit:
            return ProbeRow(backend, row.address, KIND_UNAVAILABLE, False, "",
                            f"{row.error}; BENCHCORE_EMBEDDED=never, so nothing else will be tried")
        return row
    if running is not None:  # auto, nothing usable configured, and we already run one
        return _probe_url(backend, running.url, KIND_EMBEDDED, secrets)
    reason = embedded.unavailable_reason(backend)
    if reason:
        return ProbeRow(backend, row.address, KIND_UNAVAILABLE, False, "",
                        scrub(f"{row.error}; no embedded server either: {reason}", secrets))
    return ProbeRow(backend, row.address, KIND_WOULD_START, False, "",
                    f"{row.error}; an embedded server starts with the first run")


def _probe_url(backend: str, url: str, kind: str, secrets: list[str | None]) -> ProbeRow:
    error = connect_error(backend, url)
    if error is not None:
        return ProbeRow(backend, redact(url), kind, False, "", scrub(f"not answering: {error}", secrets))
    version, version_error, timed_out = _lookup_version(backend, url)
    if timed_out:
        return ProbeRow(backend, redact(url), kind, False, "",
                        scrub(f"not answering: accepts connections but {version_error}", secrets))
    error_text = scrub(f"answers but cannot be used: {version_error}", secrets) if version_error else ""
    return ProbeRow(backend, redact(url), kind, True, version, error_text)


# ---------------------------------------------------------------------------------------------------------------
# addresses and version lookups


def _endpoint(backend: str, url: str) -> tuple[str, int] | str:
    """(host, port) for TCP, or a unix socket path."""
    if backend == "postgres":
        return _postgres_endpoint(url)
    if backend == "redis":
        parts = urlsplit(url)
        if parts.scheme == "unix":
            return parts.path
        return host_port(url, 6379, ("redis", "rediss"))
    return host_port(url, 11211, ("memcached",))


def _postgres_endpoint(url: str) -> tuple[str, int] | str:
    """libpq URL forms: host in the authority, or ?host=/socket/dir; no host at all = the default socket dir."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigError(f"malformed URL {redact(url)!r}") from None
    if parts.scheme.split("+")[0] not in ("postgresql", "postgres"):
        raise ConfigError(f"URL {redact(url)!r} must start with postgresql://")
    query = parse_qs(parts.query)
    port = port or int((query.get("port") or ["5432"])[0])
    host = (query.get("host") or [parts.hostname or ""])[0]
    if host.startswith("/"):
        return f"{host}/.s.PGSQL.{port}"
    if host:
        return host, port
    for directory in ("/var/run/postgresql", "/tmp"):
        if Path(directory, f".s.PGSQL.{port}").exists():
            return f"{directory}/.s.PGSQL.{port}"
    return f"/var/run/postgresql/.s.PGSQL.{port}"


def _postgres_version(url: str, timeout: float) -> str:
    """SHOW server_version over a non-blocking psycopg2 connection, so the deadline is ours, not libpq's."""
    import psycopg2

    deadline = time.monotonic() + timeout
    scheme = urlsplit(url).scheme
    libpq_url = "postgresql" + url[len(scheme):]  # drop an SQLAlchemy "+driver" suffix
    conn = psycopg2.connect(libpq_url, async_=True)
    try:
        _pg_wait(conn, deadline, timeout)
        cur = conn.cursor()
        cur.execute("SHOW server_version")
        _pg_wait(conn, deadline, timeout)
        row = cur.fetchone()
        return str(row[0]) if row else ""
    finally:
        conn.close()


def _pg_wait(conn: Any, deadline: float, timeout: float) -> None:
    from psycopg2 import extensions

    while True:
        state = conn.poll()
        if state == extensions.POLL_OK:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no answer within {timeout:g} s")
        fd = conn.fileno()
        if state == extensions.POLL_READ:
            select.select([fd], [], [], remaining)
        elif state == extensions.POLL_WRITE:
            select.select([], [fd], [], remaining)


def _redis_version(url: str, timeout: float) -> str:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout,
                                  retry=Retry(NoBackoff(), 0))
    try:
        info = client.info("server")
        return str(info.get("redis_version", ""))
    finally:
        client.close()


def _memcached_version(url: str, timeout: float) -> str:
    host, port = host_port(url, 11211, ("memcached",))
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(b"version\r\n")
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(256)
            if not chunk:
                break
            data += chunk
    line = data.split(b"\r\n", 1)[0].decode(errors="replace")
    if not line.startswith("VERSION "):
        raise ConnectionError(f"unexpected answer to 'version': {line[:80]!r}")
    return line.removeprefix("VERSION ").strip()


# ---------------------------------------------------------------------------------------------------------------
# helpers

_T = TypeVar("_T")


def _parallel(work: Callable[[str], _T]) -> dict[str, _T]:
    with ThreadPoolExecutor(max_workers=len(BACKENDS), thread_name_prefix="benchcore-resolve") as pool:
        futures = {backend: pool.submit(work, backend) for backend in BACKENDS}
        return {backend: future.result() for backend, future in futures.items()}


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _clean(text: str, url: str) -> str:
    return scrub(text, [password_of(url)])
