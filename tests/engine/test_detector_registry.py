"""The pattern detectors load through the ``himitsu.detectors`` entry points, share one base, need no
Django, and never put a raw value into a snippet, explanation or params."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from himitsu.engine.detectors.base import ContextWords, Detector, ascii_digits, redact
from himitsu.engine.model import Extraction, TextPart

MINE = ["marking", "my-number", "corporate-number", "credit-card", "jp-phone", "email-address", "jp-address",
        "credential", "customer-list", "encrypted-archive"]


def _entry_point(name: str):
    [ep] = [e for e in entry_points(group="himitsu.detectors") if e.name == name]
    return ep


@pytest.mark.parametrize("name", MINE)
def test_loads_through_entry_point(name):
    cls = _entry_point(name).load()
    assert issubclass(cls, Detector) and cls.id == name
    assert cls.reasons and all(code.count(".") >= 1 for code in cls.reasons)
    detector = cls()
    assert list(detector.detect(TextPart("", "", "text"))) == []


@pytest.mark.parametrize("name", MINE)
def test_reason_codes_are_namespaced_and_english(name):
    cls = _entry_point(name).load()
    prefixes = {code.split(".")[0] for code in cls.reasons}
    assert len(prefixes) == 1
    assert all(text.isascii() or any(ch.isascii() and ch.isalpha() for ch in text) for text in cls.reasons.values())


def test_engine_detectors_import_without_django():
    modules = [_entry_point(n).value.split(":")[0] for n in MINE]
    code = ("import importlib, json, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'ninja'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(out.stdout) == []


def test_default_inspect_runs_detect_on_every_part():
    class Counter(Detector):
        id = "counter"
        reasons = {"counter.part": "part {n}"}

        def detect(self, part, context=None):
            yield self.finding(part, 0, len(part.text), 1.0, "counter.part", "", n=len(part.text))

    extraction = Extraction(parts=[TextPart("a", "x", "text"), TextPart("b", "yy", "text")])
    found = list(Counter().inspect(extraction))
    assert [(f.part, f.explanation) for f in found] == [("a", "part 1"), ("b", "part 2")]
    assert Counter().validate("anything") is True


def test_base_helpers():
    assert redact("123456789012") == "12******9012"
    assert ascii_digits("１２３4-5") == "12345"
    words = ContextWords(["個人番号", "My Number"], window=12)
    assert words.near("my number: 1", 11, 12) == "my number"
    assert words.near("個人番号" + "x" * 20 + "1", 24, 25) is None
    assert words.near("個人番号" + "x" * 8 + "1", 12, 13) == "個人番号"


PLANTED = {
    "123456789018": "マイナンバー：123456789018",
    "7000012050002": "法人番号 7000012050002",
    "4314159265358975": "カード番号 4314159265358975",
    "09012345678": "携帯 090-1234-5678".replace("-", ""),
    "taro.yamada@acme.co.jp": "メール taro.yamada@acme.co.jp",
    "霞が関1-3-1": "住所 東京都千代田区霞が関1-3-1",
    "Tr0ub4dor&3": 'password = "Tr0ub4dor&3"',
    "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8": "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
}


def test_no_raw_value_leaves_a_detector():
    text = "\n".join(PLANTED.values()) + "\n" + "\n".join(
        f"{name},090-1234-{5600 + i},user{i}@acme.co.jp"
        for i, name in enumerate(["山田 太郎", "佐藤 花子", "鈴木 一郎", "高橋 健", "田中 美咲", "伊藤 翔"]))
    part = TextPart("", text, "text")
    findings = [f for name in MINE for f in _entry_point(name).load()().detect(part)]
    detectors = {f.detector for f in findings}
    assert detectors >= {"my-number", "corporate-number", "credit-card", "jp-phone", "email-address", "jp-address",
                         "credential", "customer-list"}
    for f in findings:
        shown = json.dumps([f.snippet, f.explanation, f.params], ensure_ascii=False)
        for raw in PLANTED:
            assert raw not in shown, (f.detector, raw)
        assert text[f.start:f.end] not in shown or f.detector == "marking"
