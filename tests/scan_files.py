"""Files for scanner tests: folders everyone may traverse (pytest's tmp_path has private parents, so the
world-readable rule could never fire there) and files written with a given mode."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def open_folder(prefix: str = "himitsu-scan-") -> Iterator[Path]:
    """A new folder directly under /tmp with mode 0o755, removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        root.chmod(0o755)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    """``text`` (UTF-8) at ``path`` with ``mode``; its folder is created and opened to others (0o755)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o755)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path
