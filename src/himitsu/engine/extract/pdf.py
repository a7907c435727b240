"""PDF text through pypdfium2 (PDFium, Apache/BSD licences; ~600 pages/s here).

Page texts (line breaks as ``\\n``) are joined with form feeds (``\\f``); ``meta["pages"]`` is the page count and
``meta["page_starts"]`` the offset of each page in the text. Files attached to the PDF are yielded
as children. A PDF that needs a password gives ``Problem("encrypted", path, "pdf")`` (one with only an
owner password, i.e. permission flags, opens and is read); a damaged one gives ``corrupt``.
Limits: wall time is checked between pages; reading stops once ``max_text_chars`` is used up.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from himitsu.engine.extract.base import Child, Context, Corrupt, Encrypted, Extractor, Item
from himitsu.engine.model import Problem, TextPart

#: PDFium is not thread-safe: one document at a time per process.
_LOCK = threading.Lock()


class PdfExtractor(Extractor):
    id = "pdf"
    priority = 10
    extensions: ClassVar[tuple[str, ...]] = (".pdf",)

    def sniff(self, data: bytes, name: str) -> bool:
        """``%PDF-`` within the first 1024 bytes (the PDF specification allows leading junk)."""
        return b"%PDF-" in data[:1024]

    def extract(self, data: bytes, name: str, path: str, ctx: Context) -> Iterator[Item]:
        with _LOCK:
            doc = _open(data)
            try:
                part, attachments = _read(doc, path, ctx)
            finally:
                doc.close()
        yield part
        yield from attachments


def _open(data: bytes) -> Any:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY):
            raise Encrypted("pdf") from exc
        raise Corrupt(f"pdf: {exc}") from exc


def _read(doc: Any, path: str, ctx: Context) -> tuple[TextPart, list[Item]]:
    texts: list[str] = []
    starts: list[int] = []
    offset = 0
    problems: list[Item] = []
    pages = len(doc)
    for index in range(pages):
        ctx.check_time(path)
        if offset > ctx.text_left():
            problems.append(Problem("limit.text", path, f"pages {index + 1}-{pages} not read "
                                                        f"(max_text_chars {ctx.limits.max_text_chars})"))
            break
        text = _page_text(doc, index, path, problems)
        starts.append(offset)
        texts.append(text)
        offset += len(text) + 1
    part = TextPart(path, "\f".join(texts), "pdf", {"pages": pages, "page_starts": starts})
    return part, problems + list(_attachments(doc, path))


def _page_text(doc: Any, index: int, path: str, problems: list[Item]) -> str:
    try:
        page = doc[index]
        try:
            textpage = page.get_textpage()
            try:
                return str(textpage.get_text_range()).replace("\r\n", "\n")
            finally:
                textpage.close()
        finally:
            page.close()
    except pdfium.PdfiumError as exc:
        problems.append(Problem("corrupt", path, f"pdf page {index + 1}: {exc}"))
        return ""


def _attachments(doc: Any, path: str) -> Iterator[Item]:
    try:
        count = doc.count_attachments()
    except pdfium.PdfiumError:
        return
    for index in range(count):
        try:
            attachment = doc.get_attachment(index)
            name = attachment.get_name() or f"attachment-{index + 1}"
            data = attachment.get_data()
        except pdfium.PdfiumError as exc:
            yield Problem("corrupt", path, f"pdf attachment {index + 1}: {exc}")
            continue
        yield Child(name.replace("/", "_"), bytes(data))
