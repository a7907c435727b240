"""The persistent fingerprint index: add, replace, remove, lookup, the background model, merging,
persistence, crash safety and concurrent readers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from himitsu.engine.fingerprint import Fingerprinter, Fingerprints
from himitsu.engine.index import DocumentExists, FingerprintIndex, IndexMismatch
from himitsu.engine.normalize import normalize

SRC = Path(__file__).resolve().parents[2] / "src"


def doc(seed: int, n: int = 40) -> Fingerprints:
    """Synthetic fingerprints of a document: n random hashes at increasing positions."""
    rng = np.random.default_rng(seed)
    hashes = rng.integers(1, 2**63, n, dtype=np.uint64)
    positions = np.sort(rng.choice(20 * n, n, replace=False)).astype(np.int64)
    return Fingerprints(hashes, positions, 15, 20 * n + 15)


def query(*parts: Fingerprints) -> Fingerprints:
    """A query made of the given fingerprints, one after the other."""
    hashes = np.concatenate([p.hashes for p in parts])
    return Fingerprints(hashes, np.arange(len(hashes), dtype=np.int64) * 10, 15, 10 * len(hashes) + 15)


def matched(index: FingerprintIndex, q: Fingerprints) -> dict[int, int]:
    return {d: m.matched for d, m in index.lookup(q).matches.items()}


def test_add_lookup(tmp_path: Path) -> None:
    index = FingerprintIndex(tmp_path / "ix")
    index.add(1, doc(1), 815)
    index.add(2, doc(2), 815)
    q = Fingerprints(np.r_[doc(1).hashes[:5], doc(3).hashes[:5]], np.arange(10, dtype=np.int64) * 7, 15, 100)
    result = index.lookup(q)
    assert list(result.matches) == [1]
    m = result.matches[1]
    assert (m.matched, m.fingerprint_count, m.norm_length) == (5, 40, 815)
    assert m.query_positions.tolist() == [0, 7, 14, 21, 28]
    assert m.doc_positions.tolist() == doc(1).positions[:5].tolist()
    assert 1 in index and 3 not in index
    assert index.doc_info(2).fingerprint_count == 40
    assert index.doc_ids().tolist() == [1, 2]


def test_every_query_occurrence_is_reported(tmp_path: Path) -> None:
    index = FingerprintIndex(tmp_path)
    index.add(1, doc(1), 100)
    h = doc(1).hashes
    q = Fingerprints(np.array([h[3], h[0], h[3]], dtype=np.uint64), np.array([5, 9, 30]), 15, 60)
    m = index.lookup(q).matches[1]
    assert m.query_positions.tolist() == [5, 9, 30]
    assert m.doc_positions.tolist() == [doc(1).positions[3], doc(1).positions[0], doc(1).positions[3]]
    assert m.matched == 2


def test_duplicate_fingerprints_in_a_document_count_once(tmp_path: Path) -> None:
    index = FingerprintIndex(tmp_path)
    f = Fingerprints(np.array([7, 8, 7, 7], dtype=np.uint64), np.array([0, 3, 9, 20]), 15, 40)
    index.add(1, f, 40)
    assert index.doc_info(1).fingerprint_count == 2
    m = index.lookup(Fingerprints(np.array([7], dtype=np.uint64), np.array([0]), 15, 15)).matches[1]
    assert m.doc_positions.tolist() == [0]


def test_add_existing_replace_remove(tmp_path: Path) -> None:
    index = FingerprintIndex(tmp_path)
    index.add(1, doc(1), 100)
    with pytest.raises(DocumentExists):
        index.add(1, doc(2), 100)
    with pytest.raises(DocumentExists), index.batch() as batch:
        batch.add(2, doc(2), 100)
        batch.add(2, doc(2), 100)
    assert index.doc_ids().tolist() == [1]
    index.replace(1, doc(2), 200)
    assert matched(index, query(doc(1))) == {}
    assert matched(index, query(doc(2))) == {1: 40}
    assert index.doc_info(1).norm_length == 200
    assert index.remove(1) is True
    assert index.remove(1) is False
    assert matched(index, query(doc(2))) == {}
    index.add(1, doc(3), 100)  # an id can come back after removal
    assert matched(index, query(doc(1), doc(2), doc(3))) == {1: 40}


def test_document_without_fingerprints(tmp_path: Path) -> None:
    index = FingerprintIndex(tmp_path)
    empty = Fingerprints(np.zeros(0, np.uint64), np.zeros(0, np.int64), 15, 3)
    index.add(5, empty, 3)
    assert 5 in index and index.doc_info(5).fingerprint_count == 0
    assert index.remove(5)
    assert 5 not in index


def test_batch_is_one_generation(tmp_path: Path) -> None:
    index = FingerprintIndex(tmp_path)
    before = index.generation
    with index.batch() as batch:
        for i in range(10):
            batch.add(i, doc(i), 100)
        batch.remove(3)
        batch.replace(4, doc(44), 100)
    assert index.generation == before + 1
    assert index.doc_ids().tolist() == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert matched(index, query(doc(44))) == {4: 40}


def test_failed_batch_changes_nothing(tmp_path: Path) -> None:
    index = FingerprintIndex(tmp_path)
    index.add(1, doc(1), 100)
    with pytest.raises(RuntimeError), index.batch() as batch:
        batch.add(2, doc(2), 100)
        raise RuntimeError("stop")
    assert index.doc_ids().tolist() == [1]
    assert index.generation == 1


def test_persistence_and_reopen(tmp_path: Path) -> None:
    fp = Fingerprinter(b"k" * 32)
    index = FingerprintIndex(tmp_path, fingerprinter_id=fp.id)
    text = normalize("営業秘密の管理規程。第一条、この規程は当社の営業秘密の取扱いについて定める。" * 3)
    index.add(9, fp.fingerprints(text), len(text))
    index.add(10, doc(10), 100)
    index.remove(10)
    reopened = FingerprintIndex(tmp_path, fingerprinter_id=fp.id)
    assert reopened.generation == index.generation
    assert list(reopened.lookup(fp.fingerprints(text)).matches) == [9]
    assert reopened.doc_ids().tolist() == [9]
    with pytest.raises(IndexMismatch):
        FingerprintIndex(tmp_path, fingerprinter_id=Fingerprinter(b"j" * 32).id)
    assert not any(b"\xe5\x96\xb6" in p.read_bytes() for p in tmp_path.iterdir())  # no text (営) stored


def _segment_types(index: FingerprintIndex) -> list[tuple[str, str]]:
    return [(s.docs.dtype.name, s.positions.dtype.name) for s in index._current().segments]


def test_segments_store_rows_and_positions_in_16_bits_when_they_fit(tmp_path: Path) -> None:
    """Two bytes a posting saved on each column when every value of the segment fits; a document longer than
    65,535 normalised characters gets 32-bit positions, and lookups report its positions whole."""
    index = FingerprintIndex(tmp_path, common_min_docs=None, fan_in=100)
    index.add(1, doc(1), 815)
    far = doc(2)
    far = Fingerprints(far.hashes, far.positions + 70_000, 15, 71_000)
    index.add(2, far, 71_000)
    assert _segment_types(index) == [("uint16", "uint16"), ("uint16", "uint32")]
    assert index.lookup(query(far)).matches[2].doc_positions.tolist() == (far.positions).tolist()
    assert index.lookup(query(doc(1))).matches[1].doc_positions.tolist() == doc(1).positions.tolist()
    index.compact()  # merged: the widest column decides
    assert _segment_types(index) == [("uint16", "uint32")]
    assert index.lookup(query(far)).matches[2].doc_positions.tolist() == far.positions.tolist()
    assert matched(index, query(doc(1), far)) == {1: 40, 2: 40}


def test_a_segment_of_more_than_65536_documents_has_32_bit_rows() -> None:
    from himitsu.engine import index as ix

    n = 70_000
    ids = np.arange(1, n + 1, dtype=np.int64)
    table = np.vstack([ids, np.ones(n), np.full(n, 20), np.zeros(n)]).astype(np.int64)
    arrays = ix._build_segment(np.arange(n, dtype=np.uint64), ids, np.zeros(n, dtype=np.int64), table,
                               [np.zeros(0, np.uint8)] * n)
    assert arrays["docs"].dtype == np.uint32 and arrays["docs"].max() == n - 1
    assert arrays["positions"].dtype == np.uint16
    small = ix._build_segment(np.arange(3, dtype=np.uint64), ids[:3], np.zeros(3, dtype=np.int64), table[:, :3],
                              [np.zeros(0, np.uint8)] * 3)
    assert small["docs"].dtype == np.uint16


def test_an_index_of_format_2_is_read_and_written_as_format_3(tmp_path: Path) -> None:
    """Format 2 stored every segment's rows and positions in 32 bits: such an index (made here by widening the
    columns of a new one and labelling its manifest) answers as before and becomes format 3 at its first commit."""
    index = FingerprintIndex(tmp_path, common_min_docs=None)
    index.add(1, doc(1), 815)
    index.add(2, doc(2), 815)
    before = index.lookup(query(doc(1), doc(2)))
    for path in tmp_path.glob("seg-*"):
        if path.name.endswith((".docs.npy", ".positions.npy")):
            np.save(path, np.load(path).astype(np.uint32))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["format"] = "himitsu-fingerprint-index/2"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    old = FingerprintIndex(tmp_path, common_min_docs=None)
    assert {t for types in _segment_types(old) for t in types} == {"uint32"}
    after = old.lookup(query(doc(1), doc(2)))
    assert {d: (m.query_positions.tolist(), m.doc_positions.tolist()) for d, m in after.matches.items()} == \
        {d: (m.query_positions.tolist(), m.doc_positions.tolist()) for d, m in before.matches.items()}
    old.add(3, doc(3), 815)
    assert json.loads((tmp_path / "manifest.json").read_text())["format"] == "himitsu-fingerprint-index/3"
    assert matched(FingerprintIndex(tmp_path, common_min_docs=None), query(doc(1), doc(3))) == {1: 40, 3: 40}


def test_foreign_files_are_left_alone(tmp_path: Path) -> None:
    (tmp_path / "README").write_text("mine")
    index = FingerprintIndex(tmp_path)
    index.add(1, doc(1), 100)
    index.compact()
    assert (tmp_path / "README").read_text() == "mine"


def test_common_fingerprints_are_ignored(tmp_path: Path) -> None:
    index = FingerprintIndex(tmp_path, common_min_docs=5)
    boiler = doc(999, n=3)
    with index.batch() as batch:
        for i in range(6):
            own = doc(i)
            both = Fingerprints(np.r_[own.hashes, boiler.hashes] if i < 5 else own.hashes,
                                np.arange(43 if i < 5 else 40, dtype=np.int64), 15, 500)
            batch.add(i, both, 500)
    result = index.lookup(query(boiler))
    assert result.matches == {}
    assert len(result.common_positions) == 3
    index.remove(0)  # now in 4 documents: below the threshold, so it matches again
    assert sorted(index.lookup(query(boiler)).matches) == [1, 2, 3, 4]
    assert index.lookup(query(doc(5))).matches[5].matched == 40


def test_common_threshold_grows_with_the_index(tmp_path: Path) -> None:
    index = FingerprintIndex(tmp_path, common_min_docs=5, common_min_fraction=0.02)
    shared = doc(999, n=1)
    with index.batch() as batch:
        for i in range(400):
            own = doc(i, n=4)
            hashes = np.r_[own.hashes, shared.hashes] if i < 7 else own.hashes
            batch.add(i, Fingerprints(hashes, np.arange(len(hashes), dtype=np.int64), 15, 100), 100)
    assert index.common_threshold() == 8  # ceil(2 % of 400)
    assert len(index.lookup(query(shared)).matches) == 7  # in 7 documents: not common yet


def test_background_fingerprints_are_ignored(tmp_path: Path) -> None:
    index = FingerprintIndex(tmp_path)
    index.add(1, doc(1), 100)
    index.add_background(Fingerprints(doc(1).hashes[:10], doc(1).positions[:10], 15, 100))
    result = index.lookup(query(doc(1)))
    assert result.matches[1].matched == 30
    assert len(result.background_positions) == 10
    index.add_background(doc(1).hashes[10:20])
    index.compact()
    assert index.lookup(query(doc(1))).matches[1].matched == 20
    assert index.stats().background_fingerprints == 20


def test_segments_merge_and_compact(tmp_path: Path) -> None:
    index = FingerprintIndex(tmp_path, fan_in=4)
    for i in range(100):
        index.add(i, doc(i), 100)
    for i in range(0, 100, 3):
        index.remove(i)
    stats = index.stats()
    assert stats.segments <= 12
    assert stats.documents == 66
    expected = {i: 40 for i in range(100) if i % 3}
    assert matched(index, query(*(doc(i) for i in range(100)))) == expected
    size = stats.disk_bytes
    index.compact()
    stats = index.stats()
    assert (stats.segments, stats.tombstones, stats.documents, stats.postings) == (1, 0, 66, 66 * 40)
    assert stats.disk_bytes < size
    assert matched(index, query(*(doc(i) for i in range(100)))) == expected
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".npy"))[0].startswith("seg-")
    assert len(list(tmp_path.glob("*.npy"))) == 5


def _run(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    script = "import sys\nsys.path.insert(0, sys.argv[1])\n" + textwrap.dedent(code)
    return subprocess.Popen([sys.executable, "-c", script, str(Path(__file__).parent), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


CRASH = """
    import os
    from test_index import doc
    from himitsu.engine import index as ix
    def crash(*args, **kwargs):
        os._exit(17)
    {patch}
    ix.FingerprintIndex(sys.argv[2]).add(99, doc(99), 100)
"""


@pytest.mark.parametrize("patch", [
    "ix.os.replace = crash",  # segment and temporary manifest written and fsynced, not yet renamed
    "ix._write_array = lambda path, array: (open(path, 'xb').write(b'\\x93NUMPY partial'), crash())",
])
def test_crash_mid_write_keeps_the_previous_generation(tmp_path: Path, patch: str) -> None:
    index = FingerprintIndex(tmp_path)
    for i in range(3):
        index.add(i, doc(i), 100)
    before = sorted(p.name for p in tmp_path.iterdir())
    child = _run(CRASH.format(patch=patch), str(tmp_path))
    _, err = child.communicate(timeout=60)
    assert child.returncode == 17, err
    assert sorted(p.name for p in tmp_path.iterdir()) != before  # debris left behind
    reopened = FingerprintIndex(tmp_path)
    assert reopened.generation == 3
    assert reopened.doc_ids().tolist() == [0, 1, 2]
    assert matched(reopened, query(doc(0), doc(1), doc(2), doc(99))) == {0: 40, 1: 40, 2: 40}
    reopened.add(99, doc(99), 100)  # the next writer succeeds and removes the debris
    assert matched(reopened, query(doc(99))) == {99: 40}
    names = {p.name for p in tmp_path.iterdir()}
    assert not any("tmp" in n for n in names)
    assert len([n for n in names if n.endswith(".npy")]) == 5 * reopened.stats().segments


READER = """
    import json, time
    import numpy as np
    from test_index import doc, query
    from himitsu.engine.index import FingerprintIndex
    index = FingerprintIndex(sys.argv[2])
    total = int(sys.argv[3])
    probe = query(*(doc(i) for i in range(total)))
    seen, errors, last = set(), [], -1
    deadline = time.time() + 60
    while time.time() < deadline:
        result = index.lookup(probe)
        if result.generation < last:
            errors.append(f"generation went back {last} -> {result.generation}")
        last = result.generation
        docs = sorted(result.matches)
        if docs != list(range(len(docs))):
            errors.append(f"not a prefix: {docs}")
        if any(m.matched != 40 for m in result.matches.values()):
            errors.append("partial document")
        seen.add(result.generation)
        if len(docs) == total:
            break
    print(json.dumps({"generations": len(seen), "errors": errors[:5], "final": len(docs)}))
"""


def test_concurrent_readers_see_consistent_generations(tmp_path: Path) -> None:
    """Two reader processes look up continuously while this process adds documents one by one,
    merging segments (and deleting the merged ones) as it goes."""
    total = 60
    FingerprintIndex(tmp_path).add(0, doc(0), 100)
    readers = [_run(READER, str(tmp_path), str(total)) for _ in range(2)]
    time.sleep(0.5)
    index = FingerprintIndex(tmp_path, fan_in=3)
    for i in range(1, total):
        index.add(i, doc(i), 100)
        if i % 20 == 0:
            index.compact()
    for reader in readers:
        out, err = reader.communicate(timeout=120)
        assert reader.returncode == 0, err
        report = json.loads(out)
        assert report["errors"] == []
        assert report["final"] == total
        assert report["generations"] > 1


@pytest.mark.slow
def test_benchmark_100k_documents(tmp_path: Path) -> None:
    """Lookup latency of a 4 KB query against 100,000 synthetic documents of ~2 KB normalised text
    (2,000 characters: ~108 fingerprints each at density 2/37), and the index size on disk."""
    n_docs, per_doc = 100_000, 108
    rng = np.random.default_rng(0)
    hashes = rng.integers(1, 2**64 - 1, n_docs * per_doc, dtype=np.uint64)
    positions = np.sort(rng.integers(0, 2000 - 15, (n_docs, per_doc)), axis=1).astype(np.int64)
    index = FingerprintIndex(tmp_path / "ix")
    start = time.perf_counter()
    with index.batch() as batch:
        for d in range(n_docs):
            batch.add(d, Fingerprints(hashes[d * per_doc:(d + 1) * per_doc], positions[d], 15, 2000), 2000)
    build = time.perf_counter() - start
    stats = index.stats()
    fp = Fingerprinter(b"b" * 32)
    corpus = Path("/work/shared/corpus/python-docs-ja/library/ja/os.txt")
    prompt = corpus.read_text(encoding="utf-8") if corpus.exists() else "営業秘密の管理について。" * 400
    prompt = prompt.encode("utf-8")[:4096].decode("utf-8", "ignore")  # a 4 KB Japanese prompt
    times: dict[str, list[float]] = {"hit": [], "miss": [], "text": [], "text end to end": []}
    for _ in range(2000):
        d = int(rng.integers(n_docs))
        own = hashes[d * per_doc:(d + 1) * per_doc][:40]
        mixed = np.r_[own, rng.integers(1, 2**64 - 1, 160, dtype=np.uint64)]  # ~200 fingerprints = 4 KB
        q = Fingerprints(mixed, np.arange(200, dtype=np.int64) * 18, 15, 3600)
        t0 = time.perf_counter()
        result = index.lookup(q)
        times["hit"].append(time.perf_counter() - t0)
        assert result.matches[d].matched == 40
        t0 = time.perf_counter()
        index.lookup(Fingerprints(mixed[40:], q.positions[40:], 15, 3600))
        times["miss"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        prints = fp.fingerprints(normalize(prompt))
        t1 = time.perf_counter()
        index.lookup(prints)
        t2 = time.perf_counter()
        times["text"].append(t2 - t1)
        times["text end to end"].append(t2 - t0)
    per_fp = stats.disk_bytes / stats.postings
    print(f"\nindex: {n_docs} documents, {stats.postings} fingerprints, built in {build:.1f} s, "
          f"{stats.disk_bytes / 1e6:.0f} MB on disk = {per_fp:.1f} B per fingerprint, {stats.segments} segment(s)")
    for kind, values in times.items():
        ms = np.array(values) * 1e3
        print(f"lookup {kind}: p50 {np.percentile(ms, 50):.3f} ms, p99 {np.percentile(ms, 99):.3f} ms")
    assert np.percentile(np.array(times["hit"]) * 1e3, 99) < 20
