"""Data and helpers shared by the detection benchmark (`tests.bench.detect`).

The python-docs-ja corpus (../shared/corpus/python-docs-ja, beside the repository) is split once, by a
fixed seed, by page name: the library pages of the registered third are the organisation's secrets
(with every C-API page), the background third is its non-secret documents (given to the engine as the
background model), the test third is unrelated text. A page's Japanese and English versions always
fall on the same side, so unrelated text never holds a translation (or the code samples) of a
registered page.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from himitsu.engine.check import Engine
from himitsu.engine.model import Extraction, SecretRef, TextPart
from himitsu.engine.normalize import normalize
from tests.corpus import CORPUS as SHARED_CORPUS

CORPUS = SHARED_CORPUS
KEY = b"bench-key-" * 4
SEED = int(os.environ.get("BENCH_SEED", "11"))  # another seed: another split and other probes
LANGS = ("ja", "en")
#: share of library page names that are registered / background (the rest is unrelated test text)
REGISTERED_SHARE, BACKGROUND_SHARE = 0.3, 0.3


@dataclass(frozen=True)
class Doc:
    id: int
    name: str  # e.g. "library/ja/argparse"
    lang: str
    text: str

    @property
    def size(self) -> int:
        return len(self.text.encode("utf-8"))


@dataclass(frozen=True)
class Split:
    registered: list[Doc]
    background: list[Doc]
    test: list[Doc]

    def of(self, docs: list[Doc], lang: str) -> list[Doc]:
        return [d for d in docs if d.lang == lang]


def load_split() -> Split:
    stems = sorted({p.stem for lang in LANGS for p in (CORPUS / "library" / lang).glob("*.txt")})
    random.Random(SEED).shuffle(stems)
    a, b = int(REGISTERED_SHARE * len(stems)), int((REGISTERED_SHARE + BACKGROUND_SHARE) * len(stems))
    side = {s: 0 if i < a else 1 if i < b else 2 for i, s in enumerate(stems)}
    groups: list[list[Doc]] = [[], [], []]
    next_id = 0
    for lang in LANGS:
        for stem in sorted(side):
            path = CORPUS / "library" / lang / f"{stem}.txt"
            if path.exists():
                groups[side[stem]].append(Doc(next_id, f"library/{lang}/{stem}", lang, path.read_text("utf-8")))
                next_id += 1
    for lang in LANGS:
        for path in sorted((CORPUS / "c-api" / lang).glob("*.txt")):
            groups[0].append(Doc(next_id, f"c-api/{lang}/{path.stem}", lang, path.read_text("utf-8")))
            next_id += 1
    return Split(*groups)


def byte_pieces(text: str, size: int) -> list[str]:
    """Consecutive, non-overlapping pieces of ``size`` UTF-8 bytes (a character cut at either end is
    dropped); the incomplete rest is left out."""
    data = text.encode("utf-8")
    return [data[at: at + size].decode("utf-8", "ignore") for at in range(0, len(data) - size + 1, size)]


def resolver(docs: Iterable[Doc]) -> Callable[[int], SecretRef | None]:
    names = {d.id: d.name for d in docs}
    return lambda i: SecretRef(i, names[i], "秘") if i in names else None


def engine_with(index_dir: str | Path, k: int, w: int, *, detectors: Sequence[str] | None = None,
                resolve: Callable[[int], SecretRef | None] | None = None) -> Engine:
    """An Engine with the given k and w and its index in ``index_dir``."""
    return Engine(index_dir=index_dir, key=KEY, detectors=detectors, resolve=resolve, k=k, w=w)


def register_batch(engine: Engine, registered: Iterable[Doc], background: Iterable[Doc]) -> None:
    """Registered documents and the background corpus in one commit (same index as one
    ``Engine.register`` / ``add_background`` per document, without a commit each)."""
    fp = engine.fingerprinter
    assert engine.index is not None
    with engine.index.batch() as batch:
        for d in registered:
            norm = normalize(d.text)
            batch.add(d.id, fp.fingerprints(norm), len(norm.text))
        for d in background:
            batch.add_background(fp.background(normalize(d.text)))


def as_extraction(*texts: str) -> Extraction:
    return Extraction(parts=[TextPart(path=f"part{i}" if len(texts) > 1 else "", text=t, format="text")
                             for i, t in enumerate(texts)])


def percentile(sorted_values: Sequence[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))]


def cpu_rate(nbytes: int, run: Callable[[], object], repeat: int = 3) -> float:
    """MB per CPU-second (one thread: per core), median of ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        run()
        times.append(time.process_time() - t0)
    return nbytes / 1e6 / max(statistics.median(times), 1e-9)


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")
    print()
    sys.stdout.flush()


def section(title: str, *method: str) -> None:
    print(f"\n### {title}\n")
    for line in method:
        print(line)
    print()
    sys.stdout.flush()


def machine_reference() -> str:
    """One line measuring this machine with fixed work that no change of ours touches, printed by every benchmark:
    machines of this kind differed 1.5–2.5× in speed between sessions on the same code, so a figure is only
    comparable with another taken beside the same reference (docs/benchmarks.md, "Comparing sessions").

    - per-line NFKC (``unicodedata.normalize``) of the Japanese library pages of the shared corpus, MB per CPU-s;
    - a fixed pure-Python loop (string formatting, dict and list work), CPU ms: the interpreter's own speed, which
      bounds the web app, the detectors' per-match code and the gateways;
    - detect-secrets over 300,000 characters of Japanese and English pages alternating, MB per CPU-s, when it is
      installed: the anchor issue 3 gives for the machine its targets were set on (about 0.33)."""
    import unicodedata

    ja, en = (sorted(p for p in (SHARED_CORPUS / "library" / lang).rglob("*") if p.is_file()) for lang in ("ja", "en"))
    texts = {p: p.read_text(encoding="utf-8") for p in (*ja, *en)}
    lines = "\n".join(texts[p] for p in ja).splitlines()
    size = sum(len(line.encode()) for line in lines) + len(lines)

    def nfkc() -> None:  # 40 passes: about a quarter of a second, long enough to time
        for _ in range(40):
            for line in lines:
                unicodedata.normalize("NFKC", line)

    def python_loop() -> None:
        seen: dict[str, int] = {}
        for i in range(300_000):
            key = f"k{i % 1000}"
            seen[key] = seen.get(key, 0) + len(key)
        sorted(seen.items())

    rate = max(cpu_rate(40 * size, nfkc, repeat=1) for _ in range(3))
    loop_ms = min(_cpu_ms(python_loop) for _ in range(5))
    mixed = "\n".join(texts[p] for pair in zip(ja, en, strict=False) for p in pair)
    ds = detect_secrets_rate(mixed[:300_000])
    ds_text = (f"; detect-secrets {ds[2]} over 300,000 characters of Japanese and English pages alternating "
               f"{ds[0]:.2f} MB per CPU-s (issue 3's anchor: about 0.33)" if ds is not None
               else "; detect-secrets not installed")
    return (f"Machine reference (same run): per-line NFKC of the Japanese pages {rate:.0f} MB per CPU-s; fixed "
            f"Python loop {loop_ms:.1f} CPU ms (lower is faster){ds_text}.")


def detect_secrets_rate(text: str) -> tuple[float, int, str] | None:
    """detect-secrets (default plugins and filters, ``SecretsCollection.scan_file``) over ``text`` written to a
    file: (MB per CPU-s, secrets reported, its version), or None when it is not installed in the venv (it is not
    in requirements.lock: ``.venv/bin/pip install detect-secrets``)."""
    try:
        from detect_secrets import SecretsCollection
        from detect_secrets.settings import default_settings
    except ImportError:
        return None
    import tempfile
    from importlib.metadata import version

    with tempfile.TemporaryDirectory(prefix="himitsu-bench-ds-") as tmp:
        with open(os.path.join(tmp, "input.txt"), "w", encoding="utf-8") as f:
            f.write(text)
        with default_settings():
            collection = SecretsCollection(root=tmp)
            t0 = time.process_time()
            collection.scan_file("input.txt")
            cpu = time.process_time() - t0
    found = sum(len(v) for v in collection.data.values())
    return len(text.encode()) / 1e6 / max(cpu, 1e-9), found, version("detect-secrets")


def _cpu_ms(run: Callable[[], object]) -> float:
    t0 = time.process_time()
    run()
    return (time.process_time() - t0) * 1000


def pct(n: int, total: int, digits: int = 1) -> str:
    return f"{100 * n / total:.{digits}f} %" if total else "–"
