"""my-number: 12 digits, DOMAIN.md check digit, context words within 300 characters."""

from __future__ import annotations

import pytest

from himitsu.engine.detectors.my_number import MyNumberDetector, check_digit
from himitsu.engine.model import TextPart

VALID = "123456789018"  # check digit 8 over 12345678901
WIDE = VALID.translate(str.maketrans("0123456789", "０１２３４５６７８９"))


def run(text: str, **kwargs) -> list:
    return list(MyNumberDetector(**kwargs).detect(TextPart("doc.txt", text, "text")))


@pytest.mark.parametrize(("first11", "check"), [
    ("12345678901", 8), ("98765432109", 3), ("11111111111", 8), ("40000000000", 9), ("20240401123", 7),
])
def test_check_digit(first11, check):
    assert check_digit(first11) == check


@pytest.mark.parametrize(("text", "reason", "score"), [
    (f"マイナンバー：{VALID}", "my_number.with_context", 0.85),
    (f"個人番号 {VALID[:4]}-{VALID[4:8]}-{VALID[8:]}", "my_number.with_context", 0.85),
    (f"個人番号カード\n{VALID[:4]} {VALID[4:8]} {VALID[8:]}", "my_number.with_context", 0.85),
    (f"My Number: {WIDE}", "my_number.with_context", 0.85),
    (f"番号は {VALID} です", "my_number.checksum_only", 0.3),
    (f"{VALID}", "my_number.checksum_only", 0.3),
    ("マイナンバー" + "。" * 250 + VALID, "my_number.with_context", 0.85),  # within 300 characters
])
def test_true_positives(text, reason, score):
    [f] = run(text)
    assert (f.detector, f.reason, f.score) == ("my-number", reason, score)
    assert text[f.start:f.end].replace("-", "").replace(" ", "").translate(
        str.maketrans("０１２３４５６７８９", "0123456789")) == VALID
    assert f.part == "doc.txt"


@pytest.mark.parametrize("text", [
    "マイナンバー：123456789019",  # wrong check digit
    "個人番号 1234-5678-9019",  # wrong check digit, grouped
    "マイナンバー：400000000000",  # wrong check digit
    f"口座 1{VALID}",  # part of a 13-digit run
    f"{VALID}7",  # part of a 13-digit run
    f"ID:A{VALID}",  # glued to letters
    f"pi = 3.{VALID}",  # decimals
    f"{VALID[:4]}-{VALID[4:8]}-{VALID[8:]}-1234",  # a longer grouped number (card-like)
    f"1234-{VALID[:4]}-{VALID[4:8]}-{VALID[8:]}",
    f"{VALID[:4]}-{VALID[4:8]} {VALID[8:]}",  # mixed separators
    "12345678901",  # 11 digits
    f"受注番号 {VALID}",  # labelled as another kind of number
    f"TEL:{VALID}",
    f"Order No. {VALID}",
])
def test_near_misses(text):
    assert run(text) == []


def test_far_context_word_does_not_count():
    text = "マイナンバー" + "。" * 400 + VALID
    [f] = run(text)
    assert f.reason == "my_number.checksum_only"


def test_context_word_wins_over_other_label():
    [f] = run(f"個人番号（社員番号ではない）: {VALID}")
    assert f.reason == "my_number.with_context"


def test_require_context_drops_bare_numbers():
    assert run(VALID, require_context=True) == []
    assert len(run(f"個人番号 {VALID}", require_context=True)) == 1


def test_snippet_is_redacted():
    [f] = run(f"マイナンバー {VALID}")
    assert f.snippet == "**********18"
    assert VALID not in f.snippet and VALID not in f.explanation
    assert "マイナンバー" in f.explanation and f.params == {"word": "マイナンバー"}
