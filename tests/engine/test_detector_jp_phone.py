"""jp-phone: Japanese numbers by prefix, length and grouping; dates and versions are not numbers."""

from __future__ import annotations

import pytest

from himitsu.engine.detectors.jp_phone import JpPhoneDetector
from himitsu.engine.model import TextPart


def run(text: str) -> list:
    return list(JpPhoneDetector().detect(TextPart("", text, "text")))


@pytest.mark.parametrize(("text", "number", "kind"), [
    ("090-1234-5678", "090-1234-5678", "mobile"),
    ("080 2345 6789", "080 2345 6789", "mobile"),
    ("070‐3456‐7890", "070‐3456‐7890", "mobile"),
    ("０９０－１２３４－５６７８", "０９０－１２３４－５６７８", "mobile"),
    ("０９０ー１２３４ー５６７８", "０９０ー１２３４ー５６７８", "mobile"),
    ("050-3123-4567", "050-3123-4567", "IP (050)"),
    ("0120-123-456", "0120-123-456", "toll-free"),
    ("0800-123-4567", "0800-123-4567", "toll-free"),
    ("0570-064-556", "0570-064-556", "Navi Dial (0570)"),
    ("03-1234-5678", "03-1234-5678", "landline"),
    ("06―6123―4567", "06―6123―4567", "landline"),
    ("045-123-4567", "045-123-4567", "landline"),
    ("0466-12-3456", "0466-12-3456", "landline"),
    ("01267-2-3456", "01267-2-3456", "landline"),
    ("045(123)4567", "045(123)4567", "landline"),
    ("(03)1234-5678", "(03)1234-5678", "landline"),
    ("（０３）１２３４－５６７８", "（０３）１２３４－５６７８", "landline"),
    ("連絡は(090-1234-5678)まで", "090-1234-5678", "mobile"),
    ("+81-90-1234-5678", "+81-90-1234-5678", "mobile"),
    ("+81 3 1234 5678", "+81 3 1234 5678", "landline"),
    ("+81(0)3-1234-5678", "+81(0)3-1234-5678", "landline"),
    ("＋８１－３－１２３４－５６７８", "＋８１－３－１２３４－５６７８", "landline"),
    ("09012345678", "09012345678", "mobile"),
    ("0312345678", "0312345678", "landline"),
])
def test_true_positives(text, number, kind):
    [f] = run(text)
    assert text[f.start:f.end] == number
    assert f.params["kind"] == kind and f.detector == "jp-phone"


@pytest.mark.parametrize(("text", "reason", "score"), [
    ("TEL: 03-1234-5678", "jp_phone.with_context", 0.85),
    ("携帯 09012345678", "jp_phone.with_context", 0.7),
    ("03-1234-5678", "jp_phone.formatted", 0.5),
    ("0312345678", "jp_phone.digits", 0.35),
])
def test_scores(text, reason, score):
    [f] = run(text)
    assert (f.reason, round(f.score, 2)) == (reason, score)


@pytest.mark.parametrize("text", [
    "2024-01-15", "2024/03/12", "03-12-2024", "12:03-1234-5678", "Python 3.11.4", "v0.12.3456",
    "version 0.1234.5678", "1.0312345678",
    "090-1234-56789",  # 12 digits
    "090-123-45678",  # wrong grouping for a mobile
    "03-1234-567",  # 9 digits
    "03-1234 5678",  # mixed separators
    "020-1234-5678",  # not a telephone prefix we accept
    "0012-345-6789",  # international call prefix
    "03-0123-4567",  # local numbers do not start with 0
    "0123456789",  # counting
    "090-0000-0000",
    "ISBN978-4-03-123456-7",
    "abc0312345678",
    "+1 212 555 0100",
])
def test_near_misses(text):
    assert run(text) == []


def test_snippet_is_redacted():
    for text in ("090-1234-5678", "+81 3 1234 5678", "0312345678"):
        [f] = run(text)
        digits = "".join(ch for ch in text if ch.isdigit())
        assert digits not in f.snippet and "*" in f.snippet
        assert f.snippet.startswith("0")
