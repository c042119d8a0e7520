"""Directories the embedded servers own."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from benchcore.errors import TierUnavailable
from benchcore.servers.embedded._fs import is_root, private_dir, shared_base


def test_private_dir_creates_with_exact_mode_and_leaves_parents_alone(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o700)
    made = private_dir(tmp_path / "a" / "b", 0o711)

    assert stat.S_IMODE(made.stat().st_mode) == 0o711
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700  # never loosened


def test_private_dir_refuses_a_directory_others_can_write(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)

    with pytest.raises(TierUnavailable, match="writable only by it"):
        private_dir(shared, 0o700)


def test_private_dir_refuses_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "real")

    with pytest.raises(TierUnavailable):
        private_dir(tmp_path / "link", 0o700)


@pytest.mark.skipif(not is_root(), reason="the shared base is used only when running as root")
def test_root_base_is_outside_every_home_and_traversable_only() -> None:
    base = shared_base()

    assert base == Path(f"/var/tmp/benchcore-{os.geteuid()}")
    assert not base.is_relative_to(Path.home())
    assert stat.S_IMODE(base.stat().st_mode) == 0o711 and base.stat().st_uid == 0
