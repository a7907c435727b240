"""Speed of the detection engine (issue 3, "Performance"), and peers over the same input.

Throughput figures are MB of UTF-8 per CPU-second of this single-threaded process (= per core; CPU
time also keeps the other core's load out of the figure), median of 3 runs. Latencies are wall time.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
import time
from collections.abc import Callable
from random import Random

import numpy as np

from himitsu.engine import prefilter, registry
from himitsu.engine.check import Context, Engine
from himitsu.engine.detectors.registered_secret import RegisteredSecretDetector
from himitsu.engine.extract import extract
from himitsu.engine.fingerprint import DEFAULT_K, DEFAULT_W, Fingerprints
from himitsu.engine.model import SecretRef
from himitsu.engine.normalize import normalize
from tests.bench.detect_data import (
    LANGS,
    SEED,
    Doc,
    Split,
    as_extraction,
    byte_pieces,
    cpu_rate,
    detect_secrets_rate,
    engine_with,
    percentile,
    register_batch,
    section,
    table,
)

N_DOCS = 100_000
LATENCY_HEADER = ["scope", "prompt", "n", "p50 ms", "p99 ms", "max ms", "p99 ms CPU"]
DOC_BYTES = 5120
PROMPT_BYTES = 4096


def mixed_text(split: Split) -> list[str]:
    """All library pages, Japanese and English alternating (about 8.7 MB): the throughput input."""
    library = [d for d in split.registered + split.background + split.test if d.name.startswith("library")]
    ja = [d.text for d in library if d.lang == "ja"]
    en = [d.text for d in library if d.lang == "en"]
    out = []
    for i in range(max(len(ja), len(en))):
        out.extend(t[i] for t in (ja, en) if i < len(t))
    return out


# -- a 100,000-document index ---------------------------------------------------------------------


def build_large_index(engine: Engine, base: list[str], *, correlated: bool = False, first_id: int = 0) -> float:
    """N_DOCS documents through one ``batch()``: document i has the fingerprints of the 5 KB slice
    i mod M (M = len(base)); copies after the first (rounds r = i // M ≥ 1) have every fingerprint
    XOR-ed with a random per-round salt, so they are distinct documents that share nothing (as
    unrelated documents share little once the background model has removed boilerplate).
    ``correlated``: the fingerprints that two or more base slices share stay unsalted in every copy, so
    a phrase shared by 2 of the M slices is in about 2·N/M documents, and each copy carries all the
    shared phrases of its slice: a corpus of near-duplicates (versions, templates), the stress case.
    ``first_id``: the id of document 0 (the web app's register rows start at 1)."""
    fp = engine.fingerprinter
    assert engine.index is not None
    t0 = time.perf_counter()
    prints = []
    for text in base:
        norm = normalize(text)
        prints.append((fp.fingerprints(norm), len(norm.text)))
    uniq, counts = np.unique(np.concatenate([np.unique(f.hashes) for f, _ in prints]), return_counts=True)
    shared = uniq[counts >= 2] if correlated else uniq[:0]
    keep = [np.isin(f.hashes, shared) for f, _ in prints]
    salts = np.random.default_rng(SEED).integers(1, 2**63, size=N_DOCS // len(base) + 1, dtype=np.uint64)
    with engine.index.batch() as batch:
        for i in range(N_DOCS):
            j, r = i % len(base), i // len(base)
            f, length = prints[j]
            hashes = f.hashes if r == 0 else np.where(keep[j], f.hashes, f.hashes ^ salts[r])
            batch.add(first_id + i, Fingerprints(hashes, f.positions, f.k, f.text_length, f.signature), length)
    return time.perf_counter() - t0


def latency(engine: Engine, base: list[str], split: Split, per_lang: int = 150,
            scopes_wanted: int = 5) -> list[list[object]]:
    """p50/p99 of one 4 KB prompt: unrelated text, and unrelated text carrying 1 KB of a registered slice."""
    rnd = Random(SEED)
    unrelated = {lang: [p for d in split.of(split.test, lang) for p in byte_pieces(d.text, PROMPT_BYTES)]
                 for lang in LANGS}
    prompts: dict[str, list[str]] = {"unrelated": [], "with a 1 KB registered excerpt": []}
    for lang in LANGS:
        for _ in range(per_lang):
            prompts["unrelated"].append(rnd.choice(unrelated[lang]))
            data = rnd.choice(unrelated[lang]).encode()
            excerpt = rnd.choice(base).encode()[1024:2048]
            prompts["with a 1 KB registered excerpt"].append(
                (data[:1536] + excerpt + data[-1536:]).decode("utf-8", "ignore"))
    detector = next(d for d in engine.detectors if isinstance(d, RegisteredSecretDetector))

    assert engine.index is not None

    def registered_only(text: str) -> object:
        extraction = as_extraction(text)
        return list(detector.inspect(extraction, Context(engine.index, engine.fingerprinter, engine.resolve,
                                                         extraction)))

    prints = {t: engine.fingerprinter.probe(normalize(t)).fingerprints for texts in prompts.values() for t in texts}
    matched = sorted(len(engine.index.lookup(f).matches) for f in prints.values())
    print(f"Documents matched by one prompt (any shared fingerprint): median {percentile(matched, 0.5):.0f}, "
          f"p99 {percentile(matched, 0.99):.0f}, max {matched[-1]}.\n")
    scopes: dict[str, Callable[[str], object]] = {
        "index lookup only (fingerprints computed beforehand)": lambda t: engine.index.lookup(prints[t]),
        "registered-secret detector": registered_only,
        "whole engine, inspect (all 11 detectors)": lambda t: engine.inspect(as_extraction(t)),
        "whole engine, check (with plain-text extraction)": lambda t: engine.check(t.encode(), "prompt.txt"),
    }
    rows: list[list[object]] = []
    for scope, run in list(scopes.items())[:scopes_wanted]:
        for kind, texts in prompts.items():
            for t in texts[:20]:
                run(t)  # warm-up
            wall, cpu = [], []
            for t in texts:
                w0, c0 = time.perf_counter(), time.process_time()
                run(t)
                wall.append((time.perf_counter() - w0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
            wall.sort()
            cpu.sort()
            rows.append([scope, kind, len(wall), f"{percentile(wall, 0.5):.2f}", f"{percentile(wall, 0.99):.2f}",
                         f"{wall[-1]:.2f}", f"{percentile(cpu, 0.99):.2f}"])
    return rows


# -- throughput -----------------------------------------------------------------------------------


def throughput(engine: Engine, parts: list[str], unrelated: list[str]) -> list[list[object]]:
    extraction = as_extraction(*parts)
    nbytes = sum(len(p.encode()) for p in parts)
    context = Context(engine.index, engine.fingerprinter, engine.resolve, extraction)
    rows: list[list[object]] = [["whole engine (inspect, 11 detectors)",
                                 f"{cpu_rate(nbytes, lambda: engine.inspect(extraction)):.1f}"]]
    for detector in engine.detectors:
        rate = cpu_rate(nbytes, lambda d=detector: list(d.inspect(extraction, context)))
        rows.append([f"detector {detector.id}", f"{rate:.1f}" if rate < 100_000 else "– (reads no text)"])
    patterns = [d for d in engine.detectors if not isinstance(d, RegisteredSecretDetector)]
    def together() -> None:  # one shared per-inspection cache, fresh each run, as Engine.inspect does
        shared = dataclasses.replace(context, cache={})
        for d in patterns:
            list(d.inspect(extraction, shared))

    rows.append([f"the {len(patterns)} pattern detectors together (one shared cache)",
                 f"{cpu_rate(nbytes, together):.1f}"])
    detector = next(d for d in engine.detectors if isinstance(d, RegisteredSecretDetector))
    other = as_extraction(*unrelated)
    other_bytes = sum(len(p.encode()) for p in unrelated)
    other_context = Context(engine.index, engine.fingerprinter, engine.resolve, other)
    rows.append([f"detector registered-secret on unrelated text only ({len(unrelated)} test pages, "
                 f"{other_bytes / 1e6:.1f} MB)",
                 f"{cpu_rate(other_bytes, lambda: list(detector.inspect(other, other_context))):.1f}"])
    norms = [normalize(p) for p in parts]
    prints = [engine.fingerprinter.probe(n).fingerprints for n in norms]
    assert engine.index is not None
    index = engine.index
    rows += [["registered-secret, step: normalise", f"{cpu_rate(nbytes, lambda: [normalize(p) for p in parts]):.1f}"],
             ["registered-secret, step: probe fingerprints (normalised text in)",
              f"{cpu_rate(nbytes, lambda: [engine.fingerprinter.probe(n) for n in norms]):.1f}"],
             ["registered-secret, step: index lookup (fingerprints in)",
              f"{cpu_rate(nbytes, lambda: [index.lookup(f) for f in prints]):.1f}"]]
    whole = "\n".join(parts).encode()
    rows.append(["whole engine, check() of the same text as one plain-text input (with extraction)",
                 f"{cpu_rate(len(whole), lambda: engine.check(whole, 'input.txt'), repeat=1):.1f}"])
    return rows


def pattern_detectors(parts: list[str]) -> list[list[object]]:
    """MB per CPU-second of each pattern detector alone and of all of them together: with the shared
    prefilter and a fresh per-inspection cache each run (as ``Engine.inspect`` runs them), and the old way
    (``prefilter.ENABLED = False``: each detector scans every part, customer-list re-runs its sources)."""
    extraction = as_extraction(*parts)
    nbytes = sum(len(p.encode()) for p in parts)
    detectors = [cls() for name, cls in registry.detector_classes().items() if name != "registered-secret"]

    def together() -> None:
        context = Context(None, None, None, extraction, cache={})
        for d in detectors:
            list(d.inspect(extraction, context))

    def rates() -> list[str]:
        out = [f"{cpu_rate(nbytes, lambda d=d: list(d.inspect(extraction))):.1f}" for d in detectors]
        return [r if float(r) < 100_000 else "– (reads no text)" for r in out] + [f"{cpu_rate(nbytes, together):.1f}"]

    new = rates()
    try:
        prefilter.ENABLED = False
        old = rates()
    finally:
        prefilter.ENABLED = True
    labels = [f"detector {d.id}" for d in detectors] + [f"the {len(detectors)} pattern detectors together"]
    return [[label, a, b] for label, a, b in zip(labels, new, old, strict=True)]


def registration(split: Split, base: list[str]) -> list[list[object]]:
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="himitsu-bench-reg-") as tmp:
        engine = engine_with(tmp, DEFAULT_K, DEFAULT_W, detectors=["registered-secret"])
        docs = base[:400]
        nbytes = sum(len(t.encode()) for t in docs)
        w0, c0 = time.perf_counter(), time.process_time()
        for i, text in enumerate(docs):
            engine.register(i, text.encode(), f"{i}.txt")
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        rows.append([f"Engine.register, one index commit per document ({len(docs)} documents)",
                     f"{nbytes / 1e6:.1f}", f"{nbytes / 1e6 / cpu:.1f}", f"{nbytes / 1e6 / wall:.1f}",
                     f"{wall / len(docs) * 1000:.1f} ms"])
    with tempfile.TemporaryDirectory(prefix="himitsu-bench-reg-") as tmp:
        engine = engine_with(tmp, DEFAULT_K, DEFAULT_W, detectors=["registered-secret"])
        blobs = [t.encode() for t in base]
        nbytes = sum(len(b) for b in blobs)
        w0, c0 = time.perf_counter(), time.process_time()
        with engine.registering() as register:
            for i, blob in enumerate(blobs):
                register(i, blob, f"{i}.txt")
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        rows.append([f"Engine.registering(), one commit: extract + normalise + fingerprint ({len(blobs)} documents;"
                     " what `secrets add` with many files does)", f"{nbytes / 1e6:.1f}", f"{nbytes / 1e6 / cpu:.1f}",
                     f"{nbytes / 1e6 / wall:.1f}", f"{wall / len(blobs) * 1000:.2f} ms"])
    for with_extraction in (True, False):
        with tempfile.TemporaryDirectory(prefix="himitsu-bench-reg-") as tmp:
            engine = engine_with(tmp, DEFAULT_K, DEFAULT_W, detectors=["registered-secret"])
            assert engine.index is not None
            nbytes = sum(len(t.encode()) for t in base)
            blobs = [t.encode() for t in base]
            w0, c0 = time.perf_counter(), time.process_time()
            with engine.index.batch() as batch:
                for i, blob in enumerate(blobs):
                    if with_extraction:
                        text = "\n".join(p.text for p in extract(blob, f"{i}.txt", engine.limits).parts)
                    else:
                        text = base[i]
                    norm = normalize(text)
                    batch.add(i, engine.fingerprinter.fingerprints(norm), len(norm.text))
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            rows.append([f"one batch() commit, {'extract + ' if with_extraction else ''}normalise + fingerprint "
                         f"({len(blobs)} documents)", f"{nbytes / 1e6:.1f}", f"{nbytes / 1e6 / cpu:.1f}",
                         f"{nbytes / 1e6 / wall:.1f}", f"{wall / len(blobs) * 1000:.2f} ms"])
    return rows


def background_files(split: Split) -> list[list[object]]:
    """Lookup cost of the background model kept as one file per ``add_background`` call (what
    ``himitsu secrets background`` does, one call per file) against one file (one batch)."""
    rnd = Random(SEED)
    prompts = [rnd.choice([p for d in split.test for p in byte_pieces(d.text, PROMPT_BYTES)]) for _ in range(200)]
    rows: list[list[object]] = []
    for per_file in (False, True):
        with tempfile.TemporaryDirectory(prefix="himitsu-bench-bg-") as tmp:
            engine = engine_with(tmp, DEFAULT_K, DEFAULT_W, detectors=["registered-secret"])
            register_batch(engine, split.registered, [] if per_file else split.background)
            if per_file:
                for d in split.background:
                    engine.add_background(d.text.encode(), "bg.txt")
            assert engine.index is not None
            files = engine.index.stats()
            samples = []
            for t in prompts * 2:
                t0 = time.perf_counter()
                engine.inspect(as_extraction(t))
                samples.append((time.perf_counter() - t0) * 1000)
            samples = sorted(samples[len(prompts):])
            rows.append([f"{len(split.background)} background pages, "
                         + ("Engine.add_background each (the CLI's way)" if per_file else "one batch"),
                         len(engine.index._current().background), files.segments,
                         f"{percentile(samples, 0.5):.2f}", f"{percentile(samples, 0.99):.2f}"])
    return rows


# -- peers ----------------------------------------------------------------------------------------

RE_PATTERNS = {
    "e-mail": r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
    "JP phone": r"0\d{1,4}-\d{1,4}-\d{4}",
    "card number": r"\b(?:\d[ -]?){13,16}\b",
    "12-digit number": r"\b\d{4}[ -]?\d{4}[ -]?\d{4}\b",
    "AWS key id": r"\bAKIA[0-9A-Z]{16}\b",
    "private key": r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
    "password assignment": r"(?i)\b(?:password|passwd|pwd)\s*[:=]\s*\S+",
    "marking": r"㊙|極秘|社外秘|部外秘|関係者外秘|取扱注意|(?i:confidential)",
}


def peers(parts: list[str], engine_rate: str) -> list[list[object]]:
    text = "\n".join(parts)
    nbytes = len(text.encode())
    compiled = [re.compile(p) for p in RE_PATTERNS.values()]
    rows: list[list[object]] = [["Himitsu, whole engine (inspect, 11 detectors)", engine_rate, ""]]
    hits = sum(1 for rx in compiled for _ in rx.finditer(text))
    rate = cpu_rate(nbytes, lambda: [sum(1 for _ in rx.finditer(text)) for rx in compiled])
    rows.append([f"Python `re`, {len(compiled)} patterns ({', '.join(RE_PATTERNS)}), finditer over the text",
                 f"{rate:.1f}", f"{hits} matches"])
    measured = detect_secrets_rate(text)
    if measured is None:
        rows.append(["detect-secrets", "not installed", "`.venv/bin/pip install detect-secrets` to compare"])
        return rows
    ds_rate, found, ds_version = measured
    rows.append([f"detect-secrets {ds_version}, default plugins and filters, SecretsCollection.scan_file",
                 f"{ds_rate:.2f}", f"{found} secrets reported"])
    return rows


# -- report ---------------------------------------------------------------------------------------


def run(split: Split) -> None:
    base = [s for d in split.registered + split.background for s in byte_pieces(d.text, DOC_BYTES)]
    parts = mixed_text(split)
    nbytes = sum(len(p.encode()) for p in parts)
    indexed = sum(d.size for d in split.registered + split.background if d.name.startswith("library"))
    docs: list[Doc] = split.registered
    names = {d.id: d.name for d in docs}

    def resolve(i: int) -> SecretRef:
        return SecretRef(i, names.get(i, f"doc {i}"), "秘")

    with tempfile.TemporaryDirectory(prefix="himitsu-bench-100k-") as tmp:
        engine = engine_with(tmp, DEFAULT_K, DEFAULT_W, resolve=resolve)
        build_seconds = build_large_index(engine, base)
        assert engine.index is not None
        engine.prepare()  # as a serving process does before its first check (services.warm_up)
        stats = engine.index.stats()
        disk = stats.disk_bytes
        section(f"Speed: one 4 KB prompt against {N_DOCS:,} registered documents",
                f"{N_DOCS:,} documents of 5 KB registered in one batch() from the fingerprints of {len(base):,} "
                "5 KB slices of the registered and background pages, each slice's later copies salted into distinct "
                f"documents (build_large_index): {stats.postings / 1e6:.1f} M postings, built in {build_seconds:.0f} s "
                "(fingerprinting the slices included). Prompts: 4,096-byte windows of unrelated test pages (ja and "
                "en), and the same with the middle 1 KB replaced by 1 KB of a registered slice; the index's lookup "
                "tables built beforehand (Engine.prepare, as a server does); wall time per prompt after 20 warm-up "
                "prompts.",
                f"Index size: {disk / 1e6:.0f} MB on disk (memory-mapped by readers), {disk / N_DOCS:,.0f} bytes per "
                f"registered 5 KB document ({disk / max(stats.postings, 1):.1f} bytes per posting); target ≤ 4 KB.")
        table(LATENCY_HEADER, latency(engine, base, split))
        section("Speed: check of already-extracted text",
                f"{nbytes / 1e6:.1f} MB: all {len(parts)} library pages, Japanese and English alternating, one "
                f"TextPart each, through Engine.inspect (extraction excluded) against the {N_DOCS:,}-document index "
                f"({indexed / nbytes:.0%} of the text lies in its documents); each detector's inspect timed alone, "
                "and the registered-secret detector's steps. MB per CPU-second, median of 3 runs; target ≥ 80 MB/s.")
        rates = throughput(engine, parts, [d.text for d in split.test])
        table(["what", "MB/s per core"], rates)
    with tempfile.TemporaryDirectory(prefix="himitsu-bench-100k-") as tmp:
        engine = engine_with(tmp, DEFAULT_K, DEFAULT_W, resolve=resolve)
        build_large_index(engine, base, correlated=True)
        engine.prepare()
        section(f"Speed: the same prompts against {N_DOCS:,} near-duplicate documents (stress case)",
                "As above, but every fingerprint that two or more base slices share stays shared in all copies: a "
                f"phrase in 2 of the {len(base):,} slices is in about {2 * N_DOCS // len(base)} documents, below "
                f"the index's common threshold ({engine.index.stats().common_threshold if engine.index else '?'} "
                "documents, 2 % of the index), so each is matched and scored document by document. 60 prompts "
                "per kind, index lookup, registered-secret detector and whole engine.")
        table(LATENCY_HEADER,
              latency(engine, base, split, per_lang=30, scopes_wanted=3))
    section("Speed: the pattern detectors",
            f"The same {nbytes / 1e6:.1f} MB, one TextPart per page; each pattern detector's inspect alone, and all "
            "of them in turn with one shared per-inspection cache (fresh each run), with the shared prefilter "
            f"(hyperscan {'installed' if prefilter.AVAILABLE else 'NOT installed: whole-text scans'}) and the old "
            "way (prefilter.ENABLED = False). MB per CPU-second, median of 3 runs; target ≥ 100 MB/s together.")
    table(["what", "MB/s per core", "MB/s per core, old way"], pattern_detectors(parts))
    section("Peers over the same input",
            f"The same {nbytes / 1e6:.1f} MB joined into one text; MB per CPU-second.")
    table(["scanner", "MB/s per core", "output"], peers(parts, rates[0][1]))
    section("Speed: registering",
            "5 KB slices of the registered and background pages, mixed Japanese and English, into a fresh index "
            f"(k = {DEFAULT_K}, w = {DEFAULT_W}); MB of input per CPU-second and per wall-second (the wall figure "
            "includes fsync). "
            "Target ≥ 20 MB/s per core.")
    table(["how", "MB", "MB/s per core (CPU)", "MB/s (wall)", "per document"], registration(split, base))
    section("Speed: background model as many files",
            "The quality index (registered pages, background pages) with the background added in one batch or "
            "one add_background per page; registered-secret detector only, 200 unrelated 4 KB prompts, wall ms.")
    table(["background", "background files", "segments", "p50 ms", "p99 ms"], background_files(split))
