import pytest

from benchcore.errors import ConfigError
from benchcore.urls import host_port, password_of, redact, scrub


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


def test_password_of_decodes_and_scrub_removes_it():
    pw = password_of("postgresql://bob:p%40ss@h/x")
    assert pw == "p@ss"
    assert scrub("auth failed for p@ss", [pw, None]) == "auth failed for ***"


def test_host_port_validates_scheme_and_port():
    assert host_port("memcached://127.0.0.1:11211", 11211, ("memcached",)) == ("127.0.0.1", 11211)
    assert host_port("memcached://localhost", 11211, ("memcached",)) == ("localhost", 11211)
    with pytest.raises(ConfigError, match="must start with memcached://"):
        host_port("http://x:s3cret@h:1", 11211, ("memcached",))
    with pytest.raises(ConfigError, match="invalid port"):
        host_port("memcached://h:99999", 11211, ("memcached",))
    with pytest.raises(ConfigError) as info:
        host_port("memcached://u:s3cret@h:abc", 11211, ("memcached",))
    assert "s3cret" not in str(info.value)
