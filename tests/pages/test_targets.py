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


# -- this session's targets ------------------------------------------------------------------------------------

SECRET = "Sess-Pw-7c1e"


def page_text(at) -> str:
    """Everything the script sent to the browser: every element's and widget's protobuf, as text."""
    out: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(out)


def session_targets(at) -> dict[str, str]:
    return dict(at.session_state["benchcore_session_targets"]) if "benchcore_session_targets" in at.session_state \
        else {}


def set_target(at, name: str, url: str, password: str = "", button: str = "apply"):
    at.text_input(key=f"target_url_{name}").set_value(url)
    if password:
        at.text_input(key=f"target_password_{name}").set_value(password)
    return at.button(key=f"{button}_{name}").click().run()


def test_password_fields_are_masked_and_memcached_has_none(db_path, monkeypatch):
    from streamlit.proto.TextInput_pb2 import TextInput

    monkeypatch.setenv("BENCHCORE_EMBEDDED", "never")
    at = targets()
    no_exceptions(at)
    for name in ("postgres", "redis", "redis-cluster"):
        assert at.text_input(key=f"target_password_{name}").proto.type == TextInput.PASSWORD
        assert at.text_input(key=f"target_url_{name}").proto.type == TextInput.DEFAULT
    assert "target_password_memcached" not in [t.key for t in at.text_input]
    assert at.text_input(key="target_url_redis").value == "redis://127.0.0.1:6379/0"  # loopback by default
    assert at.button(key="reset_targets").disabled  # nothing to reset yet


def test_test_connection_with_a_password_against_the_real_redis(db_path, redis_url, monkeypatch):
    from benchcore.urls import redact, with_password

    monkeypatch.setenv("BENCHCORE_EMBEDDED", "never")
    monkeypatch.delenv("BENCHCORE_REDIS_URL", raising=False)
    url = redis_url.rsplit("/", 1)[0] + "/1"  # the real Redis, its database 1 (a password it ignores: none is set)
    at = set_target(targets(), "redis", url, SECRET, button="test")
    no_exceptions(at)
    assert session_targets(at)["redis_url"] == with_password(url, SECRET)  # the session's URL, for drivers
    shown = redact(with_password(url, SECRET))
    assert shown.startswith("redis://:***@")
    successes = [s.value.replace("\\", "") for s in at.success]
    assert any(f"answers at {shown} (" in s and " ms)" in s for s in successes), successes
    assert at.text_input(key="target_url_redis").value.startswith("redis://:***@")
    assert at.text_input(key="target_password_redis").value == ""  # never kept in the widget
    table = at.dataframe[0].value.set_index("Backend")
    assert table.loc["Redis", "Address"].startswith("redis://:***@") and table.loc["Redis", "Answers"]
    assert table.loc["Redis", "Set with"] == "this session (below)"
    assert SECRET not in page_text(at)
    assert any("6379 (this machine)" in c.value.replace("\\", "") for c in at.caption)

    at.run()  # the next draw: the password is still kept (*** in the URL), still not shown
    assert SECRET not in page_text(at)
    assert at.text_input(key="target_password_redis").proto.placeholder.startswith("kept")
    # Apply again without a password: *** stands for the one set, so it is kept
    at = set_target(at, "redis", at.text_input(key="target_url_redis").value)
    assert session_targets(at)["redis_url"].startswith(f"redis://:{SECRET}@")


def test_test_connection_to_a_closed_port_says_so(db_path, monkeypatch):
    from tests.faults.servers import free_port

    monkeypatch.setenv("BENCHCORE_EMBEDDED", "never")
    port = free_port()
    at = set_target(targets(), "redis", f"redis://127.0.0.1:{port}/0", SECRET, button="test")
    assert not at.exception
    errors = [e.value.replace("\\", "") for e in at.error]
    assert any(f"Redis at redis://:***@127.0.0.1:{port}/0 did not answer" in e for e in errors), errors
    assert SECRET not in page_text(at)


def test_a_bad_url_is_refused_with_a_message_and_not_applied(db_path, monkeypatch):
    monkeypatch.setenv("BENCHCORE_EMBEDDED", "never")
    at = set_target(targets(), "postgres", "mysql://db.internal/app", SECRET)
    assert not at.exception
    errors = " ".join(e.value.replace("\\", "") for e in at.error)
    assert "Not applied" in errors and "must start with postgresql://" in errors, errors
    assert "password was not kept" in errors
    assert session_targets(at) == {}
    assert SECRET not in page_text(at)


def test_a_remote_host_is_named_and_reset_brings_the_defaults_back(db_path, monkeypatch):
    monkeypatch.setenv("BENCHCORE_EMBEDDED", "never")
    monkeypatch.delenv("BENCHCORE_MEMCACHED_URL", raising=False)
    at = set_target(targets(), "memcached", "memcached://192.0.2.10:11211")  # TEST-NET-1: nothing answers
    assert not at.exception and not at.error
    assert session_targets(at) == {"memcached_url": "memcached://192.0.2.10:11211"}
    assert any("192.0.2.10:11211: another host" in w.value.replace("\\", "") for w in at.warning)
    at.button(key="reset_targets").click().run()
    assert not at.exception
    assert session_targets(at) == {}
    assert at.text_input(key="target_url_memcached").value == "memcached://127.0.0.1:11211"
    assert any("Back to the defaults" in i.value for i in at.info)
    assert at.dataframe[0].value.set_index("Backend").loc["Memcached", "Address"] == "memcached://127.0.0.1:11211"


def test_a_run_started_in_the_session_uses_the_session_url(db_path, postgres_url, monkeypatch):
    from benchcore.results.storage import RunRepository
    from tests.conftest import TEST_PREFIX, TEST_TABLE
    from tests.pages.conftest import finished, wait_until

    monkeypatch.setenv("BENCHCORE_EMBEDDED", "never")
    monkeypatch.setenv("BENCHCORE_POSTGRES_URL", postgres_url)
    # The same server with a password in the URL (trust auth ignores it): only this session's URL has it.
    at = set_target(targets(), "postgres", postgres_url, SECRET)
    assert session_targets(at)["postgres_url"] != postgres_url
    at.switch_page("pages/run.py").run()
    at.multiselect(key="tiers").set_value(["postgres-raw"])
    at.multiselect(key="modes").set_value(["sync"])
    at.number_input(key="ops").set_value(50)
    at.number_input(key="warmup").set_value(5)
    at.number_input(key="trials").set_value(1)
    at.number_input(key="keys").set_value(100)
    at.text_input(key="table").set_value(TEST_TABLE)
    at.text_input(key="key_prefix").set_value(TEST_PREFIX)
    at.button(key="run").click().run()
    wait_until(at, finished)
    no_exceptions(at)
    (run_id,) = RunRepository(db_path).list_runs()["run_id"].tolist()
    run = RunRepository(db_path).get_run(run_id, with_samples=False)
    address = run.environment.servers["postgres"].address
    assert address.startswith("postgresql://postgres:***@"), address  # the session's URL, redacted
    assert run.results[0].status == "ok"
    assert SECRET not in page_text(at)
    assert SECRET.encode() not in db_path.read_bytes()


def test_the_sidebar_names_this_sessions_targets_without_their_password(db_path, monkeypatch):
    monkeypatch.setenv("BENCHCORE_EMBEDDED", "never")
    at = app()
    at.session_state["benchcore_session_targets"] = {"redis_url": f"redis://:{SECRET}@cache.example:6380/0"}
    at.run()  # app.py draws the sidebar (AppTest runs a switched-to page on its own)
    no_exceptions(at)
    captions = [c.value.replace("\\", "") for c in at.sidebar.caption]
    assert any("This session's targets" in c and "Redis at cache.example:6380" in c for c in captions), captions
    assert SECRET not in page_text(at)


def test_an_unexpected_failure_while_applying_is_a_message_not_a_traceback(db_path, monkeypatch):
    from benchcore.servers import overrides

    def broken(*args):
        raise RuntimeError(f"boom at redis://:{SECRET}@127.0.0.1:6379/0")

    monkeypatch.setenv("BENCHCORE_EMBEDDED", "never")
    monkeypatch.setattr(overrides, "compose", broken)
    at = set_target(targets(), "redis", "redis://127.0.0.1:6379/0", SECRET)
    assert not at.exception
    assert any("Not applied (RuntimeError)" in e.value.replace("\\", "") for e in at.error)
    assert session_targets(at) == {}
    assert SECRET not in page_text(at)
