"""What every scan source provides: a walk that yields entries (or errors), and reading one entry.

A source is opened from a URL (``/srv/share``, ``smb://server/share/dir``, ``s3://bucket/prefix``) and
its settings (credentials come from the environment or a credentials file, never the URL or the command
line). It must be re-creatable in a worker process from :meth:`Source.spec` (a picklable value), because
files are read by the worker that inspects them.

Errors are data, not exceptions that stop a scan: the walk yields :class:`WalkError` for what it could not
list, ``read`` raises :class:`ScanIOError` for what it could not read, and the scan records both with their
stable code and goes on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

#: stable codes of scan errors (the web app and CLI translate them)
ERROR_CODES = (
    "scan.permission",      # permission denied (file or folder)
    "scan.vanished",        # listed, then gone before it could be read
    "scan.loop",            # a symbolic link (or junction) that leads back into the walk
    "scan.not_regular",     # device, FIFO, socket: not read
    "scan.name_encoding",   # a name that is not valid UTF-8 (e.g. Shift_JIS bytes); read under an escaped name
    "scan.too_large",       # larger than the scan's declared size limit: not read
    "scan.connection",      # the server dropped or refused the connection
    "scan.auth",            # credentials missing or refused
    "scan.not_found",       # the target itself does not exist
    "scan.io",              # any other read error
    "scan.timeout",         # reading took longer than the declared limit
)


@dataclass(frozen=True)
class Entry:
    """One file a walk found. ``path`` is the location as people read it and as the register's storage
    locations are compared with: an absolute local path, ``smb://server/share/dir/file`` or
    ``s3://bucket/key``. ``exposure`` is "" unless the file is readable by everyone, then a stable code:
    ``posix.world_readable``, ``smb.everyone``, ``s3.public_bucket``, ``s3.public_object``."""

    path: str
    size: int
    mtime: float = 0.0   # seconds since the epoch, 0.0 if unknown
    etag: str = ""       # S3 ETag (or another server-side version tag); "" if none
    exposure: str = ""
    #: source-specific data the reader needs (e.g. the raw bytes of a non-UTF-8 name); must be picklable
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class WalkError:
    """Something the walk could not list or will not read; ``code`` is one of :data:`ERROR_CODES`."""

    path: str
    code: str
    detail: str = ""


class ScanIOError(Exception):
    """Reading one entry failed; ``code`` is one of :data:`ERROR_CODES`."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class SourceSpec:
    """A picklable description that re-opens the same source in another process."""

    url: str
    options: dict[str, Any] = field(default_factory=dict)


class Source(ABC):
    """A place files live. Subclasses register a URL scheme in :mod:`himitsu.engine.scan.sources`."""

    scheme: str = ""

    def __init__(self, spec: SourceSpec) -> None:
        self.spec = spec

    @abstractmethod
    def walk(self) -> Iterator[Entry | WalkError]:
        """Every file under the target (recursively), in a stable order; errors as :class:`WalkError`.
        Must not stop at the first error: a folder it cannot list is one error, the rest goes on.
        A target that does not exist or cannot be reached at all raises :class:`ScanIOError`."""

    @abstractmethod
    def read(self, entry: Entry, limit: int) -> bytes:
        """The file's bytes; :class:`ScanIOError` ``scan.too_large`` if it is longer than ``limit``
        bytes (without reading more than ``limit + 1`` bytes), other codes for other failures."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
