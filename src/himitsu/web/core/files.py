"""Files the app keeps under HIMITSU_HOME (signed pledges, workflow evidence): in private folders, each
written atomically (a temporary file, fsync, rename) with owner-only permissions."""

from __future__ import annotations

import os
from pathlib import Path

from himitsu import config


def private_dir(name: str) -> Path:
    """HIMITSU_HOME/<name>, created owner-only if missing."""
    path = config.home() / name
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (0600) so that a reader sees the whole file or none of it."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
