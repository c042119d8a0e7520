"""One Settings object from BENCHCORE_* environment variables; nothing else reads os.environ."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from benchcore.errors import ConfigError
from benchcore.urls import redact, scrub, secrets_of

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_MEMCACHED_URL = "memcached://127.0.0.1:11211"
# Any node of a Redis Cluster (7000 is the port redis-cli --cluster create and the Redis docs use for the first one).
DEFAULT_REDIS_CLUSTER_URL = "redis://127.0.0.1:7000/0"
DEFAULT_DB = "results.duckdb"
EMBEDDED_CHOICES = ("auto", "always", "never")


def _affinity() -> tuple[int, ...] | None:
    getter = getattr(os, "sched_getaffinity", None)
    return tuple(sorted(getter(0))) if getter is not None else None


# The CPUs this process may use, read once at import: every entry point imports settings before a run pins
# its client thread (RunSpec.cpus), and threads inherit their creator's pin. Embedded servers that are not
# pinned explicitly get these CPUs, never the client's pin; server_cpus is checked against them.
PROCESS_CPUS: tuple[int, ...] | None = _affinity()


SERVER_CPUS_NAME = "server CPUs (BENCHCORE_SERVER_CPUS, --server-cpus)"


def parse_cpus(value: object, what: str = SERVER_CPUS_NAME) -> tuple[int, ...] | None:
    """'0' / '0,1' / [0, 1] -> sorted unique CPU numbers this process may use; None/'' -> None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = [int(c) for c in value.replace(" ", "").split(",") if c]
        except ValueError:
            raise ConfigError(f"{what} must be a comma list of CPU numbers such as 0 or 0,1, got {value!r}") from None
    try:
        chosen = tuple(sorted({int(c) for c in value}))  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a comma list of CPU numbers such as 0 or 0,1, got {value!r}") from None
    if not hasattr(os, "sched_setaffinity"):
        raise ConfigError(f"{what}: pinning servers to CPUs needs Linux (os.sched_setaffinity); leave it unset")
    allowed = sorted(set(PROCESS_CPUS or ()) | set(os.sched_getaffinity(0)))
    if not chosen or any(c not in allowed for c in chosen):
        raise ConfigError(f"{what} {list(chosen)} must be a non-empty subset of the CPUs this process may use: "
                          f"{','.join(map(str, allowed))}")
    return chosen


@dataclass(frozen=True)
class Settings:
    # repr=False: a URL may hold a password; show redacted_urls() instead.
    postgres_url: str = field(default=DEFAULT_POSTGRES_URL, repr=False)
    redis_url: str = field(default=DEFAULT_REDIS_URL, repr=False)
    memcached_url: str = field(default=DEFAULT_MEMCACHED_URL, repr=False)
    redis_cluster_url: str = field(default=DEFAULT_REDIS_CLUSTER_URL, repr=False)
    db_path: Path = Path(DEFAULT_DB)
    embedded: str = "auto"
    data_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "benchcore")
    # Which URLs were given explicitly (env or flag): those are never replaced by an embedded server.
    explicit: frozenset[str] = frozenset()
    # Pin every embedded server (all its processes and threads) to these CPUs; None = the CPUs benchcore may
    # use. External servers are never re-pinned. Accepts "0,1" or a sequence; stored as a sorted tuple.
    server_cpus: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.embedded not in EMBEDDED_CHOICES:
            raise ConfigError(
                f"BENCHCORE_EMBEDDED must be one of {', '.join(EMBEDDED_CHOICES)}, got {self.embedded!r}"
            )
        object.__setattr__(self, "server_cpus", parse_cpus(self.server_cpus))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Read BENCHCORE_*; keyword overrides (command-line flags) win when not None."""
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {}
        explicit: set[str] = set()
        for attr, var in (
            ("postgres_url", "BENCHCORE_POSTGRES_URL"),
            ("redis_url", "BENCHCORE_REDIS_URL"),
            ("memcached_url", "BENCHCORE_MEMCACHED_URL"),
            ("redis_cluster_url", "BENCHCORE_REDIS_CLUSTER_URL"),
        ):
            if env.get(var):
                values[attr] = env[var]
                explicit.add(attr)
        if env.get("BENCHCORE_DB"):
            values["db_path"] = Path(env["BENCHCORE_DB"])
        if env.get("BENCHCORE_EMBEDDED"):
            values["embedded"] = env["BENCHCORE_EMBEDDED"].strip().lower()
        if env.get("BENCHCORE_DATA_DIR"):
            values["data_dir"] = Path(env["BENCHCORE_DATA_DIR"])
        if env.get("BENCHCORE_SERVER_CPUS", "").strip():
            values["server_cpus"] = env["BENCHCORE_SERVER_CPUS"]
        for key, value in overrides.items():
            if value is None:
                continue
            values[key] = Path(str(value)) if key in ("db_path", "data_dir") else value
            if key.endswith("_url"):
                explicit.add(key)
        return cls(**values, explicit=frozenset(explicit))  # type: ignore[arg-type]

    def with_urls(self, **urls: str) -> Settings:
        changes: dict[str, Any] = dict(urls)  # url fields only; typed so replace() checks no other field
        return replace(self, **changes)

    @property
    def secrets(self) -> list[str]:
        """Every secret field of the URLs (passwords, sslpassword, ...), as written and decoded."""
        return [s for url in (self.postgres_url, self.redis_url, self.memcached_url, self.redis_cluster_url)
                for s in secrets_of(url)]

    def scrub(self, text: str) -> str:
        """Text with URLs redacted and every configured secret (as a whole token) removed: safe to show or store."""
        return scrub(text, self.secrets)

    def redacted_urls(self) -> dict[str, str]:
        return {
            "postgres": redact(self.postgres_url),
            "redis": redact(self.redis_url),
            "memcached": redact(self.memcached_url),
            "redis-cluster": redact(self.redis_cluster_url),
        }
