"""Value types shared by the engine: what was read, and what was found in it.

A finding says where, what kind, how sure and why, never the secret itself: offsets, a detector id,
a score, an explanation (stable code + English text, translated at the edge) and a redacted snippet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Limits:
    """Declared limits of one inspection; exceeding one is reported as a problem, never silently skipped."""

    max_bytes: int = 100 * 1024 * 1024          # one input (file or standard input)
    max_total_bytes: int = 500 * 1024 * 1024    # everything unpacked from one input (archives, mail)
    max_ratio: float = 100.0                     # unpacked size / packed size of one archive member
    max_depth: int = 5                           # containers inside containers
    max_entries: int = 10_000                    # members of archives and attachments, all levels
    max_text_chars: int = 20_000_000             # extracted text kept for inspection
    max_seconds: float = 60.0                    # wall time of one input


@dataclass(frozen=True)
class TextPart:
    """Text extracted from one document (or one member of a container). ``path`` names the member:
    "" for the input itself, "inner.zip/report.docx" inside containers."""

    path: str
    text: str
    format: str  # extractor name: text, pdf, docx, xlsx, pptx, html, eml, msg, ...
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Problem:
    """Something that could not be inspected, with a stable code:
    ``encrypted`` (password-protected archive or document), ``unsupported`` (a format we cannot read),
    ``corrupt``, ``limit.bytes``, ``limit.total``, ``limit.ratio``, ``limit.depth``, ``limit.entries``,
    ``limit.text``, ``limit.time``, ``encoding``."""

    code: str
    path: str
    detail: str = ""


@dataclass
class Extraction:
    parts: list[TextPart] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class SecretRef:
    """The register entry a registered-secret finding points to (no text of the secret)."""

    id: int | str
    title: str
    level: str


@dataclass(frozen=True)
class Finding:
    detector: str
    score: float  # 0.0 .. 1.0
    start: int  # offsets into TextPart.text of ``part``
    end: int
    snippet: str  # redacted, e.g. "12******9012"
    reason: str  # stable explanation code, e.g. "my_number.checksum_and_context"
    explanation: str  # English text of ``reason`` with its params filled in
    part: str = ""
    secret: SecretRef | None = None
    matched_chars: int | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "score": round(self.score, 4),
            "start": self.start,
            "end": self.end,
            "part": self.part,
            "snippet": self.snippet,
            "reason": self.reason,
            "explanation": self.explanation,
            "secret": None if self.secret is None else {
                "id": self.secret.id, "title": self.secret.title, "level": self.secret.level},
            "matched_chars": self.matched_chars,
        }
