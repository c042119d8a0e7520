"""Exceptions benchcore raises on purpose; anything else is a bug."""


class BenchError(Exception):
    """Base class: the message is safe to show to a user (no secrets, no traceback needed)."""


class ConfigError(BenchError, ValueError):
    """Bad input: an unknown tier, ops < 1, a malformed URL ..."""


class TierUnavailable(BenchError):
    """A tier could not start: its server is unreachable, a driver is missing, ..."""


class StorageError(BenchError):
    """results.duckdb cannot be used (locked, corrupt, newer schema)."""


class StorageLocked(StorageError):
    """Another process holds the DuckDB write lock for longer than we are willing to wait."""


class SchemaTooNew(StorageError):
    """The database was written by a newer benchcore; we never touch it."""
