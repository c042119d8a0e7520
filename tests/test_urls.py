import pytest

from benchcore.errors import ConfigError
from benchcore.urls import check, host_port, parse_postgres, parse_redis, redact, scrub, secrets_of


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://bob:s3cret@db.example:5433/app", "postgresql://bob:***@db.example:5433/app"),
        ("redis://:s3cret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("postgresql://bob:p%40ss@[::1]:5432/x", "postgresql://bob:***@[::1]:5432/x"),
    ],
)
def test_redact_removes_passwords(url, expected):
    assert redact(url) == expected


def test_redact_survives_unparseable_urls():
    assert "s3cret" not in redact("postgresql://bob:s3cret@[::1:5432/x")


def test_secrets_of_decodes_and_scrub_removes_it():
    secrets = secrets_of("postgresql://bob:p%40ss@h/x")
    assert secrets == ["p%40ss", "p@ss"]
    assert scrub("auth failed for p@ss", [*secrets, None]) == "auth failed for ***"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h:5432/db?password=S3cr3t&sslmode=require", "postgresql://u@h:5432/db?password=***&sslmode=require"),
        ("postgresql://u@h/db?sslpassword=k3y", "postgresql://u@h/db?sslpassword=***"),
        ("unix:///run/redis.sock?db=0&password=S3cr3t", "unix:///run/redis.sock?db=0&password=***"),
        ("postgresql://u:Red#Pa?ss/77@h:5/db", "postgresql://***@h:5/db"),  # libpq and make_url disagree: refused
        ("postgresql://u:Red%23Pa%3Fss%2F77@h:5/db", "postgresql://u:***@h:5/db"),
        ("postgresql://h:5432/db?password=a@b", "postgresql://***@b"),  # libpq: a query password; make_url: a host
        ("memcached://u:pw@h:1:", "memcached://***@h:1:"),  # unreadable as a URL (in a sentence: see below)
        ("redis://:Red#Pass77@127.0.0.1:56380/0", "redis://***@127.0.0.1:56380/0"),  # urllib would cut at '#'
        ("redis://:a?b@h/0", "redis://***@h/0"),
        ("redis://:a/b@h/0", "redis://***@h/0"),
        ("redis://h/0?password=ab#cd", "redis://h/0?password=***"),
        ("postgresql://u:p@ss@h/db", "postgresql://***@h/db"),
        ("postgresql://u:***@h/db", "postgresql://u:***@h/db"),  # idempotent
        ("this process", "this process"),
    ],
)
def test_redact_by_field(url, expected):
    assert redact(url) == expected
    assert redact(expected) == expected


@pytest.mark.parametrize("url", ["redis://:Red#Pass77@127.0.0.1:56380/0", "redis://:a?b@h/0", "postgresql://u:p@ss@h/db",
                                 "redis://h/0?password=ab&cd", "memcached://u:pw@h:1#x", "redis://:p w@h/0",
                                 "postgresql://u:Red#Pass77@h/db", "postgresql://u:a?b@h/db", "postgresql://u:a/b@h/db"])
def test_unreadable_urls_are_refused_without_their_secret(url):
    backend = {"redis": "redis", "postgresql": "postgres", "memcached": "memcached"}[url.split(":", 1)[0]]
    with pytest.raises(ConfigError, match="percent-encode") as info:
        check(backend, url)
    message = str(info.value)
    for secret in ("Red#Pass77", "Red", "Pass77", "a?b", "p@ss", "p w"):
        assert secret not in message.replace("redis://", "").replace("postgresql://", ""), message


def test_exact_token_scrub_never_cuts_into_other_words():
    assert scrub("127.0.0.1 refused 127; '127'", ["127"]) == "127.0.0.1 refused ***; '***'"
    assert scrub("user=u password=pw@x", ["pw"]) == "user=u password=***@x"
    assert scrub("pwned", ["pw"]) == "pwned"
    assert scrub("at memcached://u:pw@h:1: refused", []) == "at memcached://u:***@h:1: refused"


def test_postgres_params_follow_libpq_and_make_url():
    p = parse_postgres("postgresql:///postgres?host=/var/run/postgresql&port=5433&password=a+b%26c&ssl=true")
    assert (p.host, p.port, p.dbname, p.password, p.socket_dir) == ("/var/run/postgresql", 5433, "postgres",
                                                                     "a+b&c", "/var/run/postgresql")
    assert dict(p.options) == {"sslmode": "require"}
    assert parse_postgres("postgresql://%2Fvar%2Frun%2Fpostgresql/db").host == "/var/run/postgresql"
    q = parse_postgres("postgres://u:Red%23Pa%3Fss%2F77@[::1]:6543/app?application_name=x")
    assert (q.user, q.password, q.host, q.port, q.dbname) == ("u", "Red#Pa?ss/77", "::1", 6543, "app")
    assert "Red" not in repr(q)


def test_parse_redis_is_redis_py_parse_url():
    assert parse_redis("unix:///run/r.sock?db=2&password=x")["path"] == "/run/r.sock"
    assert parse_redis("redis://:p%23w@h:6380/1")["password"] == "p#w"


def test_host_port_validates_scheme_and_port():
    assert host_port("memcached://127.0.0.1:11211", 11211, ("memcached",)) == ("127.0.0.1", 11211)
    assert host_port("memcached://localhost", 11211, ("memcached",)) == ("localhost", 11211)
    with pytest.raises(ConfigError, match="must start with memcached://"):
        host_port("http://x:s3cret@h:1", 11211, ("memcached",))
    with pytest.raises(ConfigError, match="invalid port"):
        host_port("memcached://h:99999", 11211, ("memcached",))
    with pytest.raises(ConfigError) as info:
        host_port("memcached://u:s3cret@h:abc", 11211, ("memcached",))
    assert "s3cret" not in str(info.value) and "invalid port" in str(info.value)
