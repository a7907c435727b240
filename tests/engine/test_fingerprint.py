"""Keyed winnowing: SipHash is SipHash, the rolling hash depends only on the k-gram, winnowing selects
what the definition says, and the guarantee holds: a shared run of t = w + k − 1 normalised characters
always shares a fingerprint; the key changes every hash."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from himitsu.engine import fingerprint
from himitsu.engine.fingerprint import (
    DEFAULT_K,
    DEFAULT_W,
    Fingerprinter,
    Fingerprints,
    covered_spans,
    siphash24,
    winnow,
)
from himitsu.engine.normalize import normalize
from tests.corpus import CORPUS as SHARED_CORPUS

KEY = bytes(range(32))
CORPUS = SHARED_CORPUS / "library"


def corpus_docs(lang: str, limit: int = 40) -> list[str]:
    files = sorted((CORPUS / lang).glob("*.txt"))[:limit]
    if not files:
        pytest.skip("corpus not available")
    return [normalize(f.read_text(encoding="utf-8")).text for f in files]


def _siphash_reference(key: bytes, message: bytes) -> int:
    """SipHash-2-4 written from the paper, one message at a time."""
    mask = (1 << 64) - 1

    def rotl(x: int, b: int) -> int:
        return ((x << b) | (x >> (64 - b))) & mask

    def rounds(v: list[int], n: int) -> None:
        for _ in range(n):
            v[0] = (v[0] + v[1]) & mask
            v[1] = rotl(v[1], 13) ^ v[0]
            v[0] = rotl(v[0], 32)
            v[2] = (v[2] + v[3]) & mask
            v[3] = rotl(v[3], 16) ^ v[2]
            v[0] = (v[0] + v[3]) & mask
            v[3] = rotl(v[3], 21) ^ v[0]
            v[2] = (v[2] + v[1]) & mask
            v[1] = rotl(v[1], 17) ^ v[2]
            v[2] = rotl(v[2], 32)

    k0, k1 = int.from_bytes(key[:8], "little"), int.from_bytes(key[8:], "little")
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]
    padded = message + bytes((8 - len(message) % 8 - 1) % 8) + bytes([len(message) & 0xFF])
    for i in range(0, len(padded), 8):
        m = int.from_bytes(padded[i:i + 8], "little")
        v[3] ^= m
        rounds(v, 2)
        v[0] ^= m
    v[2] ^= 0xFF
    rounds(v, 4)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def test_siphash_vector() -> None:
    """The reference test vector for an 8-byte message (key 00..0f, message 00..07)."""
    message = np.array([int.from_bytes(bytes(range(8)), "little")], dtype=np.uint64)
    assert int(siphash24(bytes(range(16)), message)[0]) == 0x93F5F5799A932462
    assert _siphash_reference(bytes(range(16)), bytes(range(8))) == 0x93F5F5799A932462
    assert _siphash_reference(bytes(range(16)), b"") == 0x726FDB47DD0E0E31


def test_siphash_matches_reference() -> None:
    rng = np.random.default_rng(1)
    key = rng.bytes(16)
    messages = rng.integers(0, 2**64, 500, dtype=np.uint64, endpoint=False)
    expected = [_siphash_reference(key, int(m).to_bytes(8, "little")) for m in messages]
    assert siphash24(key, messages).tolist() == expected


def _winnow_reference(values: list[int], w: int) -> list[int]:
    """Winnowing as the paper states it: per window the minimum, rightmost on ties, each position once."""
    w = min(w, len(values))
    selected: list[int] = []
    for start in range(len(values) - w + 1):
        window = values[start:start + w]
        low = min(window)
        pick = start + max(i for i, v in enumerate(window) if v == low)
        if not selected or selected[-1] != pick:
            selected.append(pick)
    return selected


@pytest.mark.parametrize("w", [1, 2, 3, 4, 5, 8, 13, 36])
def test_winnow_equals_reference(w: int) -> None:
    rng = random.Random(w)
    for _ in range(300):
        values = [rng.randrange(rng.choice([2, 5, 1000, 2**32])) for _ in range(rng.randint(1, 120))]
        assert winnow(np.array(values, dtype=np.uint64), w).tolist() == _winnow_reference(values, w)


def test_kgram_hash_depends_only_on_the_kgram() -> None:
    fp = Fingerprinter(KEY, k=5, w=4)
    text = "営業秘密の管理abcdef漢字かなカナ😀𠮷野家0123"
    all_hashes = fp.kgram_hashes(text)
    alone = [fp.kgram_hashes(text[i:i + 5])[0] for i in range(len(text) - 4)]
    assert all_hashes.tolist() == [int(h) for h in alone]


def test_long_texts_in_chunks_give_the_same_fingerprints(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "".join(corpus_docs("ja", limit=3))
    fp = Fingerprinter(KEY)
    whole = fp.fingerprints(text)
    monkeypatch.setattr(fingerprint, "CHUNK", 97)
    chunked = fp.fingerprints(text)
    assert whole.positions.tolist() == chunked.positions.tolist()
    assert whole.hashes.tolist() == chunked.hashes.tolist()


def test_fingerprints_shape_and_density() -> None:
    fp = Fingerprinter(KEY)
    text = "".join(corpus_docs("en", limit=10))
    f = fp.fingerprints(text)
    assert isinstance(f, Fingerprints) and f.k == DEFAULT_K and f.text_length == len(text)
    assert f.hashes.dtype == np.uint64 and f.positions.dtype == np.int64
    assert np.all(np.diff(f.positions) > 0)
    assert f.positions[0] >= 0 and f.positions[-1] <= len(text) - DEFAULT_K
    assert len(f) / len(text) == pytest.approx(2 / (DEFAULT_W + 1), rel=0.1)


def test_defaults() -> None:
    fp = Fingerprinter(KEY)
    assert (fp.k, fp.w, fp.threshold) == (12, 24, 35)


def test_short_texts() -> None:
    fp = Fingerprinter(KEY)
    assert len(fp.fingerprints("a" * (fp.k - 1))) == 0
    assert len(fp.fingerprints("")) == 0
    assert len(fp.fingerprints(normalize("営業秘密の管理規程第一条について"))) == 1  # k ≤ n < t: one window


@pytest.mark.parametrize(("positions", "expected"), [
    ([], ([], [])),
    ([4], ([4], [19])),
    ([0, 10, 15, 40, 31], ([0, 31], [30, 55])),  # [0,15) [10,25) [15,30) join; 31 leaves a gap
    ([7, 7, 7], ([7], [22])),
])
def test_covered_spans(positions: list[int], expected: tuple[list[int], list[int]]) -> None:
    starts, ends = covered_spans(np.array(positions), 15)
    assert (starts.tolist(), ends.tolist()) == expected


def test_key_is_required() -> None:
    with pytest.raises(ValueError):
        Fingerprinter(b"short")


def _shares_inside(a: Fingerprints, b: Fingerprints, a_run: tuple[int, int], b_run: tuple[int, int],
                   k: int) -> bool:
    """Some fingerprint hash is in both, at a k-gram inside the shared run in each text."""
    def inside(f: Fingerprints, run: tuple[int, int]) -> set[int]:
        ok = (f.positions >= run[0]) & (f.positions + k <= run[1])
        return set(f.hashes[ok].tolist())
    return bool(inside(a, a_run) & inside(b, b_run))


@pytest.mark.parametrize(("k", "w", "alphabet"), [
    (3, 4, "ab"), (2, 8, "abc"), (5, 5, "abcd"), (DEFAULT_K, DEFAULT_W, "ab"),
    (DEFAULT_K, DEFAULT_W, "あいうえおかきくけこ漢字"), (DEFAULT_K, DEFAULT_W, "abcdefghijklmnopqrstuvwxyz"),
])
def test_guarantee_on_random_text(k: int, w: int, alphabet: str) -> None:
    """Random texts (small alphabets make many ties) sharing one run of exactly t characters."""
    fp = Fingerprinter(KEY, k=k, w=w)
    t = fp.threshold
    rng = random.Random(k * 100 + w)
    for _ in range(400):
        run = "".join(rng.choice(alphabet) for _ in range(t))
        pre_a, post_a, pre_b, post_b = ("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 3 * t)))
                                        for _ in range(4))
        a, b = pre_a + run + post_a, pre_b + run + post_b
        assert _shares_inside(fp.fingerprints(a), fp.fingerprints(b), (len(pre_a), len(pre_a) + t),
                              (len(pre_b), len(pre_b) + t), k)


def test_guarantee_exhaustive_small() -> None:
    """k = 3, w = 4 (t = 6) over {a, b}: every possible shared run, in every context of length ≤ 3."""
    fp = Fingerprinter(KEY, k=3, w=4)
    contexts = ["".join(c) for n in range(4) for c in itertools.product("ab", repeat=n)]
    for run in ("".join(c) for c in itertools.product("ab", repeat=6)):
        texts = [(pre + run + post, len(pre)) for pre in contexts for post in contexts[::3]]
        prints = [(fp.fingerprints(text), start) for text, start in texts]
        first, start0 = prints[0]
        for other, start in prints[1:]:
            assert _shares_inside(first, other, (start0, start0 + 6), (start, start + 6), 3)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_guarantee_on_real_text(lang: str) -> None:
    """Runs of t characters from one document planted in another document always share a fingerprint."""
    docs = corpus_docs(lang)
    fp = Fingerprinter(KEY)
    t = fp.threshold
    rng = random.Random(7)
    for _ in range(300):
        source, host = rng.sample([d for d in docs if len(d) > 3 * t], 2)
        s = rng.randrange(len(source) - t)
        at = rng.randrange(len(host))
        planted = host[:at] + source[s:s + t] + host[at:]
        assert _shares_inside(fp.fingerprints(source), fp.fingerprints(planted), (s, s + t), (at, at + t), fp.k)


def test_runs_shorter_than_k_never_match() -> None:
    fp = Fingerprinter(KEY)
    rng = random.Random(2)
    for _ in range(200):
        shared = "".join(rng.choice("xyz") for _ in range(fp.k - 1))
        a = "".join(rng.choice("abcdef") for _ in range(200)) + shared + "".join(rng.choice("abc") for _ in range(50))
        b = "".join(rng.choice("ghijkl") for _ in range(200)) + shared + "".join(rng.choice("ghi") for _ in range(50))
        assert not set(fp.kgram_hashes(a).tolist()) & set(fp.kgram_hashes(b).tolist())


def test_key_changes_every_hash() -> None:
    text = "".join(corpus_docs("ja", limit=5))
    one, two = Fingerprinter(KEY), Fingerprinter(KEY[::-1])
    assert not set(one.kgram_hashes(text).tolist()) & set(two.kgram_hashes(text).tolist())
    assert one.fingerprints(text).positions.tolist() != two.fingerprints(text).positions.tolist()
    assert Fingerprinter(KEY).kgram_hashes(text).tolist() == one.kgram_hashes(text).tolist()


def test_id_names_key_and_parameters() -> None:
    ids = {Fingerprinter(KEY).id, Fingerprinter(KEY[::-1]).id, Fingerprinter(KEY, k=14).id,
           Fingerprinter(KEY, w=35).id}
    assert len(ids) == 4
    assert Fingerprinter(KEY).id == Fingerprinter(KEY).id
    assert KEY.hex() not in Fingerprinter(KEY).id


def test_hashes_look_random() -> None:
    """Each bit of the stored hashes is set about half of the time, even for a repetitive text."""
    text = "".join(corpus_docs("en", limit=10))
    hashes = np.unique(Fingerprinter(KEY).kgram_hashes(text))[:50_000]
    bits = (hashes[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)
    assert np.all(np.abs(bits.mean(axis=0) - 0.5) < 0.02)
