"""This session's URLs (Targets page): a form's URL + password fields, *** kept, the host a URL loads."""

from __future__ import annotations

import pytest

from benchcore.errors import ConfigError
from benchcore.servers.overrides import compose, destination
from benchcore.servers.targets import check_connection
from benchcore.urls import redact, unredact, with_password


@pytest.mark.parametrize(
    ("url", "password", "expected"),
    [
        ("redis://127.0.0.1:6379/0", "a b/@#", "redis://:a%20b%2F%40%23@127.0.0.1:6379/0"),
        ("postgresql://bob@db:5432/app", "pw", "postgresql://bob:pw@db:5432/app"),
        ("postgresql://bob:old@db:5432/app", "new", "postgresql://bob:new@db:5432/app"),
        ("unix:///tmp/r.sock?db=0&password=old", "new", "unix:///tmp/r.sock?db=0&password=new"),
    ],
)
def test_with_password_sets_the_user_info_password_encoded(url, password, expected):
    assert with_password(url, password) == expected


def test_unredact_puts_back_only_the_fields_left_as_stars():
    original = "postgresql://u:p%40ss@h:5432/db?sslpassword=k&x=1"
    assert unredact(redact(original), original) == original
    edited = "postgresql://u:***@other:5432/db?sslpassword=new&x=1"
    assert unredact(edited, original) == "postgresql://u:p%40ss@other:5432/db?sslpassword=new&x=1"
    assert unredact("postgresql://u@h:5432/db", original) == "postgresql://u@h:5432/db"  # password removed
    assert unredact("redis://:***@h:6379/0", "redis://h:6379/0") == "redis://:***@h:6379/0"  # nothing to put back


def test_compose_a_form_into_a_url_and_refuse_what_drivers_cannot_read():
    current = "redis://:s3cret@127.0.0.1:6379/0"
    assert compose("redis", "redis://:***@127.0.0.1:6379/2", "", current) == "redis://:s3cret@127.0.0.1:6379/2"
    assert compose("redis", " redis://127.0.0.1:6379/2 ", "pw", current) == "redis://:pw@127.0.0.1:6379/2"
    with pytest.raises(ConfigError, match="take no password"):
        compose("memcached", "memcached://127.0.0.1:11211", "pw", "memcached://127.0.0.1:11211")
    with pytest.raises(ConfigError, match="enter a URL"):
        compose("postgres", "  ", "", "postgresql://postgres@127.0.0.1:5432/postgres")
    with pytest.raises(ConfigError) as refused:
        compose("postgres", "postgresql://u:a#b@h/db", "", "postgresql://postgres@127.0.0.1:5432/postgres")
    assert "a#b" not in str(refused.value)


@pytest.mark.parametrize(
    ("backend", "url", "address", "local"),
    [
        ("redis", "redis://:pw@127.0.0.1:6379/0", "127.0.0.1:6379", True),
        ("redis", "redis://localhost/0", "localhost:6379", True),
        ("postgres", "postgresql://u:pw@[::1]:5433/db", "[::1]:5433", True),
        ("postgres", "postgresql:///db?host=/var/run/postgresql", "/var/run/postgresql/.s.PGSQL.5432", True),
        ("memcached", "memcached://cache.internal", "cache.internal:11211", False),
        ("postgres", "postgresql://u:pw@10.1.2.3/db", "10.1.2.3:5432", False),
    ],
)
def test_destination_names_the_host_and_whether_it_is_this_machine(backend, url, address, local):
    where = destination(backend, url)
    assert (where.address, where.local) == (address, local)
    assert ("this machine" in where.describe()) == local
    assert "pw" not in where.describe()


def test_check_connection_answers_and_fails_without_the_password(redis_url, postgres_url):
    from tests.faults.servers import free_port

    ok = check_connection("redis", with_password(redis_url, "Chk-Pw-1"))
    assert ok.ok and ok.version and "answers at redis://:***@" in ok.message and "Chk-Pw-1" not in ok.message
    pg = check_connection("postgres", with_password(postgres_url, "Chk-Pw-2"))
    assert pg.ok and pg.version and "Chk-Pw-2" not in pg.message
    port = free_port()
    closed = check_connection("redis", f"redis://:Chk-Pw-3@127.0.0.1:{port}/0", timeout=3.0)
    assert not closed.ok and closed.elapsed_ms < 3000
    assert f"redis://:***@127.0.0.1:{port}/0 did not answer" in closed.message and "Chk-Pw-3" not in closed.message
    bad = check_connection("memcached", "memcached://a b")
    assert not bad.ok and bad.message.startswith("Memcached: malformed URL")


def test_check_connection_times_out_on_a_silent_server():
    import socket

    with socket.socket() as silent:  # accepts (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        check = check_connection("redis", f"redis://127.0.0.1:{port}/0", timeout=0.5)
    assert not check.ok and "no answer within 0.5 s" in check.message
    assert check.elapsed_ms < 3000
