"""Quality of the registered-secret detector on real text (issue 3, "Quality"), for several (k, w).

Probes: excerpts of 50, 100, 200 and 400 characters cut at random from registered pages (Japanese and
English), each embedded between two 1,000-character pieces of an unrelated test page of the same
language, in six versions: verbatim, each edit alone (re-flowed, width-converted, punctuation changed,
2 % of characters substituted) and all four combined. Found = a registered-secret finding that names
the excerpt's document. Precision: every 4 KB (4,096-byte) window of the unrelated test pages, flagged
if it gets any registered-secret finding. Only the registered-secret detector runs (it alone makes
these findings); speed is measured separately.

Each (k, w) of SETTINGS gets its own index of the same documents, and each is scored with the
detector's minimum passage length (``registered_secret.MIN_CHARS``) at the values of MIN_PASSAGES.
Flagged windows are split into those that share a verbatim run of at least COPY_RUN normalised
characters with a document named (passages the documentation repeats across pages) and those that
share only shorter fragments.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import textwrap
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from random import Random

from himitsu.engine.check import Engine
from himitsu.engine.detectors import registered_secret
from himitsu.engine.fingerprint import Fingerprinter
from himitsu.engine.index import FingerprintIndex
from himitsu.engine.normalize import normalize
from tests.bench.detect_data import (
    LANGS,
    SEED,
    Split,
    as_extraction,
    byte_pieces,
    engine_with,
    pct,
    register_batch,
    resolver,
    section,
    table,
)

LENGTHS = (50, 100, 200, 400)
EDITS = ("verbatim", "reflowed", "width-converted", "punctuation changed", "2 % substituted", "all combined")
#: (k, w) settings compared; the first is the engine's default
SETTINGS = ((12, 24), (12, 32), (14, 28))
#: minimum passage lengths compared; the first is the engine's default
MIN_PASSAGES = (registered_secret.MIN_CHARS, 40, 60)
#: a flagged window sharing a verbatim run this long with the named document holds a copied passage
COPY_RUN = 50
FILLER = 1000
WINDOW = 4096

# -- edits ---------------------------------------------------------------------------------------

_FULL = {c: c + 0xFEE0 for c in range(0x21, 0x7F)} | {0x20: 0x3000}


def _half_kana() -> dict[str, str]:
    """Full-width katakana and Japanese punctuation → half-width forms (ガ → ｶﾞ, 。→ ｡)."""
    out: dict[str, str] = {}
    for cp in range(0xFF61, 0xFFA0):
        full = unicodedata.normalize("NFKC", chr(cp))
        if len(full) == 1:
            out.setdefault(full, chr(cp))
    for cp in range(0x30A1, 0x30FF):
        ch, parts = chr(cp), unicodedata.normalize("NFD", chr(cp))
        if ch not in out and len(parts) == 2 and parts[0] in out and parts[1] in out:
            out[ch] = out[parts[0]] + out[parts[1]]
    return out


_HALF = str.maketrans(_half_kana() | {chr(c): chr(v) for c, v in _FULL.items()})
_PUNCT = {"。": "．", "、": "，", "「": "『", "」": "』", "（": "(", "）": ")", "(": "（", ")": "）", ",": "、",
          ".": "。", ":": "：", ";": "；", '"': "“", "'": "’", "-": "—", "・": "/", "!": "！", "?": "？"}


def reflow(text: str, rnd: Random) -> str:
    """Joined and re-wrapped into 37-character lines quoted with '> ', as in a mail reply."""
    lines = textwrap.wrap(" ".join(text.split()), width=37, break_long_words=True, break_on_hyphens=False)
    return "\n".join("> " + line for line in lines)


def widen(text: str, rnd: Random) -> str:
    """ASCII → full-width (ＡＢＣ１２３), katakana and Japanese punctuation → half-width (ｶﾞｲﾄﾞ｡)."""
    return text.translate(_HALF)


def punctuate(text: str, rnd: Random) -> str:
    """A quarter of the punctuation dropped, the rest swapped for variants (。→．, 「→『, , → 、, " → “),
    and a comma or middle dot inserted after 2 % of characters."""
    out = []
    for ch in text:
        if unicodedata.category(ch).startswith("P"):
            if rnd.random() >= 0.25:
                out.append(_PUNCT.get(ch, ch))
        else:
            out.append(ch)
        if rnd.random() < 0.02:
            out.append(rnd.choice("、,・"))
    return "".join(out)


def substituter(pool: str) -> Callable[[str, Random], str]:
    def substitute(text: str, rnd: Random) -> str:
        """2 % of the characters (at least one), chosen among letters and digits, replaced by another
        letter or digit of the same language."""
        chars = list(text)
        candidates = [i for i, ch in enumerate(chars) if ch.isalnum()]
        for i in rnd.sample(candidates, min(len(candidates), max(1, round(0.02 * len(chars))))):
            new = rnd.choice(pool)
            while new.casefold() == chars[i].casefold():
                new = rnd.choice(pool)
            chars[i] = new
        return "".join(chars)
    return substitute


# -- probes --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    doc_id: int
    lang: str
    length: int
    edit: str
    prompt: str


def make_probes(split: Split, per_cell: int) -> tuple[list[Probe], dict[tuple[str, int], float]]:
    """``per_cell`` excerpts per language and length, each in every version of EDITS (paired), and the
    mean normalised length of the verbatim excerpts by (language, length)."""
    rnd = Random(SEED)
    probes: list[Probe] = []
    norm_len: dict[tuple[str, int], float] = {}
    for lang in LANGS:
        docs = [d for d in split.of(split.registered, lang) if len(d.text) >= 1000]
        fillers = [d.text for d in split.of(split.test, lang) if len(d.text) >= 2 * FILLER + 100]
        pool = "".join(ch for d in docs[:40] for ch in d.text[:2000] if ch.isalnum())
        substitute = substituter(pool)
        edits: dict[str, Callable[[str, Random], str]] = {
            "verbatim": lambda t, r: t, "reflowed": reflow, "width-converted": widen,
            "punctuation changed": punctuate, "2 % substituted": substitute,
            "all combined": lambda t, r, sub=substitute: widen(reflow(punctuate(sub(t, r), r), r), r)}
        for length in LENGTHS:
            lengths = []
            for _ in range(per_cell):
                doc = rnd.choice(docs)
                at = rnd.randrange(len(doc.text) - length)
                excerpt = doc.text[at: at + length]
                lengths.append(len(normalize(excerpt).text))
                filler = rnd.choice(fillers)
                cut = rnd.randrange(len(filler) - 2 * FILLER)
                before, after = filler[cut: cut + FILLER], filler[cut + FILLER: cut + 2 * FILLER]
                for name in EDITS:
                    edited = edits[name](excerpt, rnd)
                    probes.append(Probe(doc.id, lang, length, name, f"{before}\n{edited}\n{after}"))
            norm_len[lang, length] = statistics.mean(lengths)
    return probes, norm_len


def longest_shared_run(a: str, b: str, anchor: int = 12) -> int:
    """Length of the longest common substring of a and b when it is at least ``anchor`` (else 0)."""
    grams: dict[str, list[int]] = defaultdict(list)
    for j in range(len(b) - anchor + 1):
        if len(grams[b[j: j + anchor]]) < 64:
            grams[b[j: j + anchor]].append(j)
    best = 0
    for i in range(len(a) - anchor + 1):
        for j in grams.get(a[i: i + anchor], ()):
            if i and j and a[i - 1] == b[j - 1]:
                continue  # not the start of a maximal run
            n = anchor
            while i + n < len(a) and j + n < len(b) and a[i + n] == b[j + n]:
                n += 1
            best = max(best, n)
    return best


@dataclass
class Outcome:
    """One (k, w) setting and minimum passage length. Per probe: matched characters of the detector's best
    finding naming the right document (0: not found). Per 4 KB window: the largest matched length of any
    finding (0: not flagged) and the documents named."""

    k: int
    w: int
    min_chars: int
    probe_matched: list[int]
    window_matched: list[int]
    window_docs: list[list[tuple[int, int]]]  # (document, matched chars) of the detector's findings
    index_bytes: dict[str, float] = field(default_factory=dict)  # per 5 KB document, by language

    def recall(self, probes: list[Probe], length: int, edit: str, lang: str | None = None) -> tuple[int, int]:
        hits = [bool(m) for p, m in zip(probes, self.probe_matched, strict=True)
                if p.length == length and p.edit == edit and (lang is None or p.lang == lang)]
        return sum(hits), len(hits)

    def flagged_docs(self) -> list[set[int]]:
        return [{d for d, _m in docs} for docs in self.window_docs]


def evaluate(split: Split, probes: list[Probe], k: int, w: int, windows: list[tuple[str, str]]) -> list[Outcome]:
    """One index per (k, w), scored at every minimum passage length of MIN_PASSAGES."""
    out = []
    sizes = {lang: index_bytes_per_doc(split, lang, k, w) for lang in LANGS}
    default = registered_secret.MIN_CHARS
    with tempfile.TemporaryDirectory(prefix="himitsu-bench-q-") as tmp:
        engine = engine_with(tmp, k, w, detectors=["registered-secret"], resolve=resolver(split.registered))
        register_batch(engine, split.registered, split.background)
        try:
            for min_chars in MIN_PASSAGES:
                registered_secret.MIN_CHARS = min_chars
                matched = [_best(engine, p.prompt, p.doc_id) for p in probes]
                window_docs = []
                for _lang, text in windows:
                    window_docs.append([(int(f.secret.id), f.matched_chars or 1)
                                        for f in engine.inspect(as_extraction(text)).findings if f.secret is not None])
                out.append(Outcome(k, w, min_chars, matched,
                                   [max((m for _d, m in docs), default=0) for docs in window_docs], window_docs, sizes))
        finally:
            registered_secret.MIN_CHARS = default
    return out


def _best(engine: Engine, prompt: str, doc_id: int) -> int:
    return max((f.matched_chars or 1 for f in engine.inspect(as_extraction(prompt)).findings
                if f.secret is not None and f.secret.id == doc_id), default=0)


def index_bytes_per_doc(split: Split, lang: str, k: int, w: int, limit: int = 300) -> float:
    """Disk (= memory-mapped) bytes of an index holding 5 KB slices of registered pages, per slice."""
    slices = [s for d in split.of(split.registered, lang) for s in byte_pieces(d.text, 5120)][:limit]
    fp = Fingerprinter(b"bench-key-" * 4, k, w)
    with tempfile.TemporaryDirectory(prefix="himitsu-bench-size-") as tmp:
        index = FingerprintIndex(tmp, fingerprinter_id=fp.id)
        with index.batch() as batch:
            for i, text in enumerate(slices):
                norm = normalize(text)
                batch.add(i, fp.fingerprints(norm), len(norm.text))
        return index.stats().disk_bytes / len(slices)


class SharedRuns:
    """Longest verbatim run of normalised text a window shares with a registered document (cached)."""

    def __init__(self, split: Split, windows: list[tuple[str, str]]) -> None:
        self.docs = {d.id: d.text for d in split.registered}
        self.windows = windows
        self._norm: dict[int, str] = {}
        self._runs: dict[tuple[int, int], int] = {}

    def __call__(self, window: int, doc_id: int) -> int:
        if (window, doc_id) not in self._runs:
            if doc_id not in self._norm:
                self._norm[doc_id] = normalize(self.docs[doc_id]).text
            text = normalize(self.windows[window][1]).text
            self._runs[window, doc_id] = longest_shared_run(text, self._norm[doc_id])
        return self._runs[window, doc_id]

    def copies(self, flagged: list[set[int]]) -> int:
        """Flagged windows that share at least COPY_RUN characters verbatim with a document named."""
        return sum(1 for i, docs in enumerate(flagged) if docs and max(self(i, d) for d in docs) >= COPY_RUN)


# -- report --------------------------------------------------------------------------------------


def run(split: Split, per_cell: int) -> list[Outcome]:
    probes, norm_len = make_probes(split, per_cell)
    windows = [(d.lang, piece) for d in split.test for piece in byte_pieces(d.text, WINDOW)]
    reg = split.registered
    section("Quality: registered-secret recall and precision",
            f"Registered: {len(reg)} documents ({sum(d.size for d in reg) / 1e6:.1f} MB: "
            f"{sum(d.name.startswith('library') for d in reg)} library pages of a seeded third of page names, "
            f"ja + en, and all {sum(d.name.startswith('c-api') for d in reg)} C-API pages); background model: "
            f"{len(split.background)} pages ({sum(d.size for d in split.background) / 1e6:.1f} MB) of another "
            f"third; unrelated test text: {len(split.test)} pages of the last third "
            f"({sum(d.size for d in split.test) / 1e6:.1f} MB), cut into {len(windows)} windows of 4,096 bytes.",
            f"Probes: {per_cell} random excerpts per language and length, each in all {len(EDITS)} versions, "
            f"between two {FILLER}-character pieces of a test page; found = a registered-secret finding naming the "
            "excerpt's document. Mean normalised length of the excerpts (ja / en): "
            + ", ".join(f"{n} → {norm_len['ja', n]:.0f} / {norm_len['en', n]:.0f}" for n in LENGTHS) + ".")
    runs = SharedRuns(split, windows)
    outcomes: list[Outcome] = []
    for k, w in SETTINGS[:1] if os.environ.get("BENCH_DEFAULT_ONLY") else SETTINGS:
        outcomes.extend(evaluate(split, probes, k, w, windows))
        if len(outcomes) == len(MIN_PASSAGES):
            report_default(outcomes[0], probes, runs)
    report_settings(outcomes, probes, runs)
    return outcomes


def _cell(outcome: Outcome, probes: list[Probe], length: int, edit: str) -> str:
    found, total = outcome.recall(probes, length, edit)
    by_lang = [outcome.recall(probes, length, edit, lang) for lang in LANGS]
    return f"{100 * found / total:.1f} ({' / '.join(f'{100 * f / t:.1f}' for f, t in by_lang)})"


def report_default(o: Outcome, probes: list[Probe], runs: SharedRuns) -> None:
    print(f"Recall in % at the default k = {o.k}, w = {o.w}, all (ja / en); "
          f"{len(probes) // len(EDITS) // len(LENGTHS)} excerpts per cell:\n")
    table(["edit", *(f"{n} chars" for n in LENGTHS)],
          [[edit, *(_cell(o, probes, n, edit) for n in LENGTHS)] for edit in EDITS])
    flagged = o.flagged_docs()
    langs = [lang for lang, _t in runs.windows]
    sizes = sorted(m for m in o.window_matched if m)
    buckets = ((0, 30), (30, 50), (50, 100), (100, 200), (200, 10**9))
    n_flagged, copies = sum(map(bool, flagged)), runs.copies(flagged)
    print(f"Precision at the default: unrelated 4 KB windows flagged (target ≤ 0.5 %); their largest matched "
          f"length (normalised characters, as reported by the finding); and how many share a verbatim run of at "
          f"least {COPY_RUN} normalised characters with a document named (copied passages: the corpus repeats "
          f"itself across pages) rather than only shorter fragments:\n")
    table(["windows", "flagged", *(f"{lang} flagged" for lang in LANGS),
           *(f"matched {lo}–{hi - 1}" if hi < 10**9 else f"matched ≥ {lo}" for lo, hi in buckets), "median",
           f"shared run ≥ {COPY_RUN}", "fragments only"],
          [[len(flagged), f"{n_flagged} ({pct(n_flagged, len(flagged), 2)})",
            *(_share([bool(f) for f, lg in zip(flagged, langs, strict=True) if lg == lang]) for lang in LANGS),
            *(sum(1 for s in sizes if lo <= s < hi) for lo, hi in buckets),
            f"{statistics.median(sizes):.0f}" if sizes else "–",
            copies, f"{n_flagged - copies} ({pct(n_flagged - copies, len(flagged), 2)})"]])


def _share(flags: list[bool]) -> str:
    return f"{sum(flags)} of {len(flags)} ({pct(sum(flags), len(flags), 2)})"


def report_settings(outcomes: list[Outcome], probes: list[Probe], runs: SharedRuns) -> None:
    print("Settings compared on the same excerpts and windows (recall in %, all (ja / en), of the combined edits "
          "unless said), each at several minimum passage lengths (the detector reports a passage of at least that "
          "many normalised characters). Index bytes per 5 KB document: disk (memory-mapped) size of an index of "
          "300 5 KB slices of registered pages, divided by 300.\n")
    rows = []
    for o in outcomes:
        flagged = o.flagged_docs()
        n_flagged, copies = sum(map(bool, flagged)), runs.copies(flagged)
        rows.append([f"{o.k}, {o.w}", o.w + o.k - 1, o.min_chars,
                     *(_cell(o, probes, n, "all combined") for n in LENGTHS),
                     _cell(o, probes, 100, "verbatim"), _cell(o, probes, 100, "2 % substituted"),
                     f"{n_flagged} ({pct(n_flagged, len(flagged), 1)})",
                     f"{n_flagged - copies} ({pct(n_flagged - copies, len(flagged), 2)})",
                     f"{o.index_bytes['ja']:,.0f} / {o.index_bytes['en']:,.0f}"])
    table(["k, w", "w+k−1", "min passage", *(f"{n} chars" for n in LENGTHS), "100 chars verbatim",
           "100 chars 2 % substituted", "4 KB windows flagged", f"of which fragments (< {COPY_RUN} shared)",
           "index B per 5 KB doc (ja / en)"], rows)
