"""The backend registry: every fact about a backend agrees with the settings, the CLI and the embedded package."""

from __future__ import annotations

import importlib
from dataclasses import fields

import pytest

from benchcore import cli
from benchcore.errors import ConfigError
from benchcore.models import ServerInfo
from benchcore.servers import backends, embedded
from benchcore.servers.targets import Target, Targets
from benchcore.settings import Settings
from benchcore.tiers.registry import TIERS


def test_names_labels_and_lookup() -> None:
    assert backends.NAMES == ("postgres", "redis", "memcached", "redis-cluster")
    assert [backends.get(n).label for n in backends.NAMES] == ["PostgreSQL", "Redis", "Memcached", "Redis Cluster"]
    with pytest.raises(KeyError, match="unknown backend 'mysql'; valid: postgres, redis, memcached, redis-cluster"):
        backends.get("mysql")


@pytest.mark.parametrize("name", backends.NAMES)
def test_env_var_settings_field_and_default_agree_with_settings(name: str) -> None:
    backend = backends.get(name)
    url = backend.default_url.replace("127.0.0.1", "elsewhere.example")

    from_env = Settings.from_env({backend.env_var: url})

    assert backend.url(from_env) == url and backend.explicit(from_env)
    assert backend.url(Settings()) == backend.default_url and not backend.explicit(Settings())
    assert backend.url(Settings.from_env({})) == backend.default_url


@pytest.mark.parametrize("name", backends.NAMES)
def test_the_cli_flag_sets_that_url_explicitly(name: str) -> None:
    backend = backends.get(name)
    url = backend.default_url.replace("127.0.0.1", "elsewhere.example")

    settings = cli._settings(cli.build_parser().parse_args(["targets", backend.flag, url]))

    assert backend.url(settings) == url and backend.explicit(settings)
    assert [b.name for b in backends.BACKENDS.values() if b.explicit(settings)] == [name]


@pytest.mark.parametrize("name", backends.NAMES)
def test_default_port_is_what_a_url_without_a_port_means(name: str) -> None:
    backend = backends.get(name)
    scheme = backend.schemes[0]

    assert backend.endpoint(f"{scheme}://elsewhere.example/") == ("elsewhere.example", backend.default_port)
    assert backend.endpoint(backend.default_url) == ("127.0.0.1", backend.default_port)
    with pytest.raises(ConfigError, match=rf"must start with {scheme}://"):
        backend.endpoint("http://u:pw@elsewhere.example:1")


def test_postgres_endpoint_forms() -> None:
    pg = backends.get("postgres")

    assert pg.endpoint("postgresql+psycopg2://u@db:6543/x") == ("db", 6543)
    assert pg.endpoint("postgres://u@db/x") == ("db", pg.default_port)
    assert pg.endpoint("postgresql:///x?host=/run/pg&port=6000") == "/run/pg/.s.PGSQL.6000"
    with pytest.raises(ConfigError, match="malformed URL") as caught:
        pg.endpoint("postgresql://u:S3cret-pw@[::1/x")
    assert "S3cret-pw" not in str(caught.value)


def test_redis_unix_socket_endpoint() -> None:
    assert backends.get("redis").endpoint("unix:///run/redis/redis.sock?db=0") == "/run/redis/redis.sock"


def test_the_embedded_package_offers_exactly_the_registered_backends() -> None:
    assert embedded.BACKENDS == backends.NAMES
    for name in backends.NAMES:
        module = importlib.import_module(f"benchcore.servers.embedded.{name.replace('-', '_')}")
        assert backends.get(name).label == module.NAME
        assert callable(module.start) and callable(module.unavailable_reason)


def test_targets_follow_the_registry_order_and_refuse_unknown_backends() -> None:
    made = {n: Target(n, backends.get(n).default_url, ServerInfo(), True) for n in backends.NAMES}
    targets = Targets(**{n.replace("-", "_"): t for n, t in made.items()})

    assert [f.name for f in fields(Targets)] == [n.replace("-", "_") for n in backends.NAMES]
    assert [t.backend for t in targets] == list(backends.NAMES)
    assert [t.label for t in targets] == [backends.get(n).label for n in backends.NAMES]
    assert targets["redis"] is made["redis"]
    with pytest.raises(KeyError, match="unknown backend"):
        targets.get("inprocess")
    assert not hasattr(targets, "for_tier")  # the tier registry says which backends a tier needs


def test_every_backend_a_tier_needs_is_registered() -> None:
    assert {b for tier in TIERS for b in tier.backends} <= set(backends.NAMES)
