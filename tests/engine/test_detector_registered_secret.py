"""registered-secret: seeds, verification against the document's signature, passages and their length.

Real text: pages of ../shared/corpus/python-docs-ja registered in a fresh index (a real FingerprintIndex
in a temporary folder), other pages as unrelated filler.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from himitsu.engine.check import Engine
from himitsu.engine.detectors import registered_secret
from himitsu.engine.fingerprint import Fingerprinter, pack_signature, unpack_signature
from himitsu.engine.model import SecretRef
from himitsu.engine.normalize import normalize
from tests.corpus import CORPUS as SHARED_CORPUS

CORPUS = SHARED_CORPUS / "library"
KEY = b"registered-secret-test-key-0123456789"


def page(lang: str, name: str) -> str:
    path = CORPUS / lang / f"{name}.txt"
    if not path.exists():
        pytest.skip("corpus not available")
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    names = {1: "ja/argparse", 2: "en/argparse", 3: "ja/csv", 4: "ja/json", 9: "short"}
    e = Engine(index_dir=tmp_path_factory.mktemp("index"), key=KEY, detectors=["registered-secret"],
               resolve=lambda i: SecretRef(i, names[i], "極秘") if i in names else None)
    for doc_id, name in names.items():
        if doc_id != 9:
            e.register(doc_id, page(*name.split("/")).encode(), "page.txt")
    e.register(9, "製造条件：温度二三〇度、圧力一五MPa、保持時間四二秒で成形する。".encode(), "short.txt")
    return e


def filler(lang: str = "ja") -> tuple[str, str]:
    text = page(lang, "sqlite3")
    return text[2000:3500], text[3500:5000]


def findings(engine: Engine, text: str) -> list:
    return [f for f in engine.check_text(text).findings if f.detector == "registered-secret"]


def substitute(text: str, rnd: random.Random, n: int) -> str:
    chars = list(text)
    for i in rnd.sample([i for i, c in enumerate(chars) if c.isalnum()], n):
        chars[i] = "語" if chars[i] != "語" else "文"
    return "".join(chars)


def test_verbatim_excerpt_found_with_span_and_length(engine: Engine) -> None:
    excerpt = page("ja", "argparse")[5000:5200]
    before, after = filler()
    text = f"{before}\n{excerpt}\n{after}"
    [f] = findings(engine, text)
    assert f.secret.id == 1 and f.secret.level == "極秘"
    norm_len = len(normalize(excerpt).text)
    assert norm_len - 3 <= f.matched_chars <= norm_len + 3  # the shared text, not a lower bound
    assert f.start <= len(before) + 4 and f.end >= len(before) + 1 + len(excerpt) - 4
    assert excerpt[20:60] not in f.snippet and len(f.snippet) < 20


def test_hundred_characters_with_two_substitutions_mostly_found(engine: Engine) -> None:
    """100 characters with two substituted: the benchmark measures about 88 %; here 20 excerpts of one
    page must give at least 15 findings naming it, and never another document."""
    source = page("ja", "csv")
    before, after = filler()
    found = tried = 0
    for seed in range(40):
        rnd = random.Random(seed)
        at = rnd.randrange(1000, len(source) - 1000)
        excerpt = source[at: at + 100]
        if len(normalize(excerpt).text) < 70:
            continue  # mostly punctuation or spaces
        hits = findings(engine, f"{before}\n{substitute(excerpt, rnd, 2)}\n{after}")
        assert {f.secret.id for f in hits} <= {3}
        found += bool(hits)
        tried += 1
        if tried == 20:
            break
    assert tried == 20 and found >= 15, (found, tried)


def test_english_excerpt_reflowed_and_widened(engine: Engine) -> None:
    excerpt = page("en", "argparse")[8000:8300]
    edited = "\n> ".join(excerpt.replace("\n", " ")[i: i + 37] for i in range(0, 300, 37))
    edited = edited.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})
    before, after = filler("en")
    assert {f.secret.id for f in findings(engine, f"{before}\n{edited}\n{after}")} == {2}


def test_short_shared_fragment_not_reported(engine: Engine) -> None:
    """40 normalised characters shared with a registered page are a fragment, not an excerpt."""
    source = normalize(page("ja", "json")).text
    fragment = source[3000:3040]
    before, after = filler()
    assert findings(engine, f"{before}{fragment}{after}") == []
    longer = source[3000:3060]
    assert [f.secret.id for f in findings(engine, f"{before}{longer}{after}")] == [4]


def test_short_registered_document_found_whole(engine: Engine) -> None:
    before, after = filler()
    hits = findings(engine, f"{before}\n製造条件:温度二三〇度、圧力一五MPa、保持時間四二秒で成形する\n{after}")
    assert [f.secret.id for f in hits] == [9]
    assert hits[0].params["containment"] > 0.9


def test_unrelated_page_clean(engine: Engine) -> None:
    assert findings(engine, page("ja", "sqlite3")[:20000]) == []
    assert findings(engine, page("en", "sqlite3")[:20000]) == []


def test_signature_verification_rejects_a_forged_seed(engine: Engine) -> None:
    """A k-gram shared by chance (here: planted, alone) is a seed, but its neighbours disagree."""
    source = normalize(page("ja", "argparse")).text
    fp = engine.fingerprinter
    selected = fp.fingerprints(source).positions
    at = int(selected[len(selected) // 2])
    lone = source[at: at + fp.k]
    before, after = filler()
    text = f"{before}{lone}{after}"
    probe = fp.probe(normalize(text))
    assert engine.index is not None
    result = engine.index.lookup(probe.fingerprints)
    assert 1 in result.seeds.docs  # the seed exists ...
    assert not registered_secret.verified(probe, result)[result.seeds.docs == 1].any()  # ... and is rejected
    assert findings(engine, text) == []


def test_signature_packing_round_trip() -> None:
    rnd = np.random.default_rng(3)
    for n in (0, 1, 3, 4, 5, 1001):
        values = rnd.integers(0, 4, n, dtype=np.uint8)
        packed = pack_signature(values)
        assert len(packed) == -(-n // 4)
        assert unpack_signature(packed, n).tolist() == values.tolist()
        assert unpack_signature(packed, n, 1, n - 1).tolist() == values[1: n - 1].tolist()


def test_probe_signature_equals_document_signature() -> None:
    fp = Fingerprinter(KEY)
    text = normalize(page("ja", "csv")[:3000]).text
    doc = fp.fingerprints(text)
    probe = fp.probe(text)
    assert doc.signature is not None and len(doc.signature) == probe.kgrams == len(text) - fp.k + 1
    assert probe.signature(100, 400).tolist() == doc.signature[100:400].tolist()
    assert probe.signature(0, probe.kgrams).tolist() == doc.signature.tolist()
    # every k-gram the document selected is among the probe's lookups (PROBE_LIMIT loses ~0.1 %)
    looked_up = set(probe.fingerprints.hashes.tolist())
    kept = np.mean([h in looked_up for h in doc.hashes.tolist()])
    assert kept > 0.98


def test_owners_of_all_found_documents_asked_at_once(engine: Engine) -> None:
    """With ``resolve_many`` the detector asks once per text for every document it found passages of (the web app
    reads them in one query); a document it names None is no longer registered: no finding."""
    asked: list[list[int]] = []

    def many(ids):
        asked.append(list(ids))
        return {i: (SecretRef(i, f"entry {i}", "秘") if i != 3 else None) for i in ids}

    e = Engine(index_dir=engine.index.path, key=KEY, detectors=["registered-secret"], resolve_many=many)
    before, after = filler()
    text = (f"{before}\n{page('ja', 'argparse')[5000:5300]}\n{page('ja', 'json')[3000:3300]}\n"
            f"{page('ja', 'csv')[4000:4300]}\n{after}")
    found = [f for f in e.check_text(text).findings if f.detector == "registered-secret"]
    assert len(asked) == 1 and sorted(asked[0]) == [1, 3, 4]
    assert {f.secret.id for f in found} == {1, 4} and {f.secret.level for f in found} == {"秘"}
    assert e.check_text(f"{before}\n{after}").findings == [] and len(asked) == 1  # nothing found: nobody asked
