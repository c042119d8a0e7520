"""Fixtures for the embedded-server tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from benchcore.servers import embedded
from tests.servers.embedded.helpers import mark_foreign_servers, remove_data


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A throwaway benchcore data dir; every embedded server is stopped and its data removed afterwards."""
    path = tmp_path / "data"
    yield path
    embedded.stop_embedded()
    remove_data(path)


@pytest.fixture(autouse=True)
def _foreign_servers() -> None:
    mark_foreign_servers()
