"""What every detector is: class data (id, patterns, context words) and a detect() method.

Checksums and other validation live in a ``validate`` hook, not inside a regex. A detector gets one
``TextPart`` at a time and yields ``Finding``s whose offsets point into ``part.text``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from himitsu.engine.model import Finding, TextPart


class Detector:
    id: ClassVar[str]
    #: English explanation templates by reason code (translated at the edge, like errors)
    reasons: ClassVar[dict[str, str]] = {}

    def detect(self, part: TextPart, context: Any = None) -> Iterable[Finding]:
        raise NotImplementedError

    def finding(self, part: TextPart, start: int, end: int, score: float, reason: str, snippet: str,
                **params: Any) -> Finding:
        template = self.reasons.get(reason, reason)
        try:
            text = template.format(**params)
        except (KeyError, IndexError):
            text = template
        return Finding(detector=self.id, score=score, start=start, end=end, snippet=snippet, reason=reason,
                       explanation=text, part=part.path, params=params)


def redact(value: str, keep_start: int = 2, keep_end: int = 4, mask: str = "*") -> str:
    """``123456789012`` -> ``12******9012``; short values are fully masked."""
    if len(value) <= keep_start + keep_end + 2:
        return mask * len(value)
    return value[:keep_start] + mask * (len(value) - keep_start - keep_end) + value[-keep_end:]
