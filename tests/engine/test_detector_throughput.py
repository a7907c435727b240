"""Throughput of the pattern detectors over 5 MB of Japanese documentation text with planted values.

A measurement, printed (run with ``-s``); the assertion only guards against pathological slowness
(catastrophic backtracking), since timing on a shared 2-core machine varies. Target: all these
detectors together ≥ 20 MB/s.
"""

from __future__ import annotations

import time
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from himitsu.engine.model import TextPart

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "python-docs-ja" / "library" / "ja"
SIZE = 5_000_000
NAMES = ["marking", "my-number", "corporate-number", "credit-card", "jp-phone", "email-address", "jp-address",
         "credential", "customer-list"]
PLANTS = [
    ("my-number", "マイナンバー：123456789018"), ("corporate-number", "法人番号 7000012050002"),
    ("credit-card", "カード番号 4314-1592-6535-8975"), ("jp-phone", "TEL 03-1234-5678"),
    ("email-address", "連絡先 taro.yamada@acme.co.jp"), ("jp-address", "〒100-8901 東京都千代田区霞が関1-3-1"),
    ("credential", 'password = "Tr0ub4dor&3"'), ("marking", "【社外秘】"),
]


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


@pytest.mark.slow
def test_detector_throughput():
    text = corpus_text()
    megabytes = len(text.encode()) / 1e6
    part = TextPart("", text, "text")
    planted = text.count("【社外秘】")
    eps = {e.name: e for e in entry_points(group="himitsu.detectors")}
    total = 0.0
    print(f"\n{megabytes:.1f} MB, {len(text):,} characters, {planted} copies of each planted value")
    for name in NAMES:
        detector = eps[name].load()()
        start = time.perf_counter()
        findings = list(detector.detect(part))
        elapsed = time.perf_counter() - start
        total += elapsed
        print(f"{name:18s} {megabytes / elapsed:8.1f} MB/s  {len(findings):5d} findings")
        if name != "customer-list":
            assert sum(f.detector == name for f in findings) >= planted
    print(f"{'all together':18s} {megabytes / total:8.1f} MB/s")
    assert megabytes / total > 2.0
