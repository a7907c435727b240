"""ZIP archives (and gzip / tar) whose members are extracted recursively by the dispatcher.

Limits, all checked before a member is decompressed (from its declared sizes) and again while it is
read in chunks, so a zip bomb never allocates more than the cap:
``max_ratio`` per member (members over 1 MiB), ``max_bytes`` per member, ``max_total_bytes`` over the
whole input, ``max_entries`` over all levels, ``max_depth`` for archives inside archives.

An encrypted member (ZipCrypto, flag bit 0x1, or WinZip AES, method 99) is not read: it gives
``Problem("encrypted", "<path>/<member>", "zip")`` - the PPAP habit - and the other members go on.
Member names stored in CP932 without the UTF-8 flag (Windows Explorer, Lhaplus) are decoded as CP932;
the Info-ZIP Unicode Path extra field is honoured.
"""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from typing import ClassVar

from himitsu.engine.extract.base import (
    CHUNK,
    RATIO_FLOOR,
    Child,
    Context,
    Corrupt,
    Extractor,
    Item,
    is_zip,
    join,
    read_member,
)
from himitsu.engine.model import Problem

GZIP_MAGIC = b"\x1f\x8b"
#: ZIP compression method numbers we can name in an ``unsupported`` problem.
_METHODS = {9: "deflate64", 93: "zstd", 95: "xz", 96: "jpeg", 97: "wavpack", 98: "ppmd"}
#: An archive whose directory declares more than this many times ``max_entries`` is not opened at all
#: (building the directory would itself cost too much memory).
DIRECTORY_FACTOR = 4


class ArchiveExtractor(Extractor):
    id = "archive"
    priority = 30
    extensions: ClassVar[tuple[str, ...]] = (".zip", ".gz", ".tgz", ".tar")

    def sniff(self, data: bytes, name: str) -> bool:
        return is_zip(data) or data[:2] == GZIP_MAGIC or _is_tar(data)

    def extract(self, data: bytes, name: str, path: str, ctx: Context) -> Iterator[Item]:
        if not ctx.can_descend(path):
            return
        if data[:2] == GZIP_MAGIC:
            yield from _gunzip(data, name, path, ctx)
        elif _is_tar(data):
            yield from _tar(data, path, ctx)
        else:
            yield from _zip(data, path, ctx)


# -- ZIP ------------------------------------------------------------------------------------------


def _zip(data: bytes, path: str, ctx: Context) -> Iterator[Item]:
    declared = _declared_entries(data)
    if declared is not None and declared > DIRECTORY_FACTOR * ctx.limits.max_entries:
        yield Problem("limit.entries", path, f"archive declares {declared} members "
                                             f"(max_entries {ctx.limits.max_entries})")
        return
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise Corrupt(f"zip: {exc}") from exc
    with zf:
        members = [info for info in zf.infolist() if not info.is_dir()]
        for index, info in enumerate(members):
            ctx.check_time(path)
            member = member_name(info)
            member_path = join(path, member)
            if info.flag_bits & 0x1 or info.compress_type == 99:
                if ctx.admit_entry(member_path):
                    yield Problem("encrypted", member_path, "zip")
                    continue
                return
            if ctx.entries_left() == 0:
                yield Problem("limit.entries", path, f"{len(members) - index} members not inspected "
                                                     f"(max_entries {ctx.limits.max_entries})")
                return
            content = _read(zf, info, member_path, ctx)
            if content is not None:
                yield Child(member, content)


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo, member_path: str, ctx: Context) -> bytes | None:
    """One member's bytes, or None after recording why not (limit, unsupported method, damage)."""
    if info.compress_type in _METHODS or info.compress_type not in (0, 8, 12, 14):
        ctx.problem("unsupported", member_path,
                    f"zip compression method {_METHODS.get(info.compress_type, info.compress_type)}")
        return None
    try:
        return read_member(zf, info, member_path, ctx)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError,
            ValueError, LookupError) as exc:
        ctx.problem("corrupt", member_path, f"zip member: {exc}")
        return None


def member_name(info: zipfile.ZipInfo) -> str:
    """The member's name as its author saw it: UTF-8 when flagged, the Info-ZIP Unicode Path extra
    field when present, else UTF-8 if the raw bytes are valid UTF-8, else CP932, else CP437."""
    if info.flag_bits & 0x800:
        return info.filename
    unicode_path = _unicode_path_extra(info.extra)
    if unicode_path:
        return unicode_path
    raw = info.orig_filename.encode("cp437", errors="replace")
    if raw.isascii():
        return info.filename
    for codec in ("utf-8", "cp932"):
        try:
            return raw.decode(codec).replace("\\", "/")
        except UnicodeDecodeError:
            continue
    return info.filename


def _unicode_path_extra(extra: bytes) -> str | None:
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4:pos + 4 + size]
        if tag == 0x7075 and len(body) > 5 and body[0] == 1:
            try:
                return body[5:].decode("utf-8").replace("\\", "/")
            except UnicodeDecodeError:
                return None
        pos += 4 + size
    return None


def _declared_entries(data: bytes) -> int | None:
    """Total entries from the end-of-central-directory record (ZIP64 when needed), without parsing it."""
    eocd = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if eocd < 0 or eocd + 22 > len(data):
        return None
    (total,) = struct.unpack_from("<H", data, eocd + 10)
    if total != 0xFFFF:
        return total
    locator = eocd - 20
    if locator >= 0 and data[locator:locator + 4] == b"PK\x06\x07":
        (offset,) = struct.unpack_from("<Q", data, locator + 8)
        if offset + 56 <= len(data) and data[offset:offset + 4] == b"PK\x06\x06":
            return int(struct.unpack_from("<Q", data, offset + 32)[0])
    return total


# -- gzip / tar -----------------------------------------------------------------------------------


def _is_tar(data: bytes) -> bool:
    return data[257:262] == b"ustar"


def _gunzip(data: bytes, name: str, path: str, ctx: Context) -> Iterator[Item]:
    """A .gz holds one file: decompress it in chunks under the same ratio/bytes/total caps as a member."""
    inner = _gz_inner_name(name)
    member_path = join(path, inner)
    if ctx.entries_left() == 0:
        yield Problem("limit.entries", path, f"max_entries {ctx.limits.max_entries}")
        return
    caps = (("limit.ratio", max(RATIO_FLOOR, int(ctx.limits.max_ratio * len(data)))),
            ("limit.bytes", ctx.limits.max_bytes), ("limit.total", ctx.bytes_left()))
    cap = min(c for _, c in caps)
    try:
        content = _bounded(gzip.GzipFile(fileobj=io.BytesIO(data)), cap)
    except (OSError, EOFError, zlib.error) as exc:
        raise Corrupt(f"gzip: {exc}") from exc
    if content is None:
        code = next(code for code, c in caps if c == cap)
        yield Problem(code, member_path, f"unpacks to more than {cap} bytes")
        return
    yield Child(inner, content)


def _gz_inner_name(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    lower = base.lower()
    if lower.endswith(".tgz"):
        return base[:-4] + ".tar"
    if lower.endswith(".gz") and len(base) > 3:
        return base[:-3]
    return (base or "data") + ".unpacked"


def _bounded(fp: io.BufferedIOBase | gzip.GzipFile, cap: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while chunk := fp.read(min(CHUNK, cap + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > cap:
            return None
    return b"".join(chunks)


def _tar(data: bytes, path: str, ctx: Context) -> Iterator[Item]:
    try:
        tf = tarfile.open(fileobj=io.BytesIO(data), mode="r:")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise Corrupt(f"tar: {exc}") from exc
    with tf:
        for info in tf:
            ctx.check_time(path)
            if not info.isfile():
                continue
            member_path = join(path, info.name)
            if ctx.entries_left() == 0:
                yield Problem("limit.entries", path, f"more members not inspected "
                                                     f"(max_entries {ctx.limits.max_entries})")
                return
            if info.size > min(ctx.limits.max_bytes, ctx.bytes_left()):
                code = "limit.bytes" if info.size > ctx.limits.max_bytes else "limit.total"
                yield Problem(code, member_path, f"{info.size} bytes")
                continue
            fp = tf.extractfile(info)
            if fp is not None:
                yield Child(info.name, fp.read(info.size))
