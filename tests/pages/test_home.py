"""Overview page: empty state, and the latest run at a glance."""

from __future__ import annotations

from tests.pages.conftest import app, charts_of, no_exceptions


def test_empty_state(db_path):
    at = app().run()
    no_exceptions(at)
    assert any("No runs yet" in i.value for i in at.info)
    assert not charts_of(at)


def test_latest_run_summary(seeded, db_path):
    at = app().run()
    no_exceptions(at)
    latest = seeded[1]
    assert any(latest.run_id[:6] in t.value and "after change" in t.value for t in at.text)
    assert len(charts_of(at)) == 1
    sync_table = at.dataframe[0].value
    assert sync_table["Storage layer"].tolist()[0] == "postgres-orm"
    assert "redis" not in at.dataframe[1].value["Storage layer"].tolist()  # redis async failed
    assert any("redis" in w.value and "refused" in w.value for w in at.warning)
    assert "6399" in " ".join(w.value for w in at.warning)  # the reason is shown, escaped but intact
    assert any(m.label == "Stored runs" and m.value == "2" for m in at.metric)
