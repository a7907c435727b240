"""The one-pass C probe (``_fast.probe``: rolling hashes, selection below PROBE_LIMIT and SipHash of the
selected k-grams) gives exactly what the numpy reference (``Fingerprinter._probe_numpy``) gives: the same
fingerprints, positions, rolling hashes and signature values, on corpus text and on edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from himitsu.engine import _fast
from himitsu.engine.check import Engine
from himitsu.engine.fingerprint import PROBE_LIMIT, Fingerprinter, Probe
from himitsu.engine.model import SecretRef
from himitsu.engine.normalize import normalize
from tests.corpus import page

pytestmark = pytest.mark.skipif(not _fast.PROBE_AVAILABLE, reason="C extension without probe_into")

KEY = bytes(range(32))


def _assert_same(fast: Probe, reference: Probe) -> None:
    assert fast.kgrams == reference.kgrams
    assert fast.text_length == reference.text_length
    assert np.array_equal(fast._rolling, reference._rolling)
    assert fast.fingerprints.positions.dtype == reference.fingerprints.positions.dtype
    assert fast.fingerprints.hashes.dtype == reference.fingerprints.hashes.dtype
    assert np.array_equal(fast.fingerprints.positions, reference.fingerprints.positions)
    assert np.array_equal(fast.fingerprints.hashes, reference.fingerprints.hashes)
    everything = np.arange(fast.kgrams)
    assert np.array_equal(fast.signature_at(everything), reference.signature_at(everything))


@pytest.mark.parametrize("name", ["ja/json", "en/json", "ja/re", "en/asyncio-task"])
@pytest.mark.parametrize("k", [12, 5])
def test_probe_pass_equals_numpy_on_corpus(name: str, k: int) -> None:
    fp = Fingerprinter(KEY, k=k)
    text = normalize(page(name)).text
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    fast = fp.probe(text)
    _assert_same(fast, fp._probe_numpy(cps))
    assert len(fast.fingerprints) > 0


@pytest.mark.parametrize("text", ["", "a", "abcdefghijk", "abcdefghijkl", "0" * 500,
                                  "絵文字😀🀄𝔘と\U0010FFFFの混在した十分に長い文章です" * 3, "\ud800" * 20 + "x" * 20])
def test_probe_pass_equals_numpy_on_edge_cases(text: str) -> None:
    fp = Fingerprinter(KEY)
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    _assert_same(fp.probe(text), fp._probe_numpy(cps))


def test_probe_pass_selects_below_the_limit() -> None:
    fp = Fingerprinter(KEY)
    text = normalize(page("en/json")).text
    probe = fp.probe(text)
    top = probe._rolling >> np.uint64(32)
    assert np.array_equal(probe.fingerprints.positions, np.flatnonzero(top < np.uint64(PROBE_LIMIT)))
    assert np.array_equal(probe.fingerprints.hashes, fp.prf(probe._rolling[probe.fingerprints.positions]))


def test_probe_into_checks_its_arguments() -> None:
    fp = Fingerprinter(KEY)
    cps = np.arange(0x41, 0x41 + 20, dtype=np.uint32)
    with pytest.raises(ValueError):
        _fast.probe(fp._bmp[:100], cps, 12, fp._base, fp._char_key, fp._out_key, PROBE_LIMIT)
    with pytest.raises(ValueError):
        _fast.probe(fp._bmp, cps, 12, fp._base, b"short", fp._out_key, PROBE_LIMIT)
    with pytest.raises(ValueError):
        _fast.probe(fp._bmp, np.array([0x110000] * 20, dtype=np.uint32), 12, fp._base, fp._char_key,
                    fp._out_key, PROBE_LIMIT)
    with pytest.raises(ValueError):
        _fast.probe(fp._bmp, cps, 0, fp._base, fp._char_key, fp._out_key, PROBE_LIMIT)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    e = Engine(index_dir=tmp_path_factory.mktemp("index"), key=KEY, detectors=["registered-secret"],
               resolve=lambda i: SecretRef(i, f"doc{i}", "極秘"))
    for i, name in enumerate(REGISTERED):
        e.register(i + 1, page(name).encode(), "page.txt")
    return e


REGISTERED = ["ja/json", "en/json", "ja/csv", "en/csv", "ja/argparse", "en/re"]


def _text_with_excerpts() -> str:
    parts = []
    for name in REGISTERED:
        text = page(name)
        parts += [text[1000:1700], page("ja/sqlite3")[:900], text[5000:5400].replace("の", "を"), page("en/os")[:700]]
    return "\n".join(parts)


@pytest.mark.parametrize("text", [_text_with_excerpts(), page("ja/argparse"), page("en/sqlite3")])
def test_findings_identical_with_and_without_the_c_probe(engine: Engine, text: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    fast = engine.check_text(text).findings
    monkeypatch.setattr(_fast, "PROBE_AVAILABLE", False)
    reference = engine.check_text(text).findings
    assert [repr(f) for f in fast] == [repr(f) for f in reference]


def test_probe_pass_with_more_picked_than_first_room() -> None:
    fp = Fingerprinter(KEY)
    cps = np.frombuffer(normalize(page("ja/json")).text.encode("utf-32-le"), dtype="<u4")
    rolling, picked, hashes, signature, known = _fast.probe(fp._bmp, cps, fp.k, fp._base, fp._char_key,
                                                             fp._out_key, 1 << 32)
    assert np.array_equal(rolling, fp._rolling(cps))
    assert np.array_equal(picked, np.arange(len(rolling)))
    assert np.array_equal(hashes, fp.prf(rolling))
    assert np.array_equal(signature, (hashes >> np.uint64(62)).astype(np.uint8))
    assert known.all()
