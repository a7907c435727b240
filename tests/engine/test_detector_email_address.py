"""email-address: practical address shape, documentation domains scored low, masked snippets."""

from __future__ import annotations

import pytest

from himitsu.engine.detectors.email_address import EmailAddressDetector
from himitsu.engine.model import TextPart


def run(text: str) -> list:
    return list(EmailAddressDetector().detect(TextPart("", text, "text")))


@pytest.mark.parametrize(("text", "address"), [
    ("taro.yamada@acme.co.jp", "taro.yamada@acme.co.jp"),
    ("連絡先：hanako+news@mail.example-corp.jp まで", "hanako+news@mail.example-corp.jp"),
    ("<first_last@sub.domain.com>", "first_last@sub.domain.com"),
    ("(bob@acme.io)", "bob@acme.io"),
    ("山田taro@acme.jp様", "taro@acme.jp"),
    ("info＠acme.co.jp", "info＠acme.co.jp"),
    ("mailto:o'brien@acme.ie.", "o'brien@acme.ie"),
    ("x@acme.travel", "x@acme.travel"),
])
def test_true_positives(text, address):
    [f] = run(text)
    assert text[f.start:f.end] == address
    assert f.detector == "email-address" and f.score >= 0.6


@pytest.mark.parametrize(("text", "reason", "score"), [
    ("sales@acme.co.jp", "email.address", 0.6),
    ("メール: sales@acme.co.jp", "email.with_context", 0.75),
    ("user@example.com", "email.example", 0.1),
    ("taro@example.co.jp", "email.example", 0.1),
    ("taro@mail.example.jp", "email.example", 0.1),
    ("bob@host.test", "email.example", 0.1),
])
def test_scores(text, reason, score):
    [f] = run(text)
    assert (f.reason, f.score) == (reason, score)


@pytest.mark.parametrize("text", [
    "@property", "icon@2x.png", "a..b@acme.com", "a.@acme.com", "x@y", "user@localhost", "user@acme",
    "user@acme.c", "user@-acme.com", "ユーザー@会社.jp", "foo@bar.123", "git log HEAD@{1}",
])
def test_near_misses(text):
    assert run(text) == []


def test_snippet_is_masked():
    [f] = run("taro.yamada@acme.co.jp")
    assert f.snippet == "t***@a***.co.jp"
    assert "yamada" not in f.snippet and "acme" not in f.snippet
