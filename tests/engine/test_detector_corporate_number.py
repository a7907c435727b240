"""corporate-number: 13 digits, check digit first (国税庁's algorithm), 法人番号 context, invoice T-numbers."""

from __future__ import annotations

import pytest

from himitsu.engine.detectors.corporate_number import CorporateNumberDetector, check_digit
from himitsu.engine.model import TextPart

NTA = "7000012050002"  # 国税庁 itself
TOYOTA = "1180301018771"  # トヨタ自動車株式会社


def run(text: str, **kwargs) -> list:
    return list(CorporateNumberDetector(**kwargs).detect(TextPart("", text, "text")))


@pytest.mark.parametrize("number", [NTA, TOYOTA])
def test_check_digit_of_published_numbers(number):
    assert check_digit(number[1:]) == int(number[0])


@pytest.mark.parametrize(("text", "reason", "score"), [
    (f"法人番号：{NTA}", "corporate_number.with_context", 0.8),
    (f"トヨタ自動車（法人番号 {TOYOTA}）", "corporate_number.with_context", 0.8),
    (f"登録番号 T{TOYOTA}", "corporate_number.with_context", 0.8),
    (f"請求書 T{TOYOTA}", "corporate_number.invoice", 0.6),
    (f"No. {NTA}", "corporate_number.checksum_only", 0.3),
    ("Corporate Number: ７－００００－１２０５－０００２", "corporate_number.with_context", 0.8),
    ("法人番号 ７００００１２０５０００２", "corporate_number.with_context", 0.8),
])
def test_true_positives(text, reason, score):
    [f] = run(text)
    assert (f.detector, f.reason, f.score) == ("corporate-number", reason, score)
    assert NTA[-4:] in f.snippet or TOYOTA[-4:] in f.snippet


@pytest.mark.parametrize("text", [
    "法人番号：8000012050002",  # wrong check digit
    "法人番号：1180301018772",  # last digit changed
    f"{NTA}5",  # 14 digits
    f"9{NTA}",
    f"ABC{NTA}",  # glued to letters
    f"xT{TOYOTA}",  # the T belongs to a word
    "法人番号 700001205000",  # 12 digits
    f"JANコード {NTA}",  # labelled as another kind of number
    f"timestamp={TOYOTA}",
])
def test_near_misses(text):
    assert run(text) == []


def test_require_context():
    assert run(NTA, require_context=True) == []
    assert len(run(f"T{TOYOTA}", require_context=True)) == 1  # an invoice number is its own context


def test_snippet_is_redacted():
    for text in (f"法人番号 {NTA}", f"T{TOYOTA}"):
        [f] = run(text)
        assert NTA not in f.snippet and TOYOTA not in f.snippet
        assert "*" in f.snippet
