"""registered-secret: does this text carry an excerpt of a registered document?

Seed, verify, measure:

1. **Seeds.** The text is normalised, and every k-gram that a registered document could have selected
   (see :data:`himitsu.engine.fingerprint.PROBE_LIMIT`) is looked up in the index, which ignores
   background and common fingerprints. A registered document stores only its winnowed k-grams, the
   text looks up (nearly) all of its own, so every run of at least w + k − 1 normalised characters
   (35 by default) that the text shares with a document holds a seed: a k-gram at query position q
   found at document position d, on the *alignment* q − d.
2. **Verification.** A registered document also stores a signature: 2 bits of the keyed hash of
   every one of its k-grams. Along a seed's alignment, the text's k-grams are compared with the
   document's, value by value: where the texts agree, every value agrees; elsewhere a value agrees
   by chance with probability 1/4. A seed is kept only if at least ``SEED_NEIGHBOURS`` of the 16
   k-grams around it agree (a stray shared k-gram passes by chance about 2 % of the time).
3. **Measure.** On the alignment, runs of at least ``RUN`` agreeing k-grams (``RUN`` + k − 1
   characters; chance: 4**−8 per position) are the shared text. Runs less than ``GAP`` k-grams apart
   belong to one passage (a substituted character breaks k k-grams; a few close edits break more);
   alignments at most ``DRIFT`` apart join (an inserted or deleted character shifts the alignment).
   A passage is the span from its first to its last agreeing character; its matched length counts
   the characters covered by its runs.
4. **Report** a passage of at least ``MIN_CHARS`` normalised characters (``EDITED_CHARS`` if it is
   made of two or more runs: an edited copy), or, for a registered document shorter than twice that,
   at least half of the document (and ``RUN`` + k − 1 characters); measured lengths must exceed these
   by ``EDGE_SLACK``, since chance agreement at a run's ends can lengthen it. One finding per passage: the span in the original text, the matched length, the
   share of the document found (containment), the register entry.

Guarantee (k = 12, w = 24): every run of at least ``MIN_CHARS`` + ``EDGE_SLACK`` = 52 normalised
characters shared with a registered document is reported, unless its k-grams are background or common:
the run holds a seed (it is longer than w + k − 1 = 35), the seed's neighbours agree, and the run's
k-grams form one run of at least ``RUN`` agreeing values. Shorter shared fragments (a stock phrase, an API name) are
not reported, edited passages are: 100 characters with two substituted characters keep runs on one
alignment that join into one passage.

Implementation: :func:`verified`, :func:`promising` and :func:`passages` are the numpy reference. When the C
extension :mod:`himitsu.engine._match` is built (:data:`COMPILED`), steps 2 and 3 run there instead, seed by
seed, reading the packed signatures in place and computing the text's signature values where they are
compared; the results are the same (tests/engine/test_match_compiled.py), and input the extension refuses
(a signature outside its index file) falls back to the reference.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from himitsu.engine import _fast
from himitsu.engine.detectors.base import Detector
from himitsu.engine.fingerprint import Probe, packed_values
from himitsu.engine.index import DocMatch, LookupResult
from himitsu.engine.model import Finding, TextPart
from himitsu.engine.normalize import Normalized, normalize
from himitsu.errors import gettext_noop

#: length (normalised characters) at which a region's score reaches about 0.63
SCALE_CHARS = 120
#: normalised characters a passage needs to be reported (a short document: half of it)
MIN_CHARS = 50
#: a passage of two or more runs (an edited copy: runs on one alignment with disagreement between them)
#: is reported from this length
EDITED_CHARS = 45
#: characters a measured passage may overrun the shared text: the k-gram after (or before) a shared run
#: agrees with the document's signature by chance with probability 1/4, the next two with 1/16, ...; a
#: passage must measure its threshold plus this much (without it, 48- and 49-character fragments measured
#: 50 on the benchmark's unrelated windows)
EDGE_SLACK = 2
#: agreeing k-grams in a row that count as shared text
RUN = 8
#: of the 16 k-grams around a seed (8 on each side), how many must agree for the seed to be verified
SEED_NEIGHBOURS = 7
#: alignments that differ by at most this many characters are one passage
DRIFT = 2

#: k-grams on each side of a seed that verify it
AROUND = 8
#: whether the per-seed work runs in the C extension (:mod:`himitsu.engine._match`, same results as the
#: numpy reference below); False when it is not built, and tests set it to compare the two
COMPILED = _fast.MATCH_AVAILABLE

_AROUND = np.r_[np.arange(-AROUND, 0), np.arange(1, AROUND + 1)]


def gap(k: int) -> int:
    """Disagreeing k-grams between two runs of one passage: a substitution breaks k of them; two or
    three close ones break up to 3k."""
    return 3 * k + 4


def score(matched_chars: int, containment: float) -> float:
    return max(1.0 - math.exp(-matched_chars / SCALE_CHARS), min(1.0, containment))


def redact_excerpt(text: str) -> str:
    """Two characters at each end and the length: never the excerpt itself."""
    stripped = text.strip()
    if len(stripped) <= 6:
        return f"…[{len(stripped)}]…"
    return f"{stripped[:2]}…[{len(stripped)}]…{stripped[-2:]}"


@dataclass(frozen=True)
class Passage:
    """Shared text with one document: normalised ``[start, end)`` and the characters covered by runs."""

    start: int
    end: int
    matched: int
    runs: int = 1


def verified(probe: Probe, result: LookupResult) -> np.ndarray:
    """Which of the lookup's seeds are verified: at least SEED_NEIGHBOURS of the 16 k-grams around the
    seed agree with the document's signature. Vectorised over every seed of every document."""
    seeds = result.seeds
    qi = seeds.query_positions[:, None] + _AROUND
    di = seeds.doc_positions[:, None] + _AROUND
    doc_values, doc_valid = result.signature_values(seeds.segments, seeds.rows, di)
    q_valid = (qi >= 0) & (qi < probe.kgrams)
    query_values = probe.signature_at(np.where(q_valid, qi, 0))
    return np.asarray(((query_values == doc_values) & doc_valid & q_valid).sum(axis=1) >= SEED_NEIGHBOURS)


def promising(probe: Probe, result: LookupResult, keep: np.ndarray, k: int) -> np.ndarray:
    """Of the verified seeds (``keep``), those that can belong to a reportable passage: on the seed's
    alignment, the run of agreeing k-grams through the seed is long enough alone (EDITED_CHARS), or
    another run of RUN agreeing k-grams lies within reach (gap(k)) of it. Seeds of documents shorter
    than 2 × MIN_CHARS, whose threshold is lower, are all kept. Vectorised over every seed; documents
    without a promising seed are never measured, which is what keeps a prompt's cost low."""
    seeds = result.seeds
    span = EDITED_CHARS - k + 1  # k-grams of a passage of EDITED_CHARS characters
    reach = span + gap(k) + RUN
    # one seed per document, alignment and stretch of the text stands for the others
    verified_at = np.flatnonzero(keep)
    doc, q = seeds.docs[verified_at], seeds.query_positions[verified_at]
    align, stretch = q - seeds.doc_positions[verified_at], q // span
    order = np.lexsort((stretch, align, doc))
    new = np.r_[True, (np.diff(doc[order]) != 0) | (np.diff(align[order]) != 0) | (np.diff(stretch[order]) != 0)]
    bucket_of = np.empty(len(order), dtype=np.int64)
    bucket_of[order] = np.cumsum(new) - 1
    pick = verified_at[order[new]]
    offsets = np.arange(-reach, reach + 1)
    qi = seeds.query_positions[pick, None] + offsets
    q_valid = (qi >= 0) & (qi < probe.kgrams)
    query_values = probe.signature_at(np.where(q_valid, qi, 0))
    partner = np.zeros(len(pick), dtype=bool)
    left = right = np.zeros(len(pick), dtype=np.int64)
    undecided = np.ones(len(pick), dtype=bool)
    for shift in (0, -1, 1, -2, 2)[: 2 * DRIFT + 1]:  # the seed's alignment, then those a lost character makes
        rows = np.flatnonzero(undecided)
        if not len(rows):
            break
        di = seeds.doc_positions[pick[rows], None] + offsets + shift
        doc_values, doc_valid = result.signature_values(seeds.segments[pick[rows]], seeds.rows[pick[rows]], di)
        agree = (query_values[rows] == doc_values) & doc_valid & q_valid[rows]
        sums = np.concatenate([np.zeros((len(rows), 1), dtype=np.int64), np.cumsum(agree, axis=1)], axis=1)
        full = (sums[:, RUN:] - sums[:, :-RUN]) == RUN  # column t: k-grams t … t + RUN − 1 all agree
        if shift:
            partner[rows] |= full.any(axis=1)
        else:
            left_side, right_side = agree[:, reach::-1], agree[:, reach:]
            left = np.where(left_side.all(axis=1), reach + 1, np.argmin(left_side, axis=1))
            right = np.where(right_side.all(axis=1), reach + 1, np.argmin(right_side, axis=1))
            run_start, run_end = reach - left + 1, reach + right - 1  # the seed's run, in window columns
            t = np.arange(full.shape[1])
            overlaps = (t[None, :] <= run_end[:, None]) & (t[None, :] + RUN - 1 >= run_start[:, None])
            partner |= (full & ~overlaps).any(axis=1) | (left + right - 1 >= span)
        undecided = ~partner
    short_doc = seeds.lengths[pick] < 2 * MIN_CHARS
    out = np.zeros(len(keep), dtype=bool)
    out[verified_at] = (partner | short_doc)[bucket_of]
    return out


def passages(probe: Probe, match: DocMatch, q: np.ndarray, d: np.ndarray, k: int,
             deltas: np.ndarray | None = None) -> list[Passage]:
    """Shared passages with one document, from its verified seeds at query positions ``q`` and document
    positions ``d`` (see the module docstring), on the alignments ``deltas`` (default: every seed's).

    All alignments are measured at once: each is a row of a matrix holding the k-grams from its first
    seed to its last, plus reach on both sides (a row whose run touches the window's edge is measured
    again over the whole overlap of text and document)."""
    if not len(q):
        return []
    align = q - d
    deltas = np.unique(align) if deltas is None else np.unique(deltas)
    reach = EDITED_CHARS + gap(k) + RUN
    order = np.argsort(align, kind="stable")
    sorted_align, sorted_q = align[order], q[order]
    first = np.searchsorted(sorted_align, deltas)
    last = np.searchsorted(sorted_align, deltas, side="right") - 1
    q_min, q_max = sorted_q[first], sorted_q[last]  # q sorted within an alignment: q comes sorted
    floor, ceiling = np.maximum(0, deltas), np.minimum(probe.kgrams, match.kgrams + deltas)
    lo, hi = np.maximum(floor, q_min - reach), np.minimum(ceiling, q_max + reach + 1)
    agree = _agreement(probe, match, deltas, lo, hi)
    touches = (agree[:, 0] & (lo > floor)) | (agree[np.arange(len(lo)), np.maximum(hi - lo - 1, 0)] & (hi < ceiling))
    if touches.any():  # a passage longer than the window: measure those alignments whole
        lo, hi = np.where(touches, floor, lo), np.where(touches, ceiling, hi)
        agree = _agreement(probe, match, deltas, lo, hi)
    padded = np.zeros((agree.shape[0], agree.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = agree
    rows_s, starts = np.nonzero(np.diff(padded, axis=1) == 1)
    _rows_e, ends = np.nonzero(np.diff(padded, axis=1) == -1)
    long = ends - starts >= RUN
    rows, starts, ends = rows_s[long], starts[long] + lo[rows_s[long]], ends[long] + lo[rows_s[long]]
    if not len(rows):
        return []
    # group the runs of each alignment separated by at most gap(k); keep the groups holding a seed
    new_group = np.r_[True, (rows[1:] != rows[:-1]) | (starts[1:] - ends[:-1] > gap(k))]
    group = np.cumsum(new_group) - 1
    heads = np.flatnonzero(new_group)
    g_row, g_start = rows[heads], starts[heads]
    g_end = np.maximum.reduceat(ends, heads)
    seed_row = np.searchsorted(deltas, align)
    on_row = (seed_row < len(deltas)) & (deltas[np.minimum(seed_row, len(deltas) - 1)] == align)
    big = probe.kgrams + match.kgrams + 1  # orders (row, position) pairs in one key
    keys = g_row * big + g_start
    seed_keys = seed_row[on_row] * big + q[on_row]
    at = np.searchsorted(keys, seed_keys, side="right") - 1
    hit = (at >= 0) & (seed_keys < g_row[np.maximum(at, 0)] * big + g_end[np.maximum(at, 0)])
    held = np.zeros(len(heads), dtype=bool)
    held[at[hit]] = True
    keep = held[group]
    runs = list(zip(deltas[rows[keep]].tolist(), starts[keep].tolist(), ends[keep].tolist(), strict=True))
    return _join(runs, k)


def _agreement(probe: Probe, match: DocMatch, deltas: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """For each alignment (row), whether the text's and the document's signatures agree at the
    k-grams lo … hi − 1 of the text (False beyond hi)."""
    width = int((hi - lo).max()) if len(lo) else 0
    positions = lo[:, None] + np.arange(max(width, 1))
    inside = positions < hi[:, None]
    query = probe.signature_at(np.where(inside, positions, 0))
    doc = packed_values(match.signature, np.where(inside, positions - deltas[:, None], 0))
    return np.asarray((query == doc) & inside)


def document_passages(probe: Probe, result: LookupResult, k: int) -> list[tuple[int, int, list[Passage]]]:
    """(document id, normalised length, passages) of every document with a promising seed, by id: in C
    when :data:`COMPILED` (falling back to numpy on input the extension refuses), else with numpy."""
    if COMPILED:
        found = _compiled_passages(probe, result, k)
        if found is not None:
            return found
    return _reference_passages(probe, result, k)


def _reference_passages(probe: Probe, result: LookupResult, k: int) -> list[tuple[int, int, list[Passage]]]:
    seeds = result.seeds
    keep = verified(probe, result)
    if not keep.any():
        return []
    focus = promising(probe, result, keep, k)
    docs = np.unique(seeds.docs[focus])
    matches = result.documents(docs)
    out = []
    for doc_id in docs.tolist():
        match = matches[doc_id]
        mine = keep & (seeds.docs == doc_id)
        q, d = seeds.query_positions[mine], seeds.doc_positions[mine]
        aligned, wanted = np.unique(q - d), np.unique((q - d)[focus[mine]])
        near = np.abs(aligned[:, None] - wanted[None, :]).min(axis=1) <= DRIFT
        out.append((doc_id, match.norm_length, passages(probe, match, q, d, k, aligned[near])))
    return out


def _compiled_passages(probe: Probe, result: LookupResult, k: int) -> list[tuple[int, int, list[Passage]]] | None:
    """What :func:`_reference_passages` returns (documents without a passage left out), with verification,
    promising and run measuring in C; None if the extension refuses the input (e.g. a signature lying
    outside its segment file): the reference then decides what such an index gives."""
    seeds = result.seeds
    span = EDITED_CHARS - k + 1
    try:
        ctx = _fast.match_context(probe._signature_state(), result.signature_tables(),
                                  (seeds.docs, seeds.query_positions, seeds.doc_positions, seeds.segments,
                                   seeds.rows, seeds.lengths))
        keep = _fast.match_verify(ctx, AROUND, SEED_NEIGHBOURS)
        if not keep.any():
            return []
        focus = _fast.match_promising(ctx, keep, span=span, reach=span + gap(k) + RUN, run=RUN, drift=DRIFT,
                                      short=2 * MIN_CHARS)
        runs = _fast.match_runs(ctx, keep, focus, np.unique(seeds.docs[focus]), reach=EDITED_CHARS + gap(k) + RUN,
                                run=RUN, gap=gap(k), drift=DRIFT)
    except ValueError:
        return None
    out = []
    for doc_id, group in itertools.groupby(runs, key=lambda r: r[0]):
        length = int(seeds.lengths[np.searchsorted(seeds.docs, doc_id)])
        out.append((doc_id, length, _join([(delta, start, end) for _d, delta, start, end in group], k)))
    return out


def _join(runs: list[tuple[int, int, int]], k: int) -> list[Passage]:
    """Runs (alignment, start, end in k-grams) joined into passages: overlapping or within gap(k) in the
    text and at most DRIFT apart in alignment."""
    if not runs:
        return []
    runs.sort(key=lambda r: (r[1], r[0]))
    most, tail = gap(k), k - 1
    groups: list[list[int]] = []  # [alignment of the last run, end, first start, index into members]
    members: list[list[tuple[int, int]]] = []
    for delta, start, end in runs:
        for group in groups:
            if start - group[1] <= most and -DRIFT <= delta - group[0] <= DRIFT:
                group[0] = delta
                if end > group[1]:
                    group[1] = end
                members[group[3]].append((start, end + tail))
                break
        else:
            groups.append([delta, end, start, len(members)])
            members.append([(start, end + tail)])
    out = []
    for spans in members:
        if len(spans) == 1:
            s, e = spans[0]
            out.append(Passage(s, e, e - s, 1))
            continue
        spans.sort()
        covered, reach, last = 0, -1, -1
        for s, e in spans:
            if e > reach:
                covered += e - (s if s > reach else reach)
                reach = e
            if e > last:
                last = e
        out.append(Passage(spans[0][0], last, covered, len(spans)))
    return out


class RegisteredSecretDetector(Detector):
    id = "registered-secret"
    reasons = {
        "registered.excerpt": gettext_noop("{matched_chars} normalised characters match registered document {doc_id} "
                              "({containment:.0%} of that document found in this text)"),
    }

    def detect(self, part: TextPart, context: Any = None) -> Iterable[Finding]:
        if context is None or getattr(context, "index", None) is None:
            return []
        return self._detect(part, context)

    def _detect(self, part: TextPart, context: Any) -> Iterator[Finding]:
        norm: Normalized = normalize(part.text)
        fingerprinter = context.fingerprinter
        probe = fingerprinter.probe(norm)
        if not len(probe.fingerprints):
            return
        result = context.index.lookup(probe.fingerprints)
        if not len(result.seeds):
            return
        k = fingerprinter.k
        matched = []
        for doc_id, norm_length, found in document_passages(probe, result, k):
            needed = max(RUN + k - 1, min(MIN_CHARS, -(-norm_length // 2)))
            found = [p for p in found if p.end - p.start - EDGE_SLACK >= needed
                     or (p.runs >= 2 and p.end - p.start - EDGE_SLACK >= min(needed, EDITED_CHARS))]
            if found:
                matched.append((doc_id, norm_length, found))
        if not matched:
            return
        refs = context.owners([doc_id for doc_id, _n, _f in matched])  # one call for every document
        reported = []  # (register entry, document, its normalised length, passage), in the order found
        for doc_id, norm_length, found in matched:
            ref = refs.get(doc_id) if refs is not None else None
            if ref is None and refs is not None:
                continue  # fingerprints of a document no longer in the register
            reported.extend((ref, doc_id, norm_length, passage) for passage in found)
        if not reported:
            return
        o_starts, o_ends = norm.spans_to_original(np.fromiter((r[3].start for r in reported), np.int64, len(reported)),
                                                  np.fromiter((r[3].end for r in reported), np.int64, len(reported)))
        text = part.text
        for (ref, doc_id, norm_length, passage), o_start, o_end in zip(reported, o_starts.tolist(), o_ends.tolist(),
                                                                         strict=True):
            containment = min(1.0, passage.matched / norm_length) if norm_length else 0.0
            yield self.finding_of(part, o_start, o_end, score(passage.matched, containment), "registered.excerpt",
                                  redact_excerpt(text[o_start:o_end]),
                                  {"matched_chars": passage.matched, "doc_id": doc_id, "containment": containment},
                                  secret=ref, matched_chars=passage.matched)
