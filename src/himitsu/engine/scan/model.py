"""Value types of a scan: what was found in one file, what the placement rules make of it, and the
report of a whole run. Like every engine result they carry offsets, scores and redacted snippets, never
the text of a secret."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from himitsu.engine.model import Finding, Limits, Problem, SecretRef
from himitsu.engine.scan.sources.base import WalkError


@dataclass(frozen=True)
class ScanLimits:
    """Declared limits of a scan; a file over one is a recorded scan error, never silently skipped."""

    max_file_bytes: int = 100 * 1024 * 1024  # larger files are recorded as ``scan.too_large``, not read
    inspect: Limits = field(default_factory=Limits)  # per-file extraction limits (archives, time, text)


@dataclass(frozen=True)
class EngineSpec:
    """How a worker process opens its own engine (picklable): the index, the fingerprint key, the limits,
    the detectors, and the register entry of each registered document id (``doc_id -> SecretRef``)."""

    index_dir: str | None
    key: bytes
    secrets: dict[int, SecretRef] = field(default_factory=dict)
    detectors: tuple[str, ...] | None = None


@dataclass(frozen=True)
class FileResult:
    """One file as the scan saw it. ``error`` is set when it could not be read (then no findings)."""

    path: str
    size: int
    mtime: float
    etag: str = ""
    exposure: str = ""
    sha256: str = ""
    findings: tuple[Finding, ...] = ()
    problems: tuple[Problem, ...] = ()
    error: WalkError | None = None
    #: for groups of findings cut to the strongest ``MAX_PER_GROUP``: group key (:func:`group_key`) -> how many
    #: there were (a customer list with 2,000 phone numbers keeps 20 spans and the count)
    totals: dict[str, int] = field(default_factory=dict, compare=False)


#: findings kept per (detector, register entry, reason) in one file; the rest are counted in ``FileResult.totals``
MAX_PER_GROUP = 20


def group_key(finding: Finding) -> str:
    secret = "" if finding.secret is None else str(finding.secret.id)
    return f"{finding.detector}\x1f{secret}\x1f{finding.reason}"


def keep_strongest(findings: list[Finding] | tuple[Finding, ...],
                   limit: int = MAX_PER_GROUP) -> tuple[tuple[Finding, ...], dict[str, int]]:
    """At most ``limit`` findings per group (the strongest, in their original order), and the totals of the
    groups that were cut."""
    groups: dict[str, list[int]] = {}
    for i, f in enumerate(findings):
        groups.setdefault(group_key(f), []).append(i)
    totals = {k: len(v) for k, v in groups.items() if len(v) > limit}
    if not totals:
        return tuple(findings), {}
    keep: set[int] = set()
    for key, idx in groups.items():
        if key in totals:
            idx = sorted(idx, key=lambda i: (-findings[i].score, -(findings[i].matched_chars or 0), i))[:limit]
        keep.update(idx)
    return tuple(f for i, f in enumerate(findings) if i in keep), totals


@dataclass(frozen=True)
class RuleHit:
    """What a manager acts on, made from a file's detections by the placement rules.

    ``kind``: ``misplaced`` (secret content outside the locations its register entry allows),
    ``overexposed`` (secret content readable by everyone), ``unregistered`` (a confidentiality marking but
    no register entry matched). ``reason`` is a stable code; ``params`` fill its text."""

    kind: str
    path: str
    reason: str
    secret: SecretRef | None = None
    level: str = ""
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Progress:
    """Counters the scan updates as it goes (shown by the CLI's progress bar and the web app)."""

    files_seen: int = 0      # entries the walk has yielded so far
    files_total: int | None = None  # known once the walk has finished
    files_done: int = 0      # read and inspected, or found unchanged, or failed
    files_read: int = 0      # read and inspected in this run
    bytes_read: int = 0
    bytes_total: int = 0     # bytes of the files that need reading (grows while the walk goes on)
    unchanged: int = 0
    errors: int = 0
    resumed: int = 0         # files already done by the interrupted run this one resumes


@dataclass
class ScanReport:
    run_id: int
    targets: list[str]
    progress: Progress
    vanished: list[str] = field(default_factory=list)
    errors: list[WalkError] = field(default_factory=list)
    #: targets that could not be walked at all (their error is in ``errors``, with the target as path)
    failed_targets: list[str] = field(default_factory=list)
    seconds: float = 0.0
    resumed_run: bool = False  # this run continues one that was interrupted
    stopped: bool = False      # stopped early on request: the next run resumes it
