"""URLs read as their drivers read them, and redacted by field: every URL shown, logged or stored goes through redact().

How each backend's URL is read (the same reading decides what is secret):
- PostgreSQL (postgresql://, postgres://, postgresql+driver://): scheme, user info, host, port and database as
  SQLAlchemy's make_url reads them; the query as libpq reads it:
  key=value fields, percent-decoded, where host, port, user, password and dbname override the URL's own. A host
  that is a directory (`?host=/var/run/postgresql`, or `%2Fvar%2Frun%2Fpostgresql` in the host position) is a
  unix socket; no host at all is libpq's default socket.
- Redis (redis://, rediss://, unix://): redis-py's parse_url.
- Memcached: memcached://host[:port].
Secret fields: the user info's password, and every query field whose name says so (password, sslpassword, ...).

A URL is refused (ConfigError) wherever a reader could take it differently from the plain split redaction uses,
so a secret is never cut in two and half of it shown: an unencoded '/', '?' or '#' in the user info (urllib ends
it at any of them, libpq at '/', make_url at none), an '@' outside the user info, a '#' anywhere in a Redis or
Memcached URL, a space or control character, a query field without '='. The refusal shows
the URL with everything between '//' and the last '@' removed and says to percent-encode.

Free text (driver messages) is scrubbed of URLs with redact() and of known secrets by exact-token match only: a
secret counts where the characters around it cannot continue it (space, quotes, = : @ , ; & ? brackets), so the
password `127` never turns 127.0.0.1 into ***.0.0.1.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, quote, unquote, unquote_plus, urlencode, urlsplit

from benchcore.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

REDACTED = "***"
POSTGRES_SCHEMES = ("postgresql", "postgres")
REDIS_SCHEMES = ("redis", "rediss", "unix")
MEMCACHED_SCHEMES = ("memcached",)
ENCODE_HINT = "percent-encode special characters in it (# as %23, ? as %3F, / as %2F, @ as %40, % as %25)"

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_SECRET_FIELD = re.compile(r"pass|secret|token|auth", re.I)  # password, sslpassword, passwd, auth_token, ...
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
_LIBPQ_OVERRIDES = ("host", "port", "user", "password", "dbname")
_BOUNDARY = r"\s'\"`=:@,;&?()\[\]{}<>|"
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"`<>]*")


class _Unparsable(Exception):
    """Why a URL cannot be read safely; never holds any part of the URL."""


# ---------------------------------------------------------------------------------------------------------------
# where the secrets are


@dataclass(frozen=True)
class _Layout:
    scheme: str
    start: int  # index just after '://'
    at: int  # index of the last '@' (the end of the user info), -1 when there is none
    secrets: tuple[tuple[int, int], ...]  # [start, end) of each secret value in the text


def _layout(url: str) -> _Layout | None:
    match = _SCHEME.match(url)
    if match is None:
        return None
    start = match.end()
    at = url.rfind("@", start)
    spans: list[tuple[int, int]] = []
    if at >= 0:
        colon = url.find(":", start, at)
        if colon >= 0:
            spans.append((colon + 1, at))
    q = url.find("?", at + 1 if at >= 0 else start)
    if q >= 0:
        pos = q + 1
        for part in url[q + 1:].split("&"):
            key, eq, _ = part.partition("=")
            if eq and _SECRET_FIELD.search(unquote_plus(key)):
                spans.append((pos + len(key) + 1, pos + len(part)))
            pos += len(part) + 1
    return _Layout(match.group(1), start, at, tuple(spans))


def _without_userinfo(url: str, layout: _Layout) -> str:
    """An unparsable URL for display: nothing between '//' and the last '@', nothing from the first query secret on."""
    text = url
    cut = min((s for s, _ in layout.secrets if s > layout.at), default=None)
    if cut is not None:
        text = text[:cut] + REDACTED
    if layout.at >= 0:
        text = text[:layout.start] + REDACTED + "@" + text[layout.at + 1:]
    return text


def _readable(url: str, layout: _Layout) -> bool:
    """Whether the backend's parser (if benchcore knows the scheme) reads url the way _layout split it."""
    scheme = layout.scheme.lower()
    try:
        if scheme.split("+", 1)[0] in POSTGRES_SCHEMES:
            _postgres(url, layout)
        elif layout.scheme in REDIS_SCHEMES:
            _redis(url, layout)
        elif scheme in MEMCACHED_SCHEMES:
            _host_port(url, layout, 11211)
    except _Unparsable:
        return False
    return True


def redact(url: str) -> str:
    """url with every secret field replaced by ***, the rest as typed; never raises.

    A URL its driver cannot read safely loses everything between '//' and the last '@' instead.
    """
    return _redact(url)[0]


def _redact(url: str) -> tuple[str, bool]:
    """(redacted url, whether its driver reads it the way it was split)."""
    layout = _layout(url)
    if layout is None:  # not a URL; if it has user info anyway, drop it
        return (url if "@" not in url else REDACTED + url[url.rfind("@"):]), False
    if not _readable(url, layout):
        return _without_userinfo(url, layout), False
    parts, pos = [], 0
    for start, end in layout.secrets:
        parts += [url[pos:start], REDACTED]
        pos = end
    return "".join([*parts, url[pos:]]), True


def secrets_of(url: str) -> list[str]:
    """Every secret value in url, as written and percent-decoded, so free text can be scrubbed of it."""
    layout = _layout(url)
    if layout is None:
        return []
    found: list[str] = []
    for start, end in layout.secrets:
        raw = url[start:end]
        found += [raw, unquote(raw), unquote_plus(raw)]
    return [s for s in dict.fromkeys(found) if s and s != REDACTED]


def unredact(shown: str, original: str) -> str:
    """shown (a redact()ed URL, perhaps edited) with each secret field still `***` put back from original's same
    field (the user info's password, a query field of the same name): a form can show a URL without its password
    and still keep it. A field edited or absent from original is left as typed."""
    new, old = _layout(shown), _layout(original)
    if new is None or old is None:
        return shown
    kept = {_field_name(original, old, span): original[span[0]:span[1]] for span in old.secrets}
    parts, pos = [], 0
    for start, end in new.secrets:
        name = _field_name(shown, new, (start, end))
        if shown[start:end] == REDACTED and name in kept:
            parts += [shown[pos:start], kept[name]]
            pos = end
    return "".join([*parts, shown[pos:]])


def _field_name(url: str, layout: _Layout, span: tuple[int, int]) -> str:
    if span[1] == layout.at:
        return ""  # the user info's password
    return url[max(url.rfind("&", 0, span[0]), url.rfind("?", 0, span[0])) + 1:span[0] - 1]


def with_password(url: str, password: str) -> str:
    """url with password (percent-encoded) as its user info's password, replacing any; unix:// takes ?password=."""
    layout = _layout(url)
    if layout is None:
        raise ConfigError("a URL such as redis://host:6379/0 is needed to set a password")
    secret = quote(password, safe="")
    if layout.scheme == "unix":
        base, _, query = url.partition("?")
        fields = [f for f in query.split("&") if f and f.partition("=")[0] != "password"]
        return f"{base}?{'&'.join([*fields, 'password=' + secret])}"
    if layout.at < 0:
        return f"{url[:layout.start]}:{secret}@{url[layout.start:]}"
    user = url[layout.start:layout.at].partition(":")[0]
    return f"{url[:layout.start]}{user}:{secret}{url[layout.at:]}"


def redact_urls(text: str) -> str:
    """text with every URL in it redacted."""
    return _URL_IN_TEXT.sub(lambda m: _redact_in_text(m.group()), text)


def _redact_in_text(found: str) -> str:
    # A sentence may end a URL with punctuation ("at memcached://u:***@h:1: refused"); drop it only when the URL
    # cannot be read with it, so a secret that ends in a '.' is still redacted whole.
    shown, readable = _redact(found)
    stripped = found.rstrip(".,:;!?)]}")
    if readable or stripped == found:
        return shown
    shown_stripped, readable = _redact(stripped)
    return shown_stripped + found[len(stripped):] if readable else shown


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """Remove URLs' secrets and each known secret (as a whole token, never inside a longer word) from a message."""
    text = redact_urls(text)
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = re.sub(f"(?<![^{_BOUNDARY}]){re.escape(secret)}(?![^{_BOUNDARY}])", REDACTED, text)
    return text


def _refusal(url: str, reason: str) -> ConfigError:
    layout = _layout(url)
    shown = _without_userinfo(url, layout) if layout is not None else redact(url)
    return ConfigError(f"malformed URL {shown!r} ({reason}): {ENCODE_HINT}")


def _common_checks(url: str, layout: _Layout, fragment_allowed: bool) -> None:
    if _SPACE_OR_CONTROL.search(url):
        raise _Unparsable("a space or control character")
    # Readers disagree where such a user info ends: urllib (redis-py, asyncpg) at any of them, libpq at '/',
    # make_url at none; the password would be cut in two, or a query password read as a host.
    if layout.at >= 0 and any(c in url[layout.start:layout.at] for c in "/?#"):
        raise _Unparsable("an unencoded '/', '?' or '#' before the '@'")
    if not fragment_allowed and "#" in url:
        raise _Unparsable("'#' in the URL")


def _split(url: str) -> SplitResult:
    """urlsplit, refusing an '@' that urllib would leave outside the user info (in a path, query or fragment)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # "Invalid IPv6 URL"
        raise _Unparsable("malformed host") from None
    if "@" in url[len(parts.scheme) + 3 + len(parts.netloc):]:
        raise _Unparsable("an '@' outside the user info")
    if any(part and "=" not in part for part in parts.query.split("&")):
        raise _Unparsable("a query field without '='")
    return parts


# ---------------------------------------------------------------------------------------------------------------
# PostgreSQL


@dataclass(frozen=True)
class PostgresParams:
    """A PostgreSQL URL as libpq connection parameters; None = libpq's default."""

    host: str | None = None  # a name, an address, or a unix socket directory (starts with '/')
    port: int | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    dbname: str | None = None
    # every other libpq parameter, in URL order (sslmode, application_name, ... and secrets such as sslpassword)
    options: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def socket_dir(self) -> str | None:
        return self.host if self.host and self.host.startswith("/") else None

    def libpq(self, **defaults: str) -> dict[str, str]:
        """Keyword parameters for psycopg2.connect / make_dsn; defaults fill only what the URL leaves unset."""
        given = {"host": self.host, "port": self.port, "user": self.user, "password": self.password,
                 "dbname": self.dbname, **dict(self.options)}
        params = {k: str(v) for k, v in given.items() if v is not None}
        for key, value in defaults.items():
            params.setdefault(key, value)
        return params

    def asyncpg_dsn(self) -> str:
        """A postgresql:// URI, every part percent-encoded, that asyncpg reads back to these parameters."""
        auth = ""
        if self.user or self.password:
            secret = f":{quote(self.password, safe='')}" if self.password else ""
            auth = f"{quote(self.user or '', safe='')}{secret}@"
        hostport = ""
        query = [(k, v) for k, v in self.options if k != "connect_timeout"]  # asyncpg takes timeout= instead
        if self.socket_dir is not None or (self.host is None and self.port is not None):
            query = [*([("host", self.host)] if self.host else []),
                     *([("port", str(self.port))] if self.port else []), *query]
        elif self.host is not None:
            hostport = f"[{self.host}]" if ":" in self.host else quote(self.host, safe="")
            hostport += f":{self.port}" if self.port else ""
        path = f"/{quote(self.dbname, safe='')}" if self.dbname else ""
        return f"postgresql://{auth}{hostport}{path}" + (f"?{urlencode(query, quote_via=quote)}" if query else "")

    def sqlalchemy_url(self, driver: str) -> URL:
        """postgresql+<driver>:// as a URL object (never a string to re-parse); a socket goes in ?host=."""
        from sqlalchemy.engine import URL

        query = dict(self.options)
        host, port = self.host, self.port
        if self.socket_dir is not None:
            query = {"host": self.socket_dir, **({"port": str(port)} if port else {}), **query}
            host = port = None
        if driver == "asyncpg":
            query.pop("connect_timeout", None)  # asyncpg takes timeout= (connect_args) instead
        return URL.create(f"postgresql+{driver}", username=self.user, password=self.password, host=host, port=port,
                          database=self.dbname, query=query)


def parse_postgres(url: str) -> PostgresParams:
    """The connection parameters of a PostgreSQL URL; ConfigError (never showing a secret) if it cannot be read."""
    layout = _layout(url)
    if layout is None or layout.scheme.lower().split("+", 1)[0] not in POSTGRES_SCHEMES:
        raise ConfigError(f"PostgreSQL URL {redact(url)!r} must start with postgresql://")
    try:
        return _postgres(url, layout)
    except _Unparsable as exc:
        raise _refusal(url, str(exc)) from None


def _postgres(url: str, layout: _Layout) -> PostgresParams:
    from sqlalchemy.engine.url import make_url
    from sqlalchemy.exc import ArgumentError

    _common_checks(url, layout, fragment_allowed=True)  # after the user info, make_url and libpq give '#' no meaning
    if url.count("@") > 1:
        raise _Unparsable("more than one '@'")
    q = url.find("?", layout.at + 1 if layout.at >= 0 else layout.start)
    base, query = (url[:q], url[q + 1:]) if q >= 0 else (url, "")
    try:
        parsed = make_url(base)
    except ValueError:  # int(port)
        raise _Unparsable("invalid port") from None
    except ArgumentError:
        raise _Unparsable("not a URL") from None
    if layout.at >= 0:
        colon = url.find(":", layout.start, layout.at)
        ours = unquote(url[colon + 1:layout.at]) if colon >= 0 else None
        if parsed.username is None or parsed.password != ours:  # e.g. a '/' before the '@'
            raise _Unparsable("an '@' outside the user info")
    host = parsed.host
    if host is not None and any(c in host for c in "[]@"):
        raise _Unparsable("malformed host")
    values: dict[str, Any] = {"host": unquote(host) if host else None, "port": parsed.port,
                              "user": parsed.username, "password": parsed.password, "dbname": parsed.database}
    options: dict[str, str] = {}
    for part in query.split("&") if query else ():
        if not part:
            continue
        key, eq, value = part.partition("=")
        if not eq:
            raise _Unparsable("a query field without '='")
        key, value = unquote(key), unquote(value)  # libpq decodes %XX only ('+' stays '+')
        if key == "ssl" and value == "true":  # libpq's URI alias
            key, value = "sslmode", "require"
        if key in _LIBPQ_OVERRIDES:
            values[key] = value
        else:
            options[key] = value
    port = values["port"]
    if port is not None and port != "":
        try:
            port = int(port)
        except ValueError:
            raise _Unparsable("invalid port") from None
        if not 0 < port < 65536:
            raise _Unparsable("invalid port")
    return PostgresParams(host=values["host"] or None, port=port or None, user=values["user"] or None,
                          password=values["password"] or None, dbname=values["dbname"] or None,
                          options=tuple(options.items()))


# ---------------------------------------------------------------------------------------------------------------
# Redis and Memcached


def parse_redis(url: str) -> dict[str, Any]:
    """redis-py's parse_url(url) (host/port/db/password, or path for unix://); ConfigError if unsafe to read."""
    layout = _layout(url)
    if layout is None or layout.scheme not in REDIS_SCHEMES:
        raise ConfigError(f"Redis URL {redact(url)!r} must start with redis://, rediss:// or unix://")
    try:
        return _redis(url, layout)
    except _Unparsable as exc:
        raise _refusal(url, str(exc)) from None


def _redis(url: str, layout: _Layout) -> dict[str, Any]:
    from redis.connection import parse_url

    _common_checks(url, layout, fragment_allowed=False)
    parts = _split(url)
    try:
        parts.port  # noqa: B018 - urllib checks the port when it is read
    except ValueError:
        raise _Unparsable("invalid port") from None
    try:
        kwargs: dict[str, Any] = parse_url(url)
    except ValueError:
        raise _Unparsable("a query value redis-py cannot read") from None
    if parts.scheme == "unix" and not kwargs.get("path"):
        raise _Unparsable("no socket path")
    return kwargs


def host_port(url: str, default_port: int, schemes: tuple[str, ...] = MEMCACHED_SCHEMES) -> tuple[str, int]:
    """Validate url's scheme and return (host, port); ConfigError names the expected form."""
    layout = _layout(url)
    if layout is None or layout.scheme.lower() not in schemes:
        raise ConfigError(f"URL {redact(url)!r} must start with {' or '.join(s + '://' for s in schemes)}")
    try:
        return _host_port(url, layout, default_port)
    except _Unparsable as exc:
        reason = str(exc)
        if reason == "invalid port":
            raise ConfigError(f"URL {redact(url)!r} has an invalid port") from None
        if reason == "no host":
            raise ConfigError(f"URL {redact(url)!r} has no host") from None
        raise _refusal(url, reason) from None


def _host_port(url: str, layout: _Layout, default_port: int) -> tuple[str, int]:
    _common_checks(url, layout, fragment_allowed=False)
    parts = _split(url)
    try:
        port = parts.port or default_port
    except ValueError:
        raise _Unparsable("invalid port") from None
    if not parts.hostname:
        raise _Unparsable("no host")
    return parts.hostname, port


PARSERS = {
    "postgres": parse_postgres,
    "redis": parse_redis,
    "memcached": lambda url: host_port(url, 11211),
}


def check(backend: str, url: str) -> None:
    """ConfigError (with the redacted URL and what to do) if backend's driver cannot read url safely."""
    PARSERS[backend](url)
