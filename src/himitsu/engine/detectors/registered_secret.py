"""registered-secret: does this text carry an excerpt of a registered document?

The text is normalised and fingerprinted exactly as registered documents were; the fingerprints are
looked up in the index (which already ignores common phrases). Matched k-grams of one document whose
starts lie at most 2w apart form a region. A region is reported when it holds at least
``MIN_FINGERPRINTS`` (2) matched k-grams, or when the text contains at least ``MIN_CONTAINMENT`` of the
document (a short registered document). One finding per region: the span in the original text, the
matched length (characters covered by matched k-grams, a lower bound of the shared text), the
document's containment and the register entry it belongs to.

Guarantee (k = 15, w = 36 by default): every run of at least 2w + k − 1 = 86 normalised characters
shared with a registered document is reported: the run holds 2w k-grams, so two disjoint windows each
select a k-gram inside it (the same one in both texts), less than 2w apart. Single matched k-grams
(a run of t = w + k − 1 = 50 characters guarantees one) are not reported alone: on real Japanese text
unrelated documents share a stray uncommon k-gram too often for that to mean a leak.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

import numpy as np

from himitsu.engine.detectors.base import Detector
from himitsu.engine.fingerprint import covered_spans
from himitsu.engine.model import Finding, TextPart
from himitsu.engine.normalize import Normalized, normalize
from himitsu.errors import gettext_noop

#: length (normalised characters) at which a region's score reaches about 0.63
SCALE_CHARS = 120
#: matched k-grams a region needs to be reported (unless the containment rule applies)
MIN_FINGERPRINTS = 2
#: share of a registered document's fingerprints that is reported even as a single match
MIN_CONTAINMENT = 0.5


def regions(query_positions: np.ndarray, k: int, gap: int) -> list[tuple[int, int, int, int]]:
    """Matched k-grams [p, p + k) whose starts are at most ``gap`` apart, merged:
    (start, end, number of matched k-grams, characters covered by them)."""
    if len(query_positions) == 0:
        return []
    starts = np.unique(query_positions)
    breaks = np.flatnonzero(np.diff(starts) > gap) + 1
    out = []
    for chunk in np.split(starts, breaks):
        span_starts, span_ends = covered_spans(chunk, k)
        out.append((int(chunk[0]), int(chunk[-1]) + k, len(chunk), int((span_ends - span_starts).sum())))
    return out


def score(matched_chars: int, containment: float) -> float:
    return max(1.0 - math.exp(-matched_chars / SCALE_CHARS), min(1.0, containment))


def redact_excerpt(text: str) -> str:
    """Two characters at each end and the length: never the excerpt itself."""
    stripped = text.strip()
    if len(stripped) <= 6:
        return f"…[{len(stripped)}]…"
    return f"{stripped[:2]}…[{len(stripped)}]…{stripped[-2:]}"


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
        fps = context.fingerprinter.fingerprints(norm)
        if len(fps) == 0:
            return
        result = context.index.lookup(fps)
        k, w = context.fingerprinter.k, context.fingerprinter.w
        for doc_id, match in sorted(result.matches.items()):
            ref = context.resolve(doc_id) if context.resolve is not None else None
            if ref is None and context.resolve is not None:
                continue  # fingerprints of a document no longer in the register
            containment = match.matched / match.fingerprint_count if match.fingerprint_count else 0.0
            for start, end, count, covered in regions(match.query_positions, k, 2 * w):
                if count < MIN_FINGERPRINTS and containment < MIN_CONTAINMENT:
                    continue
                o_start, o_end = norm.to_original(start, end)
                found = self.finding(part, o_start, o_end, score(covered, containment), "registered.excerpt",
                                     redact_excerpt(part.text[o_start:o_end]), matched_chars=covered,
                                     doc_id=doc_id, containment=containment)
                yield replace(found, secret=ref, matched_chars=covered)
