"""The shared prefilter changes where the pattern detectors look, never what they find.

Over real documentation text (../shared/corpus/python-docs-ja, Japanese and English pages) with planted
values and random fragments built from the pieces of every detector's patterns (digits of both widths
and their separators, markings in every spacing and width, key names, tokens, addresses), the findings
of all pattern detectors run together through ``Engine.inspect`` (one prefilter pass per part, one
shared cache) equal the findings of each detector run alone the old way (``prefilter.ENABLED = False``:
each scans its whole text, customer-list runs its three source detectors again).
"""

from __future__ import annotations

import random
import re

import pytest

from himitsu.engine import prefilter, registry
from himitsu.engine.check import Context, Engine
from himitsu.engine.detectors.base import literal_starts, number_starts
from himitsu.engine.detectors.marking import WHITESPACE
from himitsu.engine.model import Extraction, Finding, TextPart
from tests.corpus import CORPUS as SHARED_CORPUS

CORPUS = SHARED_CORPUS / "library"
PATTERN_DETECTORS = ["marking", "my-number", "corporate-number", "credit-card", "jp-phone", "email-address",
                     "jp-address", "credential", "customer-list"]
KEY = b"prefilter-test-key-0123456789abcdef"

PLANTS = [
    "マイナンバー：123456789018", "個人番号 1234 5678 9018", "１２３４５６７８９０１８", "法人番号 7000012050002",
    "登録番号 T7000012050002", "7-0000-1205-0002", "カード番号 4314-1592-6535-8975", "4111 1111 1111 1111",
    "378282246310005", "TEL 03-1234-5678", "03(1234)5678", "(03) 1234-5678", "+81-3-1234-5678",
    "＋８１ ３ １２３４ ５６７８", "090-1234-5678", "0120-123-456", "連絡先 taro.yamada@acme.co.jp",
    "hanako＠example.co.jp", "icon@2x.png", "〒100-8901 東京都千代田区霞が関1-3-1",
    "京都市中京区寺町通御池上る上本能寺前町488番地",
    "札幌市中央区北1条西2丁目", "郵便番号：１００－０００１", "東京都市大学", 'password = "Tr0ub4dor&3"',
    "PASSWORD: hunter2xyz!", "パスワード：Sakura2024", "AKIAIOSFODNN7ABCDEFG", "ghp_" + "a1B2c3D4" * 5,
    "sk-" + "proj-Ab3dEf9hIjK1mNoPqR5tUvWxYz", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlMTIz",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----", "【社外秘】", "㊙", "社 外 秘",
    "極秘", "(秘)", "区分：秘", "CONFIDENTIAL", "Confidential: draft", "ＣＯＮＦＩＤＥＮＴＩＡＬ",
    "C O N F I D E N T I A L", "Strictly\nConfidential", "Do Not\u3000Distribute", "[internal use only]",
    "confidential", "Internal Use Only", "取扱注意", "マル秘",
]
#: pieces the random fragments are made of: near misses and the characters around pattern boundaries
PIECES = [
    *"0123456789０１２３４５６７８９", *"0123456789", " ", "\u3000", "-", "‐", "－", "ー", "—", "(", ")", "（", "）",
    "+", "＋", ".", "．", ",", ":", "/", "T", "Ｔ", "x", "_", "\n", "\t", "81", "090", "03", "0120", "4111", "秘",
    "社外秘", "社 外",
    "機密", "秘密", "【", "】", "[", "]", "Confidential", "CONFIDENTIAL", "confidential", "Proprietary", "For",
    "Internal", "Use", "Only", "Do", "Not", "Distribute", "\u2003", "password", "Password", "api_key", "apiKey",
    "secret", "PW", "=", "：", '"', "Xy9#kLm2Qw", "AKIA", "ABCDEFGHIJKLMNOP", "ghp_", "sk-", "eyJ", "@", "＠",
    "acme.co.jp", "example.com", "taro", "〒", "100-0001", "東京都", "千代田区", "京都市", "北区", "一丁目", "2番3号",
    "1-3-1", "郵便番号", "山田 太郎", "様",
]


def corpus_parts(limit: int = 1_500_000) -> list[str]:
    ja, en = sorted((CORPUS / "ja").glob("*.txt")), sorted((CORPUS / "en").glob("*.txt"))
    if not ja or not en:
        pytest.skip(f"corpus not found: {CORPUS}")
    out, size = [], 0
    for a, b in zip(ja, en, strict=False):
        for path in (a, b):
            out.append(path.read_text(encoding="utf-8"))
            size += len(out[-1])
        if size >= limit:
            break
    return out


def planted(texts: list[str], seed: int = 7) -> list[str]:
    rnd = random.Random(seed)
    names = ["山田 太郎", "佐藤 花子", "鈴木 一郎", "高橋 次郎", "田中 三郎", "伊藤 四郎"]
    table = "\n氏名\t電話\tメール\n" + "".join(
        f"{name}\t03-1234-{5670 + i}\ttaro{i}@acme.co.jp\n" for i, name in enumerate(names))
    out = []
    for i, text in enumerate(texts):
        inserts = [rnd.choice(PLANTS) for _ in range(8)]
        inserts += ["".join(rnd.choice(PIECES) for _ in range(rnd.randint(2, 14))) for _ in range(40)]
        if i % 10 == 0:
            inserts.append(table)
        pieces, last = [], 0
        for pos in sorted(rnd.randrange(len(text) + 1) for _ in inserts):
            pieces.append(text[last:pos])
            last = pos
        pieces.append(text[last:])
        out.append("".join(p + (inserts[j] if j < len(inserts) else "") for j, p in enumerate(pieces)))
    return out


@pytest.fixture(scope="module")
def extraction() -> Extraction:
    return Extraction(parts=[TextPart(f"page{i}.txt", t, "text") for i, t in enumerate(planted(corpus_parts()))])


def old_way(extraction: Extraction, name: str, monkeypatch: pytest.MonkeyPatch) -> list[Finding]:
    with monkeypatch.context() as m:
        m.setattr(prefilter, "ENABLED", False)
        found = list(registry.detector_classes()[name]().inspect(extraction))
    return sorted(found, key=lambda f: (f.part, f.start, f.end, f.detector))


def test_prefilter_is_there():
    assert prefilter.AVAILABLE, "the hyperscan wheel is pinned in requirements.lock"
    part = TextPart("", "電話 03-1234-5678、社外秘", "text")
    assert prefilter.starts(part, "numbers")
    assert number_starts(part) == [3, 4, 6, 7, 8, 9, 11, 12, 13, 14]  # the digits of the run " 03-1234-5678"
    assert number_starts(part, min_digits=12) == []  # 10 digits: no My Number, corporate or card number there
    wide = TextPart("", "番号 1234 5678 9012、電話 03-1234-5678", "text")
    assert number_starts(wide, min_digits=12) == [3, 4, 5, 6, 8, 9, 10, 11, 13, 14, 15, 16]
    assert prefilter.starts(part, "marking") == [16, 18]  # 社外秘 and its 秘
    assert prefilter.starts(TextPart("", "plain text", "text"), "marking") == []


def test_engine_findings_equal_each_detector_alone_the_old_way(extraction, monkeypatch):
    engine = Engine(index_dir=None, key=KEY, detectors=PATTERN_DETECTORS)
    result = engine.inspect(extraction)
    assert prefilter.AVAILABLE
    for name in PATTERN_DETECTORS:
        new = [f for f in result.findings if f.detector == name]
        old = old_way(extraction, name, monkeypatch)
        assert len(old) >= 10, (name, len(old))  # the planted values are there to be found
        assert new == old, name


@pytest.mark.parametrize("name", PATTERN_DETECTORS)
def test_detector_alone_with_prefilter_equals_old_way(extraction, monkeypatch, name):
    alone = sorted(Engine(index_dir=None, key=KEY, detectors=[name]).inspect(extraction).findings,
                   key=lambda f: (f.part, f.start, f.end, f.detector))
    assert alone == old_way(extraction, name, monkeypatch)
    detector = registry.detector_classes()[name]()
    no_cache = [f for part in extraction.parts for f in detector.detect(part)]
    assert sorted(no_cache, key=lambda f: (f.part, f.start, f.end)) == alone


def test_without_hyperscan_same_findings(extraction, monkeypatch):
    small = Extraction(parts=extraction.parts[:20])
    with_prefilter = Engine(index_dir=None, key=KEY, detectors=PATTERN_DETECTORS).inspect(small).findings
    monkeypatch.setattr(prefilter, "_hs", None)
    assert prefilter.starts(small.parts[0], "numbers") is None
    assert Engine(index_dir=None, key=KEY, detectors=PATTERN_DETECTORS).inspect(small).findings == with_prefilter


def test_customer_list_reuses_the_source_findings(monkeypatch):
    text = "氏名\t電話\n" + "".join(f"{name}\t03-1234-{5670 + i}\n" for i, name in enumerate(
        ["山田 太郎", "佐藤 花子", "鈴木 一郎", "高橋 次郎", "田中 三郎", "伊藤 四郎"]))
    extraction = Extraction(parts=[TextPart("", text, "text")])
    classes = registry.detector_classes()
    calls = []
    original = classes["jp-phone"].detect

    def counting(self, part, context=None):
        calls.append(part.path)
        return original(self, part, context)

    monkeypatch.setattr(classes["jp-phone"], "detect", counting)
    context = Context(None, None, None, extraction, cache={})
    found = [f for name in ("customer-list", "jp-phone") for f in classes[name]().inspect(extraction, context)]
    assert [f.detector for f in found].count("jp-phone") == 6
    assert [f.detector for f in found].count("customer-list") == 1
    assert calls == [""]  # jp-phone ran once for both


def test_whitespace_is_what_backslash_s_matches():
    assert set(WHITESPACE) == {chr(c) for c in range(0x110000) if re.match(r"\s", chr(c))}


@pytest.mark.parametrize(("pattern", "heads"), [
    ("AKIA[A-Z0-9]{16}", ["AKIA"]), ("gh[pousr]_[A-Za-z0-9]{36}", ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]),
    (r"https://hooks\.slack\.com/x", ["https://hooks.slack.com/x"]), ("sk-(?:proj-)?x", ["sk-"]),
    ("abc?d", ["ab"]), ("-----BEGIN[A-Z ]{0,3}", ["-----BEGIN"]),
])
def test_literal_starts(pattern, heads):
    assert literal_starts(pattern) == heads


def test_literal_starts_refuses_a_pattern_without_one():
    with pytest.raises(ValueError):
        literal_starts("[a-z]+x")


def test_finditer_emulates_a_whole_text_search():
    rx = re.compile("ab|b[a-c]+|ca")
    text = "xxabcabcab bca cab"
    everywhere = list(range(len(text)))
    assert [m.span() for m in prefilter.finditer(rx, text, everywhere)] == [m.span() for m in rx.finditer(text)]
    assert [m.span() for m in prefilter.finditer(rx, text, None)] == [m.span() for m in rx.finditer(text)]


@pytest.mark.parametrize("text", [
    "📞 03-1234-5678 😀【社外秘】 \ud800 password = \"Tr0ub4dor&3\" 〒100-8901 東京都千代田区霞が関1-3-1 a@b.co.jp",
    "𠮷野家\u3000ＣＯＮＦＩＤＥＮＴＩＡＬ\n\U0001f600 マイナンバー：123456789018 \udcff法人番号 7000012050002",
    "plain ASCII: 090-1234-5678, CONFIDENTIAL, AKIAIOSFODNN7ABCDEFG, 4111 1111 1111 1111",
])
def test_offsets_hold_for_any_character_width(text, monkeypatch):
    """Offsets come back from UTF-8 byte offsets: 4-byte characters, lone surrogates and pure ASCII."""
    extraction = Extraction(parts=[TextPart("", text, "text")])
    new = Engine(index_dir=None, key=KEY, detectors=PATTERN_DETECTORS).inspect(extraction).findings
    old = sorted((f for name in PATTERN_DETECTORS for f in old_way(extraction, name, monkeypatch)),
                 key=lambda f: (f.part, f.start, f.end, f.detector))
    assert new == old
    assert len(new) >= 3


def test_compiled_grouping_equals_the_python_one(monkeypatch):
    """The C pass that sorts the Hyperscan hits, turns byte offsets into character offsets and groups them
    (``_text.group_hits``) gives what the Python reference gives, on text of every character width."""
    assert prefilter._group_hits is not None, "the C extension is built by make install"
    rng = random.Random(23)
    pieces = [*PLANTS, "a", " ", "\n", "𠮷", "\ud800", "😀", "ｱ", "東京", "秘", "03-", "1234", "＠", "@x.jp"]
    texts = ["", "plain", *("".join(rng.choice(pieces) for _ in range(rng.randint(1, 40))) for _ in range(300))]
    for text in texts:
        compiled = prefilter._scan(text)
        monkeypatch.setattr(prefilter, "COMPILED", False)
        reference = prefilter._scan(text)
        monkeypatch.setattr(prefilter, "COMPILED", True)
        assert compiled == reference, text
    assert any(hits for text in texts for hits in prefilter._scan(text).values())
