"""URLs set for one dashboard session (the Targets page): what a form's fields mean, and which host a URL loads.

The page shows a URL redacted (its password as ***) and asks for a password in a separate masked field, so a
password is never echoed back; compose() turns what the form holds into the URL to use. The session keeps
such URLs in memory only (st.session_state): Settings.from_env(**urls) treats them as given, like flags.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from benchcore.errors import ConfigError
from benchcore.servers import backends
from benchcore.urls import unredact, with_password

# Backends whose URL can carry a password (Memcached's text protocol has none).
WITH_PASSWORD = ("postgres", "redis", "redis-cluster")


def compose(backend: str, typed: str, password: str, current: str) -> str:
    """The URL a form means: typed, each *** left in it standing for current's same secret, and the typed password
    (when not empty) as the user info's password. ConfigError (password removed) if the backend cannot read it."""
    typed = typed.strip()
    if not typed:
        raise ConfigError(f"{backends.get(backend).label}: enter a URL such as {backends.get(backend).default_url}")
    url = unredact(typed, current)
    if password:
        if backend not in WITH_PASSWORD:
            raise ConfigError(f"{backends.get(backend).label} URLs take no password")
        url = with_password(url, password)
    backends.get(backend).endpoint(url)  # refuses what its driver would read differently, naming it redacted
    return url


@dataclass(frozen=True)
class Destination:
    """Where a URL's reads go: `address` is host:port or a socket path, never a password."""

    address: str
    local: bool  # loopback or a unix socket: this machine

    def describe(self) -> str:
        if self.local:
            return f"{self.address} (this machine)"
        return (f"{self.address}: another host. Every read crosses the network to it and its load is part of every "
                "figure; make sure you may put load on it")


def destination(backend: str, url: str) -> Destination:
    """The host and port (or socket) url's reads go to; ConfigError for a URL the backend cannot read."""
    endpoint = backends.get(backend).endpoint(url)
    if isinstance(endpoint, str):
        return Destination(endpoint, True)
    host, port = endpoint
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return Destination(shown, _is_loopback(host))


def _is_loopback(host: str) -> bool:
    # No DNS lookup: a name other than localhost counts as another host (it is the user's to know what it is).
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False

