"""Detection-engine evaluation and speed (`make bench` runs it after the register benchmark).

Method (data the engine's parameters were not tuned on): the 65 C-API pages of the python-docs-ja
corpus (Japanese, then English) are registered as secret documents. Library pages, which the
registered set does not contain, are the unrelated text.
- Recall: excerpts of 100, 200 and 400 characters from registered pages, edited the way people copy
  text (re-flowed lines, full-width/half-width conversion, and 2 % of characters replaced), embedded in
  unrelated text: found if a registered-secret finding names the right document.
- False alerts: 4,000-character windows of unrelated library pages: any registered-secret finding.
  Half of the library pages are given to the engine as the background corpus (the organisation's
  non-secret documents, `Engine.add_background`); the other half are the unrelated test text.
- Speed: a 4 KB prompt through the whole engine (extraction, all detectors, index lookup), p50/p99;
  throughput of the full engine on 1 MB of text; registration rate.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from himitsu.engine.check import Engine
from himitsu.engine.model import SecretRef

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "python-docs-ja"
N_EXCERPTS = 200


def texts(folder: Path) -> list[tuple[str, str]]:
    return [(p.stem, p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.txt"))]


def edit(text: str, rnd: random.Random, pool: str) -> str:
    """Re-flow, convert widths, replace 2 % of characters."""
    chars = list(text)
    for i in rnd.sample(range(len(chars)), max(1, len(chars) // 50)):
        chars[i] = rnd.choice(pool)
    out = "".join(chars)
    out = out.translate(str.maketrans("0123456789ABCDEFabcdef", "０１２３４５６７８９ＡＢＣＤＥＦａｂｃｄｅｆ"))
    return "\n".join(out[i:i + 37] for i in range(0, len(out), 37))


def evaluate(lang: str) -> list[tuple[str, str]]:
    registered = [t for t in texts(CORPUS / "c-api" / lang) if len(t[1]) > 1500]
    library = [t[1] for t in texts(CORPUS / "library" / lang) if len(t[1]) > 5000]
    background, unrelated = library[0::2], library[1::2]  # the organisation's non-secret documents / test
    rnd = random.Random(11)
    index_dir = tempfile.mkdtemp(prefix="himitsu-bench-index-")
    names = {i: name for i, (name, _t) in enumerate(registered)}
    engine = Engine(index_dir=index_dir, key=b"bench-key-" * 4,
                    resolve=lambda i: SecretRef(i, names.get(i, "?"), "秘"))
    start = time.perf_counter()
    total_chars = 0
    for i, (_name, text) in enumerate(registered):
        engine.register(i, text.encode("utf-8"), f"{i}.txt")
        total_chars += len(text)
    t_register = time.perf_counter() - start
    for i, text in enumerate(background):
        engine.add_background(text.encode("utf-8"), f"bg{i}.txt")
    pool = "".join(t for _n, t in registered)[:20000]
    rows: list[tuple[str, str]] = []
    rows.append((f"{lang}: registered documents", f"{len(registered)} ({total_chars / 1e6:.2f} M chars, "
                 f"{t_register:.1f} s, index {engine.index.stats().disk_bytes / 1e6:.2f} MB)"))
    for length in (100, 200, 400):
        found = 0
        for _ in range(N_EXCERPTS):
            doc = rnd.randrange(len(registered))
            text = registered[doc][1]
            at = rnd.randrange(0, len(text) - length)
            filler = rnd.choice(unrelated)
            cut = rnd.randrange(0, len(filler) - 2000)
            prompt = filler[cut:cut + 1000] + edit(text[at:at + length], rnd, pool) + filler[cut + 1000:cut + 2000]
            result = engine.check_text(prompt)
            if any(f.detector == "registered-secret" and f.secret and f.secret.id == doc for f in result.findings):
                found += 1
        rows.append((f"{lang}: recall, edited {length}-character excerpts", f"{found / N_EXCERPTS:.1%}"))
    false, windows, sizes = 0, 0, []
    for text in unrelated:
        for at in range(0, len(text) - 4000, 4000):
            windows += 1
            result = engine.check_text(text[at:at + 4000])
            hits = [f for f in result.findings if f.detector == "registered-secret"]
            if hits:
                false += 1
                sizes.append(max(f.matched_chars or 0 for f in hits))
    rows.append((f"{lang}: unrelated 4,000-character texts with a false registered-secret alert",
                 f"{false} of {windows} ({false / max(windows, 1):.2%}); matched characters of those: "
                 f"median {statistics.median(sizes) if sizes else 0:.0f}, max {max(sizes, default=0)}"))
    samples = []
    prompts = [u[:4096] for u in unrelated[:50]]
    for prompt in prompts * 4:
        t0 = time.perf_counter()
        engine.check_text(prompt)
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    rows.append((f"{lang}: 4 KB prompt, whole engine, p50 / p99",
                 f"{statistics.median(samples):.1f} / {samples[int(0.99 * (len(samples) - 1))]:.1f} ms"))
    big = "\n".join(unrelated)[:1_000_000]
    t0 = time.perf_counter()
    engine.check_text(big)
    elapsed = time.perf_counter() - t0
    rows.append((f"{lang}: whole engine on 1 M characters", f"{len(big.encode()) / 1e6 / elapsed:.1f} MB/s"))
    return rows


def main() -> int:
    if not CORPUS.exists():
        print(f"corpus not found at {CORPUS}; skipped")
        return 0
    print("\n| detection measure | result |\n|---|---|")
    for lang in ("ja", "en"):
        for name, value in evaluate(lang):
            print(f"| {name} | {value} |")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
