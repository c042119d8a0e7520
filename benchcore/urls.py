"""URL parsing and password redaction; every URL shown, logged or stored goes through redact()."""

from __future__ import annotations

from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from benchcore.errors import ConfigError

REDACTED = "***"


def _split(url: str) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError as exc:  # e.g. "Invalid IPv6 URL"
        raise ConfigError(f"malformed URL {redact(url)!r}: {exc}") from None


def redact(url: str) -> str:
    """Return url with any password replaced by ***; never raises."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port else ""
        user = parts.username or ""
        netloc = f"{user}:{REDACTED}@{host}{port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    except ValueError:
        # Unparseable: drop everything between '://' and the last '@' to be safe.
        if "@" in url and "://" in url:
            scheme, rest = url.split("://", 1)
            return f"{scheme}://{REDACTED}@{rest.rsplit('@', 1)[1]}"
        return url


def password_of(url: str) -> str | None:
    """The URL's password, decoded, so error messages can be scrubbed of it."""
    try:
        pw = urlsplit(url).password
    except ValueError:
        return None
    return unquote(pw) if pw else None


def host_port(url: str, default_port: int, schemes: tuple[str, ...]) -> tuple[str, int]:
    """Validate url's scheme and return (host, port); ConfigError names the expected form."""
    parts = _split(url)
    if parts.scheme not in schemes:
        raise ConfigError(
            f"URL {redact(url)!r} must start with {' or '.join(s + '://' for s in schemes)}"
        )
    try:
        port = parts.port or default_port
    except ValueError:
        raise ConfigError(f"URL {redact(url)!r} has an invalid port") from None
    host = parts.hostname
    if not host:
        raise ConfigError(f"URL {redact(url)!r} has no host")
    return host, port


def scrub(text: str, secrets: list[str | None]) -> str:
    """Remove each known secret from a message (driver errors may echo a DSN)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text
