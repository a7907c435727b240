"""The pattern detectors over 5 MB of Japanese documentation text with planted values: every planted value
is found where it was planted, by the whole engine and by each detector alone, and no snippet holds a
raw value.

This file used to time the detectors; their speed is measured by the benchmark now
(``tests/bench/detect_speed.py``, "Speed: the pattern detectors"), not asserted by a unit test.
"""

from __future__ import annotations

import bisect
from importlib.metadata import entry_points

import pytest

from himitsu.engine.check import Engine
from himitsu.engine.model import Extraction, Finding, TextPart
from tests.corpus import CORPUS as SHARED_CORPUS

CORPUS = SHARED_CORPUS / "library" / "ja"
SIZE = 5_000_000
KEY = b"throughput-test-key-0123456789abcdef"
NAMES = ["marking", "my-number", "corporate-number", "credit-card", "jp-phone", "email-address", "jp-address",
         "credential", "customer-list"]
PLANTS = [
    ("my-number", "マイナンバー：123456789018"), ("corporate-number", "法人番号 7000012050002"),
    ("credit-card", "カード番号 4314-1592-6535-8975"), ("jp-phone", "TEL 03-1234-5678"),
    ("email-address", "連絡先 taro.yamada@acme.co.jp"), ("jp-address", "〒100-8901 東京都千代田区霞が関1-3-1"),
    ("credential", 'password = "Tr0ub4dor&3"'), ("marking", "【社外秘】"),
    ("customer-list", "氏名\t電話\n" + "".join(f"{name}\t090-1234-{5670 + i}\n" for i, name in enumerate(
        ["山田 太郎", "佐藤 花子", "鈴木 一郎", "高橋 次郎", "田中 三郎", "伊藤 四郎"]))),
]
RAW = ["123456789018", "7000012050002", "4314-1592-6535-8975", "1234-5678", "taro.yamada", "霞が関1-3-1", "Tr0ub4dor"]


def corpus_text() -> str:
    files = sorted(CORPUS.glob("*.txt"))
    if not files:
        pytest.skip(f"corpus not found: {CORPUS}")
    chunks, size, i = [], 0, 0
    while size < SIZE:
        chunk = files[i % len(files)].read_text(encoding="utf-8")
        if i % 20 == 0:  # plant every kind of value now and then, at line starts
            chunk = "\n".join(text for _, text in PLANTS) + "\n" + chunk
        chunks.append(chunk)
        size += len(chunk.encode())
        i += 1
    return "\n".join(chunks)


@pytest.fixture(scope="module")
def text() -> str:
    return corpus_text()


def assert_all_found(text: str, findings: list[Finding], name: str, value: str) -> None:
    """A finding of ``name`` starts inside every copy of ``value`` in ``text``."""
    starts = sorted(f.start for f in findings if f.detector == name)
    copies, at = 0, text.find(value)
    while at >= 0:
        copies += 1
        i = bisect.bisect_left(starts, at)
        assert i < len(starts) and starts[i] < at + len(value), f"{name}: {value!r} at {at} not found"
        at = text.find(value, at + 1)
    assert copies >= 10


@pytest.mark.slow
def test_planted_values_found_by_the_engine(text):
    result = Engine(index_dir=None, key=KEY, detectors=NAMES).inspect(Extraction(parts=[TextPart("", text, "text")]))
    for name, value in PLANTS:
        assert_all_found(text, result.findings, name, value)
    for f in result.findings:
        assert not any(raw in f.snippet or raw in f.explanation for raw in RAW), f


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_planted_values_found_by_each_detector_alone(text, name):
    eps = {e.name: e for e in entry_points(group="himitsu.detectors")}
    findings = list(eps[name].load()().detect(TextPart("", text, "text")))
    assert_all_found(text, findings, name, dict(PLANTS)[name])
