"""The engine's front door: register documents, check any text or file.

Pure library (no Django): a caller gives the index folder, the fingerprint key, the limits and a
function that names the register entry of a document id. Flow of a check: extract → every detector
(the fingerprint index among them) → findings and problems → a verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from himitsu.engine import registry
from himitsu.engine.extract import extract
from himitsu.engine.fingerprint import DEFAULT_K, DEFAULT_W, Fingerprinter, Fingerprints
from himitsu.engine.index import FingerprintIndex
from himitsu.engine.model import Extraction, Finding, Limits, Problem, SecretRef
from himitsu.engine.normalize import Normalized, normalize

#: problems that mean nothing of the input could be inspected, when no text came out at all
FATAL = frozenset({"limit.bytes", "corrupt", "unsupported", "encoding", "limit.time"})


@dataclass(frozen=True)
class Context:
    """What detectors may use besides the text: the index and who owns a document."""

    index: FingerprintIndex | None
    fingerprinter: Fingerprinter | None
    resolve: Callable[[int], SecretRef | None] | None
    extraction: Extraction | None = None
    #: per-inspection cache shared by the detectors (prefilter hits and findings per part); None: none
    cache: dict[Any, Any] | None = field(default=None, compare=False, repr=False)
    #: the owners of several documents at once (one database query instead of one per document); when set,
    #: it answers rather than ``resolve``
    resolve_many: Callable[[Sequence[int]], Mapping[int, SecretRef | None]] | None = None

    def owners(self, doc_ids: Sequence[int]) -> Mapping[int, SecretRef | None] | None:
        """The register entry of each document (None: no longer registered) through ``resolve_many`` or else
        ``resolve``; None when the caller names no owners at all (findings then carry no entry)."""
        if self.resolve_many is not None:
            return self.resolve_many(doc_ids)
        if self.resolve is not None:
            return {doc_id: self.resolve(doc_id) for doc_id in doc_ids}
        return None


@dataclass(frozen=True)
class Result:
    findings: list[Finding]
    problems: list[Problem]
    parts: int

    @property
    def verdict(self) -> str:
        if self.findings:
            return "findings"
        if self.parts == 0 and any(p.code in FATAL for p in self.problems):
            return "error"
        return "clean"

    def hide_secrets(self, visible: Callable[[SecretRef], bool]) -> Result:
        """Findings about register entries the reader may not see keep their level, lose their name."""
        out = []
        for f in self.findings:
            if f.secret is not None and not visible(f.secret):
                f = replace(f, secret=SecretRef(id="", title="", level=f.secret.level))
            out.append(f)
        return replace(self, findings=out)


@dataclass(frozen=True)
class Registered:
    format: str
    normalized_chars: int
    fingerprints: int
    problems: list[Problem] = field(default_factory=list)


class Engine:
    def __init__(self, *, index_dir: str | Path | None, key: bytes, limits: Limits | None = None,
                 detectors: Iterable[str] | None = None,
                 resolve: Callable[[int], SecretRef | None] | None = None, k: int = DEFAULT_K,
                 w: int = DEFAULT_W,
                 resolve_many: Callable[[Sequence[int]], Mapping[int, SecretRef | None]] | None = None) -> None:
        self.limits = limits or Limits()
        self.fingerprinter = Fingerprinter(key, k, w)
        self.index = (FingerprintIndex(index_dir, fingerprinter_id=self.fingerprinter.id)
                      if index_dir is not None else None)
        self.resolve = resolve
        self.resolve_many = resolve_many
        classes = registry.detector_classes()
        chosen = list(classes) if detectors is None else list(detectors)
        unknown = [d for d in chosen if d not in classes]
        if unknown:
            raise ValueError(f"unknown detectors: {', '.join(unknown)}")
        self.detectors = [classes[d]() for d in chosen]

    def prepare(self) -> None:
        """Before serving checks: build the index's lookup tables now rather than during a request
        (:meth:`FingerprintIndex.prepare`)."""
        if self.index is not None:
            self.index.prepare()

    def check(self, data: bytes, name: str = "") -> Result:
        extraction = extract(data, name, self.limits)
        return self.inspect(extraction)

    def check_text(self, text: str, name: str = "") -> Result:
        return self.check(text.encode("utf-8"), name or "text.txt")

    def inspect(self, extraction: Extraction) -> Result:
        context = Context(self.index, self.fingerprinter, self.resolve, extraction, cache={},
                          resolve_many=self.resolve_many)
        findings: list[Finding] = []
        for detector in self.detectors:
            findings.extend(detector.inspect(extraction, context))
        findings.sort(key=lambda f: (f.part, f.start, f.end, f.detector))
        return Result(findings=findings, problems=list(extraction.problems), parts=len(extraction.parts))

    def _fingerprint(self, data: bytes, name: str) -> tuple[Extraction, Normalized, Fingerprints]:
        """Extract all text of a document, normalise it and fingerprint it as one text."""
        extraction = extract(data, name, self.limits)
        norm = normalize("\n".join(p.text for p in extraction.parts))
        return extraction, norm, self.fingerprinter.fingerprints(norm)

    def register(self, doc_id: int, data: bytes, name: str = "") -> Registered:
        """Fingerprint a document into the index (replacing an earlier version with the same id)."""
        with self.registering() as register:
            return register(doc_id, data, name)

    @contextmanager
    def registering(self) -> Iterator[Callable[[int, bytes, str], Registered]]:
        """Register many documents with one index commit: ``with engine.registering() as register:
        register(doc_id, data, name)`` ... The documents become visible together when the block ends without
        an error; on an error nothing is committed."""
        if self.index is None:
            raise ValueError("this engine has no index")
        with self.index.batch() as batch:
            def register(doc_id: int, data: bytes, name: str = "") -> Registered:
                extraction, norm, fps = self._fingerprint(data, name)
                if len(fps):
                    batch.replace(doc_id, fps, len(norm.text))
                formats = sorted({p.format for p in extraction.parts})
                return Registered(format=",".join(formats)[:20], normalized_chars=len(norm.text),
                                  fingerprints=len(fps), problems=list(extraction.problems))

            yield register

    def add_background(self, data: bytes, name: str = "") -> int:
        """Fingerprints of a document that is NOT secret (templates, public manuals, boilerplate the
        organisation's documents share) are ignored when matching. Returns how many were added."""
        return self.add_backgrounds([(data, name)])[0]

    def add_backgrounds(self, files: Iterable[tuple[bytes, str]]) -> list[int]:
        """:meth:`add_background` for many files as one background file of the index (a lookup reads every
        background file, so one file for many documents keeps prompts fast). Returns the counts per file."""
        if self.index is None:
            raise ValueError("this engine has no index")
        counts = []
        with self.index.batch() as batch:
            for data, name in files:
                extraction = extract(data, name, self.limits)
                hashes = self.fingerprinter.background(normalize("\n".join(p.text for p in extraction.parts)))
                if len(hashes):
                    batch.add_background(hashes)
                counts.append(len(hashes))
        return counts

    def compact(self) -> None:
        """Merge the index's segments into one and its background files into one (faster lookups)."""
        if self.index is None:
            raise ValueError("this engine has no index")
        self.index.compact()

    def remove(self, doc_id: int) -> bool:
        if self.index is None:
            return False
        return self.index.remove(doc_id)


def explain(finding: Finding, translate: Callable[[str], str] = lambda s: s) -> str:
    """The finding's explanation in the caller's language: ``translate`` is gettext at the edge."""
    cls = registry.detector_classes().get(finding.detector)
    template = getattr(cls, "reasons", {}).get(finding.reason) if cls is not None else None
    if template is None:
        return finding.explanation
    params = dict(finding.params)
    for name in getattr(cls, "translated_params", ()):
        if isinstance(params.get(name), str):
            params[name] = " / ".join(translate(piece) for piece in params[name].split(" / "))
    try:
        return translate(template).format(**params)
    except (KeyError, IndexError, ValueError):
        return finding.explanation


def describe(findings: Iterable[Finding], translate: Callable[[str], str] = lambda s: s) -> list[dict[str, Any]]:
    return [f.as_dict() | {"explanation": explain(f, translate)} for f in findings]
