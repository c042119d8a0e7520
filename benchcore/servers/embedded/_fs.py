"""Directories and logs the embedded servers own; created without loosening anything that already exists."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from pathlib import Path

from benchcore.errors import TierUnavailable


def private_dir(path: Path, mode: int) -> Path:
    """Create path (parents too) or accept it if it is ours: a real directory owned by us, not writable by others.

    Only the directory itself gets `mode`; parents are created with the umask and existing ones are never
    chmod-ed. Refusing someone else's directory matters under world-writable /var/tmp, where another user
    could otherwise pre-create (or symlink) the path we are about to trust.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=mode)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise TierUnavailable(
            f"{path} exists but is not a directory owned by this user and writable only by it; remove it"
        )
    if stat.S_IMODE(st.st_mode) != mode:
        os.chmod(path, mode)
    return path


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def shared_base() -> Path:
    """Root's base for servers that run as another account: outside every home directory.

    /var/tmp/benchcore-0 is created 0711 (others may traverse, not list), so the server account reaches its data
    directory without anyone's home (here /root, 0700) being opened up. /var/tmp rather than /tmp: the data
    survives a reboot, so the next start skips initdb.
    """
    return private_dir(Path("/var/tmp") / f"benchcore-{os.geteuid()}", 0o711)


def read_log(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def tail(text: str, lines: int = 3) -> str:
    """The last lines of a server's log, on one line (for an error message)."""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:]) or "(no output)"
