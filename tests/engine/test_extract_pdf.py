"""PDF: Japanese text printed by Chromium, page separation, attachments, encryption, damage."""

from __future__ import annotations

import io

import pytest

from himitsu.engine.extract import extract
from himitsu.engine.model import Limits
from tests.engine.test_extract_fixtures import CHROMIUM, encrypted_pdf, minimal_pdf, pdf_with_text, zip_of

PAGES = ["社外秘：営業秘密の管理規程", "第二条、顧客別価格表は極秘とする。", "English page: Internal Use Only"]
HTML = ('<html><head><meta charset="utf-8"><style>body{font-family:"Noto Sans CJK JP","IPAGothic",sans-serif}'
        '.page{page-break-after:always}</style></head><body>'
        + "".join(f'<div class="page">{p}</div>' for p in PAGES) + "</body></html>")


@pytest.fixture(scope="session")
def japanese_pdf(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing (apt-get install chromium fonts-noto-cjk) - cannot print a PDF")
    return pdf_with_text(HTML, tmp_path_factory.mktemp("pdf"))


def test_japanese_pdf_pages(japanese_pdf):
    result = extract(japanese_pdf, "規程.pdf")
    assert result.problems == []
    [part] = result.parts
    assert part.format == "pdf" and part.meta["pages"] == 3
    pages = part.text.split("\f")
    assert [p.strip() for p in pages] == PAGES
    assert part.meta["page_starts"] == [0, len(pages[0]) + 1, len(pages[0]) + len(pages[1]) + 2]


def test_pdf_found_by_content_not_name(japanese_pdf):
    assert extract(japanese_pdf, "notes.txt").parts[0].format == "pdf"
    assert extract(b"junk before the header\n" + japanese_pdf).parts[0].format == "pdf"


def test_text_limit_stops_reading_pages(japanese_pdf):
    result = extract(japanese_pdf, "a.pdf", Limits(max_text_chars=20))
    assert len(result.parts[0].text) == 20
    assert {p.code for p in result.problems} == {"limit.text"}


def test_encrypted_pdf():
    result = extract(encrypted_pdf(), "locked.pdf")
    assert result.parts == []
    assert [(p.code, p.path, p.detail) for p in result.problems] == [("encrypted", "", "pdf")]


def test_pdf_attachments_are_children():
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument.new()
    doc.new_page(200, 200)
    doc.new_attachment("価格表.zip").set_data(zip_of({"単価.txt": "単価は社外秘".encode("cp932")}))
    buf = io.BytesIO()
    doc.save(buf)
    doc.close()
    result = extract(buf.getvalue())
    assert [(p.path, p.text) for p in result.parts] == [("", ""), ("価格表.zip/単価.txt", "単価は社外秘")]


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.95])
def test_truncated_pdf_never_raises(japanese_pdf, cut):
    result = extract(japanese_pdf[: int(len(japanese_pdf) * cut)], "cut.pdf")
    assert result.parts or [p.code for p in result.problems] == ["corrupt"]


def test_garbage_after_header_is_corrupt():
    result = extract(b"%PDF-1.7\n" + bytes(range(256)) * 10)
    assert [p.code for p in result.problems] == ["corrupt"]
    assert extract(minimal_pdf()).parts[0].text == ""
