"""One Settings object from BENCHCORE_* environment variables; nothing else reads os.environ."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from benchcore.errors import ConfigError
from benchcore.urls import password_of, redact, scrub

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_MEMCACHED_URL = "memcached://127.0.0.1:11211"
DEFAULT_DB = "results.duckdb"
EMBEDDED_CHOICES = ("auto", "always", "never")


@dataclass(frozen=True)
class Settings:
    postgres_url: str = DEFAULT_POSTGRES_URL
    redis_url: str = DEFAULT_REDIS_URL
    memcached_url: str = DEFAULT_MEMCACHED_URL
    db_path: Path = Path(DEFAULT_DB)
    embedded: str = "auto"
    data_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "benchcore")
    # Which URLs were given explicitly (env or flag): those are never replaced by an embedded server.
    explicit: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.embedded not in EMBEDDED_CHOICES:
            raise ConfigError(
                f"BENCHCORE_EMBEDDED must be one of {', '.join(EMBEDDED_CHOICES)}, got {self.embedded!r}"
            )

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
        for key, value in overrides.items():
            if value is None:
                continue
            values[key] = Path(value) if key in ("db_path", "data_dir") else value
            if key.endswith("_url"):
                explicit.add(key)
        return cls(**values, explicit=frozenset(explicit))  # type: ignore[arg-type]

    def with_urls(self, **urls: str) -> Settings:
        return replace(self, **urls)

    @property
    def secrets(self) -> list[str | None]:
        return [password_of(u) for u in (self.postgres_url, self.redis_url, self.memcached_url)]

    def scrub(self, text: str) -> str:
        """Remove every configured password from text before it is shown, logged or stored."""
        return scrub(text, self.secrets)

    def redacted_urls(self) -> dict[str, str]:
        return {
            "postgres": redact(self.postgres_url),
            "redis": redact(self.redis_url),
            "memcached": redact(self.memcached_url),
        }
