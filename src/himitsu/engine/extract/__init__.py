"""Text extraction: bytes of any supported format in, ``Extraction`` (text parts + problems) out.

``extract(data, name, limits)`` never raises for bad input. It picks an extractor by content first
(each extractor's ``sniff``, in ``priority`` order: PDF, Office/OLE2, archives, mail, HTML, BOM text),
then recognisable formats it cannot read (images, 7z, RAR, LZH, RTF, ... -> ``unsupported``), then the
file name's extension, and finally plain text (which reports ``unsupported``/``binary`` for non-text).
Extractors are found through the ``himitsu.extractors`` entry points, never imported here.

Containers yield child blobs that are extracted recursively with paths such as ``inner.zip/report.docx``
(the input itself is ``""``). One ``Context`` tracks every limit of ``Limits`` across the whole input;
exceeding one adds ``Problem("limit.<name>", path, detail)`` and extraction goes on with the rest:

* ``max_bytes`` - the input and any single member or attachment (larger input: not read at all);
* ``max_total_bytes`` - all bytes unpacked from the input, all levels;
* ``max_ratio`` - unpacked/packed size of an archive member that unpacks to more than 1 MiB;
* ``max_depth`` - containers inside containers (members deeper than this are not inspected);
* ``max_entries`` - archive members and attachments counted over all levels;
* ``max_text_chars`` - text kept over all parts;
* ``max_seconds`` - wall time for the whole input (checked between parts, members and pages).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, BinaryIO

from himitsu.engine import registry
from himitsu.engine.extract.base import Child, Context, ExtractError, TimeLimit, extension, join
from himitsu.engine.model import Extraction, Limits, Problem, TextPart

__all__ = ["extract", "extract_file", "extract_stream", "sniff_unsupported"]

_DEFAULT_LIMITS = Limits()

#: Content signatures of formats we recognise but do not read: reported as ``unsupported``.
_UNSUPPORTED_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "png"),
    (0, b"\xff\xd8\xff", "jpeg"),
    (0, b"GIF87a", "gif"),
    (0, b"GIF89a", "gif"),
    (0, b"II*\x00", "tiff"),
    (0, b"MM\x00*", "tiff"),
    (8, b"WEBP", "webp"),
    (4, b"ftypheic", "heic"),
    (4, b"ftypmp4", "mp4"),
    (4, b"ftypisom", "mp4"),
    (4, b"ftypqt", "mov"),
    (0, b"%!PS-Adobe", "postscript"),
    (0, b"7z\xbc\xaf\x27\x1c", "7z"),
    (0, b"Rar!\x1a\x07", "rar"),
    (2, b"-lh5-", "lzh"),
    (2, b"-lh6-", "lzh"),
    (2, b"-lh7-", "lzh"),
    (2, b"-lh0-", "lzh"),
    (0, b"\xfd7zXZ\x00", "xz"),
    (4, b"\x31\x41\x59\x26\x53\x59", "bzip2"),
    (0, b"\x28\xb5\x2f\xfd", "zstd"),
    (0, b"MSCF", "cab"),
    (0, b"\x78\x9f\x3e\x22", "tnef"),
    (0, b"SQLite format 3\x00", "sqlite"),
    (0, b"\x7fELF", "elf"),
    (0, b"ID3\x03\x00", "mp3"),
    (0, b"ID3\x04\x00", "mp3"),
    (0, b"OggS\x00", "ogg"),
    (0, b"\xca\xfe\xba\xbe", "java-class"),
)
#: Content that is encrypted as a whole: reported as ``encrypted``.
_ENCRYPTED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"-----BEGIN PGP MESSAGE-----", "pgp"),
    (b"\x85\x01\x0c\x03", "pgp"),
)


def extract(data: bytes, name: str = "", limits: Limits = _DEFAULT_LIMITS) -> Extraction:
    """Extract the text of ``data`` (a file called ``name``, used only when the content is ambiguous).

    Never raises for bad input: corrupt, encrypted, unsupported and over-limit content becomes a
    ``Problem`` in the result, next to the text that could be read.
    """
    ctx = Context(limits)
    if len(data) > limits.max_bytes:
        ctx.problem("limit.bytes", "", f"{len(data)} bytes > max_bytes {limits.max_bytes}")
        return Extraction(ctx.parts, ctx.problems)
    try:
        _extract_blob(ctx, data, name, "", 0)
    except TimeLimit:
        pass
    return Extraction(ctx.parts, ctx.problems)


def extract_file(file: str | os.PathLike[str], limits: Limits = _DEFAULT_LIMITS, name: str | None = None
                 ) -> Extraction:
    """Extract a file from disk; one larger than ``max_bytes`` is reported without being read.
    An unreadable file gives ``Problem("corrupt", "", <OS error>)``."""
    label = os.path.basename(os.fspath(file)) if name is None else name
    try:
        size = os.stat(file).st_size
        if size > limits.max_bytes:
            return Extraction(problems=[Problem("limit.bytes", "", f"{size} bytes > max_bytes {limits.max_bytes}")])
        with open(file, "rb") as fp:
            return extract_stream(fp, label, limits)
    except OSError as exc:
        return Extraction(problems=[Problem("corrupt", "", f"cannot read: {exc.strerror or exc}")])


def extract_stream(fp: BinaryIO, name: str = "", limits: Limits = _DEFAULT_LIMITS) -> Extraction:
    """Extract from a binary stream (standard input), reading at most ``max_bytes`` + 1 bytes."""
    data = fp.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        return Extraction(problems=[Problem("limit.bytes", "", f"more than max_bytes {limits.max_bytes} bytes")])
    return extract(data, name, limits)


def sniff_unsupported(data: bytes) -> str | None:
    """The name of a recognised but unsupported format (``"png"``, ``"7z"``, ...), else None."""
    for offset, magic, label in _UNSUPPORTED_MAGIC:
        if data[offset:offset + len(magic)] == magic:
            return label
    return None


# -- dispatcher -----------------------------------------------------------------------------------


def _extractors() -> list[Any]:
    """Instances of the registered extractors in sniffing order (priority, then id)."""
    classes = registry.extractor_classes()
    if not classes:  # an installation problem, not bad input: say so instead of calling everything unknown
        raise registry.PluginError(f"no extractors registered under {registry.EXTRACTORS!r}; "
                                   "is himitsu installed (pip install -e .)?")
    ordered = sorted(classes.values(), key=lambda cls: (getattr(cls, "priority", 60), cls.id))
    return [cls() for cls in ordered]


def _choose(data: bytes, name: str) -> Any:
    """Content first, then the unsupported-format table, then the extension, then plain text."""
    extractors = _extractors()
    for ext in extractors:
        try:
            if ext.sniff(data, name):
                return ext
        except Exception:  # a sniffer that chokes on odd input simply does not claim it
            continue
    for magic, label in _ENCRYPTED_MAGIC:
        if data.startswith(magic):
            raise _UnsupportedFormat(label, "encrypted")
    label = sniff_unsupported(data)
    if label:
        raise _UnsupportedFormat(label)
    suffix = extension(name)
    if suffix:
        for ext in extractors:
            if suffix in getattr(ext, "extensions", ()):
                return ext
    for ext in extractors:
        if ext.id == "text":
            return ext
    raise _UnsupportedFormat("unknown")


class _UnsupportedFormat(Exception):
    def __init__(self, label: str, code: str = "unsupported") -> None:
        super().__init__(label)
        self.label = label
        self.code = code


def _extract_blob(ctx: Context, data: bytes, name: str, path: str, depth: int) -> None:
    ctx.check_time(path)
    try:
        extractor = _choose(data, name)
    except _UnsupportedFormat as exc:
        ctx.problem(exc.code, path, exc.label)
        return
    outer, ctx.depth = ctx.depth, depth
    try:
        _consume(ctx, extractor.extract(data, name, path, ctx), path, depth)
    except ExtractError as exc:
        ctx.problem(exc.code, path, exc.detail or extractor.id)
    except RecursionError:
        ctx.problem("corrupt", path, f"{extractor.id}: nested too deeply")
    except Exception as exc:  # never let bad input escape as an exception
        ctx.problem("corrupt", path, f"{extractor.id}: {type(exc).__name__}: {exc}"[:500])
    finally:
        ctx.depth = outer


def _consume(ctx: Context, items: Iterable[Any], path: str, depth: int) -> None:
    for item in items:
        ctx.check_time(path)
        if isinstance(item, TextPart):
            ctx.add_text(item)
        elif isinstance(item, Problem):
            ctx.problems.append(item)
        elif isinstance(item, Child):
            _child(ctx, item.name, item.data, path, depth)
        elif isinstance(item, tuple) and len(item) == 2:
            _child(ctx, str(item[0]), bytes(item[1]), path, depth)
        else:
            raise TypeError(f"extractor yielded {type(item).__name__}")


def _child(ctx: Context, name: str, data: bytes, path: str, depth: int) -> None:
    """Account for one member (entries, bytes, depth) and extract it, or report the limit it hits."""
    child_path = join(path, name)
    if depth + 1 > ctx.limits.max_depth:
        ctx.problem("limit.depth", child_path, f"nested deeper than max_depth {ctx.limits.max_depth}")
        return
    if not ctx.admit_entry(child_path):
        return
    if len(data) > ctx.limits.max_bytes:
        ctx.problem("limit.bytes", child_path, f"{len(data)} bytes > max_bytes {ctx.limits.max_bytes}")
        return
    if not ctx.charge(len(data), child_path):
        return
    _extract_blob(ctx, data, name, child_path, depth + 1)
