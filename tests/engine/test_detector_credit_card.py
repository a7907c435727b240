"""credit-card: Luhn check digit, issuer ranges with their lengths, usual groupings, last four shown."""

from __future__ import annotations

import pytest

from himitsu.engine.detectors.credit_card import CreditCardDetector, issuer, luhn_ok
from himitsu.engine.model import TextPart

# Luhn-valid numbers in each issuer range (made up, not published test numbers)
CARDS = {
    "Visa": ["4314159265358975", "4314159265355", "4314159265358979325"],
    "Mastercard": ["5131415926535890", "2221314159265358", "2720314159265354"],
    "American Express": ["343141592653586", "373141592653589"],
    "JCB": ["3528314159265356", "3589314159265352"],
    "Diners Club": ["36314159265357", "30031415926533", "30531415926532", "38314159265355"],
    "Discover": ["6011314159265353", "6531415926535894", "6443141592653582", "6493141592653581"],
    "UnionPay": ["6231415926535897", "6231415926535897938"],
}
ALL = [(name, number) for name, numbers in CARDS.items() for number in numbers]


def run(text: str) -> list:
    return list(CreditCardDetector().detect(TextPart("", text, "text")))


def group(number: str, sizes: tuple[int, ...], sep: str) -> str:
    out, pos = [], 0
    for size in sizes:
        out.append(number[pos:pos + size])
        pos += size
    return sep.join(out)


@pytest.mark.parametrize(("name", "number"), ALL)
def test_issuer_and_luhn(name, number):
    assert luhn_ok(number)
    assert issuer(number) == name
    [f] = run(f"支払い: {number}")
    assert f.reason == "credit_card.luhn" and f.score == 0.6 and f.params["issuer"] == name


@pytest.mark.parametrize(("text", "reason", "score"), [
    ("クレジットカード番号 4314 1592 6535 8975", "credit_card.with_context", 0.9),
    ("card number: 4314-1592-6535-8975", "credit_card.with_context", 0.9),
    ("AMEX 3431 415926 53586", "credit_card.with_context", 0.9),
    ("カード：４３１４１５９２６５３５８９７５", "credit_card.with_context", 0.9),
    ("テスト用 4111 1111 1111 1111", "credit_card.test_number", 0.2),
    ("4242424242424242", "credit_card.test_number", 0.2),
])
def test_true_positives(text, reason, score):
    [f] = run(text)
    assert (f.detector, f.reason, f.score) == ("credit-card", reason, score)


@pytest.mark.parametrize("text", [
    "4314159265358976",  # Luhn failure
    "カード番号 4314 1592 6535 8976",  # Luhn failure, grouped
    "1234567812345670",  # Luhn-valid, no issuer starts with 1
    "9314159265358970",
    "5631415926535893",  # 56 is not Mastercard
    "343141592653586" + "0",  # Amex prefix with 16 digits
    "43141592653589750",  # 17 digits for Visa
    "4314 1592 6535 8975 1234 5",  # part of a longer grouped run
    "43 1415 9265 3589 75",  # implausible grouping
    "4314-1592 6535-8975",  # mixed separators
    "v4314159265358975",  # glued to a letter
    "1.4314159265358975",  # decimals
    "2024-04-01 12:00:00",
])
def test_near_misses(text):
    assert run(text) == []


@pytest.mark.parametrize(("number", "sizes"), [
    ("4314159265358975", (4, 4, 4, 4)), ("343141592653586", (4, 6, 5)), ("36314159265357", (4, 6, 4)),
    ("4314159265358979325", (4, 4, 4, 4, 3)),
])
@pytest.mark.parametrize("sep", [" ", "-"])
def test_groupings(number, sizes, sep):
    [f] = run(group(number, sizes, sep))
    assert f.end - f.start == len(number) + len(sizes) - 1


def test_snippet_keeps_only_the_last_four():
    [f] = run("card 4314 1592 6535 8975")
    assert f.snippet == "**** **** **** 8975"
    for name, number in ALL:
        [f] = run(number)
        assert number not in f.snippet and f.snippet.endswith(number[-4:])
        assert sum(ch.isdigit() for ch in f.snippet) == 4, name
