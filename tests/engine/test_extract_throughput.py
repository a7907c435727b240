"""Throughput on a mixed set of realistic Japanese/English files (printed, not asserted tightly).

Run with ``pytest -s -m slow tests/engine/test_extract_throughput.py`` to see the table.
"""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Callable

import pytest

from himitsu.engine.extract import extract
from tests.engine.test_extract_fixtures import CHROMIUM, corpus_texts, docx, pdf_with_text, pptx, xlsx, zip_of

pytestmark = pytest.mark.slow


def best_of(runs: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return corpus_texts("ja", 120) + corpus_texts("en", 40)


def test_throughput(texts, tmp_path_factory, capsys):
    paragraphs = [line for t in texts for line in t.split("\n") if line.strip()]
    joined = "\n".join(paragraphs)
    rows: list[tuple[str, str, float, str]] = []

    def measure(label: str, data: bytes, name: str, unit: str = "", count: int = 0) -> None:
        result = extract(data, name)
        assert result.parts and not [p for p in result.problems if p.code != "unsupported"], result.problems
        seconds = best_of(2, lambda: extract(data, name))
        chars = sum(len(p.text) for p in result.parts)
        extra = f"{count / seconds:,.0f} {unit}/s" if count else ""
        rows.append((label, f"{len(data) / 1e6:.2f} MB, {chars / 1e6:.2f} M chars", len(data) / 1e6 / seconds,
                     f"{chars / 1e6 / seconds:6.1f} M chars/s  {extra}"))

    sample = joined[:3_000_000]
    for codec in ("utf-8", "cp932", "euc_jp", "iso2022_jp"):
        measure(f"text {codec}", sample.encode(codec, errors="ignore"), "doc.txt")
    body = paragraphs[:40_000]
    doc = docx(body, header="社外秘", footer="極秘")
    measure("docx", doc, "big.docx", "paragraphs", len(body))
    deck = pptx(["\n".join(paragraphs[i:i + 8]) for i in range(0, 8 * 400, 8)], footer="社外秘",
                notes={i: paragraphs[i] for i in range(0, 400, 2)})
    measure("pptx", deck, "deck.pptx", "slides", 400)
    book = xlsx({"顧客": [[f"顧客{i}", f"03-{i % 10000:04d}-{i % 9999:04d}", i * 3,
                           paragraphs[i % len(paragraphs)][:40]] for i in range(30_000)]})
    measure("xlsx", book, "book.xlsx", "rows", 30_000)
    page = "<html><head><meta charset='utf-8'></head><body>" + "".join(
        f"<p>{html.escape(p)}</p>" for p in paragraphs[:20_000]) + "</body></html>"
    measure("html", page.encode("utf-8"), "page.html")
    bundle = zip_of({"a.docx": doc, "b.xlsx": book, "c.txt": sample[:500_000].encode("cp932", errors="ignore")})
    measure("zip (docx+xlsx+txt)", bundle, "bundle.zip")
    eml = (b"From: a@example.jp\r\nTo: b@example.jp\r\nSubject: test\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           + sample[:200_000].encode() + b"\r\n--B\r\nContent-Type: application/zip\r\n"
           b"Content-Disposition: attachment; filename=a.zip\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + base64.encodebytes(bundle) + b"\r\n--B--\r\n")
    measure("eml + zip attachment", eml, "mail.eml")
    if CHROMIUM.exists():
        body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs[:4000])
        pdf = pdf_with_text(f"<html><head><meta charset='utf-8'></head><body>{body}</body></html>",
                            tmp_path_factory.mktemp("pdf-bench"))
        pages = extract(pdf, "a.pdf").parts[0].meta["pages"]
        measure("pdf (Chromium, Japanese)", pdf, "big.pdf", "pages", pages)
    with capsys.disabled():
        print("\n\nextraction throughput (best of 2, one core)")
        for label, size, mbps, extra in rows:
            print(f"  {label:28} {size:32} {mbps:8.1f} MB/s  {extra}")
