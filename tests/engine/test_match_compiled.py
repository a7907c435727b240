"""The compiled matcher (himitsu.engine._match, through _fast) gives exactly what the numpy reference in
registered_secret gives: the same verified and promising seeds and the same passages, on real text.

Pages of ../shared/corpus/python-docs-ja are registered one commit each (so seeds come from several
segments), with a near-duplicate of one of them and a short document; the probes are excerpts of them,
edited (substitutions, insertions, deletions), embedded in unrelated pages, and whole pages.
"""

from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
import pytest

from himitsu.engine import _fast
from himitsu.engine.check import Engine
from himitsu.engine.detectors import registered_secret as rs
from himitsu.engine.fingerprint import Probe
from himitsu.engine.index import LookupResult
from himitsu.engine.normalize import normalize
from tests.corpus import page, pages_engine

KEY = b"compiled-matcher-test-key-0123456789"
REGISTERED = ["ja/argparse", "en/argparse", "ja/csv", "ja/json", "en/json", "ja/pathlib", "en/re", "ja/logging"]
UNRELATED = ["ja/sqlite3", "en/sqlite3", "ja/datetime", "en/collections"]
SHORT = "製造条件：温度二三〇度、圧力一五MPa、保持時間四二秒で成形する。"


def near_duplicate(text: str) -> str:
    """Every 40th alphanumeric character replaced: another version of the same document."""
    chars = list(text)
    for i in range(0, len(chars), 40):
        if chars[i].isalnum():
            chars[i] = "語"
    return "".join(chars)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    e = pages_engine(tmp_path_factory.mktemp("index"), KEY, REGISTERED)
    e.register(20, near_duplicate(page("ja/json")).encode(), "page.txt")
    e.register(30, SHORT.encode(), "short.txt")
    return e


def edit(text: str, rnd: random.Random) -> str:
    """A few substitutions, insertions and deletions at random places."""
    chars = list(text)
    for _ in range(rnd.randrange(0, 5)):
        if not chars:
            break
        i = rnd.randrange(len(chars))
        op = rnd.choice("sid")
        if op == "s":
            chars[i] = "語" if chars[i] != "語" else "文"
        elif op == "i":
            chars.insert(i, rnd.choice("あx語 "))
        else:
            del chars[i]
    return "".join(chars)


def probes() -> list[str]:
    rnd = random.Random(7)
    filler = [page(name) for name in UNRELATED]
    out = []
    for _ in range(60):
        source = page(rnd.choice(REGISTERED))
        length = rnd.choice([30, 45, 60, 80, 120, 250, 600, 2000])
        at = rnd.randrange(0, max(1, len(source) - length))
        excerpt = edit(source[at: at + length], rnd)
        before, after = rnd.choice(filler), rnd.choice(filler)
        b, a = rnd.randrange(0, 3000), rnd.randrange(0, 3000)
        out.append(f"{before[b: b + rnd.randrange(0, 2000)]}\n{excerpt}\n{after[a: a + rnd.randrange(0, 2000)]}")
    out.append(page("ja/json") + "\n" + page("ja/sqlite3")[:5000] + "\n" + page("en/argparse")[:20000])
    out.append(near_duplicate(page("ja/csv")))
    out += [page(name)[:20000] for name in UNRELATED]
    out.append(f"{filler[0][:1500]}\n製造条件:温度二三〇度、圧力一五MPa、保持時間四二秒で成形する\n{filler[1][:1500]}")
    out.append("0" * 500 + page("ja/csv")[3000:3400] + "ab" * 300)
    return out


def lookup(engine: Engine, text: str) -> tuple[Probe, LookupResult]:
    assert engine.index is not None
    probe = engine.fingerprinter.probe(normalize(text))
    return probe, engine.index.lookup(probe.fingerprints)


def context(probe: Probe, result: LookupResult) -> _fast.MatchContext:
    s = result.seeds
    return _fast.match_context(probe._signature_state(), result.signature_tables(),
                               (s.docs, s.query_positions, s.doc_positions, s.segments, s.rows, s.lengths))


def test_extension_is_available() -> None:
    assert _fast.MATCH_AVAILABLE and rs.COMPILED


def test_index_has_several_segments(engine: Engine) -> None:
    assert engine.index is not None and engine.index.stats().segments >= 2


@pytest.mark.parametrize(("around", "neighbours", "run"), [
    (rs.AROUND, rs.SEED_NEIGHBOURS, rs.RUN),  # the detector's settings
    (15, 12, 5),  # the widest neighbourhood the extension reads as one 32-column mask
    (20, 15, 33),  # wider: one k-gram at a time; the longest run tested across two chunks at once
    (4, 3, 40),  # runs longer than 33: counted across chunks
])
def test_same_verified_and_promising_seeds(engine: Engine, monkeypatch: pytest.MonkeyPatch, around: int,
                                           neighbours: int, run: int) -> None:
    monkeypatch.setattr(rs, "AROUND", around)
    monkeypatch.setattr(rs, "_AROUND", np.r_[np.arange(-around, 0), np.arange(1, around + 1)])
    monkeypatch.setattr(rs, "SEED_NEIGHBOURS", neighbours)
    monkeypatch.setattr(rs, "RUN", run)
    k = engine.fingerprinter.k
    span = rs.EDITED_CHARS - k + 1
    verified = promising = 0
    for text in probes():
        probe, result = lookup(engine, text)
        if not len(result.seeds):
            continue
        keep = rs.verified(probe, result)
        probe2, result2 = lookup(engine, text)
        ctx = context(probe2, result2)
        assert _fast.match_verify(ctx, rs.AROUND, rs.SEED_NEIGHBOURS).tolist() == keep.tolist()
        if not keep.any():
            continue
        focus = rs.promising(probe, result, keep, k)
        compiled = _fast.match_promising(ctx, keep, span=span, reach=span + rs.gap(k) + rs.RUN, run=rs.RUN,
                                         drift=rs.DRIFT, short=2 * rs.MIN_CHARS)
        assert compiled.tolist() == focus.tolist()
        verified += int(keep.sum())
        promising += int(focus.sum())
    assert verified > 1000 and 0 < promising < verified  # the comparison was not vacuous


@pytest.mark.parametrize(("run", "least"), [(rs.RUN, 50), (3, 50), (40, 20)])
def test_same_passages(engine: Engine, monkeypatch: pytest.MonkeyPatch, run: int, least: int) -> None:
    monkeypatch.setattr(rs, "RUN", run)
    k = engine.fingerprinter.k
    documents = multi_run = 0
    for text in probes():
        probe, result = lookup(engine, text)
        if not len(result.seeds):
            continue
        expected = [(d, n, p) for d, n, p in rs._reference_passages(probe, result, k) if p]
        probe2, result2 = lookup(engine, text)
        assert rs._compiled_passages(probe2, result2, k) == expected
        documents += len(expected)
        multi_run += sum(p.runs >= 2 for _d, _n, found in expected for p in found)
    assert documents > least and multi_run > 5  # the comparison was not vacuous


def test_query_signature_filled_in_like_the_reference(engine: Engine) -> None:
    probe, result = lookup(engine, page("ja/csv")[2000:6000])
    rs._compiled_passages(probe, result, engine.fingerprinter.k)
    _key, _rolling, values, known = probe._signature_state()
    assert known.sum() > 100
    fresh, _ = lookup(engine, page("ja/csv")[2000:6000])
    assert values[known].tolist() == fresh.signature_at(np.flatnonzero(known)).tolist()


@pytest.mark.parametrize("compiled", [True, False])
def test_engine_findings_equal(engine: Engine, monkeypatch: pytest.MonkeyPatch, compiled: bool) -> None:
    texts = probes()[::4]
    monkeypatch.setattr(rs, "COMPILED", False)
    expected = [engine.check_text(t).findings for t in texts]
    monkeypatch.setattr(rs, "COMPILED", compiled)
    assert [engine.check_text(t).findings for t in texts] == expected
    assert sum(map(len, expected)) > 10


def test_signature_outside_its_segment_is_refused_and_the_reference_decides(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    text = page("ja/csv")[2000:4000]
    probe, result = lookup(engine, text)
    expected = rs._reference_passages(probe, result, engine.fingerprinter.k)
    tables = result.signature_tables()
    cut = tuple((sigs[:4], offsets, lengths) for sigs, offsets, lengths in tables)  # files cut short
    with pytest.raises(ValueError, match="signature"):
        s = result.seeds
        _fast.match_verify(_fast.match_context(probe._signature_state(), cut, (
            s.docs, s.query_positions, s.doc_positions, s.segments, s.rows, s.lengths)), rs.AROUND, 7)
    monkeypatch.setattr(LookupResult, "signature_tables", lambda self: cut)
    probe2, result2 = lookup(engine, text)
    assert rs._compiled_passages(probe2, result2, engine.fingerprinter.k) is None
    assert rs.document_passages(probe2, result2, engine.fingerprinter.k) == expected


def test_bad_seeds_are_refused(engine: Engine) -> None:
    probe, result = lookup(engine, page("ja/csv")[2000:4000])
    s = result.seeds
    assert len(s) > 2
    state, tables = probe._signature_state(), result.signature_tables()
    seeds = [s.docs, s.query_positions, s.doc_positions, s.segments, s.rows, s.lengths]
    unsorted = [a[::-1] for a in seeds]
    with pytest.raises(ValueError, match="sorted"):
        _fast.match_verify(_fast.match_context(state, tables, tuple(unsorted)), rs.AROUND, 7)
    far = list(seeds)
    far[2] = far[2] + (1 << 41)
    with pytest.raises(ValueError, match="out of range"):
        _fast.match_verify(_fast.match_context(state, tables, tuple(far)), rs.AROUND, 7)
    wrong_row = list(seeds)
    wrong_row[4] = wrong_row[4] + 10**9
    with pytest.raises(ValueError, match="signature"):
        _fast.match_verify(_fast.match_context(state, tables, tuple(wrong_row)), rs.AROUND, 7)
    short = list(seeds)
    short[1] = short[1][:-1]
    with pytest.raises(ValueError, match="items"):
        _fast.match_verify(_fast.match_context(state, tables, tuple(short)), rs.AROUND, 7)
    with pytest.raises(ValueError, match="signature cache"):
        _fast.match_context((state[0], state[1], state[2].astype(np.int64), state[3]), tables, tuple(seeds))


FALLBACK_SCRIPT = """
import sys
sys.modules["himitsu.engine._match"] = None  # the extension cannot be imported
from himitsu.engine import _fast
from himitsu.engine.check import Engine
from himitsu.engine.detectors import registered_secret as rs
assert not _fast.MATCH_AVAILABLE and not rs.COMPILED
engine = Engine(index_dir=sys.argv[1], key=sys.argv[2].encode(), detectors=["registered-secret"])
for line in sys.stdin.read().split("\\0"):
    print([(f.start, f.end, f.matched_chars, f.params["doc_id"]) for f in engine.check_text(line).findings])
"""


def test_without_the_extension_the_reference_runs(engine: Engine) -> None:
    """In a process where himitsu.engine._match cannot be imported, the numpy reference gives the same
    findings as the compiled path here."""
    texts = probes()[::6]
    expected = [str([(f.start, f.end, f.matched_chars, f.params["doc_id"]) for f in engine.check_text(t).findings])
                for t in texts]
    assert engine.index is not None
    done = subprocess.run([sys.executable, "-c", FALLBACK_SCRIPT, str(engine.index.path), KEY.decode()],
                          input="\0".join(texts), capture_output=True, text=True, timeout=300, check=True)
    assert done.stdout.splitlines() == expected
    assert sum(e != "[]" for e in expected) >= 3
