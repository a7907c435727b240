"""Normalisation: the fast path equals the reference definition, folds what copies change, and maps
normalised spans back to the original text."""

from __future__ import annotations

import random

import numpy as np
import pytest

from himitsu.engine.normalize import normalize, reference_normalize
from tests.corpus import CORPUS as SHARED_CORPUS

CORPUS = SHARED_CORPUS / "library"


def corpus_text(lang: str, limit: int | None = None) -> str:
    files = sorted((CORPUS / lang).glob("*.txt"))[:limit]
    if not files:
        pytest.skip(f"corpus {CORPUS / lang} not available")
    return "\n".join(f.read_text(encoding="utf-8") for f in files)


@pytest.mark.parametrize(("original", "expected"), [
    ("ＡＢＣ１２３", "abc123"),  # full-width ASCII
    ("ｶﾞｲﾄﾞﾌﾞｯｸ", "ガイドブック"),  # half-width katakana with voiced marks
    ("ﾊﾟｽﾜｰﾄﾞ", "パスワド"),  # semi-voiced, half-width long vowel removed
    ("か゛き゜", "がき\u309a"),  # spacing voiced marks compose like combining ones (き has no ゜ form)
    ("コンピューター", "コンピュタ"),
    ("コンピュ－タ－", "コンピュタ"),  # full-width hyphen-minus for ー
    ("コンピュ−タ−", "コンピュタ"),  # minus sign for ー
    ("コンピュ―タ―", "コンピュタ"),  # horizontal bar for ー
    ("e-mail — e‐mail – email", "emailemailemail"),
    ("「秘密」です。『極秘』（社外秘）・【注意】…", "秘密です極秘社外秘注意"),
    ("Hello,\r\n  World!\t", "helloworld"),
    ("全角\u3000空白と\u200bゼロ幅\ufeff", "全角空白とゼロ幅"),
    ("霞ヶ関とヵ所", "霞ケ関とカ所"),
    ("㍿と㈱", "株式会社と株"),
    ("①②⑩⑴", "12101"),
    ("Ⅻ章", "xii章"),
    ("ΣΑΣ σας", "σασσασ"),
    ("Straße STRASSE", "straßestrasse"),  # simple case folding only
    ("cafe\u0301 café", "cafécafé"),
    ("葛\U000E0100城 髙橋", "葛城髙橋"),  # variation selector removed; 髙 is not folded to 高
    ("価格は￥１,０００円（税込）", "価格は1000円税込"),
    ("😀👍🏻 ok", "ok"),
    ("\ue000外字", "\ue000外字"),  # private use (gaiji) kept
    ("", ""),
])
def test_folds(original: str, expected: str) -> None:
    assert normalize(original).text == expected
    assert reference_normalize(original) == expected


def test_copies_normalise_alike() -> None:
    original = "営業秘密の管理について、全ての従業員は「取扱注意」の書類をＰＤＦで保存すること。"
    retyped = "営業秘密の管理について 全ての従業員は『取扱注意』の書類を\nPDFで保存すること．"
    half = "営業秘密の管理について､全ての従業員は｢取扱注意｣の書類をpdfで保存すること｡"
    assert normalize(original).text == normalize(retyped).text == normalize(half).text


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_corpus_equals_reference(lang: str) -> None:
    text = corpus_text(lang)
    norm = normalize(text)
    assert norm.text == reference_normalize(text)
    assert normalize(norm.text).text == norm.text  # idempotent


def _every_code_point(context: str) -> str:
    chars = (chr(c) for c in [*range(0x20, 0xD800), *range(0xE000, 0x40000), 0xE0001, 0xE0101, 0xF0000, 0x10FFFD])
    return "".join(f"a{c}{context}" for c in chars)


@pytest.mark.parametrize("context", ["", "\u0301", "\u3099", "\u0327\u0301", "\u1161"])
def test_every_code_point_in_context(context: str) -> None:
    """Each code point after a letter and before combining marks or a Hangul vowel (which compose)."""
    text = _every_code_point(context)
    norm = normalize(text)
    assert norm.text == reference_normalize(text)
    if not context:  # with marks after them, a few folded bases (Ϊ, ヵ) compose only on a second pass
        assert normalize(norm.text).text == norm.text


def test_random_strings_equal_reference() -> None:
    rng = random.Random(3)
    tricky = list("かはカハうゝヽ゛゜ﾞﾟ\u3099\u309a…‥①⑴⑽㈱㍿℡ßẞİΣσςＡａ　 \n-ー―－ｰ〜～eé\u0301\u0327Ŀ⒜ﾄ")
    tricky += [chr(c) for c in range(0x300, 0x370, 5)] + [chr(c) for c in range(0xFF61, 0xFFA0, 3)]
    tricky += [chr(c) for c in range(0x1100, 0x1200, 9)] + ["\ud800", "\U0001f600", "\ufe0f", "\U000e0101"]
    for _ in range(20_000):
        s = "".join(rng.choice(tricky) for _ in range(rng.randint(0, 12)))
        assert normalize(s).text == reference_normalize(s), repr(s)


def test_origin_shape() -> None:
    text = "ＡＢ　ＣＤ、ｶﾞｲﾄﾞ㍿é\u0301"
    norm = normalize(text)
    assert norm.origin.dtype == np.int64
    assert len(norm.origin) == len(norm.text) + 1
    assert norm.origin[-1] == len(text)
    assert np.all(np.diff(norm.origin) >= 0)


@pytest.mark.parametrize(("text", "span", "expected"), [
    ("ＡＢ　ＣＤ", (1, 3), (1, 4)),  # "bc": the removed space between is inside
    ("ｶﾞｲﾄﾞ", (0, 1), (0, 2)),  # ガ came from two characters
    ("ｶﾞｲﾄﾞ", (1, 3), (2, 5)),
    ("x㍿y", (2, 3), (1, 2)),  # 式 inside the expansion of ㍿ maps to ㍿
    ("x㍿y", (1, 6), (1, 3)),
    ("「秘密」", (0, 2), (1, 3)),
    ("abc", (1, 1), (1, 1)),
])
def test_to_original(text: str, span: tuple[int, int], expected: tuple[int, int]) -> None:
    assert normalize(text).to_original(*span) == expected


def test_to_original_rejects_outside() -> None:
    with pytest.raises(ValueError):
        normalize("abc").to_original(2, 4)


def test_spans_map_back_on_corpus() -> None:
    """Normalising the original span gives back exactly the normalised span (no merged clusters here)."""
    text = corpus_text("ja", limit=20)
    norm = normalize(text)
    rng = np.random.default_rng(5)
    starts = rng.integers(0, len(norm.text) - 200, 500)
    ends = starts + rng.integers(1, 200, 500)
    orig_starts, orig_ends = norm.spans_to_original(starts, ends)
    for a, b, s, e in zip(starts, ends, orig_starts, orig_ends, strict=True):
        assert reference_normalize(text[s:e]) == norm.text[a:b]


def test_spans_map_back_with_merged_clusters() -> None:
    rng = random.Random(11)
    alphabet = list("ｶｷﾊﾞﾟｲﾄﾞ㍿⑽e\u0301\u0327ab、　") + ["か゛"]
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 20)))
        norm = normalize(text)
        if not norm.text:
            continue
        a = rng.randrange(len(norm.text))
        b = rng.randrange(a + 1, len(norm.text) + 1)
        s, e = norm.to_original(a, b)
        assert norm.text[a:b] in reference_normalize(text[s:e]), (text, a, b)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_compiled_path_equals_numpy_path(lang: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The C pass (himitsu.engine._text) and the numpy path give the same text, offsets and clusters: on the
    corpus paragraph by paragraph, and on random strings mixing marks after kept and removed characters, plane
    14, code points beyond the tables, lone surrogates and characters that need NFKC in context."""
    from himitsu.engine import normalize as module

    if module._fast_normalize is None:
        pytest.fail("the C extension himitsu.engine._text is not built (make install)")
    rng = random.Random(7)
    alphabet = ("aZ9 ,。、「」ー―~ｶﾞ\u3099\u0301\u20dd\ufe0f🙂\U000e0041\U000f0000\U0003ffff\ud800か゛㍿①Σς"
                "\u00a0\u200b\t\n漢字カナ")
    texts = [p for p in corpus_text(lang, 40).split("\n\n") if p][:400]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40))) for _ in range(3000)]
    texts += ["", "\u0301", "\u0301a", ",\u0301a\u0301"]
    for text in texts:
        monkeypatch.setattr(module, "COMPILED", True)
        fast = normalize(text)
        monkeypatch.setattr(module, "COMPILED", False)
        slow = normalize(text)
        assert fast.text == slow.text, repr(text)
        assert np.array_equal(fast.origin, slow.origin) and fast.origin.dtype == slow.origin.dtype, repr(text)
        assert np.array_equal(fast.merged, slow.merged), repr(text)
