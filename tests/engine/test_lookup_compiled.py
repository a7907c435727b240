"""The index lookup's join of postings and query positions in C (_fast.gather) gives exactly the arrays of
the numpy reference (index._gather and index._seeds): on an index of several segments with replaced and
removed documents (dead rows), shared fingerprints, and queries repeating fingerprints."""

from __future__ import annotations

import numpy as np
import pytest

from himitsu.engine import _fast
from himitsu.engine import index as ix
from himitsu.engine.fingerprint import Fingerprints
from himitsu.engine.index import FingerprintIndex, LookupResult


def doc(seed: int, n: int = 60, shared: np.ndarray | None = None) -> Fingerprints:
    rng = np.random.default_rng(seed)
    hashes = rng.integers(1, 2**63, n, dtype=np.uint64)
    if shared is not None:
        hashes[: len(shared)] = shared
    positions = np.sort(rng.choice(20 * n, n, replace=False)).astype(np.int64)
    return Fingerprints(hashes, positions, 15, 20 * n + 15)


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> FingerprintIndex:
    shared = np.random.default_rng(0).integers(1, 2**63, 8, dtype=np.uint64)
    idx = FingerprintIndex(tmp_path_factory.mktemp("ix"), common_min_docs=None, fan_in=8)
    for d in range(1, 40):
        idx.add(d, doc(d, shared=shared[: d % 5]), 1000 + d)
    for d in range(1, 40, 7):
        idx.replace(d, doc(100 + d, shared=shared[:3]), 900)
    for d in range(2, 40, 9):
        idx.remove(d)
    idx.add((1 << 40) + 3, doc(3, shared=shared[:4]), 500)  # large ids, the same fingerprints as documents 3, 4
    idx.add(70_000, doc(4), 500)
    far = doc(5)
    idx.add(70_001, Fingerprints(far.hashes, far.positions + 70_000, 15, 72_000), 72_000)  # 32-bit positions
    return idx


def queries() -> list[Fingerprints]:
    rng = np.random.default_rng(5)
    out = []
    for _ in range(30):
        parts = [doc(int(d)).hashes[rng.integers(0, 60, 10)] for d in rng.integers(1, 40, 4)]
        parts += [doc(100 + int(d)).hashes[:12] for d in rng.integers(1, 40, 2)]
        parts.append(rng.integers(1, 2**63, 20, dtype=np.uint64))
        hashes = np.concatenate(parts)
        rng.shuffle(hashes)
        hashes = np.r_[hashes, hashes[:15]]  # repeated fingerprints: one seed per occurrence
        out.append(Fingerprints(hashes, np.arange(len(hashes), dtype=np.int64) * 3, 15, 3 * len(hashes) + 15))
    return out


def join(index: FingerprintIndex, q: Fingerprints) -> tuple:
    snap = index._current()
    unique, inverse = np.unique(ix._keys(q.hashes), return_inverse=True)
    ranges = ix._posting_ranges(snap, unique)
    wanted = np.flatnonzero(~ix._in_background(snap, unique))
    return snap, ranges, wanted, inverse, np.asarray(q.positions, dtype=np.int64), len(unique)


SEED_FIELDS = ["docs", "query_positions", "doc_positions", "segments", "rows", "lengths"]


def test_extension_is_available() -> None:
    assert _fast.MATCH_AVAILABLE


def test_index_has_dead_rows_in_several_segments(index: FingerprintIndex) -> None:
    snap = index._current()
    assert len(snap.segments) >= 2 and snap.dead_rows > 0
    assert {s.positions.dtype.name for s in snap.segments} == {"uint16", "uint32"}  # both column widths in C


def test_same_postings_and_seeds(index: FingerprintIndex) -> None:
    total = 0
    for q in queries():
        snap, ranges, wanted, inverse, positions, size = join(index, q)
        expected_postings = ix._gather(snap, ranges, wanted)
        expected = ix._seeds(expected_postings, inverse, positions, size)
        segments = tuple((s.docs, s.positions, s.doc_ids, s.counts, s.lengths, live, lo, hi)
                         for s, live, (lo, hi) in zip(snap.segments, snap.live, ranges, strict=True))
        postings, columns = _fast.gather(segments, wanted, inverse, positions, size)  # raises rather than fall back
        seeds = ix.Seeds(*columns)
        assert ix._gather_seeds(snap, ranges, wanted, inverse, positions, size)[1].docs.tolist() == seeds.docs.tolist()
        assert [p.dtype for p in postings] == [p.dtype for p in expected_postings]
        assert [p.tolist() for p in postings] == [p.tolist() for p in expected_postings]
        for name in SEED_FIELDS:
            assert getattr(seeds, name).dtype == getattr(expected, name).dtype
            assert getattr(seeds, name).tolist() == getattr(expected, name).tolist(), name
        total += len(seeds)
    assert total > 1000


def test_lookup_results_equal(index: FingerprintIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    def summary(result: LookupResult) -> list:
        matches = {d: (m.query_positions.tolist(), m.doc_positions.tolist(), m.matched, m.fingerprint_count,
                       m.norm_length, m.kgrams) for d, m in result.matches.items()}
        return [[getattr(result.seeds, f).tolist() for f in SEED_FIELDS], matches,
                result.common_positions.tolist(), result.background_positions.tolist()]

    compiled = [summary(index.lookup(q)) for q in queries()]
    monkeypatch.setattr(_fast, "MATCH_AVAILABLE", False)
    assert [summary(index.lookup(q)) for q in queries()] == compiled
    assert sum(len(c[1]) for c in compiled) > 50


def test_out_of_range_is_refused_and_the_reference_decides(index: FingerprintIndex) -> None:
    q = queries()[0]
    snap, ranges, wanted, inverse, positions, size = join(index, q)
    lo, hi = ranges[0]
    bad = [(lo, hi + len(snap.segments[0].docs) + 1), *ranges[1:]]
    segments = tuple((s.docs, s.positions, s.doc_ids, s.counts, s.lengths, live, a, b)
                     for s, live, (a, b) in zip(snap.segments, snap.live, bad, strict=True))
    with pytest.raises(ValueError, match="range"):
        _fast.gather(segments, wanted, inverse, positions, size)
    with pytest.raises(ValueError, match="wanted"):
        _fast.gather(segments, np.array([size], dtype=np.int64), inverse, positions, size)
    # the numpy way decides what an inconsistent index gives (here: an IndexError)
    with pytest.raises(IndexError):
        ix._gather_seeds(snap, bad, wanted, inverse, positions, size)
