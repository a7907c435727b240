"""Office documents: DOCX / XLSX / PPTX (and OpenDocument) through zipfile + lxml, no Office needed.

* DOCX: headers, body (including text boxes and tracked deletions, which are still in the file),
  footnotes, endnotes, comments and footers. ``meta["regions"]`` lists ``(start, end, kind)`` with kind
  ``"header"``, ``"footer"`` or ``"body"`` - headers and footers are where confidentiality markings live.
* XLSX: every sheet (hidden ones too) in workbook order, a ``[sheet name]`` line then one line per row,
  cells separated by tabs, shared and inline strings without furigana, numbers as stored (dates stay
  serial numbers); the page header/footer of each sheet as ``header``/``footer`` regions; then text
  boxes and cell comments.
* PPTX: slides in presentation order (separated by ``\\f``), shapes and tables, footer/header
  placeholders as regions, then the speaker notes of each slide.
* ODT/ODS/ODP: content.xml as body, master-page headers/footers from styles.xml.
* RTF (WordPad, Word): text in its code page, header/footer groups as regions (see ``rtf``).
* Files embedded in the package (``*/embeddings/*``) are yielded as children; OLE "Package" and
  "Ole10Native" wrappers are unwrapped to the file inside.
* OLE2 files: password-protected OOXML (EncryptionInfo + EncryptedPackage) and encrypted legacy
  documents give ``Problem("encrypted", path, "office" | "doc" | "xls" | "ppt")``; legacy Word, Excel and
  PowerPoint binaries give ``Problem("unsupported", path, "doc" | "xls" | "ppt")``.

Limits: every XML part is decompressed under ``max_ratio``/``max_bytes``/``max_total_bytes`` (see
``base.read_member``) and counted in the total; embedded files count as entries and add one level of depth.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from lxml import etree

from himitsu.engine.extract import ole, rtf
from himitsu.engine.extract.base import (
    Child,
    Context,
    Corrupt,
    Encrypted,
    Extractor,
    Item,
    Unsupported,
    extension,
    is_zip,
    join,
    read_member,
    zip_member_names,
)
from himitsu.engine.model import TextPart

try:
    from himitsu.engine import _xlsx as _xlsx_c
except ImportError:  # the C extension is not built: the lxml reader does all the work
    _xlsx_c = None  # type: ignore[assignment]

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
S = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
P = "{http://schemas.openxmlformats.org/presentationml/2006/main}"
R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
STYLE = "{urn:oasis:names:tc:opendocument:xmlns:style:1.0}"
OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"

OOXML_EXTENSIONS = (".docx", ".docm", ".dotx", ".dotm", ".xlsx", ".xlsm", ".xltx", ".xltm", ".pptx", ".pptm",
                    ".potx", ".ppsx", ".ppsm")
LEGACY_EXTENSIONS = {".doc": "doc", ".dot": "doc", ".xls": "xls", ".xlt": "xls", ".ppt": "ppt", ".pps": "ppt"}
ODF_EXTENSIONS = (".odt", ".ods", ".odp", ".ott", ".ots", ".otp")
_OOXML_MARKERS = (b"word/", b"xl/", b"ppt/")
_NUMBER = re.compile(r"(\d+)")
_HF_CODES = re.compile(r'&(?:"[^"]*"|\d+|K[0-9A-Fa-f]{6}|K\d\d[+-]\d{3}|[A-Za-z])')


class OfficeExtractor(Extractor):
    id = "office"
    priority = 20
    extensions: ClassVar[tuple[str, ...]] = OOXML_EXTENSIONS + ODF_EXTENSIONS + tuple(LEGACY_EXTENSIONS) + (".rtf",)

    def sniff(self, data: bytes, name: str) -> bool:
        """OOXML ([Content_Types].xml and a word/xl/ppt main part), OpenDocument (mimetype member), RTF or
        any OLE2 file except an Outlook message."""
        if rtf.is_rtf(data):
            return True
        if is_zip(data):
            if _is_odf(data):
                return True
            names = zip_member_names(data)
            if b"[Content_Types].xml" not in names:
                return False
            return any(n.startswith(_OOXML_MARKERS) for n in names) or extension(name) in OOXML_EXTENSIONS
        if ole.is_ole(data):
            try:
                return ole.classify(data).kind != "msg"
            except Exception:
                return extension(name) != ".msg"
        return False

    def extract(self, data: bytes, name: str, path: str, ctx: Context) -> Iterator[Item]:
        if ole.is_ole(data):
            yield from _ole(data, name)
            return
        if rtf.is_rtf(data):
            builder = _Builder()
            for kind, text in rtf.rtf_regions(data):
                builder.add(text, kind)
            yield builder.part(path, "rtf")
            return
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
            raise Corrupt(f"{_kind_from_name(name)}: {exc}") from exc
        with zf:
            package = _Package(zf, path, ctx)
            if _is_odf(data):
                yield from _odf(package)
            else:
                yield from _ooxml(package)
            yield from _embeddings(package)


# -- package access ---------------------------------------------------------------------------------


@dataclass
class _Package:
    zf: zipfile.ZipFile
    path: str
    ctx: Context
    names: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.names = set(self.zf.namelist())

    def read(self, name: str) -> bytes | None:
        """Bytes of one part under the member limits, counted in the total; None if absent or refused."""
        try:
            info = self.zf.getinfo(name)
        except KeyError:
            return None
        part_path = join(self.path, name)
        data = read_member(self.zf, info, part_path, self.ctx)
        if data is None or not self.ctx.charge(len(data), part_path):
            return None
        return data

    def xml(self, name: str) -> etree._Element | None:
        data = self.read(name)
        if data is None:
            return None
        return parse_xml(data, join(self.path, name))

    def rels(self, part: str) -> list[tuple[str, str]]:
        """(relationship type, absolute part name) of ``part``'s relationships."""
        folder, base = posixpath.split(part)
        root = self.xml(posixpath.join(folder, "_rels", base + ".rels"))
        if root is None:
            return []
        found = []
        for rel in root.iter(PKG_REL):
            if rel.get("TargetMode") == "External":
                continue
            target = rel.get("Target", "")
            absolute = target.lstrip("/") if target.startswith("/") else posixpath.normpath(
                posixpath.join(folder, target))
            found.append((rel.get("Type", ""), absolute))
        return found


def parse_xml(data: bytes, path: str) -> etree._Element:
    """Parse an XML part safely (no network, no entity expansion); damaged XML raises ``Corrupt``."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True, remove_pis=True)
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise Corrupt(f"{path}: {exc}") from exc


@dataclass
class _Builder:
    """Concatenates text chunks and records which region each came from."""

    chunks: list[str] = field(default_factory=list)
    regions: list[tuple[int, int, str]] = field(default_factory=list)
    size: int = 0

    def add(self, text: str, kind: str = "body", sep: str = "\n") -> None:
        if not text:
            return
        if self.chunks:
            self.chunks.append(sep)
            self.size += len(sep)
        self.regions.append((self.size, self.size + len(text), kind))
        self.chunks.append(text)
        self.size += len(text)

    def part(self, path: str, fmt: str, **meta: object) -> TextPart:
        return TextPart(path, "".join(self.chunks), fmt, {"regions": self.regions, **meta})


def _numbered(names: Iterable[str], pattern: str) -> list[str]:
    rx = re.compile(pattern)
    return sorted((n for n in names if rx.fullmatch(n)), key=lambda n: [int(x) if x.isdigit() else x
                                                                        for x in _NUMBER.split(n)])


def _kind_from_name(name: str) -> str:
    ext = extension(name).lstrip(".")
    return ext or "office"


# -- OOXML ----------------------------------------------------------------------------------------


def _ooxml(package: _Package) -> Iterator[Item]:
    main = next((target for rtype, target in package.rels("") if rtype.endswith("/officeDocument")), "")
    if not main:
        main = next((n for n in ("word/document.xml", "xl/workbook.xml", "ppt/presentation.xml")
                     if n in package.names), "")
    top = main.split("/", 1)[0]
    if top == "word":
        yield _docx(package, main)
    elif top == "xl":
        yield _xlsx(package, main)
    elif top == "ppt":
        yield _pptx(package, main)
    else:
        raise Unsupported("ooxml")


def _docx(package: _Package, main: str) -> TextPart:
    builder = _Builder()
    names = package.names
    for name in _numbered(names, r"word/header\d*\.xml"):
        builder.add(_wml_part(package, name), "header")
    builder.add(_wml_part(package, main), "body")
    for name in ("word/footnotes.xml", "word/endnotes.xml", "word/comments.xml"):
        builder.add(_wml_part(package, name), "body")
    for name in _numbered(names, r"word/footer\d*\.xml"):
        builder.add(_wml_part(package, name), "footer")
    return builder.part(package.path, "docx")


def _wml_part(package: _Package, name: str) -> str:
    root = package.xml(name)
    return "" if root is None else wml_text(root)


_WML_TAGS = (W + "p", W + "t", W + "delText", W + "tab", W + "br", W + "cr", W + "noBreakHyphen", W + "tr",
             W + "tc")


def wml_text(root: etree._Element) -> str:
    """Text of a WordprocessingML part: paragraphs on lines, table rows on lines with cells separated by
    tabs, tabs and breaks kept, tracked deletions included, VML fallbacks of text boxes skipped."""
    for fallback in list(root.iter(MC_FALLBACK)):
        fallback.getparent().remove(fallback)
    out: list[str] = []
    for el in root.iter(*_WML_TAGS):
        tag = el.tag
        if tag == W + "t" or tag == W + "delText":
            out.append(el.text or "")
        elif tag == W + "p":
            _paragraph_break(el, out)
        elif tag == W + "tab":
            if el.getparent().tag == W + "r":
                out.append("\t")
        elif tag == W + "noBreakHyphen":
            out.append("-")
        elif tag == W + "tr":
            if out:
                out.append("\n")
        elif tag == W + "tc":
            if out and out[-1] != "\n":
                out.append("\t")
        else:
            out.append("\n")
    return "".join(out).strip("\n")


def _paragraph_break(p: etree._Element, out: list[str]) -> None:
    """A new paragraph starts a line, except inside a table cell, where it continues the cell."""
    parent = p.getparent()
    if parent is not None and parent.tag == W + "tc":
        previous = p.getprevious()
        if previous is not None and previous.tag == W + "p":
            out.append(" ")
    elif out:
        out.append("\n")


def _xlsx(package: _Package, main: str) -> TextPart:
    strings = _shared_strings(package, main)
    builder = _Builder()
    sheets = 0
    for sheet_name, part in _sheets(package, main):
        package.ctx.check_time(package.path)
        data = package.read(part)
        if data is None:
            continue
        sheets += 1
        rows, header, footer = _sheet_text(data, strings, join(package.path, part))
        builder.add(header, "header")
        builder.add(f"[{sheet_name}]\n{rows}" if rows else f"[{sheet_name}]", "body")
        builder.add(footer, "footer")
    for name in _numbered(package.names, r"xl/drawings/drawing\d+\.xml"):  # text boxes and shapes
        root = package.xml(name)
        builder.add(drawing_text(root) if root is not None else "", "body")
    for name in _numbered(package.names, r"xl/comments(?:/comment)?\d*\.xml"):
        root = package.xml(name)
        if root is not None:
            builder.add("\n".join(_rich_text(c) for c in root.iter(S + "text")), "body")
    return builder.part(package.path, "xlsx", sheets=sheets)


def _sheets(package: _Package, main: str) -> list[tuple[str, str]]:
    root = package.xml(main)
    if root is None:
        raise Corrupt(f"xlsx: no {main}")
    targets = dict(_rel_ids(package, main))
    found = []
    for sheet in root.iter(S + "sheet"):
        target = targets.get(sheet.get(R + "id", ""))
        if target:
            found.append((sheet.get("name", ""), target))
    return found or [(posixpath.basename(n)[:-4], n) for n in _numbered(package.names, r"xl/worksheets/sheet\d+\.xml")]


def _rel_ids(package: _Package, part: str) -> list[tuple[str, str]]:
    folder, base = posixpath.split(part)
    root = package.xml(posixpath.join(folder, "_rels", base + ".rels"))
    if root is None:
        return []
    pairs = []
    for rel in root.iter(PKG_REL):
        target = rel.get("Target", "")
        absolute = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
        pairs.append((rel.get("Id", ""), absolute))
    return pairs


def _shared_strings(package: _Package, main: str) -> list[str]:
    name = next((t for rtype, t in package.rels(main) if rtype.endswith("/sharedStrings")), "xl/sharedStrings.xml")
    data = package.read(name)
    if data is None:
        return []
    strings = []
    for _, si in etree.iterparse(io.BytesIO(data), events=("end",), tag=S + "si", resolve_entities=False,
                                 no_network=True):
        strings.append(_rich_text(si))
        _release(si)
    return strings


def _rich_text(el: etree._Element) -> str:
    """Text of an <si>/<is>: its <t> runs, without the furigana (<rPh>) Excel stores next to them."""
    if len(el) == 1 and el[0].tag == _T:  # the common case: one plain run
        return el[0].text or ""
    return "".join(t.text or "" for t in el.iter(_T) if t.getparent().tag != _RPH)


_T, _RPH = S + "t", S + "rPh"
_HF = {S + "oddHeader": "header", S + "evenHeader": "header", S + "firstHeader": "header",
       S + "oddFooter": "footer", S + "evenFooter": "footer", S + "firstFooter": "footer"}


#: whether :func:`_sheet_text` may use the compiled reader (tests turn it off to compare with the lxml one)
COMPILED_SHEETS = True


def _sheet_text(data: bytes, strings: list[str], path: str) -> tuple[str, str, str]:
    """(rows, header, footer) of one worksheet, streamed so a large sheet does not become a large tree.

    The C extension ``himitsu.engine._xlsx`` reads the sheet in one pass when it is built and
    ``COMPILED_SHEETS`` is set; it gives exactly what :func:`_sheet_text_lxml` gives, and hands back to it
    (None) whatever it does not handle exactly - damaged XML among others, which then raises ``Corrupt``."""
    if COMPILED_SHEETS and _xlsx_c is not None:
        found = _xlsx_c.sheet_text(data, strings)
        if found is not None:
            rows, headers, footers = found
            return (rows, _unique_lines([_header_footer(h) for h in headers]),
                    _unique_lines([_header_footer(f) for f in footers]))
    return _sheet_text_lxml(data, strings, path)


def _sheet_text_lxml(data: bytes, strings: list[str], path: str) -> tuple[str, str, str]:
    """:func:`_sheet_text` through lxml's ``iterparse``: the reference, and the fallback of the C reader."""
    lines: list[str] = []
    row: list[str] = []
    hf: dict[str, list[str]] = {"header": [], "footer": []}
    cell_tag, row_tag = S + "c", S + "row"
    try:
        for _, el in etree.iterparse(io.BytesIO(data), events=("end",), tag=(cell_tag, row_tag, *_HF),
                                     resolve_entities=False, no_network=True):
            tag = el.tag
            if tag == cell_tag:
                value = _cell(el, strings)
                if value:
                    row.append(value)
            elif tag == row_tag:
                if row:
                    lines.append("\t".join(row))
                    row = []
                _release(el)
            else:
                hf[_HF[tag]].append(_header_footer(el.text or ""))
    except etree.XMLSyntaxError as exc:
        raise Corrupt(f"{path}: {exc}") from exc
    if row:
        lines.append("\t".join(row))
    return "\n".join(lines), _unique_lines(hf["header"]), _unique_lines(hf["footer"])


def _unique_lines(values: list[str]) -> str:
    return "\n".join(dict.fromkeys(v for v in values if v))


def _release(el: etree._Element) -> None:
    el.clear(keep_tail=False)
    parent = el.getparent()
    while parent is not None and el.getprevious() is not None:
        del parent[0]


_V, _IS = S + "v", S + "is"


def _cell(c: etree._Element, strings: list[str]) -> str:
    """Displayable value of a <c>: shared/inline strings, booleans, numbers (``42.0`` -> ``42``)."""
    kind = c.get("t")
    for child in c:
        tag = child.tag
        if tag == _V:
            value = child.text or ""
            if kind == "s":
                return strings[int(value)] if value.isdigit() and int(value) < len(strings) else ""
            if kind == "b":
                return "TRUE" if value == "1" else "FALSE"
            if value.endswith(".0") and value[:-2].lstrip("-").isdigit():
                return value[:-2]
            return value
        if tag == _IS:
            return _rich_text(child)
    return ""


def _header_footer(code: str) -> str:
    """``&L&"ＭＳ ゴシック"極秘&R&P / &N`` -> ``極秘  /`` (formatting codes removed, sections on one line)."""
    text = _HF_CODES.sub(lambda m: " " if m.group()[1:] in ("L", "C", "R") else "", code.replace("&&", "\x00"))
    return " ".join(text.replace("\x00", "&").split())


def _pptx(package: _Package, main: str) -> TextPart:
    builder = _Builder()
    slides = _slides(package, main)
    notes: list[str] = []
    for number, slide in enumerate(slides, start=1):
        package.ctx.check_time(package.path)
        root = package.xml(slide)
        if root is None:
            continue
        first = True
        for kind, text in _shapes(root):
            builder.add(text, kind, sep="\f" if first and number > 1 else "\n")
            first = first and not text
        notes.extend(_notes(package, slide))
    for text in notes:
        builder.add(text, "body")
    return builder.part(package.path, "pptx", slides=len(slides))


def _slides(package: _Package, main: str) -> list[str]:
    root = package.xml(main)
    targets = dict(_rel_ids(package, main))
    ordered = []
    if root is not None:
        for sld in root.iter(P + "sldId"):
            target = targets.get(sld.get(R + "id", ""))
            if target and target in package.names:
                ordered.append(target)
    return ordered or _numbered(package.names, r"ppt/slides/slide\d+\.xml")


def _notes(package: _Package, slide: str) -> list[str]:
    found = []
    for rtype, target in package.rels(slide):
        if rtype.endswith("/notesSlide"):
            root = package.xml(target)
            if root is not None:
                found.extend(text for kind, text in _shapes(root, skip=("sldNum", "sldImg", "hdr", "ftr", "dt")))
    return found


_PH_REGION = {"ftr": "footer", "hdr": "header"}


def _shapes(root: etree._Element, skip: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """(region, text) of each shape and table of a slide, in document order."""
    for shape in root.iter(P + "sp", P + "graphicFrame"):
        ph = shape.find(f"{P}nvSpPr/{P}nvPr/{P}ph")
        ph_type = ph.get("type", "body") if ph is not None else ""
        if ph_type in skip:
            continue
        text = drawing_text(shape)
        if text:
            yield _PH_REGION.get(ph_type, "body"), text


def drawing_text(el: etree._Element) -> str:
    """Text of DrawingML paragraphs under ``el`` (shapes, tables), one paragraph or table row per line."""
    out: list[str] = []
    for node in el.iter(A + "p", A + "t", A + "br", A + "tc", A + "tr"):
        tag = node.tag
        if tag == A + "t":
            out.append(node.text or "")
        elif tag == A + "br":
            out.append("\n")
        elif not out:
            continue
        elif tag == A + "tr":
            out.append("\n")
        elif tag == A + "tc":
            if out[-1] != "\n":
                out.append("\t")
        elif out[-1] not in ("\t", "\n"):
            out.append("\n")
    return "".join(out).strip()


def _embeddings(package: _Package) -> Iterator[Item]:
    """Files embedded in the package, yielded as children named by their part name."""
    members = [info for info in package.zf.infolist()
               if not info.is_dir() and "/embeddings/" in info.filename]
    if not members or not package.ctx.can_descend(package.path):
        return
    for info in members:
        data = read_member(package.zf, info, join(package.path, info.filename), package.ctx)
        if data is not None:
            yield Child(info.filename, data)


# -- OLE2 -----------------------------------------------------------------------------------------


def _ole(data: bytes, name: str) -> Iterator[Item]:
    try:
        info = ole.classify(data)
    except Exception as exc:
        legacy = LEGACY_EXTENSIONS.get(extension(name))
        if legacy:
            raise Unsupported(legacy) from exc
        raise Corrupt(f"ole2: {exc}") from exc
    if info.kind == "encrypted-office":
        raise Encrypted("office")
    if info.kind in ("doc", "xls", "ppt"):
        raise Encrypted(info.kind) if info.encrypted else Unsupported(info.kind)
    if info.kind == "package":
        yield Child("Package", ole.stream(data, "Package"))
    elif info.kind == "ole10native":
        yield Child(*ole.ole10native(ole.stream(data, "\x01Ole10Native")))
    else:
        raise Unsupported(info.kind)


# -- OpenDocument ---------------------------------------------------------------------------------


def _is_odf(data: bytes) -> bool:
    return data[30:38] == b"mimetype" and b"application/vnd.oasis.opendocument" in data[38:120]


def _odf(package: _Package) -> Iterator[Item]:
    manifest = package.read("META-INF/manifest.xml") or b""
    if b"encryption-data" in manifest:
        raise Encrypted("office")
    mimetype = (package.read("mimetype") or b"").decode("ascii", errors="replace")
    fmt = {"text": "odt", "spreadsheet": "ods", "presentation": "odp"}.get(
        mimetype.rsplit(".", 1)[-1].split("-")[0], "odf")
    builder = _Builder()
    styles = package.xml("styles.xml")
    for kind in ("header", "footer"):
        if styles is not None:
            for el in styles.iter(STYLE + kind, STYLE + kind + "-left", STYLE + kind + "-first"):
                builder.add(odf_text(el).strip(), kind)
    content = package.xml("content.xml")
    if content is None:
        raise Corrupt(f"{fmt}: no content.xml")
    body = content.find(OFFICE + "body")
    builder.add(odf_text(body if body is not None else content).strip(), "body")
    yield builder.part(package.path, fmt)


_ODF_BREAK = {TEXT + "p": "\n", TEXT + "h": "\n", TABLE + "table-row": "\n", TABLE + "table-cell": "\t",
              TEXT + "list-item": "", "{urn:oasis:names:tc:opendocument:xmlns:drawing:1.0}page": "\f"}


def odf_text(el: etree._Element) -> str:
    out: list[str] = []
    _odf_walk(el, out)
    return "".join(out)


def _odf_walk(el: etree._Element, out: list[str]) -> None:
    tag = el.tag
    if tag == TEXT + "s":
        out.append(" " * int(el.get(TEXT + "c", "1") or 1))
    elif tag == TEXT + "tab":
        out.append("\t")
    elif tag == TEXT + "line-break":
        out.append("\n")
    elif el.text and isinstance(tag, str):
        out.append(el.text)
    for child in el:
        _odf_walk(child, out)
        if child.tail:
            out.append(child.tail)
    if tag in _ODF_BREAK:
        out.append(_ODF_BREAK[tag])
