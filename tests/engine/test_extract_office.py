"""DOCX / XLSX / PPTX / OpenDocument, embedded files, encrypted and legacy Office files."""

from __future__ import annotations

import io
import zipfile

import pytest

from himitsu.engine.extract import extract
from tests.engine.test_extract_fixtures import (
    corpus_text,
    docx,
    encrypted_ooxml,
    legacy_doc,
    legacy_xls,
    pptx,
    xlsx,
    zip_of,
)

BODY = corpus_text("abc.txt", chars=2000).split("\n")


def regions(part):
    return {kind: [part.text[s:e] for s, e, k in part.meta["regions"] if k == kind]
            for kind in ("header", "body", "footer")}


def test_docx_body_header_footer_regions():
    data = docx(BODY, header="社外秘", footer="株式会社ヒミツ　極秘")
    result = extract(data, "規程.docx")
    assert result.problems == []
    [part] = result.parts
    assert part.format == "docx" and part.path == ""
    found = regions(part)
    assert found["header"] == ["社外秘"]
    assert found["footer"] == ["株式会社ヒミツ　極秘"]
    assert found["body"] == ["\n".join(BODY).strip("\n")]
    assert part.text.startswith("社外秘\n") and part.text.endswith("\n株式会社ヒミツ　極秘")


def test_docx_tables_text_boxes_and_tracked_deletions():
    table = ('<w:tbl><w:tr><w:tc><w:p><w:r><w:t>山田</w:t></w:r></w:p><w:p><w:r><w:t>太郎</w:t></w:r></w:p></w:tc>'
             '<w:tc><w:p><w:r><w:t>03-1234-5678</w:t></w:r></w:p></w:tc></w:tr>'
             '<w:tr><w:tc><w:p><w:r><w:t>佐藤</w:t></w:r></w:p></w:tc>'
             '<w:tc><w:p><w:r><w:t>06-9876-5432</w:t></w:r></w:p></w:tc></w:tr></w:tbl>')
    deleted = '<w:p><w:del><w:r><w:delText>削除したはずの原価</w:delText></w:r></w:del></w:p>'
    textbox = ('<w:p><w:r><mc:AlternateContent xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006">'
               '<mc:Choice Requires="wps"><w:t>テキストボックス</w:t></mc:Choice>'
               '<mc:Fallback><w:t>テキストボックス</w:t></mc:Fallback></mc:AlternateContent></w:r></w:p>')
    text = extract(docx(["前文"], extra_body=table + deleted + textbox)).parts[0].text
    assert text == "前文\n山田 太郎\t03-1234-5678\n佐藤\t06-9876-5432\n削除したはずの原価\nテキストボックス"


def test_xlsx_cells_sheets_and_page_header():
    customers = [["氏名", "電話", "売上"], ["山田 太郎", "03-1234-5678", 1200], ["佐藤 花子", "090-1111-2222", 3.5]]
    data = xlsx({"顧客一覧": customers, "隠し": [["原価", 800]]}, header="極秘", footer="社外秘")
    result = extract(data, "customers.xlsx")
    assert result.problems == []
    [part] = result.parts
    assert part.format == "xlsx" and part.meta["sheets"] == 2
    assert "[顧客一覧]\n氏名\t電話\t売上\n山田 太郎\t03-1234-5678\t1200\n佐藤 花子\t090-1111-2222\t3.5" in part.text
    assert "[隠し]\n原価\t800" in part.text
    found = regions(part)
    assert found["header"] == ["極秘", "極秘"] and found["footer"] == ["社外秘", "社外秘"]


def test_xlsx_inline_strings_and_furigana():
    """Inline strings are read; the furigana Excel stores with Japanese names (<rPh>) is not text."""
    sheet = ('<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
             '<row r="1"><c r="A1" t="inlineStr"><is><t>山田</t><rPh sb="0" eb="2"><t>ヤマダ</t></rPh></is></c>'
             '<c r="B1" t="b"><v>1</v></c><c r="C1"><v>42.0</v></c></row></sheetData>'
             '<headerFooter><oddHeader>&amp;L&amp;"ＭＳ ゴシック,太字"&amp;12極秘&amp;R&amp;P / &amp;N</oddHeader>'
             '</headerFooter></worksheet>')
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    rels = ('<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{}</Relationships>')
    data = zip_of({
        "[Content_Types].xml": b"<Types/>",
        "_rels/.rels": rels.format('<Relationship Id="r1" Type="http://schemas.openxmlformats.org/officeDocument/'
                                   '2006/relationships/officeDocument" Target="xl/workbook.xml"/>').encode(),
        "xl/workbook.xml": f'<workbook {ns} {rel}><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets>'
                           f'</workbook>'.encode(),
        "xl/_rels/workbook.xml.rels": rels.format('<Relationship Id="rId1" Type="x/worksheet" '
                                                  'Target="worksheets/sheet1.xml"/>').encode(),
        "xl/worksheets/sheet1.xml": sheet.encode(),
    })
    part = extract(data).parts[0]
    assert part.text == "極秘 /\n[S]\n山田\tTRUE\t42"
    assert regions(part)["header"] == ["極秘 /"]


def test_pptx_slides_in_order_footer_and_notes():
    data = pptx(["第1スライド：概要\n二行目", "第2スライド：原価"], footer="社外秘",
                notes={1: "口頭で補足：単価は非公開"})
    result = extract(data, "deck.pptx")
    assert result.problems == []
    [part] = result.parts
    assert part.format == "pptx" and part.meta["slides"] == 2
    assert part.text == "第1スライド：概要\n二行目\n社外秘\f第2スライド：原価\n社外秘\n口頭で補足：単価は非公開"
    found = regions(part)
    assert found["footer"] == ["社外秘", "社外秘"]
    assert "口頭で補足：単価は非公開" in found["body"]


def test_opendocument_text():
    content = ('<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
               'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text>'
               '<text:h>見出し</text:h><text:p>本文<text:s text:c="2"/>です<text:tab/>タブ</text:p>'
               '</office:text></office:body></office:document-content>')
    styles = ('<office:document-styles xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
              'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
              'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:master-styles>'
              '<style:master-page><style:header><text:p>社外秘</text:p></style:header></style:master-page>'
              '</office:master-styles></office:document-styles>')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        zf.writestr("content.xml", content)
        zf.writestr("styles.xml", styles)
        zf.writestr("META-INF/manifest.xml", "<manifest/>")
    part = extract(buf.getvalue(), "doc.odt").parts[0]
    assert part.format == "odt"
    assert part.text == "社外秘\n見出し\n本文  です\tタブ"
    assert regions(part)["header"] == ["社外秘"]


def test_embedded_workbook_is_extracted_as_child():
    inner = xlsx({"原価": [["部品A", 120]]})
    result = extract(docx(["本文"], embeddings={"Microsoft_Excel_Worksheet.xlsx": inner}), "report.docx")
    assert result.problems == []
    assert [(p.path, p.format) for p in result.parts] == [
        ("", "docx"), ("word/embeddings/Microsoft_Excel_Worksheet.xlsx", "xlsx")]
    assert "部品A\t120" in result.parts[1].text


def test_ole_package_wrapper_is_unwrapped():
    from tests.engine.test_extract_fixtures import cfb

    inner = docx(["包まれた文書"])
    result = extract(docx(["外"], embeddings={"oleObject1.bin": cfb({"Package": inner})}))
    assert [p.path for p in result.parts] == ["", "word/embeddings/oleObject1.bin/Package"]
    assert result.parts[1].text == "包まれた文書"


def test_ole10native_wrapper_is_unwrapped():
    import struct

    from tests.engine.test_extract_fixtures import cfb

    payload = "添付された秘密のメモ".encode("cp932")
    native = (b"\x02\x00" + b"memo.txt\x00" + b"C:\\Users\\a\\memo.txt\x00" + b"\x00\x00\x03\x00"
              + b"\x00\x00\x00\x00" + b"C:\\Temp\\memo.txt\x00" + struct.pack("<I", len(payload)) + payload)
    native = struct.pack("<I", len(native)) + native
    result = extract(docx(["外"], embeddings={"oleObject2.bin": cfb({"\x01Ole10Native": native})}))
    assert [(p.path, p.text) for p in result.parts][1] == ("word/embeddings/oleObject2.bin/memo.txt",
                                                          "添付された秘密のメモ")


@pytest.mark.parametrize(("builder", "name", "code", "detail"), [
    (lambda: legacy_doc(), "old.doc", "unsupported", "doc"),
    (lambda: legacy_doc(), "", "unsupported", "doc"),
    (lambda: legacy_doc(encrypted=True), "old.doc", "encrypted", "doc"),
    (lambda: legacy_xls(), "old.xls", "unsupported", "xls"),
    (lambda: legacy_xls(encrypted=True), "old.xls", "encrypted", "xls"),
    (lambda: encrypted_ooxml(), "locked.docx", "encrypted", "office"),
    (lambda: encrypted_ooxml(), "", "encrypted", "office"),
])
def test_ole2_files(builder, name, code, detail):
    result = extract(builder(), name)
    assert result.parts == []
    assert [(p.code, p.path, p.detail) for p in result.problems] == [(code, "", detail)]


def test_bare_ole2_header_named_doc_is_unsupported():
    header_only = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    assert [(p.code, p.detail) for p in extract(header_only, "old.doc").problems] == [("unsupported", "doc")]
    assert [p.code for p in extract(header_only).problems] == ["corrupt"]


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.9])
def test_truncated_docx_is_corrupt(fraction):
    data = docx(BODY, header="社外秘")
    cut = data[: int(len(data) * fraction)]
    for name in ("cut.docx", ""):
        result = extract(cut, name)
        assert result.parts == []
        assert [p.code for p in result.problems] == ["corrupt"], result.problems


def test_damaged_xml_part_is_corrupt():
    data = docx(["x"])
    broken = zip_of({n: (b"<w:document><w:body>" if n == "word/document.xml" else zipfile.ZipFile(
        io.BytesIO(data)).read(n)) for n in zipfile.ZipFile(io.BytesIO(data)).namelist()})
    result = extract(broken, "broken.docx")
    assert [p.code for p in result.problems] == ["corrupt"]
    assert "word/document.xml" in result.problems[0].detail


def test_xml_entities_are_not_expanded():
    bomb = ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "AAAAAAAAAA"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
            '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
            '<w:p><w:r><w:t>&c;</w:t></w:r></w:p></w:body></w:document>')
    data = docx(["x"])
    members = {n: zipfile.ZipFile(io.BytesIO(data)).read(n) for n in zipfile.ZipFile(io.BytesIO(data)).namelist()}
    members["word/document.xml"] = bomb.encode()
    result = extract(zip_of(members), "entities.docx")
    assert all("AAAAAAAAAA" not in p.text for p in result.parts)


def test_xlsx_cell_comments():
    from openpyxl import Workbook
    from openpyxl.comments import Comment

    wb = Workbook()
    wb.active["A1"] = "単価"
    wb.active["A1"].comment = Comment("原価は社外秘", "山田")
    buf = io.BytesIO()
    wb.save(buf)
    assert extract(buf.getvalue()).parts[0].text == "[Sheet]\n単価\n原価は社外秘"


def _rtf_hex(text: str) -> str:
    return "".join(f"\\'{b:02x}" for b in text.encode("cp932"))


def test_rtf_japanese_with_header_footer_and_unicode():
    """As WordPad and Word write it: CP932 bytes as \\'hh, \\uN with fallbacks, skipped destinations."""
    data = ("{\\rtf1\\ansi\\ansicpg932\\deff0{\\fonttbl{\\f0\\fnil\\fcharset128 MS Gothic;}{\\f1\\fswiss Arial;}}"
            "{\\colortbl ;\\red255\\green0\\blue0;}{\\*\\generator Riched20 10.0;}"
            "{\\info{\\title " + _rtf_hex("表題は本文ではない") + "}}"
            "{\\header\\pard " + _rtf_hex("社外秘") + "\\par}"
            "{\\footer\\pard " + _rtf_hex("株式会社ヒミツ") + "\\par}"
            "\\pard\\f0 " + _rtf_hex("営業秘密の管理規程") + "\\par "
            "\\f1 Unicode: \\uc1\\u12354?\\u-3913?\\uc2\\u26085" + _rtf_hex("日") + "\\tab end\\par"
            "{\\pict\\pngblip 89504e470d0a1a0a}"
            "{\\field{\\*\\fldinst HYPERLINK \"http://x\"}{\\fldrslt link}}\\par}").encode("ascii")
    result = extract(data, "memo.rtf")
    assert result.problems == []
    [part] = result.parts
    assert part.format == "rtf"
    assert regions(part) == {"header": ["社外秘"], "footer": ["株式会社ヒミツ"],
                             "body": ["営業秘密の管理規程\nUnicode: あ\uf0b7日\tend\nlink"]}


def test_rtf_garbage_never_raises():
    for data in (b"{\\rtf1", b"{\\rtf1 {{{{{{", b"{\\rtf1\\ansicpg99999 \\'82\\'a0}", b"{\\rtf1\\u99999999999 x}"):
        result = extract(data)
        assert result.parts or result.problems
