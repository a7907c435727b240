"""Plain text and HTML: every Japanese encoding is detected (not assumed) and round-trips."""

from __future__ import annotations

import codecs

import pytest

from himitsu.engine.extract import extract
from himitsu.engine.extract.encoding import decode_declared, decode_iso2022jp, decode_text
from tests.engine.test_extract_fixtures import corpus_text, encodable

JA = encodable(corpus_text("abc.txt", chars=3000))
SHORT = "営業秘密の管理規程：本資料は社外秘です。取扱注意。"


@pytest.mark.parametrize(("codec", "expected"), [
    ("utf-8", "utf-8"),
    ("utf-8-sig", "utf-8-sig"),
    ("utf-16", "utf-16-le"),  # Python writes a little-endian BOM
    ("utf-16-be-bom", "utf-16-be"),
    ("cp932", "cp932"),
    ("shift_jis", "cp932"),
    ("euc_jp", "euc-jp"),
    ("iso2022_jp", "iso-2022-jp"),
])
@pytest.mark.parametrize("text", [JA, SHORT], ids=["document", "one-line"])
def test_encodings_round_trip(codec, expected, text):
    data = codecs.BOM_UTF16_BE + text.encode("utf-16-be") if codec == "utf-16-be-bom" else text.encode(codec)
    result = extract(data, "memo.txt")
    assert result.problems == []
    [part] = result.parts
    assert part.meta["encoding"] == expected
    assert part.text == text
    assert part.format == "text" and part.path == ""


def test_detection_does_not_trust_the_file_name():
    """A Shift_JIS file called .html-less ``.csv`` and an EUC-JP file called ``.txt``: content decides."""
    assert extract(SHORT.encode("euc_jp"), "sjis.csv").parts[0].meta["encoding"] == "euc-jp"
    assert extract(SHORT.encode("cp932"), "euc.txt").parts[0].meta["encoding"] == "cp932"


def test_halfwidth_katakana_is_not_mistaken_for_euc():
    text = "ｶﾌﾞｼｷｶﾞｲｼｬ ﾃｽﾄ 株式会社テスト"
    assert decode_text(text.encode("cp932")).encoding == "cp932"
    assert decode_text(text.encode("euc_jp")).encoding == "euc-jp"
    assert decode_text(text.encode("euc_jp")).text == text


def test_cp932_extensions_and_ascii():
    text = "①②③ ㈱ヒミツ ～ 髙橋"  # NEC special characters, IBM extension, wave dash
    assert decode_text(text.encode("cp932")) .text == text
    assert decode_text(b"plain ascii\n").encoding == "ascii"


def test_iso2022jp_with_nec_special_characters():
    """Outlook sends ① and ㈱ inside ISO-2022-JP (CP50220); Python's strict codec rejects them."""
    data = b"\x1b$B-!\x1b(B abc \x1b$B-j$N2q<R\x1b(B"
    assert decode_iso2022jp(data) == "① abc ㈱の会社"
    assert extract(data).parts[0].meta["encoding"] == "iso-2022-jp"


def test_truncated_multibyte_tail_is_tolerated():
    for codec in ("utf-8", "cp932", "euc_jp"):
        data = SHORT.encode(codec)[:-1]
        decoded = decode_text(data)
        assert decoded is not None and decoded.text.startswith(SHORT[:-2]), codec


def test_declared_charset_is_checked():
    assert decode_declared(SHORT.encode("cp932"), "Shift_JIS").encoding == "cp932"
    # a wrong declaration falls back to detection instead of producing mojibake
    wrong = decode_declared(SHORT.encode("euc_jp"), "shift_jis")
    assert (wrong.encoding, wrong.text) == ("euc-jp", SHORT)
    assert decode_declared(SHORT.encode("utf-8"), "x-unknown-charset").text == SHORT


def test_empty_input_is_empty_text():
    result = extract(b"")
    assert result.problems == []
    assert [p.text for p in result.parts] == [""]


def test_binary_garbage_is_unsupported():
    import random

    rnd = random.Random(3)
    for size in (4096, 100_000):
        for _ in range(20):
            result = extract(rnd.randbytes(size))
            assert result.parts == []
            assert [(p.code, p.path) for p in result.problems] == [("unsupported", "")]
    for size in range(1, 64):  # a few random bytes may well be valid CP932: text or a problem, never an error
        result = extract(rnd.randbytes(size))
        assert result.parts or result.problems


def test_executable_bytes_are_binary():
    result = extract(b"\x7fELF\x02\x01\x01" + b"\x00" * 100)
    assert [(p.code, p.detail) for p in result.problems] == [("unsupported", "elf")]
    result = extract(b"MZ\x90\x00\x03\x00\x00\x00" + bytes(range(256)))
    assert [(p.code, p.detail) for p in result.problems] == [("unsupported", "binary")]


def test_lossy_text_is_reported():
    data = SHORT.encode("utf-8") * 50 + b"\xff" + SHORT.encode("utf-8") * 50
    result = extract(data)
    assert result.parts and "営業秘密" in result.parts[0].text
    assert [p.code for p in result.problems] == ["encoding"]


def test_recognised_formats_are_reported_not_skipped():
    cases = {
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 50: "png",
        b"\xff\xd8\xff\xe0" + b"\x00" * 50: "jpeg",
        b"7z\xbc\xaf\x27\x1c" + b"\x00" * 50: "7z",
        b"Rar!\x1a\x07\x01\x00" + b"\x00" * 50: "rar",
        b"\x00\x00-lh5-" + b"\x00" * 50: "lzh",
    }
    for data, label in cases.items():
        assert [(p.code, p.detail) for p in extract(data).problems] == [("unsupported", label)], label
    assert [(p.code, p.detail) for p in extract(b"-----BEGIN PGP MESSAGE-----\n\nhQEMA...").problems] == [
        ("encrypted", "pgp")]


# -- HTML -----------------------------------------------------------------------------------------

HTML = """<!DOCTYPE html>
<html><head><meta charset="{charset}"><title>極秘：価格表</title>
<style>p {{ color: red }}</style><script>var secret = "not text";</script></head>
<body><header>社外秘</header><h1>顧客別価格表</h1><p>本資料は<b>営業秘密</b>です。</p>
<table><tr><td>山田商事</td><td>03-1234-5678</td></tr><tr><td>佐藤工業</td><td>06-9876-5432</td></tr></table>
<!-- a comment --></body></html>"""


@pytest.mark.parametrize(("charset", "codec", "expected"), [
    ("utf-8", "utf-8", "utf-8"), ("Shift_JIS", "cp932", "cp932"), ("EUC-JP", "euc_jp", "euc-jp")])
def test_html_charset_from_meta(charset, codec, expected):
    result = extract(HTML.format(charset=charset).encode(codec), "page.html")
    assert result.problems == []
    [part] = result.parts
    assert part.format == "html" and part.meta["encoding"] == expected
    assert part.meta["title"] == "極秘：価格表"
    assert "本資料は営業秘密です。" in part.text
    assert "山田商事\t03-1234-5678" in part.text
    assert "社外秘" in part.text
    assert "secret" not in part.text and "color" not in part.text and "comment" not in part.text


def test_html_without_meta_is_detected():
    page = "<html><body><p>文字コードの宣言がない日本語のページです。</p></body></html>"
    part = extract(page.encode("euc_jp")).parts[0]
    assert part.format == "html" and part.meta["encoding"] == "euc-jp"
    assert part.text == "文字コードの宣言がない日本語のページです。"


def test_html_fragment_by_extension():
    part = extract("<p>断片</p><p>二段落目</p>".encode(), "fragment.htm").parts[0]
    assert part.format == "html" and part.text == "断片\n二段落目"


def test_xhtml_with_xml_declaration():
    page = '<?xml version="1.0" encoding="Shift_JIS"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><body><p>表示</p></body></html>'
    part = extract(page.encode("cp932")).parts[0]
    assert (part.format, part.meta["encoding"], part.text) == ("html", "cp932", "表示")


def test_utf16_html_with_bom():
    page = "<html><body><p>UTF-16のページ</p></body></html>"
    part = extract(codecs.BOM_UTF16_LE + page.encode("utf-16-le")).parts[0]
    assert (part.format, part.text) == ("html", "UTF-16のページ")
