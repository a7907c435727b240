"""Local or mounted folders: ``/srv/share``, ``./docs`` or ``file:///srv/share``.

The walk never stops at one error: a folder it may not list, a symbolic link that leads back into the
walk, a device file, a name that is not UTF-8 — each is a :class:`WalkError` and the rest goes on.
Symbolic links to folders are followed once (a folder already on the walk is a loop); links to files are
read through. A name that is not valid UTF-8 (Shift_JIS bytes from an old file server) is shown decoded
as CP932 when that works, else with escaped bytes; the file is still read, through its raw name, and the
name is reported as ``scan.name_encoding``.

Exposure: ``posix.world_readable`` when others may read the file (mode o+r) and traverse every folder
from the filesystem root down to it (o+x).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

from himitsu.engine.scan.sources.base import Entry, ScanIOError, Source, SourceSpec, WalkError


def root_of(url: str) -> str:
    if url.lower().startswith("file://"):
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise ScanIOError("scan.not_found", f"{url}: only local file URLs are supported")
        url = unquote(parts.path)
    return os.path.abspath(os.path.expanduser(url))


def _display(name: bytes) -> tuple[str, bool]:
    """(name as shown, True if it was valid UTF-8)."""
    try:
        return name.decode("utf-8"), True
    except UnicodeDecodeError:
        pass
    try:
        return name.decode("cp932"), False
    except UnicodeDecodeError:
        return name.decode("utf-8", "backslashreplace"), False


def _others_traverse(path: str) -> bool:
    """Others may traverse every folder from / down to ``path`` (inclusive)."""
    current = os.path.abspath(path)
    while True:
        try:
            if not os.stat(current).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
        parent = os.path.dirname(current)
        if parent == current:
            return True
        current = parent


def _io_code(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "scan.permission"
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return "scan.vanished"
    if exc.errno == errno.ELOOP:
        return "scan.loop"
    return "scan.io"


class LocalSource(Source):
    scheme = "file"

    def __init__(self, spec: SourceSpec) -> None:
        super().__init__(spec)
        self.root = root_of(spec.url)

    def walk(self) -> Iterator[Entry | WalkError]:
        try:
            st = os.stat(self.root)
        except OSError as exc:
            code = "scan.permission" if exc.errno in (errno.EACCES, errno.EPERM) else "scan.not_found"
            raise ScanIOError(code, f"{self.root}: {exc.strerror}") from exc
        if stat.S_ISREG(st.st_mode):  # a single file as the target
            yield self._entry(os.fsencode(self.root), self.root, st, _others_traverse(os.path.dirname(self.root)))
            return
        if not stat.S_ISDIR(st.st_mode):
            raise ScanIOError("scan.not_found", f"{self.root}: not a folder or file")
        yield from self._walk_dir(os.fsencode(self.root), self.root, _others_traverse(self.root),
                                  {(st.st_dev, st.st_ino)})

    def _walk_dir(self, raw: bytes, shown: str, open_to_others: bool,
                  ancestors: set[tuple[int, int]]) -> Iterator[Entry | WalkError]:
        try:
            with os.scandir(raw) as it:
                children = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield WalkError(shown, _io_code(exc), exc.strerror or str(exc))
            return
        for child in children:
            name, valid = _display(child.name)
            child_shown = os.path.join(shown, name)
            if not valid:
                yield WalkError(child_shown, "scan.name_encoding", repr(child.name)[2:-1])
            try:
                st = os.stat(child.path)  # follows links
            except OSError as exc:
                if child.is_symlink():
                    yield WalkError(child_shown, "scan.io", "broken symbolic link")
                else:
                    yield WalkError(child_shown, _io_code(exc), exc.strerror or str(exc))
                continue
            if stat.S_ISDIR(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if key in ancestors:
                    yield WalkError(child_shown, "scan.loop", "")
                    continue
                traverse = open_to_others and bool(st.st_mode & stat.S_IXOTH)
                yield from self._walk_dir(child.path, child_shown, traverse, ancestors | {key})
            elif stat.S_ISREG(st.st_mode):
                entry = self._entry(child.path, child_shown, st, open_to_others)
                yield entry
            else:
                yield WalkError(child_shown, "scan.not_regular", stat.filemode(st.st_mode))

    @staticmethod
    def _entry(raw: bytes, shown: str, st: os.stat_result, open_to_others: bool) -> Entry:
        exposure = "posix.world_readable" if open_to_others and st.st_mode & stat.S_IROTH else ""
        extra = {} if os.fsencode(shown) == raw else {"raw": raw}
        return Entry(path=shown, size=st.st_size, mtime=st.st_mtime_ns / 1e9, exposure=exposure, extra=extra)

    def read(self, entry: Entry, limit: int) -> bytes:
        raw = entry.extra.get("raw") or os.fsencode(entry.path)
        try:
            fd = os.open(raw, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOATIME", 0))
        except PermissionError:
            try:  # O_NOATIME is refused on files we do not own
                fd = os.open(raw, os.O_RDONLY | os.O_NONBLOCK)
            except OSError as exc:
                raise ScanIOError(_io_code(exc), exc.strerror or str(exc)) from exc
        except OSError as exc:
            raise ScanIOError(_io_code(exc), exc.strerror or str(exc)) from exc
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise ScanIOError("scan.not_regular", stat.filemode(st.st_mode))
            if st.st_size > limit:
                raise ScanIOError("scan.too_large", str(limit))
            os.set_blocking(fd, True)
            chunks = []
            remaining = limit + 1
            while remaining > 0:
                chunk = os.read(fd, min(remaining, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
            data = b"".join(chunks)
        except OSError as exc:
            raise ScanIOError(_io_code(exc), exc.strerror or str(exc)) from exc
        finally:
            os.close(fd)
        if len(data) > limit:
            raise ScanIOError("scan.too_large", str(limit))
        return data


__all__ = ["LocalSource"]
