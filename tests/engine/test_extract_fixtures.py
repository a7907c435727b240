"""Builders for extraction test inputs, written from scratch so no fixture file is checked in.

* ``cfb`` writes a Compound File Binary (OLE2) container - enough for Outlook .msg, legacy .doc/.xls
  and password-protected OOXML wrappers; ``msg`` builds an Outlook message on top of it;
* ``docx`` / ``pptx`` write minimal OOXML packages by hand, ``xlsx`` uses openpyxl;
* ``pdf_with_text`` prints HTML to PDF with Debian's Chromium (cached per session by the tests);
  ``encrypted_pdf`` writes a minimal PDF with a Standard security handler dictionary;
* ``zip_with_cp932_names`` stores member names in CP932 without the UTF-8 flag, as Windows does.

The tests at the bottom check the builders themselves against the readers they imitate.
"""

from __future__ import annotations

import io
import math
import random
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

from tests.corpus import CORPUS as SHARED_CORPUS

CORPUS = SHARED_CORPUS / "library"
CHROMIUM = Path("/usr/bin/chromium")

# -- corpus ---------------------------------------------------------------------------------------


def corpus_text(name: str = "abc.txt", lang: str = "ja", chars: int | None = None) -> str:
    """A real Japanese (or English) documentation text; a fixed stand-in when the corpus is absent."""
    path = CORPUS / lang / name
    if path.exists():
        text = path.read_text(encoding="utf-8")
    else:  # pragma: no cover - the corpus is part of the shared workspace
        text = "このモジュールは抽象基底クラスを定義する基盤を提供します。営業秘密の管理について説明します。\n" * 50
    return text if chars is None else text[:chars]


def corpus_texts(lang: str = "ja", limit: int = 50) -> list[str]:
    folder = CORPUS / lang
    files = sorted(folder.glob("*.txt"))[:limit] if folder.exists() else []
    return [f.read_text(encoding="utf-8") for f in files] or [corpus_text()]


def encodable(text: str, encodings: tuple[str, ...] = ("cp932", "euc_jp", "iso2022_jp", "shift_jis")) -> str:
    """``text`` without the characters one of ``encodings`` cannot represent (round-trip tests)."""
    keep = []
    for ch in text:
        try:
            for enc in encodings:
                ch.encode(enc)
        except UnicodeEncodeError:
            continue
        keep.append(ch)
    return "".join(keep)


# -- OLE2 / Compound File Binary ------------------------------------------------------------------

SECTOR, MINI, CUTOFF = 512, 64, 4096
END, FREE, FATSECT, NOSTREAM = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF

Tree = dict[str, "bytes | Tree"]


def cfb(tree: Tree) -> bytes:
    """A version-3 compound file holding ``tree`` (``{name: bytes | {sub-tree}}``), as olefile reads it."""
    entries: list[dict] = []

    def add(name: str, node: bytes | Tree, kind: int) -> int:
        index = len(entries)
        entry = {"name": name, "kind": kind, "left": NOSTREAM, "right": NOSTREAM, "child": NOSTREAM,
                 "data": node if isinstance(node, bytes) else None, "start": END, "size": 0}
        entries.append(entry)
        if isinstance(node, dict):
            kids = [add(k, v, 2 if isinstance(v, bytes) else 1)
                    for k, v in sorted(node.items(), key=lambda kv: (len(kv[0]), kv[0].upper()))]
            if kids:
                entry["child"] = kids[0]
                for a, b in zip(kids, kids[1:], strict=False):
                    entries[a]["right"] = b
        return index

    add("Root Entry", tree, 5)
    fat: list[int] = []
    body = bytearray()

    def alloc(data: bytes) -> int:
        count = math.ceil(len(data) / SECTOR)
        if count == 0:
            return END
        start = len(fat)
        fat.extend(range(start + 1, start + count))
        fat.append(END)
        body.extend(data.ljust(count * SECTOR, b"\x00"))
        return start

    mini = bytearray()
    minifat: list[int] = []
    for entry in entries:
        data = entry["data"]
        if data is None:
            continue
        entry["size"] = len(data)
        if len(data) >= CUTOFF:
            entry["start"] = alloc(data)
        elif data:
            count = math.ceil(len(data) / MINI)
            entry["start"] = len(minifat)
            minifat.extend(range(len(minifat) + 1, len(minifat) + count))
            minifat.append(END)
            mini.extend(data.ljust(count * MINI, b"\x00"))
    entries[0]["start"] = alloc(bytes(mini)) if mini else END
    entries[0]["size"] = len(mini)
    minifat_bytes = struct.pack(f"<{len(minifat)}I", *minifat)
    minifat_bytes += struct.pack("<I", FREE) * ((-len(minifat)) % (SECTOR // 4))
    minifat_start = alloc(minifat_bytes) if minifat else END
    directory = b"".join(_dir_entry(e) for e in entries)
    directory += _dir_entry(None) * ((-len(entries)) % 4)
    dir_start = alloc(directory)
    fat_sectors = 1
    while fat_sectors * 128 < len(fat) + fat_sectors:
        fat_sectors += 1
    fat_start = len(fat)
    fat.extend([FATSECT] * fat_sectors)
    fat.extend([FREE] * (fat_sectors * 128 - len(fat)))
    body.extend(struct.pack(f"<{len(fat)}I", *fat))
    difat = [fat_start + i for i in range(fat_sectors)] + [FREE] * (109 - fat_sectors)
    header = struct.pack("<8s16sHHHHH6sIIIIIIIII", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"\x00" * 16, 0x3E, 3,
                         0xFFFE, 9, 6, b"\x00" * 6, 0, fat_sectors, dir_start, 0, CUTOFF, minifat_start,
                         math.ceil(len(minifat_bytes) / SECTOR) if minifat else 0, END, 0)
    header += struct.pack("<109I", *difat)
    return header + bytes(body)


def _dir_entry(entry: dict | None) -> bytes:
    if entry is None:
        return b"\x00" * 64 + struct.pack("<HBBIII16sIQQIQ", 0, 0, 0, NOSTREAM, NOSTREAM, NOSTREAM, b"\x00" * 16,
                                          0, 0, 0, 0, 0)
    name = entry["name"].encode("utf-16-le")
    return name.ljust(64, b"\x00") + struct.pack(
        "<HBBIII16sIQQIQ", len(name) + 2, entry["kind"], 1, entry["left"], entry["right"], entry["child"],
        b"\x00" * 16, 0, 0, 0, entry["start"], entry["size"])


# -- Outlook .msg ---------------------------------------------------------------------------------

PT_INT, PT_STRING, PT_BINARY, PT_OBJECT = 0x0003, 0x001F, 0x0102, 0x000D


def _props(header: bytes, props: list[tuple[int, int, bytes | int]]) -> tuple[bytes, Tree]:
    stream = bytearray(header)
    subs: Tree = {}
    for pid, ptype, value in props:
        tag = (pid << 16) | ptype
        if ptype == PT_INT:
            stream += struct.pack("<IIII", tag, 6, int(value), 0)
        else:
            data = value if isinstance(value, bytes) else b""
            stream += struct.pack("<IIII", tag, 6, len(data), 0)
            subs[f"__substg1.0_{pid:04X}{ptype:04X}"] = data
    return bytes(stream), subs


def _message_tree(subject: str, body: str, attachments: list[tuple[str, bytes]], recipients: list[tuple[str, str]],
                  embedded: Tree | None, header_size: int, rtf_compressed: bytes | None = None) -> Tree:
    n_attach = len(attachments) + (1 if embedded else 0)
    header = b"\x00" * 8 + struct.pack("<IIII", len(recipients), n_attach, len(recipients), n_attach)
    header += b"\x00" * (header_size - len(header))
    stream, tree = _props(header, [
        (0x001A, PT_STRING, "IPM.Note".encode("utf-16-le")),
        (0x0037, PT_STRING, subject.encode("utf-16-le")),
        (0x1000, PT_STRING, body.encode("utf-16-le")),
        (0x0C1A, PT_STRING, "山田 太郎".encode("utf-16-le")),
        (0x0C1F, PT_STRING, b"y\x00a\x00m\x00a\x00d\x00a\x00@\x00e\x00x\x00.\x00j\x00p\x00"),
        *([(0x1009, PT_BINARY, rtf_compressed)] if rtf_compressed is not None else []),
    ])
    tree["__properties_version1.0"] = stream
    for i, (name, address) in enumerate(recipients):
        rstream, rtree = _props(b"\x00" * 8, [(0x3001, PT_STRING, name.encode("utf-16-le")),
                                             (0x39FE, PT_STRING, address.encode("utf-16-le")),
                                             (0x0C15, PT_INT, 1)])
        rtree["__properties_version1.0"] = rstream
        tree[f"__recip_version1.0_#{i:08X}"] = rtree
    for i, (name, data) in enumerate(attachments):
        astream, atree = _props(b"\x00" * 8, [(0x3705, PT_INT, 1), (0x3707, PT_STRING, name.encode("utf-16-le")),
                                             (0x3701, PT_BINARY, data)])
        atree["__properties_version1.0"] = astream
        tree[f"__attach_version1.0_#{i:08X}"] = atree
    if embedded is not None:
        astream, atree = _props(b"\x00" * 8, [(0x3705, PT_INT, 5)])
        atree["__properties_version1.0"] = astream
        atree["__substg1.0_3701000D"] = embedded
        tree[f"__attach_version1.0_#{len(attachments):08X}"] = atree
    return tree


def msg(subject: str, body: str, attachments: list[tuple[str, bytes]] = (), embedded: tuple[str, str] | None = None,
        recipients: list[tuple[str, str]] = (("佐藤 花子", "sato@example.jp"),),
        rtf_compressed: bytes | None = None) -> bytes:
    """An Outlook .msg with Unicode properties, attachments by value, optionally an attached message and a
    PR_RTF_COMPRESSED body."""
    inner = _message_tree(embedded[0], embedded[1], [], [], None, 24) if embedded else None
    return cfb(_message_tree(subject, body, list(attachments), list(recipients), inner, 32, rtf_compressed))


def lzfu(raw: bytes) -> bytes:
    """``raw`` as compressed RTF (MS-OXRTFCP): literals only, then the end marker; with its header and CRC."""
    import zlib

    tokens: list[int | None] = [*raw, None]  # None: the end marker, a reference to the write position
    body = bytearray()
    for i in range(0, len(tokens), 8):
        group, control, payload = tokens[i:i + 8], 0, bytearray()
        for bit, token in enumerate(group):
            if token is None:
                control |= 1 << bit
                payload += (((207 + len(raw)) & 0xFFF) << 4).to_bytes(2, "big")
            else:
                payload.append(token)
        body += bytes([control]) + payload
    crc = zlib.crc32(bytes(body), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return struct.pack("<IIII", len(body) + 12, len(raw), 0x75465A4C, crc) + bytes(body)


def legacy_doc(encrypted: bool = False) -> bytes:
    """A Word 97-2003 container: a WordDocument stream whose FIB says whether it is encrypted."""
    fib = struct.pack("<HHHHHH", 0xA5EC, 0x00C1, 0, 0x0411, 0, 0x0100 if encrypted else 0)
    return cfb({"WordDocument": fib.ljust(4096, b"\x00"), "1Table": b"\x00" * 512,
                "\x05SummaryInformation": b"\x00" * 64})


def legacy_xls(encrypted: bool = False) -> bytes:
    records = struct.pack("<HH", 0x0809, 16) + b"\x00" * 16
    if encrypted:
        records += struct.pack("<HH", 0x002F, 6) + b"\x00" * 6
    records += struct.pack("<HH", 0x000A, 0)
    return cfb({"Workbook": records.ljust(4096, b"\x00")})


def encrypted_ooxml() -> bytes:
    """What Office writes for a password-protected .docx/.xlsx: an OLE2 file, not a ZIP."""
    return cfb({"EncryptionInfo": b"\x04\x00\x04\x00\x40\x00\x00\x00" + b"\x00" * 200,
                "EncryptedPackage": random.Random(1).randbytes(5000),
                "\x06DataSpaces": {"Version": b"\x00" * 76}})


# -- OOXML ----------------------------------------------------------------------------------------

_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
_CT = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' \
      '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' \
      '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' \
      '<Default Extension="xml" ContentType="application/xml"/>{}</Types>'
_RELS = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' \
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{}</Relationships>'
_REL = '<Relationship Id="{}" Type="http://schemas.openxmlformats.org/{}" Target="{}"/>'


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _wml_paragraphs(paragraphs: list[str]) -> str:
    return "".join(f'<w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr>'
                   f'<w:r><w:t xml:space="preserve">{_esc(p)}</w:t></w:r></w:p>' for p in paragraphs)


def docx(paragraphs: list[str], header: str | None = None, footer: str | None = None,
         embeddings: dict[str, bytes] | None = None, extra_body: str = "") -> bytes:
    """A minimal Word document: body paragraphs, optional header/footer parts and embedded files."""
    buf = io.BytesIO()
    rels = [_REL.format("rId1", "officeDocument/2006/relationships/officeDocument", "word/document.xml")]
    doc_rels = []
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", _CT.format(
            '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'wordprocessingml.document.main+xml"/>'))
        zf.writestr("_rels/.rels", _RELS.format("".join(rels)))
        body = _wml_paragraphs(paragraphs) + extra_body
        zf.writestr("word/document.xml", f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                                         f'<w:document {_W}><w:body>{body}<w:sectPr/></w:body></w:document>')
        if header is not None:
            zf.writestr("word/header1.xml", f"<w:hdr {_W}>{_wml_paragraphs([header])}</w:hdr>")
            doc_rels.append(_REL.format("rId2", "officeDocument/2006/relationships/header", "header1.xml"))
        if footer is not None:
            zf.writestr("word/footer1.xml", f"<w:ftr {_W}>{_wml_paragraphs([footer])}</w:ftr>")
            doc_rels.append(_REL.format("rId3", "officeDocument/2006/relationships/footer", "footer1.xml"))
        zf.writestr("word/_rels/document.xml.rels", _RELS.format("".join(doc_rels)))
        for name, data in (embeddings or {}).items():
            zf.writestr(f"word/embeddings/{name}", data)
    return buf.getvalue()


_P = ('xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
      'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
      'xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"')


def _shape(text: str, ph: str | None = None) -> str:
    ph_xml = f'<p:ph type="{ph}"/>' if ph else ""
    paras = "".join(f"<a:p><a:r><a:t>{_esc(line)}</a:t></a:r></a:p>" for line in text.split("\n"))
    return (f'<p:sp><p:nvSpPr><p:cNvPr id="2" name="s"/><p:cNvSpPr/><p:nvPr>{ph_xml}</p:nvPr></p:nvSpPr>'
            f'<p:spPr/><p:txBody><a:bodyPr/>{paras}</p:txBody></p:sp>')


def pptx(slides: list[str], footer: str | None = None, notes: dict[int, str] | None = None) -> bytes:
    """A minimal presentation: one text shape per slide, an optional footer placeholder, speaker notes."""
    buf = io.BytesIO()
    notes = notes or {}
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", _CT.format(
            '<Override PartName="/ppt/presentation.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'presentationml.presentation.main+xml"/>'))
        zf.writestr("_rels/.rels", _RELS.format(
            _REL.format("rId1", "officeDocument/2006/relationships/officeDocument", "ppt/presentation.xml")))
        ids = "".join(f'<p:sldId id="{256 + i}" r:id="rId{i + 1}"/>' for i in range(len(slides)))
        zf.writestr("ppt/presentation.xml", f"<p:presentation {_P}><p:sldIdLst>{ids}</p:sldIdLst></p:presentation>")
        # slides listed in reverse part-name order to prove the presentation order is followed
        zf.writestr("ppt/_rels/presentation.xml.rels", _RELS.format("".join(
            _REL.format(f"rId{i + 1}", "officeDocument/2006/relationships/slide", f"slides/slide{len(slides) - i}.xml")
            for i in range(len(slides)))))
        for i, text in enumerate(slides):
            part = len(slides) - i
            shapes = _shape(text) + (_shape(footer, "ftr") if footer else "")
            zf.writestr(f"ppt/slides/slide{part}.xml",
                        f"<p:sld {_P}><p:cSld><p:spTree>{shapes}</p:spTree></p:cSld></p:sld>")
            if i in notes:
                zf.writestr(f"ppt/slides/_rels/slide{part}.xml.rels", _RELS.format(_REL.format(
                    "rId1", "officeDocument/2006/relationships/notesSlide", f"../notesSlides/notesSlide{part}.xml")))
                zf.writestr(f"ppt/notesSlides/notesSlide{part}.xml",
                            f"<p:notes {_P}><p:cSld><p:spTree>{_shape('1', 'sldNum')}{_shape(notes[i], 'body')}"
                            f"</p:spTree></p:cSld></p:notes>")
    return buf.getvalue()


def xlsx(sheets: dict[str, list[list[object]]], header: str | None = None, footer: str | None = None) -> bytes:
    """A workbook written by openpyxl (shared strings, numbers), with an optional page header/footer."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
        if header:
            ws.oddHeader.center.text = header
        if footer:
            ws.oddFooter.right.text = footer
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# -- ZIP ------------------------------------------------------------------------------------------


def zip_of(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def zip_with_cp932_names(members: dict[str, bytes]) -> bytes:
    """Member names stored as CP932 bytes without the UTF-8 flag (Windows Explorer's way)."""
    placeholders = {}
    for i, name in enumerate(members):
        raw = name.encode("cp932")
        assert len(raw) >= 5, "placeholder needs room"
        placeholders[name] = f"#{i:03d}".ljust(len(raw), "~").encode(), raw
    data = zip_of({placeholders[n][0].decode(): v for n, v in members.items()})
    for placeholder, raw in placeholders.values():
        data = data.replace(placeholder, raw)
    return data


def zip_with_encrypted_flag(members: dict[str, bytes], encrypted: set[str]) -> bytes:
    """A ZIP whose listed members carry general-purpose flag bit 0 (ZipCrypto) in both headers."""
    data = bytearray(zip_of(members, zipfile.ZIP_STORED))
    for signature, flag_offset, name_len_offset, header_len in ((b"PK\x03\x04", 6, 26, 30),
                                                                (b"PK\x01\x02", 8, 28, 46)):
        pos = data.find(signature)
        while pos >= 0:
            (name_len,) = struct.unpack_from("<H", data, pos + name_len_offset)
            name = bytes(data[pos + header_len: pos + header_len + name_len]).decode()
            if name in encrypted:
                (flags,) = struct.unpack_from("<H", data, pos + flag_offset)
                struct.pack_into("<H", data, pos + flag_offset, flags | 1)
            pos = data.find(signature, pos + 4)
    return bytes(data)


def zip_command_encrypted(tmp: Path, members: dict[str, bytes], password: str = "PPAP-pass") -> bytes | None:
    """``zip -P`` (Info-ZIP, traditional PKWARE encryption) as PPAP senders use it; None if zip is absent."""
    if shutil.which("zip") is None:
        return None
    folder = tmp / "plain"
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in members.items():
        (folder / name).write_bytes(data)
    out = tmp / "ppap.zip"
    subprocess.run(["zip", "-q", "-P", password, str(out), *members], cwd=folder, check=True, timeout=30)
    return out.read_bytes()


def zip_bomb(path: Path, size: int = 200 * 1024 * 1024) -> bytes:
    """``size`` bytes of zeros, deflated into a small ZIP (written in chunks, never held in memory)."""
    chunk = b"\x00" * (1024 * 1024)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("zeros.bin", "w", force_zip64=True) as fp:
            for _ in range(size // len(chunk)):
                fp.write(chunk)
    return path.read_bytes()


def nested_zip(depth: int, text: bytes = "最深部の秘密".encode()) -> bytes:
    """level1.zip contains level2.zip ... down to ``depth`` levels, with a text file at every level."""
    data = zip_of({"deepest.txt": text})
    for level in range(depth, 1, -1):
        data = zip_of({f"level{level}.zip": data, f"note{level - 1}.txt": f"level {level - 1}".encode()})
    return data


# -- PDF ------------------------------------------------------------------------------------------


def pdf_with_text(html: str, out_dir: Path) -> bytes | None:
    """HTML printed to PDF by Debian's Chromium; None when Chromium is not installed."""
    if not CHROMIUM.exists():
        return None
    src = out_dir / "page.html"
    src.write_text(html, encoding="utf-8")
    out = out_dir / "page.pdf"
    subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={out_dir / 'profile'}", f"--print-to-pdf={out}", src.as_uri()],
                   check=True, timeout=120, capture_output=True)
    return out.read_bytes()


def minimal_pdf(extra_trailer: str = "", objects: list[str] | None = None) -> bytes:
    """A one-page PDF built by hand with a correct cross-reference table."""
    objs = objects or [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{off:010d} 00000 n \n" for off in offsets).encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R {extra_trailer}>>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def encrypted_pdf() -> bytes:
    """A PDF with a Standard security handler whose user password is not empty (random /O and /U)."""
    rnd = random.Random(7)
    o_hex, u_hex = rnd.randbytes(32).hex(), rnd.randbytes(32).hex()
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
        f"<< /Filter /Standard /V 1 /R 2 /O <{o_hex}> /U <{u_hex}> /P -44 >>",
    ]
    file_id = rnd.randbytes(16).hex()
    return minimal_pdf(f"/Encrypt 4 0 R /ID [<{file_id}> <{file_id}>] ", objects)


# -- tests of the builders ------------------------------------------------------------------------


def test_cfb_is_read_by_olefile():
    import olefile

    big = bytes(range(256)) * 40
    data = cfb({"small": b"hello", "Big": big, "Sub": {"inner": b"x" * 100}})
    with olefile.OleFileIO(io.BytesIO(data)) as ole:
        assert ole.openstream("small").read() == b"hello"
        assert ole.openstream("Big").read() == big
        assert ole.openstream("Sub/inner").read() == b"x" * 100


def test_msg_is_read_by_python_oxmsg():
    from oxmsg import Message

    message = Message.load(msg("件名テスト", "本文です", [("a.txt", b"abc")]))
    assert message.subject == "件名テスト"
    assert message.body == "本文です"
    assert [a.file_name for a in message.attachments] == ["a.txt"]
    assert message.attachments[0].file_bytes == b"abc"


def test_cp932_zip_names_have_no_utf8_flag():
    data = zip_with_cp932_names({"営業秘密/顧客一覧.txt": b"x"})
    info = zipfile.ZipFile(io.BytesIO(data)).infolist()[0]
    assert not info.flag_bits & 0x800
    assert info.orig_filename.encode("cp437") == "営業秘密/顧客一覧.txt".encode("cp932")
