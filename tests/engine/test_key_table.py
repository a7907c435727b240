"""A segment's prefix table (index._KeyTable, _fast.prefix_table and _fast.key_ranges) finds exactly the posting
ranges np.searchsorted finds (index._search_ranges, the reference), and a lookup through it gives the same
postings, seeds and findings: on pages of ../shared/corpus/python-docs-ja registered over several commits (several
segments), with replaced and removed documents, an empty segment and a background file."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from himitsu.engine import _fast
from himitsu.engine import index as ix
from himitsu.engine.check import Engine
from himitsu.engine.detectors import registered_secret as rs
from himitsu.engine.fingerprint import Fingerprints
from himitsu.engine.normalize import normalize
from tests.corpus import page, pages_engine

pytestmark = pytest.mark.skipif(not _fast.MATCH_AVAILABLE, reason="C extension not built")

KEY = b"key-table-test-key-0123456789abcdef"
REGISTERED = ["ja/argparse", "en/argparse", "ja/csv", "ja/json", "en/json", "ja/pathlib", "en/re", "ja/logging",
              "en/logging", "ja/os"]
UNRELATED = ["ja/sqlite3", "en/sqlite3", "ja/datetime", "en/collections"]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    e = pages_engine(tmp_path_factory.mktemp("index"), KEY, REGISTERED)
    e.register(4, page("en/csv").encode(), "page.txt")  # replaced: dead rows
    assert e.index is not None
    e.index.remove(6)
    e.index.add(50, Fingerprints(np.zeros(0, np.uint64), np.zeros(0, np.int64), e.fingerprinter.k, 3), 3)
    e.add_background(page("en/datetime").encode()[:20000], "bg.txt")
    return e


def probe_texts() -> list[str]:
    texts = [page(name) for name in REGISTERED + UNRELATED]
    texts.append(page("ja/json")[3000:9000] + "\n" + page("ja/sqlite3")[:4000] + page("en/re")[1000:5000])
    return texts


def probe_keys(engine: Engine) -> Iterator[np.ndarray]:
    for text in probe_texts():
        prints = engine.fingerprinter.probe(normalize(text)).fingerprints
        yield np.unique(ix._keys(prints.hashes))


def test_index_has_several_segments_dead_rows_and_an_empty_segment(engine: Engine) -> None:
    assert engine.index is not None
    snap = engine.index._current()
    assert len(snap.segments) >= 3 and snap.dead_rows > 0 and snap.background
    assert any(len(s.hashes) == 0 for s in snap.segments)


@pytest.mark.parametrize("shift", [8, 12, 16, 20, 24, 28, 31, 32])
def test_prefix_table_is_searchsorted_of_the_bucket_starts(shift: int) -> None:
    rng = np.random.default_rng(shift)
    for keys in (np.zeros(0, np.uint32), np.array([0, 0, 5, 2**32 - 1, 2**32 - 1], dtype=np.uint32),
                 np.sort(rng.integers(0, 2**32, 5000, dtype=np.uint64).astype(np.uint32)),
                 np.sort(rng.integers(0, 300, 5000, dtype=np.uint64).astype(np.uint32) << 24)):
        table = _fast.prefix_table(keys, shift)
        starts = np.arange(1 << (32 - shift), dtype=np.uint64) << np.uint64(shift)
        expected = np.r_[np.searchsorted(keys.astype(np.uint64), starts), len(keys)]
        assert table.dtype == np.uint32 and np.array_equal(table, expected)


def test_key_ranges_equal_searchsorted_on_random_keys() -> None:
    rng = np.random.default_rng(1)
    keys = np.sort(rng.integers(0, 2**16, 20000, dtype=np.uint64).astype(np.uint32) * np.uint32(65521))
    unique = np.unique(np.r_[keys[::7], rng.integers(0, 2**32, 3000, dtype=np.uint64).astype(np.uint32),
                             np.array([0, 2**32 - 1], dtype=np.uint32)])
    for shift in (8, 14, 20, 32):
        lo, hi = _fast.key_ranges(keys, _fast.prefix_table(keys, shift), shift, unique)
        ref_lo, ref_hi = ix._search_ranges(keys, unique)
        assert np.array_equal(lo, ref_lo) and np.array_equal(hi, ref_hi)
        assert (hi > lo).sum() > 1000


def test_key_ranges_equal_searchsorted_in_every_segment(engine: Engine) -> None:
    assert engine.index is not None
    snap = engine.index._current()
    found = 0
    for unique in probe_keys(engine):
        for segment in snap.segments:
            ref_lo, ref_hi = ix._search_ranges(segment.hashes, unique)
            for bits in (0, 4, 12, 20):
                lo, hi = _fast.key_ranges(segment.hashes, _fast.prefix_table(segment.hashes, 32 - bits), 32 - bits,
                                          unique)
                assert np.array_equal(lo, ref_lo) and np.array_equal(hi, ref_hi)
            found += int((ref_hi > ref_lo).sum())
    assert found > 1000


def lookups(engine: Engine, through_table: bool, monkeypatch: pytest.MonkeyPatch) -> list[ix.LookupResult]:
    assert engine.index is not None
    snap = engine.index._current()
    with monkeypatch.context() as m:
        if through_table:
            m.setattr(ix, "_TABLE_AFTER", 0.0)
        else:
            m.setattr(ix._KeyTable, "ranges", lambda self, keys, unique: None)
        out = [engine.index.lookup(engine.fingerprinter.probe(normalize(t)).fingerprints) for t in probe_texts()]
    if through_table:
        assert all(s.key_table.built is not None for s in snap.segments if len(s.hashes))
    return out


def test_lookup_through_the_table_gives_the_same_postings_and_seeds(engine: Engine,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    reference = lookups(engine, False, monkeypatch)
    tabled = lookups(engine, True, monkeypatch)
    seeds = 0
    for a, b in zip(reference, tabled, strict=True):
        for name in ("docs", "query_positions", "doc_positions", "segments", "rows", "lengths"):
            assert np.array_equal(getattr(a.seeds, name), getattr(b.seeds, name)), name
        assert all(np.array_equal(x, y) for x, y in zip(a._postings, b._postings, strict=True))
        assert np.array_equal(a.common_positions, b.common_positions)
        assert np.array_equal(a.background_positions, b.background_positions)
        seeds += len(a.seeds)
    assert seeds > 10000 and any(len(r.background_positions) for r in reference)


def test_findings_are_the_same_through_the_table(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    def findings() -> list[tuple[object, ...]]:
        out = []
        for text in probe_texts():
            for f in engine.check(text.encode(), "probe.txt").findings:
                out.append((f.start, f.end, f.score, f.matched_chars, f.secret))
        return out

    with monkeypatch.context() as m:
        m.setattr(ix._KeyTable, "ranges", lambda self, keys, unique: None)
        expected = findings()
    with monkeypatch.context() as m:
        m.setattr(ix, "_TABLE_AFTER", 0.0)
        got = findings()
    assert got == expected and len(expected) >= len(REGISTERED)


def test_table_is_built_only_after_enough_probe_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ix, "_TABLE_AFTER", 0.5)
    keys = np.sort(np.random.default_rng(2).integers(0, 2**32, 1000, dtype=np.uint64).astype(np.uint32))
    table = ix._KeyTable()
    assert table.ranges(keys, keys[:300]) is None and table.built is None and table.nbytes == 0
    found = table.ranges(keys, np.unique(keys[300:600]))
    assert found is not None and table.built is not None and table.nbytes > 0
    assert all(np.array_equal(x, y) for x, y in zip(found, ix._search_ranges(keys, np.unique(keys[300:600])),
                                                     strict=True))


def test_prepare_builds_every_table_before_any_lookup(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A serving process prepares the index before its first request: every segment with keys has its table at
    once (none waits for ``_TABLE_AFTER`` probe keys), and lookups through it equal the searched ones."""
    e = pages_engine(tmp_path / "index", KEY, REGISTERED[:4])
    e.register(99, page("en/re").encode(), "page.txt")  # a second segment
    with monkeypatch.context() as m:
        m.setattr(ix._KeyTable, "ranges", lambda self, keys, unique: None)  # np.searchsorted, the reference
        searched = [e.index.lookup(e.fingerprinter.probe(normalize(t)).fingerprints) for t in probe_texts()[:3]]
    fresh = Engine(index_dir=tmp_path / "index", key=KEY)
    snap = fresh.index._current()
    assert len(snap.segments) >= 2 and all(s.key_table.built is None for s in snap.segments)
    fresh.prepare()
    assert all(s.key_table.built is not None for s in snap.segments if len(s.hashes))
    assert fresh.index.prepare() == sum(s.key_table.nbytes for s in snap.segments) > 0  # again: nothing new built
    tabled = [fresh.index.lookup(fresh.fingerprinter.probe(normalize(t)).fingerprints) for t in probe_texts()[:3]]
    for a, b in zip(searched, tabled, strict=True):
        assert np.array_equal(a.seeds.docs, b.seeds.docs) and np.array_equal(a.seeds.query_positions,
                                                                              b.seeds.query_positions)
    Engine(index_dir=tmp_path / "empty", key=KEY).prepare()  # an empty index: nothing to build, no error
    Engine(index_dir=None, key=KEY).prepare()


def test_keys_the_extension_refuses_go_the_numpy_way(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ix, "_TABLE_AFTER", 0.0)
    table = ix._KeyTable()
    keys = np.arange(100, dtype=np.int64)  # not uint32
    assert table.ranges(keys, np.arange(5, dtype=np.uint32)) is None and table.refused
    assert table.ranges(keys, np.arange(5, dtype=np.uint32)) is None


def test_malformed_tables_are_refused() -> None:
    keys = np.arange(0, 2**32, 2**20, dtype=np.uint64).astype(np.uint32)
    unique = keys[:10].copy()
    good = _fast.prefix_table(keys, 20)
    for bad in (good + np.uint32(len(keys)), good[::-1].copy()):
        with pytest.raises(ValueError):
            _fast.key_ranges(keys, bad, 20, unique)
    with pytest.raises(ValueError):
        _fast.key_ranges(keys, good[:-1].copy(), 20, unique)  # wrong size
    with pytest.raises(ValueError):
        _fast.prefix_table(keys, 4)  # shift out of range
    with pytest.raises(TypeError):
        _fast.key_ranges(keys.astype(np.int64), good, 20, unique)


@pytest.mark.parametrize("run", [rs.RUN, 3, 1])
def test_compiled_verify_and_promising_equal_the_reference(engine: Engine, run: int,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The same on these pages (whole pages matched on several segments, at documents' edges): the compiled
    promising() scans the windows in blocks of 64 grid points (one block at RUN = 8, several at 3 and 1)."""
    assert engine.index is not None
    monkeypatch.setattr(rs, "RUN", run)
    k = engine.fingerprinter.k
    span = rs.EDITED_CHARS - k + 1
    promising = 0
    for text in probe_texts():
        probe = engine.fingerprinter.probe(normalize(text))
        result = engine.index.lookup(probe.fingerprints)
        s = result.seeds
        if not len(s):
            continue
        keep = rs.verified(probe, result)
        expected = rs.promising(probe, result, keep, k)
        ctx = _fast.match_context(probe._signature_state(), result.signature_tables(),
                                  (s.docs, s.query_positions, s.doc_positions, s.segments, s.rows, s.lengths))
        assert np.array_equal(_fast.match_verify(ctx, rs.AROUND, rs.SEED_NEIGHBOURS), keep)
        got = _fast.match_promising(ctx, keep, span=span, reach=span + rs.gap(k) + run, run=run,
                                    drift=rs.DRIFT, short=2 * rs.MIN_CHARS)
        assert np.array_equal(got, expected)
        promising += int(expected.sum())
    assert promising > 1000
