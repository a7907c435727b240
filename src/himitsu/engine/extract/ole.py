"""OLE2 / Compound File Binary containers: tell an Outlook .msg from a password-protected OOXML file, a
legacy Word/Excel/PowerPoint binary (and whether that one is encrypted) or an embedded-object wrapper.

Only the directory and a few bytes of one stream are read (olefile, BSD licence, already a dependency
of python-oxmsg).
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import olefile

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass(frozen=True)
class OleInfo:
    """``kind`` is one of: msg, encrypted-office, doc, xls, ppt, package, ole10native, ole2."""

    kind: str
    encrypted: bool = False


def is_ole(data: bytes) -> bool:
    return data[:8] == OLE_MAGIC


def open_ole(data: bytes) -> olefile.OleFileIO:
    """Open an OLE2 container from bytes (raises on a damaged directory)."""
    return olefile.OleFileIO(io.BytesIO(data))


def classify(data: bytes) -> OleInfo:
    """What kind of OLE2 file ``data`` is; raises (OSError, ValueError, ...) when it cannot be parsed."""
    with open_ole(data) as ole:
        names = {"/".join(entry) for entry in ole.listdir(streams=True, storages=True)}
        top = {name.split("/", 1)[0] for name in names}
        if "__properties_version1.0" in top and any(n.startswith("__substg1.0_") for n in top):
            return OleInfo("msg")
        if "EncryptionInfo" in top and "EncryptedPackage" in top:
            return OleInfo("encrypted-office", encrypted=True)
        if "WordDocument" in top:
            return OleInfo("doc", encrypted=_doc_encrypted(ole))
        if "Workbook" in top or "Book" in top:
            return OleInfo("xls", encrypted=_xls_encrypted(ole, "Workbook" if "Workbook" in top else "Book"))
        if "PowerPoint Document" in top:
            return OleInfo("ppt", encrypted="EncryptedSummary" in top)
        if "Package" in top:
            return OleInfo("package")
        if "\x01Ole10Native" in top:
            return OleInfo("ole10native")
    return OleInfo("ole2")


def stream(data: bytes, name: str) -> bytes:
    with open_ole(data) as ole:
        return ole.openstream(name).read()


def ole10native(payload: bytes) -> tuple[str, bytes]:
    """Unwrap an ``\\x01Ole10Native`` stream (a file packaged into a document): (file name, bytes)."""
    pos = 4 + 2  # total size, type
    label, pos = _cstring(payload, pos)
    path, pos = _cstring(payload, pos)
    pos += 8  # reserved, ...
    _temp, pos = _cstring(payload, pos)
    (size,) = struct.unpack_from("<I", payload, pos)
    pos += 4
    data = payload[pos:pos + size]
    if len(data) != size:
        raise ValueError("truncated Ole10Native stream")
    name = (path or label).replace("\\", "/").rsplit("/", 1)[-1] or "embedded.bin"
    return name, data


def _cstring(buf: bytes, pos: int) -> tuple[str, int]:
    end = buf.index(b"\x00", pos)
    return buf[pos:end].decode("cp932", errors="replace"), end + 1


def _doc_encrypted(ole: olefile.OleFileIO) -> bool:
    """FibBase flags: fEncrypted (0x0100) or fObfuscated (0x8000)."""
    fib = ole.openstream("WordDocument").read(12)
    if len(fib) < 12:
        return False
    (flags,) = struct.unpack_from("<H", fib, 10)
    return bool(flags & 0x0100 or flags & 0x8000)


def _xls_encrypted(ole: olefile.OleFileIO, name: str) -> bool:
    """A FILEPASS record (0x002F) among the first records of the workbook globals."""
    head = ole.openstream(name).read(16_384)
    pos = 0
    for _ in range(64):
        if pos + 4 > len(head):
            break
        rtype, size = struct.unpack_from("<HH", head, pos)
        if rtype == 0x002F:
            return True
        if rtype == 0x000A:  # EOF of the globals substream
            break
        pos += 4 + size
    return False
