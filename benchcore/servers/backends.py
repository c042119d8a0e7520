"""Every fact about each backend benchcore finds a server for, in one frozen record per backend.

Everything in benchcore.servers derives from BACKENDS (the embedded package's list, labels and environment
variables in messages, the Targets page and `benchcore targets`). The default URLs are defined once, in
benchcore.settings; a backend's default port is the one its default URL names. Importing this module imports
no driver: the version lookups import theirs when called.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from benchcore.settings import (
    DEFAULT_MEMCACHED_URL,
    DEFAULT_POSTGRES_URL,
    DEFAULT_REDIS_CLUSTER_URL,
    DEFAULT_REDIS_URL,
    Settings,
)
from benchcore.urls import host_port, parse_postgres, parse_redis

Endpoint = tuple[str, int] | str  # (host, port) for TCP, or a unix socket path


@dataclass(frozen=True)
class Backend:
    """One backend: how it is named and configured, and how to reach and identify its server."""

    name: str  # "postgres": Target.backend, ProbeRow.backend, the embedded module's name (- read as _)
    label: str  # "PostgreSQL", for people
    env_var: str  # "BENCHCORE_POSTGRES_URL"
    settings_attr: str  # "postgres_url": the Settings field (and the CLI flag's dest)
    default_url: str  # from benchcore.settings
    schemes: tuple[str, ...]  # URL schemes for a TCP address (postgres also accepts a "+driver" suffix)
    find_endpoint: Callable[[Backend, str], Endpoint] = field(repr=False, compare=False)
    ask_version: Callable[[Backend, str, float], str] = field(repr=False, compare=False)

    @property
    def default_port(self) -> int:
        """The port a URL without one means: the port of the local default URL."""
        port = urlsplit(self.default_url).port
        assert port is not None, self.default_url  # every default URL names its port
        return port

    @property
    def flag(self) -> str:
        """The command-line flag that sets the URL, e.g. --postgres-url."""
        return "--" + self.settings_attr.replace("_", "-")

    def url(self, settings: Settings) -> str:
        """The configured URL (may hold a password: for drivers only, show redact(url))."""
        return str(getattr(settings, self.settings_attr))

    def explicit(self, settings: Settings) -> bool:
        """Whether the URL was given (environment or flag) rather than defaulted: such a URL is never replaced."""
        return self.settings_attr in settings.explicit

    def endpoint(self, url: str) -> Endpoint:
        """The address url names; ConfigError (one line, password removed) when url is not this backend's."""
        return self.find_endpoint(self, url)

    def version(self, url: str, timeout: float) -> str:
        """The server's version string; raises the driver's error, or TimeoutError after timeout."""
        return self.ask_version(self, url, timeout)


# ---------------------------------------------------------------------------------------------------------------
# endpoints


def _postgres_endpoint(backend: Backend, url: str) -> Endpoint:
    """Where libpq connects: the URL's host or ?host=, a socket directory (also %2F-encoded in the host position),
    or with no host at all the default socket directory. ConfigError (password removed) for an unreadable URL."""
    params = parse_postgres(url)
    port = params.port or backend.default_port
    host = params.host or ""
    if host.startswith("/"):
        return f"{host}/.s.PGSQL.{port}"
    if host:
        return host, port
    for directory in ("/var/run/postgresql", "/tmp"):
        if Path(directory, f".s.PGSQL.{port}").exists():
            return f"{directory}/.s.PGSQL.{port}"
    return f"/var/run/postgresql/.s.PGSQL.{port}"


def _redis_endpoint(backend: Backend, url: str) -> Endpoint:
    """redis-py's reading of url: a unix:// socket path, or host and port."""
    params = parse_redis(url)
    if "path" in params:
        return str(params["path"])
    return str(params.get("host", "localhost")), int(params.get("port", backend.default_port))


def _tcp_endpoint(backend: Backend, url: str) -> Endpoint:
    return host_port(url, backend.default_port, backend.schemes)


def connect(endpoint: Endpoint, timeout: float) -> socket.socket:
    """A connected stream socket to endpoint (TCP or unix); OSError / TimeoutError when nothing accepts."""
    if isinstance(endpoint, str):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(timeout)
            s.connect(endpoint)
        except BaseException:
            s.close()
            raise
        return s
    return socket.create_connection(endpoint, timeout=timeout)


# ---------------------------------------------------------------------------------------------------------------
# version lookups (each with a hard deadline)


def _postgres_version(backend: Backend, url: str, timeout: float) -> str:
    """SHOW server_version over a non-blocking psycopg2 connection, so the deadline is ours, not libpq's."""
    import psycopg2
    from psycopg2.extensions import make_dsn

    deadline = time.monotonic() + timeout
    conn = psycopg2.connect(make_dsn(**parse_postgres(url).libpq()), async_=True)  # the parts, not the URL text
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


def _redis_version(backend: Backend, url: str, timeout: float) -> str:
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


def _redis_cluster_version(backend: Backend, url: str, timeout: float) -> str:
    """A node's version, and that it is a cluster node whose cluster is up (else it cannot serve the tier)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout,
                                  retry=Retry(NoBackoff(), 0))
    try:
        version = str(client.info("server").get("redis_version", ""))
        if not client.info("cluster").get("cluster_enabled"):
            raise ConnectionError("a Redis server answers there, but it is not a cluster node (cluster_enabled:0)")
        info = client.execute_command("CLUSTER INFO")  # redis-py parses it into a dict
        state = info.get("cluster_state") if isinstance(info, dict) else None
        if state != "ok":
            raise ConnectionError("a cluster node answers there, but its cluster is not up (cluster_state is not ok)")
        return version
    finally:
        client.close()


def _memcached_version(backend: Backend, url: str, timeout: float) -> str:
    with connect(backend.endpoint(url), timeout) as s:
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
# the registry

BACKENDS: Mapping[str, Backend] = MappingProxyType({b.name: b for b in (
    Backend("postgres", "PostgreSQL", "BENCHCORE_POSTGRES_URL", "postgres_url", DEFAULT_POSTGRES_URL,
            ("postgresql", "postgres"), _postgres_endpoint, _postgres_version),
    Backend("redis", "Redis", "BENCHCORE_REDIS_URL", "redis_url", DEFAULT_REDIS_URL,
            ("redis", "rediss"), _redis_endpoint, _redis_version),
    Backend("memcached", "Memcached", "BENCHCORE_MEMCACHED_URL", "memcached_url", DEFAULT_MEMCACHED_URL,
            ("memcached",), _tcp_endpoint, _memcached_version),
    Backend("redis-cluster", "Redis Cluster", "BENCHCORE_REDIS_CLUSTER_URL", "redis_cluster_url",
            DEFAULT_REDIS_CLUSTER_URL, ("redis", "rediss"), _redis_endpoint, _redis_cluster_version),
)})
NAMES: tuple[str, ...] = tuple(BACKENDS)


def get(name: str) -> Backend:
    """The backend called name; KeyError naming the valid ones otherwise."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise KeyError(f"unknown backend {name!r}; valid: {', '.join(NAMES)}") from None
