"""Targets page: every backend with its redacted address, reachability and version; how to point elsewhere."""

from __future__ import annotations

from tests.pages.conftest import app, no_exceptions


def targets():
    return app().run().switch_page("pages/targets.py").run()


def test_targets_lists_each_backend_with_version(db_path, postgres_url, redis_url, memcached_url, redis_cluster_url,
                                                  monkeypatch):
    monkeypatch.setenv("BENCHCORE_EMBEDDED", "never")
    if redis_cluster_url:
        monkeypatch.setenv("BENCHCORE_REDIS_CLUSTER_URL", redis_cluster_url)
    at = targets()
    no_exceptions(at)
    table = at.dataframe[0].value.set_index("Backend")
    assert list(table.index) == ["PostgreSQL", "Redis", "Memcached", "Redis Cluster"]
    assert table["Answers"].all()
    assert all(v for v in table["Version"])
    assert "BENCHCORE_POSTGRES_URL" in at.code[0].value
    assert not at.warning


def test_password_never_shown_and_unreachable_explained(db_path, monkeypatch):
    monkeypatch.setenv("BENCHCORE_EMBEDDED", "never")
    monkeypatch.setenv("BENCHCORE_REDIS_URL", "redis://:s3cr3t-pw@127.0.0.1:1/0")  # nothing listens on port 1
    at = targets()
    no_exceptions(at)
    table = at.dataframe[0].value.set_index("Backend")
    assert not table.loc["Redis", "Answers"]
    assert "***" in table.loc["Redis", "Address"]
    shown = table.to_string() + " ".join(w.value for w in at.warning) + " ".join(c.value for c in at.code)
    assert "s3cr3t-pw" not in shown
    assert any("Redis" in w.value for w in at.warning)


def test_server_cpus_with_external_servers_says_they_are_not_re_pinned(db_path, postgres_url, redis_url,
                                                                          memcached_url, redis_cluster_url,
                                                                          monkeypatch):
    monkeypatch.setenv("BENCHCORE_EMBEDDED", "never")
    monkeypatch.setenv("BENCHCORE_SERVER_CPUS", "0")
    if redis_cluster_url:
        monkeypatch.setenv("BENCHCORE_REDIS_CLUSTER_URL", redis_cluster_url)
    at = targets()
    no_exceptions(at)
    table = at.dataframe[0].value.set_index("Backend")
    assert all("not pinned to CPUs 0" in note for note in table["CPU placement"])
    labels = "PostgreSQL, Redis, Memcached, Redis Cluster"
    assert any("never re-pinned" in i.value and labels in i.value for i in at.info)
    assert "BENCHCORE_SERVER_CPUS" in at.code[0].value


def test_no_placement_column_without_server_cpus(db_path, postgres_url, redis_url, memcached_url, monkeypatch):
    monkeypatch.setenv("BENCHCORE_EMBEDDED", "never")
    monkeypatch.delenv("BENCHCORE_SERVER_CPUS", raising=False)
    at = targets()
    no_exceptions(at)
    assert "CPU placement" not in at.dataframe[0].value.columns
    assert not at.info


def test_bad_server_cpus_is_shown_as_an_error(db_path, monkeypatch):
    monkeypatch.setenv("BENCHCORE_SERVER_CPUS", "9999")
    at = targets()
    assert not at.exception
    assert any("BENCHCORE_SERVER_CPUS" in e.value for e in at.error)
