"""Rich Text Format (WordPad's default, Word's "save as RTF") to text, with header/footer regions.

Handles ``\\'hh`` bytes in the document code page (``\\ansicpg932``) or the current font's charset
(``\\fcharset128`` -> CP932), ``\\uN`` with ``\\ucN`` fallback skipping, paragraph/line/tab/cell/row
breaks, and skips destinations that are not text (font and colour tables, styles, pictures, embedded
object data, field instructions, ``{\\*...}``). Used by the office extractor; nothing is executed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(rb"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?|\\'([0-9a-fA-F]{2})|\\([^a-zA-Z'])|([{}])"
                    rb"|([^\\{}\r\n]+)|[\r\n]+")
_SKIP = {b"fonttbl", b"colortbl", b"stylesheet", b"info", b"pict", b"objdata", b"themedata", b"colorschememapping",
         b"latentstyles", b"datastore", b"xmlnstbl", b"listtable", b"listoverridetable", b"rsidtbl", b"generator",
         b"filetbl", b"revtbl", b"pgdsctbl", b"fldinst", b"bkmkstart", b"bkmkend", b"pntext", b"pntxta",
         b"pntxtb", b"listtext", b"mmathPict", b"shppict", b"nonshppict", b"blipuid", b"bin", b"fchars", b"lchars"}
_REGIONS = {b"header": "header", b"headerl": "header", b"headerr": "header", b"headerf": "header",
            b"footer": "footer", b"footerl": "footer", b"footerr": "footer", b"footerf": "footer"}
_BREAKS = {b"par": "\n", b"line": "\n", b"sect": "\n", b"page": "\n", b"tab": "\t", b"cell": "\t", b"row": "\n",
           b"emdash": "\u2014", b"endash": "\u2013", b"bullet": "\u2022", b"lquote": "\u2018", b"rquote": "\u2019",
           b"ldblquote": "\u201c", b"rdblquote": "\u201d", b"emspace": "\u2003", b"enspace": "\u2002"}
_SYMBOLS = {b"~": "\u00a0", b"_": "-", b"{": "{", b"}": "}", b"\\": "\\", b"-": ""}
_CHARSETS = {0: "cp1252", 128: "cp932", 129: "cp949", 134: "gbk", 136: "big5", 161: "cp1253", 162: "cp1254",
             177: "cp1255", 178: "cp1256", 186: "cp1257", 204: "cp1251", 222: "cp874", 238: "cp1250"}


@dataclass
class _Group:
    skip: bool = False
    region: str = "body"
    uc: int = 1
    font: int = -1
    fresh: bool = True


@dataclass
class _State:
    codepage: str = "cp1252"
    fonts: dict[int, str] = field(default_factory=dict)
    stack: list[_Group] = field(default_factory=lambda: [_Group()])
    pending: bytearray = field(default_factory=bytearray)
    skip_chars: int = 0
    chunks: list[tuple[str, str]] = field(default_factory=list)  # (region, text)
    font_number: int = -1

    @property
    def group(self) -> _Group:
        return self.stack[-1]

    def encoding(self) -> str:
        return self.fonts.get(self.group.font, self.codepage)

    def emit(self, text: str) -> None:
        self.flush()
        if not self.group.skip and text:
            self.chunks.append((self.group.region, text))

    def flush(self) -> None:
        if self.pending:
            try:
                text = bytes(self.pending).decode(self.encoding(), errors="replace")
            except LookupError:  # a code page Python does not know
                text = bytes(self.pending).decode("cp1252", errors="replace")
            self.pending.clear()
            if not self.group.skip:
                self.chunks.append((self.group.region, text))


def is_rtf(data: bytes) -> bool:
    return data[:5] == b"{\\rtf"


def rtf_regions(data: bytes) -> list[tuple[str, str]]:
    """(region, text) runs of an RTF document in order; region is "body", "header" or "footer"."""
    state = _State()
    for match in _TOKEN.finditer(data):
        word, arg, hexbyte, symbol, brace, text = match.groups()
        if brace is not None:
            _brace(state, brace)
        elif word is not None:
            _control(state, word, int(arg) if arg else None)
        elif hexbyte is not None:
            _byte(state, int(hexbyte, 16))
        elif symbol is not None:
            _symbol(state, symbol)
        elif text is not None:
            _text(state, text)
    state.flush()
    return _merge(state.chunks)


def _brace(state: _State, brace: bytes) -> None:
    state.flush()
    if brace == b"{":
        parent = state.group
        state.stack.append(_Group(parent.skip, parent.region, parent.uc, parent.font))
    elif len(state.stack) > 1:
        state.stack.pop()
    state.skip_chars = 0


def _control(state: _State, word: bytes, arg: int | None) -> None:
    group = state.group
    fresh, group.fresh = group.fresh, False
    if fresh and word in _SKIP:
        state.flush()
        group.skip = True
        if word == b"fonttbl":
            group.region = "fonttbl"
        return
    if group.region == "fonttbl":
        _font_table(state, word, arg)
        return
    if word in _REGIONS:
        state.flush()
        group.region = _REGIONS[word]
    elif word == b"ansicpg" and arg:
        state.codepage = f"cp{arg}"
    elif word == b"uc" and arg is not None:
        group.uc = arg
    elif word == b"u" and arg is not None:
        state.emit(chr(arg % 65536))
        state.skip_chars = group.uc
    elif word == b"f" and arg is not None:
        state.flush()
        group.font = arg
    elif word in _BREAKS:
        state.emit(_BREAKS[word])


def _font_table(state: _State, word: bytes, arg: int | None) -> None:
    if word == b"f" and arg is not None:
        state.font_number = arg
    elif word == b"fcharset" and arg in _CHARSETS and state.font_number >= 0:
        state.fonts[state.font_number] = _CHARSETS[arg]


def _byte(state: _State, value: int) -> None:
    state.group.fresh = False
    if state.skip_chars:
        state.skip_chars -= 1
        return
    state.pending.append(value)


def _symbol(state: _State, symbol: bytes) -> None:
    group = state.group
    if symbol == b"*" and group.fresh:
        state.flush()
        group.skip = True
        return
    group.fresh = False
    if symbol in _SYMBOLS:
        state.emit(_SYMBOLS[symbol])


def _text(state: _State, text: bytes) -> None:
    state.group.fresh = False
    if state.skip_chars:
        dropped = min(state.skip_chars, len(text))
        text = text[dropped:]
        state.skip_chars -= dropped
    if text:
        state.pending.extend(text)


def _merge(chunks: list[tuple[str, str]]) -> list[tuple[str, str]]:
    merged: list[tuple[str, str]] = []
    for region, text in chunks:
        if merged and merged[-1][0] == region:
            merged[-1] = (region, merged[-1][1] + text)
        else:
            merged.append((region, text))
    return [(region, text.strip()) for region, text in merged if text.strip()]


# -- compressed RTF (MS-OXRTFCP): the body Outlook keeps in PR_RTF_COMPRESSED when a message has no plain text ----

#: the dictionary's initial contents, from the format's specification
_PREBUF = (b"{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript "
           b"\\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par "
           b"\\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx")
_COMPRESSED, _UNCOMPRESSED = 0x75465A4C, 0x414C454D  # "LZFu", "MELA"


class CompressedRtfError(ValueError):
    """The data is not compressed RTF, or it is damaged (sizes or CRC disagree)."""


def _crc(data: bytes) -> int:
    """The format's CRC-32: the usual polynomial, initial value 0, no final inversion."""
    import zlib

    return zlib.crc32(data, 0xFFFFFFFF) ^ 0xFFFFFFFF


def decompress(data: bytes, max_size: int) -> bytes:
    """The RTF inside a PR_RTF_COMPRESSED value. Raises CompressedRtfError on damaged data or when the declared or
    produced size exceeds ``max_size``."""
    if len(data) < 16:
        raise CompressedRtfError("shorter than its header")
    comp_size, raw_size, kind, crc = (int.from_bytes(data[i:i + 4], "little") for i in range(0, 16, 4))
    if raw_size > max_size:
        raise CompressedRtfError(f"declares {raw_size} bytes, more than the limit {max_size}")
    if kind == _UNCOMPRESSED:
        return data[16:16 + raw_size]
    if kind != _COMPRESSED:
        raise CompressedRtfError("unknown compression type")
    body = data[16:4 + comp_size] if comp_size >= 12 else b""
    if len(body) != comp_size - 12:
        raise CompressedRtfError("truncated")
    if _crc(body) != crc:
        raise CompressedRtfError("CRC mismatch")
    window = bytearray(4096)
    window[:len(_PREBUF)] = _PREBUF
    write = len(_PREBUF)
    out = bytearray()
    i = 0
    while i < len(body):
        control = body[i]
        i += 1
        for bit in range(8):
            if i >= len(body):
                break
            if not control & (1 << bit):  # a literal byte
                window[write] = body[i]
                out.append(body[i])
                write = (write + 1) & 0xFFF
                i += 1
                continue
            if i + 1 >= len(body):
                raise CompressedRtfError("truncated reference")
            ref = (body[i] << 8) | body[i + 1]
            i += 2
            offset, length = ref >> 4, (ref & 0xF) + 2
            if offset == write:  # the end marker
                return bytes(out)
            for _ in range(length):
                byte = window[offset]
                window[write] = byte
                out.append(byte)
                offset, write = (offset + 1) & 0xFFF, (write + 1) & 0xFFF
            if len(out) > max_size:
                raise CompressedRtfError(f"unpacks to more than the limit {max_size}")
    return bytes(out)
