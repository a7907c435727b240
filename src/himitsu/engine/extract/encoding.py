"""Character encodings of Japanese and English text: detected, not assumed.

Order: byte-order marks (UTF-8, UTF-16, UTF-32); binary check (NUL and control bytes); ISO-2022-JP when
escape sequences are present in 7-bit data (with a Microsoft CP50220-style fallback for NEC/IBM
extensions such as ①); ASCII; strict UTF-8; strict CP932 and EUC-JP (a truncated last character is
tolerated), ties broken by how Japanese the result looks and then by charset-normalizer; finally
charset-normalizer's guess, or a lossy decode that is reported.

Encoding names reported: ``ascii``, ``utf-8``, ``utf-8-sig``, ``utf-16-le``, ``utf-16-be``, ``utf-32-le``,
``utf-32-be``, ``iso-2022-jp``, ``cp932`` (Shift_JIS and its Windows superset), ``euc-jp``, or another
Python codec name that charset-normalizer proposed.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes

#: Bytes looked at by the binary check and the statistical tie-breakers.
SAMPLE = 256 * 1024
#: More than this share of control bytes (other than tab, newlines, form feed, escape) means binary.
MAX_CONTROL_SHARE = 0.02
#: A lossy decode is accepted when at most this share of characters had to be replaced.
MAX_LOSSY_SHARE = 0.01

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13, 27)) + b"\x7f"
_NOT_CONTROL = bytes(b for b in range(256) if b not in _CONTROL)
_ISO2022_ESC = re.compile(rb"\x1b(?:\$[@B]|\$\(D|\(B|\(J|\(I)")
_ALIASES = {
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932", "ms_kanji": "cp932",
    "windows-31j": "cp932", "cp932": "cp932", "ms932": "cp932", "csshiftjis": "cp932",
    "euc-jp": "euc-jp", "euc_jp": "euc-jp", "x-euc-jp": "euc-jp", "eucjp": "euc-jp",
    "iso-2022-jp": "iso-2022-jp", "iso2022_jp": "iso-2022-jp", "csiso2022jp": "iso-2022-jp",
    "iso-2022-jp-2": "iso-2022-jp", "iso-2022-jp-ms": "iso-2022-jp", "cp50220": "iso-2022-jp",
    "cp50221": "iso-2022-jp", "cp50222": "iso-2022-jp",
    "utf-8": "utf-8", "utf8": "utf-8", "us-ascii": "ascii", "ascii": "ascii",
    "unicode-1-1-utf-7": "utf-7",
}
_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff\u3000-\u303f\uff01-\uff5e]")
_HALFWIDTH_KANA = re.compile(r"[\uff66-\uff9f]")
_ODD = re.compile(r"[\uff61-\uff65\ue000-\uf8ff\u0080-\u009f\ufffd]")


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str
    replaced: int = 0  # characters that could not be decoded and became U+FFFD


def decode_text(data: bytes) -> Decoded | None:
    """Decode bytes of unknown encoding; None when they look like binary rather than text."""
    for bom, enc in _BOMS:
        if data.startswith(bom):
            return _lossy(data[len(bom):], "utf-8" if enc == "utf-8-sig" else enc, enc)
    if looks_binary(data):
        return _utf16_without_bom(data)
    if b"\x1b" in data and _ISO2022_ESC.search(data) and data.isascii():
        text = decode_iso2022jp(data)
        if text is not None:
            return Decoded(text, "iso-2022-jp")
    if data.isascii():
        return Decoded(data.decode("ascii"), "ascii")
    text = _strict(data, "utf-8")
    if text is not None:
        return Decoded(text, "utf-8")
    return _japanese_or_guess(data)


def decode_declared(data: bytes, charset: str | None) -> Decoded | None:
    """Decode with a declared charset (a MIME or meta tag), falling back to detection when the
    declaration is missing, unknown or wrong (strict decoding fails)."""
    enc = normalize_charset(charset)
    if enc == "iso-2022-jp":
        text = decode_iso2022jp(data)
        if text is not None:
            return Decoded(text, enc)
    elif enc:
        text = _strict(data, _codec(enc))
        if text is not None:
            return Decoded(text, enc)
    return decode_text(data)


def normalize_charset(charset: str | None) -> str | None:
    """Our name for a declared charset, or None when Python has no codec for it."""
    if not charset:
        return None
    name = charset.strip().strip("\"'").lower()
    if name in _ALIASES:
        return _ALIASES[name]
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def looks_binary(data: bytes) -> bool:
    """NUL bytes or more than ``MAX_CONTROL_SHARE`` control bytes in the first ``SAMPLE`` bytes."""
    sample = data[:SAMPLE]
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    controls = len(sample.translate(None, _NOT_CONTROL))
    return controls > MAX_CONTROL_SHARE * len(sample)


def decode_iso2022jp(data: bytes) -> str | None:
    """ISO-2022-JP (RFC 1468) and its common extensions; falls back to a CP50220-style decoder that maps
    JIS X 0208 rows through CP932, so NEC special characters (①, ㈱) and half-width kana come out."""
    for codec in ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2", "iso2022_jp_3"):
        text = _strict(data, codec)
        if text is not None:
            return text
    try:
        return _iso2022jp_ms(data)
    except (UnicodeDecodeError, ValueError):
        return None


# -- internals ------------------------------------------------------------------------------------


def _codec(enc: str) -> str:
    return {"euc-jp": "euc_jp", "iso-2022-jp": "iso2022_jp"}.get(enc, enc)


def _strict(data: bytes, codec: str) -> str | None:
    """Strict decode that tolerates an incomplete last character (a file cut mid-character)."""
    try:
        decoder = codecs.getincrementaldecoder(codec)("strict")
        text = decoder.decode(data, final=False)
    except (UnicodeDecodeError, LookupError):
        return None
    pending = decoder.getstate()[0]
    return text if len(pending) <= 3 else None


def _lossy(data: bytes, codec: str, name: str) -> Decoded:
    text = data.decode(codec, errors="replace")
    replaced = text.count("\ufffd") if "\ufffd" in text else 0
    return Decoded(text, name, replaced)


def _utf16_without_bom(data: bytes) -> Decoded | None:
    """UTF-16 without a byte-order mark: NULs in every other byte of mostly-ASCII or Japanese text."""
    sample = data[:SAMPLE] if len(data) > SAMPLE else data
    sample = sample[: len(sample) // 2 * 2]
    if len(sample) < 4:
        return None
    for codec in ("utf-16-le", "utf-16-be"):
        text = _strict(sample, codec)
        if text is not None and _printable_share(text) > 0.95:
            return _lossy(data[: len(data) // 2 * 2], codec, codec)
    return None


def _printable_share(text: str) -> float:
    if not text:
        return 0.0
    printable = sum(1 for ch in text if ch.isprintable() or ch in "\t\r\n\f")
    return printable / len(text)


def _japanese_score(text: str) -> float:
    """Share of Japanese characters, minus half-width kana (a little) and half-width punctuation,
    private-use characters and C1 controls (a lot): EUC-JP read as CP932 turns hiragana (A4xx) and
    katakana (A5xx) into ``､`` / ``･`` plus half-width kana; CP932 read as EUC-JP mostly fails outright."""
    if not text:
        return 0.0
    good = len(_JAPANESE.findall(text))
    return (good - 0.5 * len(_HALFWIDTH_KANA.findall(text)) - 5 * len(_ODD.findall(text))) / len(text)


def _japanese_or_guess(data: bytes) -> Decoded | None:
    candidates = {enc: text for enc in ("cp932", "euc-jp") if (text := _strict(data, _codec(enc))) is not None}
    if len(candidates) == 1:
        enc, text = next(iter(candidates.items()))
        return Decoded(text, enc)
    if len(candidates) == 2:
        enc = _tie_break(data, candidates)
        return Decoded(candidates[enc], enc)
    return _guess(data)


def _tie_break(data: bytes, candidates: dict[str, str]) -> str:
    scores = {enc: _japanese_score(text[: SAMPLE // 2]) for enc, text in candidates.items()}
    best = max(scores, key=lambda e: scores[e])
    other = min(scores, key=lambda e: scores[e])
    if scores[best] - scores[other] > 0.05:
        return best
    guess = _normalizer_guess(data, ["cp932", "euc_jp"])
    return guess if guess in candidates else "cp932"


def _normalizer_guess(data: bytes, isolation: list[str] | None = None) -> str | None:
    best = from_bytes(data[:SAMPLE], cp_isolation=isolation).best()
    if best is None:
        return None
    return normalize_charset(best.encoding)


def _guess(data: bytes) -> Decoded | None:
    """No Japanese or Unicode encoding decodes strictly: charset-normalizer, else the least lossy."""
    guess = _normalizer_guess(data)
    if guess and guess not in ("cp932", "euc-jp", "utf-8"):
        text = _strict(data, _codec(guess))
        if text is not None and _printable_share(text[:SAMPLE]) > 0.95:
            return Decoded(text, guess)
    best = min((_lossy(data, _codec(enc), enc) for enc in ("utf-8", "cp932", "euc-jp")),
               key=lambda d: d.replaced)
    if best.replaced <= MAX_LOSSY_SHARE * max(1, len(best.text)):
        return best
    return None


_JIS_MODES = {b"\x1b(B": "ascii", b"\x1b(J": "ascii", b"\x1b(I": "kana", b"\x1b$@": "jis",
              b"\x1b$B": "jis", b"\x1b$(D": "jis0212"}


def _iso2022jp_ms(data: bytes) -> str:
    """Decode ISO-2022-JP segment by segment; JIS X 0208 goes through Shift_JIS/CP932."""
    out: list[str] = []
    mode = "ascii"
    pos = 0
    for match in _ISO2022_ESC.finditer(data):
        out.append(_jis_segment(data[pos:match.start()], mode))
        mode = _JIS_MODES[match.group()]
        pos = match.end()
    out.append(_jis_segment(data[pos:], mode))
    return "".join(out)


def _jis_segment(seg: bytes, mode: str) -> str:
    if not seg or mode == "ascii":
        return seg.decode("ascii")
    if mode == "kana":
        return bytes(b | 0x80 for b in seg).decode("cp932")
    if mode == "jis0212":
        return b"".join(b"\x8f" + bytes((seg[i] | 0x80, seg[i + 1] | 0x80))
                        for i in range(0, len(seg) - 1, 2)).decode("euc_jp")
    return _jis0208_to_sjis(seg).decode("cp932")


def _jis0208_to_sjis(seg: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(seg):
        j1 = seg[i]
        if j1 in (0x0A, 0x0D):  # a stray line break inside a double-byte run
            out.append(j1)
            i += 1
            continue
        if i + 1 >= len(seg):
            raise ValueError("odd byte in JIS X 0208 segment")
        j2 = seg[i + 1]
        s1 = ((j1 + 1) >> 1) + (0x70 if j1 <= 0x5E else 0xB0)
        if j1 & 1:
            s2 = j2 + 0x1F + (1 if j2 >= 0x60 else 0)
        else:
            s2 = j2 + 0x7E
        out += bytes((s1, s2))
        i += 2
    return bytes(out)
