"""What every extractor is, and the one context object that carries the limits through a whole input.

An extractor is a class with an ``id`` (its entry-point name), a ``priority`` (lower sniffs first),
``extensions`` (used only when no content signature matched), ``sniff(data, name)`` (content first) and
``extract(data, name, path, ctx)``, a generator that yields:

* ``TextPart`` - text it read;
* ``(child_name, child_bytes)`` or ``Child`` - a member of a container (archive member, attachment,
  embedded file) that the dispatcher extracts recursively as ``path/child_name``;
* ``Problem`` - something it could not inspect but which does not stop the rest (an encrypted member).

A whole-document failure is raised as ``Encrypted`` / ``Unsupported`` / ``Corrupt``; any other exception
from an extractor is reported by the dispatcher as ``Problem("corrupt")``. Nothing here imports Django.
"""

from __future__ import annotations

import struct
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import ClassVar

from himitsu.engine.model import Limits, Problem, TextPart

#: The ratio limit applies only to members that unpack to more than this many bytes (small, highly
#: repetitive files such as XML parts legitimately compress better than 100:1).
RATIO_FLOOR = 1024 * 1024
#: Members are decompressed in chunks of this size, so a lying header never allocates more than the cap.
CHUNK = 1024 * 1024


class ExtractError(Exception):
    """A whole-document failure with a stable problem code; ``detail`` says which format or why."""

    code: ClassVar[str] = "corrupt"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail


class Corrupt(ExtractError):
    code = "corrupt"


class Encrypted(ExtractError):
    """Password protected: cannot be inspected, which is itself worth a finding (PPAP)."""

    code = "encrypted"


class Unsupported(ExtractError):
    """A format we recognise but cannot read (legacy Office binaries, images, other archives)."""

    code = "unsupported"


class TimeLimit(BaseException):  # noqa: N818 - not an error of the input; must pass through `except Exception`
    """Raised when the wall-time limit of one input is used up; unwinds every extractor at once."""


@dataclass(frozen=True)
class Child:
    """A member of a container, extracted recursively by the dispatcher as ``path/name``."""

    name: str
    data: bytes


Item = TextPart | Problem | Child | tuple[str, bytes]


def join(path: str, name: str) -> str:
    """``join("", "a.zip") == "a.zip"``, ``join("a.zip", "b.txt") == "a.zip/b.txt"``."""
    return f"{path}/{name}" if path else name


def extension(name: str) -> str:
    """Lower-case extension with the dot (``"report.DOCX" -> ".docx"``), ``""`` when there is none."""
    base = name.rsplit("/", 1)[-1]
    dot = base.rfind(".")
    return base[dot:].lower() if dot > 0 else ""


@dataclass
class Context:
    """The limits and what has been used of them, shared by everything unpacked from one input.

    * ``max_bytes``: any single blob (the input, an archive member, an attachment);
    * ``max_total_bytes``: all bytes unpacked from the input (members, attachments, XML parts read);
    * ``max_ratio``: unpacked/packed size of one archive member (members over ``RATIO_FLOOR`` bytes);
    * ``max_depth``: containers inside containers (the input is depth 0);
    * ``max_entries``: archive members and attachments, all levels together;
    * ``max_text_chars``: extracted text kept (longer parts are cut, later parts dropped, both reported);
    * ``max_seconds``: wall time, checked between parts, members and pages.
    """

    limits: Limits
    parts: list[TextPart] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    unpacked: int = 0
    entries: int = 0
    text_chars: int = 0
    depth: int = 0  # of the blob being extracted; set by the dispatcher
    started: float = field(default_factory=lambda: time.monotonic())

    # -- problems -------------------------------------------------------------------------------
    def problem(self, code: str, path: str, detail: str = "") -> None:
        self.problems.append(Problem(code, path, detail))

    # -- time -----------------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def check_time(self, path: str) -> None:
        """Raise ``TimeLimit`` (after recording ``limit.time``) once ``max_seconds`` have passed."""
        if self.elapsed() > self.limits.max_seconds:
            self.problem("limit.time", path, f"stopped after {self.elapsed():.1f} s "
                                             f"(max_seconds {self.limits.max_seconds:g})")
            raise TimeLimit

    # -- bytes and entries ----------------------------------------------------------------------
    def bytes_left(self) -> int:
        return max(0, self.limits.max_total_bytes - self.unpacked)

    def entries_left(self) -> int:
        return max(0, self.limits.max_entries - self.entries)

    def charge(self, n: int, path: str) -> bool:
        """Count ``n`` unpacked bytes against ``max_total_bytes``; False (and ``limit.total``) if over."""
        if n > self.bytes_left():
            self.problem("limit.total", path, f"{n} more bytes would exceed max_total_bytes "
                                              f"{self.limits.max_total_bytes}")
            return False
        self.unpacked += n
        return True

    def can_descend(self, path: str) -> bool:
        """False (and ``limit.depth`` for the container at ``path``) when its members would be too deep."""
        if self.depth + 1 > self.limits.max_depth:
            self.problem("limit.depth", path, f"members nested deeper than max_depth {self.limits.max_depth}")
            return False
        return True

    def admit_entry(self, path: str) -> bool:
        """Count one archive member or attachment against ``max_entries``."""
        if self.entries >= self.limits.max_entries:
            self.problem("limit.entries", path, f"more than max_entries {self.limits.max_entries} members")
            return False
        self.entries += 1
        return True

    # -- text -----------------------------------------------------------------------------------
    def text_left(self) -> int:
        return max(0, self.limits.max_text_chars - self.text_chars)

    def add_text(self, part: TextPart) -> None:
        """Keep ``part``, cut to what is left of ``max_text_chars`` (reported as ``limit.text``)."""
        left = self.text_left()
        if len(part.text) > left:
            self.problem("limit.text", part.path, f"kept {left} of {len(part.text)} characters "
                                                  f"(max_text_chars {self.limits.max_text_chars})")
            if left == 0:
                return
            part = _cut(part, left)
        self.text_chars += len(part.text)
        self.parts.append(part)


def _cut(part: TextPart, n: int) -> TextPart:
    meta = dict(part.meta, truncated=True)
    regions = meta.get("regions")
    if isinstance(regions, list):
        meta["regions"] = [(s, min(e, n), k) for s, e, k in regions if s < n]
    return replace(part, text=part.text[:n], meta=meta)


class Extractor:
    """Base class of the built-in extractors (a plugin only needs the same attributes and methods)."""

    id: ClassVar[str]
    priority: ClassVar[int] = 60
    extensions: ClassVar[tuple[str, ...]] = ()

    def sniff(self, data: bytes, name: str) -> bool:
        return False

    def extract(self, data: bytes, name: str, path: str, ctx: Context) -> Iterable[Item]:
        raise NotImplementedError


# -- ZIP helpers shared by the archive and office extractors ----------------------------------------

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")


def is_zip(data: bytes) -> bool:
    return data[:4] in ZIP_MAGIC


def zip_member_names(data: bytes, limit: int = 10_000) -> list[bytes]:
    """Raw names of the first ``limit`` members from the central directory, parsed without building a
    ZipFile (cheap enough for sniffing); for a truncated file without a directory, the first local
    header's name."""
    names: list[bytes] = []
    eocd = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if eocd >= 0 and eocd + 22 <= len(data):
        (offset,) = struct.unpack_from("<I", data, eocd + 16)
        pos = offset if offset != 0xFFFFFFFF else len(data)
        while len(names) < limit and pos + 46 <= len(data) and data[pos:pos + 4] == b"PK\x01\x02":
            name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, pos + 28)
            names.append(data[pos + 46:pos + 46 + name_len])
            pos += 46 + name_len + extra_len + comment_len
    if not names and data[:4] == b"PK\x03\x04" and len(data) >= 30:
        (name_len,) = struct.unpack_from("<H", data, 26)
        names.append(data[30:30 + name_len])
    return names


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, ctx: Context) -> bytes | None:
    """Decompress one member in chunks, never past ``max_bytes``, what is left of ``max_total_bytes`` or
    ``max_ratio`` x its packed size (members over ``RATIO_FLOOR``). Declared sizes are checked before
    reading; a member that would exceed a limit gives ``limit.bytes``/``limit.total``/``limit.ratio`` and
    None. Does not charge the bytes: the caller does (or the dispatcher, for children)."""
    limits = ctx.limits
    ratio_cap = max(RATIO_FLOOR, int(limits.max_ratio * max(info.compress_size, 1)))
    caps = (("limit.ratio", ratio_cap, f"max_ratio {limits.max_ratio:g} x {info.compress_size} packed bytes"),
            ("limit.bytes", limits.max_bytes, "max_bytes"),
            ("limit.total", ctx.bytes_left(), "what is left of max_total_bytes"))
    for code, cap, what in caps:
        if info.file_size > cap:
            ctx.problem(code, path, f"{info.file_size} bytes unpacked exceeds {what} ({cap})")
            return None
    cap = min(cap for _, cap, _ in caps)
    chunks: list[bytes] = []
    size = 0
    with zf.open(info) as fp:
        while chunk := fp.read(min(CHUNK, cap + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > cap:
                ctx.problem("limit.ratio", path, f"unpacks to more than its declared {info.file_size} bytes")
                return None
    return b"".join(chunks)

