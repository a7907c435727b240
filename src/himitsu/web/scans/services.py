"""The only writer of scan targets, runs, errors and findings (issue 5).

The CLI (``himitsu scan``), the web app ("run now") and the background worker all scan through
:func:`run_target`: one code path. The engine's :class:`~himitsu.engine.scan.scanner.Scanner` walks, reads and
inspects (and keeps its catalogue of what was seen in HIMITSU_HOME/scans); this module turns what it reports
into rows people act on:

* per file that was read in a run, one ``detection`` finding per (detector, register entry, reason) with the
  number of hits and the strongest span, plus the placement rules' verdicts (``misplaced``, ``overexposed``,
  ``unregistered``); rows of that file the new read did not produce are kept with ``present=False`` (their
  triage status untouched), a file that vanished has all its rows ``present=False``;
* a row that is produced again keeps its triage status, except ``resolved``: a fresh read that finds the
  problem again contradicts the resolution, so the row is reopened as ``new`` (counted in ``findings_new`` and
  in the run's audit record as ``reopened``); ``confirmed`` and ``false_positive`` stay as decided;
* what could not be read becomes a :class:`ScanError` row with its stable code (a file that could not be read
  keeps its findings as they were: nothing is known about it);
* when the register's storage locations or levels change, the next run applies the placement rules again to
  the files it does not read, from their stored detections (no file is read again for that); a resolved row
  is not reopened by that, only by a new read of the file;
* moving a target to another URL marks its findings not present and starts a fresh catalogue.

A rescan of an unchanged tree gets no per-file callbacks from the scanner, so it costs a handful of queries
(the run row, a heartbeat per second, the final counters) whatever the size of the tree.

Findings never hold a secret's text: offsets, scores, redacted snippets. Every change is audited; the audit
records of runs carry counts, never file content or paths.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from himitsu import config
from himitsu.engine.check import explain
from himitsu.engine.model import Finding, SecretRef
from himitsu.engine.scan import placement
from himitsu.engine.scan.model import EngineSpec, FileResult, Progress, RuleHit, ScanLimits, ScanReport, group_key
from himitsu.engine.scan.scanner import ScanBusy, Scanner
from himitsu.engine.scan.sources import scheme_of
from himitsu.engine.scan.sources.base import SourceSpec
from himitsu.errors import MESSAGES, HimitsuError, InputError, gettext_noop
from himitsu.web.accounts import access
from himitsu.web.accounts.models import Department
from himitsu.web.audit import chain
from himitsu.web.audit.models import Action
from himitsu.web.register.models import Secret, SecretDocument, StorageLocation
from himitsu.web.register.services import Context
from himitsu.web.scans.models import (
    Kind,
    RunStatus,
    ScanError,
    ScanFinding,
    ScanRun,
    ScanTarget,
    Status,
    Trigger,
)

MAX_INTERVAL_HOURS = 8760  # a year
MAX_WORKERS = 16
#: counters and heartbeat are written to the database at most this often during a run (seconds)
SAVE_SECONDS = 1.0
#: a running run whose heartbeat is older than this (minutes) lost its process (see worker.mark_stale)
STALE_MINUTES = 15
#: ScanError rows are written in batches of this many
ERROR_BATCH = 500
#: storage-location kinds a scan can compare paths with (cabinets and "other" are not places a scan sees)
SCANNABLE_LOCATIONS = ("path", "url", "cloud")
#: statuses that need a comment (the reason is the evidence a reviewer reads later)
COMMENT_REQUIRED = (Status.FALSE_POSITIVE, Status.RESOLVED)

_CHANNEL_TRIGGER = {"web": Trigger.WEB, "api": Trigger.WEB, "worker": Trigger.SCHEDULE}


# --- identity, engine spec and rules from the register --------------------------------------------------------------

def identity(path: str, kind: str, detector: str, secret_id: int | str | None, reason: str) -> str:
    """The stable identity of a finding within its target (SHA-256 hex): a rescan that produces the same
    (path, kind, detector, register entry, reason) updates the same row and keeps its triage status."""
    parts = [path, kind, detector or "", "" if secret_id is None else str(secret_id), reason or ""]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def engine_spec() -> EngineSpec:
    """How a scan opens the engine: the index, the fingerprint key and the register entry of every registered
    document (``doc_id -> SecretRef`` with the entry's id, title and level name)."""
    docs = SecretDocument.objects.values_list("pk", "secret_id", "secret__title", "secret__level__name")
    secrets = {pk: SecretRef(id=sid, title=title, level=level) for pk, sid, title, level in docs}
    return EngineSpec(index_dir=str(config.index_dir()), key=config.fingerprint_key(), secrets=secrets)


def rules() -> placement.Rules:
    """The register's view of where secrets may be: the storage locations of kind path, URL or cloud of every
    entry (entries without one get ``placement.no_locations`` when found), and every entry's level name."""
    allowed: dict[int, list[str]] = {}
    for sid, location in (StorageLocation.objects.filter(kind__in=SCANNABLE_LOCATIONS)
                          .order_by("pk").values_list("secret_id", "location")):
        if location.strip():
            allowed.setdefault(sid, []).append(location.strip())
    levels = dict(Secret.objects.values_list("pk", "level__name"))
    return placement.Rules(allowed={k: tuple(v) for k, v in allowed.items()}, levels=levels)


def catalogue_path(target: ScanTarget) -> Path:
    """The engine's catalogue of what scans of this target have seen."""
    return config.home() / "scans" / f"target-{target.pk}.sqlite"


def _rules_marker(target: ScanTarget) -> Path:
    """Next to the catalogue: the stamp of the placement rules last applied to the target's findings."""
    return config.home() / "scans" / f"target-{target.pk}.rules"


def _rules_stamp(r: placement.Rules) -> str:
    body = {"allowed": sorted((str(k), list(v)) for k, v in r.allowed.items()),
            "levels": sorted((str(k), v) for k, v in r.levels.items())}
    return hashlib.sha256(json.dumps(body, ensure_ascii=False).encode()).hexdigest()


def _drop_catalogue(target: ScanTarget) -> None:
    path = catalogue_path(target)
    for name in [str(path) + suffix for suffix in ("", "-wal", "-shm", ".lock")] + [str(_rules_marker(target))]:
        try:
            Path(name).unlink()
        except FileNotFoundError:
            pass


# --- targets -----------------------------------------------------------------------------------------------------

_SECRET_OPTION = re.compile(r"pass(word|wd)?|pwd|secret|token|private[_-]?key|api[_-]?key|access[_-]?key|"
                            r"session[_-]?key|^key$|^auth$|^credentials?$", re.IGNORECASE)
_SECRET_QUERY = re.compile(r"(pass|pwd|secret|token|key|signature|credential)", re.IGNORECASE)
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,62}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalize_url(url: str, *, relative_ok: bool = False) -> str:
    """The target as stored: a local folder (absolute path or file:// URL), ``smb://server/share[/path]`` or
    ``s3://bucket[/prefix]``. Credentials in the URL are refused (they belong in the environment or a
    credentials file); a relative folder is made absolute only when ``relative_ok`` (the CLI)."""
    text = (url or "").strip()
    if not text or len(text) > 1000 or _CONTROL.search(text):
        raise InputError("scan.target_invalid", target=text[:200])
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        parts = urlsplit(text)
        if "@" in parts.netloc or _SECRET_QUERY.search(parts.query):
            raise InputError("scan.credentials_in_url")
        if scheme not in ("smb", "s3", "file") or scheme_of(text) not in ("smb", "s3", "file"):
            raise InputError("scan.target_invalid", target=text[:200])
        if parts.query or parts.fragment:
            raise InputError("scan.target_invalid", target=text[:200])
        segments = [s for s in parts.path.split("/") if s]
        if scheme == "smb":
            if not parts.netloc or not segments or any(s in (".", "..") for s in segments):
                raise InputError("scan.target_invalid", target=text[:200])
            return f"smb://{parts.netloc}/{'/'.join(segments)}"
        if scheme == "s3":
            if not _BUCKET.match(parts.netloc) or any(s in (".", "..") for s in segments):
                raise InputError("scan.target_invalid", target=text[:200])
            return f"s3://{parts.netloc}/{'/'.join(segments)}" if segments else f"s3://{parts.netloc}"
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise InputError("scan.target_invalid", target=text[:200])
        return "file://" + posixpath.normpath(parts.path)
    if text.startswith("\\\\") or (len(text) > 1 and text[1] == ":"):  # UNC or drive letter: not on this server
        raise InputError("scan.target_invalid", target=text[:200])
    path = os.path.expanduser(text)
    if not os.path.isabs(path):
        if not relative_ok:
            raise InputError("scan.target_invalid", target=text[:200])
        path = os.path.abspath(path)
    return os.path.normpath(path)


def _check_options(options: Any) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise InputError("scan.options_invalid")

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if not isinstance(key, str):
                    raise InputError("scan.options_invalid")
                if _SECRET_OPTION.search(key):
                    raise InputError("scan.options_secret", key=key[:60])
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)
        elif not (value is None or isinstance(value, str | int | float | bool)):
            raise InputError("scan.options_invalid")

    walk(options)
    try:
        json.dumps(options)
    except (TypeError, ValueError) as exc:
        raise InputError("scan.options_invalid") from exc
    return dict(options)


def _check_interval(hours: Any) -> int:
    if isinstance(hours, bool) or not isinstance(hours, int) or not 0 <= hours <= MAX_INTERVAL_HOURS:
        raise InputError("scan.interval_invalid", max=MAX_INTERVAL_HOURS)
    return hours


def _check_workers(workers: Any) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise InputError("scan.workers_invalid", max=MAX_WORKERS)
    return workers


def _check_name(name: Any, url: str) -> str:
    text = " ".join(str(name or "").split()) or url
    if len(text) > 200:
        raise InputError("scan.name_invalid")
    return text


def _target_snapshot(t: ScanTarget) -> dict[str, Any]:
    return {"name": t.name, "url": t.url, "options": t.options,
            "department": t.department.code if t.department else None, "interval_hours": t.interval_hours,
            "workers": t.workers, "enabled": t.enabled}


def _audit_target(ctx: Context, action: str, target: ScanTarget, details: dict[str, Any]) -> None:
    chain.record(action, actor=ctx.actor, request=ctx.request, channel=ctx.channel, object_type="scan_target",
                 object_id=target.pk, object_repr=target.name[:250], details=details)


def create_target(ctx: Context, name: str, url: str, options: dict[str, Any] | None = None,
                  department: Department | None = None, interval_hours: int = 0, workers: int = 1,
                  enabled: bool = True, *, relative_ok: bool = False) -> ScanTarget:
    """Define a folder, share or bucket to scan (every ``interval_hours``, 0: by hand only)."""
    access.require(access.can_manage_scan_targets(ctx.actor))
    url = normalize_url(url, relative_ok=relative_ok)
    target = ScanTarget(name=_check_name(name, url), url=url, options=_check_options(options), department=department,
                        interval_hours=_check_interval(interval_hours), workers=_check_workers(workers),
                        enabled=bool(enabled), created_by=ctx.user)
    if target.interval_hours and target.enabled:
        target.next_run_at = timezone.now()  # first run as soon as the worker looks
    with transaction.atomic():
        if ScanTarget.objects.filter(url=url).exists():
            raise InputError("scan.target_exists", target=url)
        target.save()
        _audit_target(ctx, Action.CREATE, target, _target_snapshot(target))
    _drop_catalogue(target)  # a catalogue left at this id by an earlier database would make scans see nothing new
    return target


_UNSET: Any = object()


def update_target(ctx: Context, target: ScanTarget, *, name: Any = _UNSET, url: Any = _UNSET, options: Any = _UNSET,
                  department: Any = _UNSET, interval_hours: Any = _UNSET, workers: Any = _UNSET,
                  enabled: Any = _UNSET) -> ScanTarget:
    """Change the given settings (the others stay). A changed interval schedules the next run from now."""
    access.require(access.can_manage_scan_targets(ctx.actor))
    with transaction.atomic():
        target = ScanTarget.objects.select_for_update().get(pk=target.pk)
        before = _target_snapshot(target)
        moved = False
        if url is not _UNSET:
            new_url = normalize_url(url)
            if new_url != target.url:
                if ScanTarget.objects.filter(url=new_url).exclude(pk=target.pk).exists():
                    raise InputError("scan.target_exists", target=new_url)
                running = _running(target)
                if running is not None:
                    raise InputError("scan.running", run=running.pk)
                moved = True
            target.url = new_url
        if name is not _UNSET:
            target.name = _check_name(name, target.url)
        if options is not _UNSET:
            target.options = _check_options(options)
        if department is not _UNSET:
            target.department = department
        if workers is not _UNSET:
            target.workers = _check_workers(workers)
        if enabled is not _UNSET:
            target.enabled = bool(enabled)
        if interval_hours is not _UNSET:
            hours = _check_interval(interval_hours)
            if hours != target.interval_hours:
                target.next_run_at = timezone.now() if hours else None
            target.interval_hours = hours
        if target.interval_hours and target.enabled and target.next_run_at is None:
            target.next_run_at = timezone.now()
        target.save()
        if moved:  # what was found at the old place is no longer known to be there; the next scan starts afresh
            target.findings.filter(present=True).update(present=False, updated_at=timezone.now())
        after = _target_snapshot(target)
        if after != before:
            changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
            _audit_target(ctx, Action.UPDATE, target, {"changes": changes})
    if moved:
        _drop_catalogue(target)
    return target


def _running(target: ScanTarget) -> ScanRun | None:
    """The run of the target that is going on (running, with a heartbeat in the last STALE_MINUTES)."""
    fresh = timezone.now() - timedelta(minutes=STALE_MINUTES)
    return (ScanRun.objects.filter(target=target, status=RunStatus.RUNNING, heartbeat_at__gte=fresh)
            .order_by("-pk").first())


def delete_target(ctx: Context, target: ScanTarget) -> None:
    """Remove the target with its runs, errors and findings, and the engine's catalogue of it."""
    access.require(access.can_manage_scan_targets(ctx.actor))
    running = _running(target)
    if running is not None:
        raise InputError("scan.running", run=running.pk)
    with transaction.atomic():
        _audit_target(ctx, Action.DELETE, target, {"url": target.url, "findings": target.findings.count(),
                                                   "runs": target.runs.count()})
        pk = target.pk
        target.delete()
        target.pk = pk
    _drop_catalogue(target)


# --- one run -----------------------------------------------------------------------------------------------------

def _clean(text: Any, limit: int) -> str:
    """A string the database accepts (PostgreSQL refuses NUL) within the column's length."""
    return str(text or "").replace("\x00", "\ufffd")[:limit]


def _json(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, ensure_ascii=False, default=str).replace("\\u0000", "\\ufffd"))
    except (TypeError, ValueError):
        return {}


def _strength(f: Finding) -> tuple[float, int, int]:
    return (f.score, f.matched_chars or 0, -f.start)


def _member(path: str, part: str) -> str:
    return f"{path}!/{part}" if part else path


@dataclass
class _Recorder:
    """Turns the scanner's callbacks into rows; lives for one run, in the process that runs the scan."""

    run: ScanRun
    target: ScanTarget
    rules: placement.Rules
    secret_ids: set[int]
    on_progress: Callable[[Progress], None] | None = None
    should_stop: Callable[[], bool] | None = None
    paths: set[str] = field(default_factory=set)  # paths of this target that have finding rows
    errors: list[ScanError] = field(default_factory=list)
    error_count: int = 0
    findings_new: int = 0
    reopened: int = 0
    vanished: int = 0
    stopped: bool = False
    saved: float = 0.0
    progress_seen: Progress | None = None
    rules_checked: bool = False
    reevaluated: int = 0

    def __post_init__(self) -> None:
        self.paths = set(ScanFinding.objects.filter(target=self.target).order_by()
                         .values_list("path", flat=True).distinct())

    # -- rows of one file ---------------------------------------------------------------------------------------

    def _secret_id(self, ref: SecretRef | None) -> int | None:
        if ref is None:
            return None
        try:
            sid = int(ref.id)
        except (TypeError, ValueError):
            return None
        return sid if sid in self.secret_ids else None

    def _level(self, sid: int | None, ref: SecretRef | None, fallback: str = "") -> str:
        if sid is not None:
            return str(self.rules.levels.get(sid) or (ref.level if ref else ""))
        return fallback

    def _span(self, best: Finding | None) -> dict[str, Any]:
        if best is None:
            return {"score": 0.0, "part": "", "start": 0, "end": 0, "snippet": "", "matched_chars": None}
        return {"score": float(best.score), "part": _clean(best.part, 500), "start": int(best.start),
                "end": int(best.end), "snippet": _clean(best.snippet, 300), "matched_chars": best.matched_chars}

    def _evidence(self, hit: RuleHit, findings: Sequence[Finding]) -> list[Finding]:
        if hit.secret is not None:
            return [f for f in findings if f.detector == "registered-secret" and f.secret is not None
                    and str(f.secret.id) == str(hit.secret.id)]
        if hit.kind == "overexposed":
            return [f for f in findings if f.detector in placement.SENSITIVE]
        return [f for f in findings if f.detector == "marking"]

    def rows(self, result: FileResult, *, rules_only: bool = False,
             weights: dict[int, int] | None = None) -> dict[str, dict[str, Any]]:
        """The rows one read of a file produces (identity -> values); ``rules_only``: the placement rules' rows
        only, from detections rebuilt from the database (``weights``: id of a rebuilt finding -> its hits)."""
        def count(found: Sequence[Finding]) -> int:
            cut = {group_key(f) for f in found if group_key(f) in result.totals}
            return (sum((weights or {}).get(id(f), 1) for f in found if group_key(f) not in cut)
                    + sum(result.totals[k] for k in cut))

        groups: dict[tuple[str, int | None, str], list[Finding]] = {}
        for f in () if rules_only else result.findings:
            if f.detector == "registered-secret" and self._secret_id(f.secret) is None:
                continue  # a document whose register entry is gone
            groups.setdefault((f.detector, self._secret_id(f.secret), f.reason), []).append(f)
        out: dict[str, dict[str, Any]] = {}
        exposure = _clean(result.exposure, 40)
        for (detector, sid, reason), found in groups.items():
            best = max(found, key=_strength)
            level = self._level(sid, best.secret, str(best.params.get("level", "")) if detector == "marking" else "")
            out[identity(result.path, Kind.DETECTION, detector, sid, reason)] = {
                "kind": Kind.DETECTION, "detector": _clean(detector, 40), "reason": _clean(reason, 80),
                "params": _json(best.params), "secret_id": sid, "level": _clean(level, 40), "hits": count(found),
                "exposure": exposure, **self._span(best)}
        for hit in placement.evaluate(result, self.rules):
            sid = self._secret_id(hit.secret)
            if hit.secret is not None and sid is None:
                continue
            key = identity(result.path, hit.kind, "", sid, hit.reason)
            if key in out:
                continue
            evidence = self._evidence(hit, result.findings)
            best = max(evidence, key=_strength) if evidence else None
            out[key] = {"kind": hit.kind, "detector": "", "reason": _clean(hit.reason, 80), "params": _json(hit.params),
                        "secret_id": sid, "level": _clean(self._level(sid, hit.secret, hit.level) or hit.level, 40),
                        "hits": max(count(evidence), 1), "exposure": exposure, **self._span(best)}
        return out

    # -- callbacks ----------------------------------------------------------------------------------------------

    def file(self, result: FileResult) -> None:
        self.check_rules()
        if result.error is not None:  # not read: its findings are unknown, leave them as they are
            self._error(result.path, result.error.code, result.error.detail)
            return
        for problem in result.problems:
            self._error(_member(result.path, problem.path), problem.code, problem.detail)
        self._store(result)

    def _store(self, result: FileResult, *, rules_only: bool = False, weights: dict[int, int] | None = None) -> None:
        rows = self.rows(result, rules_only=rules_only, weights=weights)
        path = _clean(result.path, 2000)
        if not rows and path not in self.paths:
            return  # nothing found now, nothing found before: no query at all
        now = timezone.now()
        with transaction.atomic():
            mine = ScanFinding.objects.filter(target=self.target, path=path)
            if rules_only:
                mine = mine.exclude(kind=Kind.DETECTION)
            existing = {f.identity: f for f in mine}
            new: list[ScanFinding] = []
            changed: list[ScanFinding] = []
            for key, values in rows.items():
                row = existing.get(key)
                if row is None:
                    new.append(ScanFinding(identity=key, target=self.target, path=path, first_run=self.run,
                                           last_run=self.run, present=True, status=Status.NEW, **values))
                    continue
                for name, value in values.items():
                    setattr(row, name, value)
                if row.status == Status.RESOLVED and not rules_only:  # found again by a new read of the file
                    row.status, row.status_at, row.status_by = Status.NEW, now, None
                    self.reopened += 1
                    self.findings_new += 1
                row.present, row.last_run, row.updated_at = True, self.run, now
                changed.append(row)
            if new:
                ScanFinding.objects.bulk_create(new)
                self.findings_new += len(new)
            if changed:
                ScanFinding.objects.bulk_update(changed, [*_UPDATED, "status", "status_at", "status_by",
                                                          "present", "last_run", "updated_at"])
            gone = [row.pk for key, row in existing.items() if key not in rows and row.present]
            if gone:
                ScanFinding.objects.filter(pk__in=gone).update(present=False, updated_at=now)
        if rows:
            self.paths.add(path)
        elif not rules_only:
            self.paths.discard(path)

    def check_rules(self) -> None:
        """Once per run, inside the scanner's lock (from its first callback): when the register's storage
        locations or levels changed since the rules were last applied to this target, apply them again to the
        files the scan will not read (unchanged files): their placement rows are rebuilt from their stored
        detections, without reading the files."""
        if self.rules_checked:
            return
        self.rules_checked = True
        stamp = _rules_stamp(self.rules)
        marker = _rules_marker(self.target)
        try:
            if marker.read_text(encoding="ascii").strip() == stamp:
                return
        except OSError:
            pass
        detections = (ScanFinding.objects.filter(target=self.target, kind=Kind.DETECTION, present=True)
                      .order_by("path", "pk"))
        by_path: dict[str, list[ScanFinding]] = {}
        for row in detections.iterator(chunk_size=2000):
            by_path.setdefault(row.path, []).append(row)
        for path, found in by_path.items():
            weights: dict[int, int] = {}
            findings = []
            for d in found:
                f = Finding(detector=d.detector, score=d.score, start=d.start, end=d.end, snippet=d.snippet,
                            reason=d.reason, explanation=d.reason, part=d.part, matched_chars=d.matched_chars,
                            secret=SecretRef(id=d.secret_id, title="", level=d.level) if d.secret_id else None,
                            params=d.params if isinstance(d.params, dict) else {})
                weights[id(f)] = d.hits
                findings.append(f)
            result = FileResult(path=path, size=0, mtime=0.0, exposure=found[0].exposure, findings=tuple(findings))
            self._store(result, rules_only=True, weights=weights)
            self.reevaluated += 1
        for path in self.paths - set(by_path):  # no present detection left: no rule row can stand
            ScanFinding.objects.filter(target=self.target, path=path, present=True).exclude(
                kind=Kind.DETECTION).update(present=False, updated_at=timezone.now())
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(stamp, encoding="ascii")

    def vanished_path(self, path: str) -> None:
        self.check_rules()
        self.vanished += 1
        path = _clean(path, 2000)
        if path in self.paths:
            ScanFinding.objects.filter(target=self.target, path=path, present=True).update(
                present=False, updated_at=timezone.now())
            self.paths.discard(path)

    def progress(self, p: Progress) -> None:
        self.check_rules()
        self.progress_seen = p
        if self.on_progress is not None:
            self.on_progress(p)
        now = time.monotonic()
        if now - self.saved >= SAVE_SECONDS:
            self.saved = now
            self.flush()
            ScanRun.objects.filter(pk=self.run.pk).update(heartbeat_at=timezone.now(), **_counters(p),
                                                          errors=self.error_count, findings_new=self.findings_new,
                                                          vanished=self.vanished)

    def stop(self) -> bool:
        if not self.stopped and self.should_stop is not None and self.should_stop():
            self.stopped = True
        return self.stopped

    # -- errors -------------------------------------------------------------------------------------------------

    def _error(self, path: str, code: str, detail: str) -> None:
        self.errors.append(ScanError(run=self.run, path=_clean(path, 2000), code=_clean(code, 60),
                                     detail=_clean(detail, 500)))
        self.error_count += 1
        if len(self.errors) >= ERROR_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.errors:
            ScanError.objects.bulk_create(self.errors)
            self.errors = []


_UPDATED = ["kind", "detector", "reason", "params", "secret", "level", "hits", "exposure", "score", "part", "start",
            "end", "snippet", "matched_chars"]


def _counters(p: Progress) -> dict[str, Any]:
    return {"files_seen": p.files_seen, "files_total": p.files_total, "files_done": p.files_done,
            "files_read": p.files_read, "bytes_read": p.bytes_read, "bytes_total": p.bytes_total,
            "unchanged": p.unchanged, "resumed": p.resumed}


def _audit_run(ctx: Context, run: ScanRun, action: str, details: dict[str, Any]) -> None:
    chain.record(action, actor=ctx.actor, request=ctx.request, channel=ctx.channel, object_type="scan_run",
                 object_id=run.pk, object_repr=run.target.name[:250], details=details)


def _close(ctx: Context, run: ScanRun, status: str, *, error_code: str = "", error_params: dict[str, Any] | None = None,
           extra: dict[str, Any] | None = None) -> ScanRun:
    run.status = status
    run.finished_at = timezone.now()
    run.heartbeat_at = run.finished_at
    run.error_code = error_code[:60]
    run.error_params = _json(error_params or {})
    run.save()
    _audit_run(ctx, run, Action.UPDATE, {
        "event": "finished", "status": status, "error_code": error_code, "files_seen": run.files_seen,
        "files_read": run.files_read, "bytes_read": run.bytes_read, "unchanged": run.unchanged,
        "resumed": run.resumed, "errors": run.errors, "vanished": run.vanished, "findings_new": run.findings_new,
        "seconds": round(run.seconds, 3), **(extra or {})})
    return run


def run_target(ctx: Context, target: ScanTarget, *, workers: int | None = None, full: bool = False,
               trigger: str = Trigger.CLI, on_progress: Callable[[Progress], None] | None = None,
               should_stop: Callable[[], bool] | None = None, run: ScanRun | None = None,
               limits: ScanLimits | None = None) -> ScanRun:
    """Scan one target now, in this process (with ``workers`` inspecting processes, by default the target's),
    and record the run, its errors and findings. ``run``: a queued or claimed run to use (the worker's).

    Returns the finished run: ``finished``; ``failed`` with ``error_code`` when the target itself could not be
    scanned (not found, no connection, credentials refused); ``interrupted`` when ``should_stop`` stopped it
    (the next run resumes where it stopped). Another scan of the same target in progress: ``scan.running``."""
    access.require(access.can_run_scans(ctx.actor, target))
    count = _check_workers(workers if workers is not None else target.workers)
    now = timezone.now()
    if run is None:
        run = ScanRun.objects.create(target=target, trigger=trigger, actor=ctx.user, status=RunStatus.RUNNING,
                                     started_at=now, heartbeat_at=now)
    else:
        run.target, run.status, run.started_at, run.heartbeat_at = target, RunStatus.RUNNING, now, now
        run.trigger = run.trigger or trigger
        run.save(update_fields=["status", "started_at", "heartbeat_at", "trigger"])
    _audit_run(ctx, run, Action.CREATE, {"event": "started", "target": target.url, "trigger": run.trigger,
                                         "workers": count, "full": bool(full)})
    spec = engine_spec()
    recorder = _Recorder(run=run, target=target, rules=rules(), secret_ids={int(r.id) for r in spec.secrets.values()},
                         on_progress=on_progress, should_stop=should_stop)
    scanner = Scanner(spec, catalogue=catalogue_path(target), workers=count, limits=limits or ScanLimits(), full=full)
    source = SourceSpec(url=target.url, options=dict(target.options or {}))
    try:
        report = scanner.run([source], on_file=recorder.file, on_vanished=recorder.vanished_path,
                             on_progress=recorder.progress, should_stop=recorder.stop)
    except ScanBusy as exc:
        recorder.flush()
        other = (ScanRun.objects.filter(target=target, status=RunStatus.RUNNING).exclude(pk=run.pk)
                 .order_by("-pk").first())
        number = other.pk if other is not None else "?"
        _close(ctx, run, RunStatus.FAILED, error_code="scan.running", error_params={"run": number})
        raise InputError("scan.running", run=number) from exc
    except BaseException as exc:
        recorder.flush()
        _save_counters(run, recorder)
        status = RunStatus.INTERRUPTED if isinstance(exc, KeyboardInterrupt | SystemExit) else RunStatus.FAILED
        code = "scan.stopped" if status == RunStatus.INTERRUPTED else "internal.error"
        _close(ctx, run, status, error_code=code, error_params={"kind": type(exc).__name__, "reason": str(exc)[:200]})
        raise
    return _finish(ctx, run, recorder, report)


def _save_counters(run: ScanRun, recorder: _Recorder, report: ScanReport | None = None) -> None:
    p = report.progress if report is not None else recorder.progress_seen
    if p is not None:
        for name, value in _counters(p).items():
            setattr(run, name, value)
    run.errors = recorder.error_count
    run.findings_new = recorder.findings_new
    run.vanished = recorder.vanished
    if report is not None:
        run.catalogue_run = report.run_id
        run.seconds = float(report.seconds)


def _finish(ctx: Context, run: ScanRun, recorder: _Recorder, report: ScanReport) -> ScanRun:
    # this run held the target's catalogue lock: an older run still marked running was killed (it resumed here)
    ScanRun.objects.filter(target_id=run.target_id, status=RunStatus.RUNNING, pk__lt=run.pk).update(
        status=RunStatus.INTERRUPTED, error_code="scan.stopped", finished_at=timezone.now())
    for error in report.errors:  # what the walk could not list, and a target that failed as a whole
        recorder._error(error.path, error.code, error.detail)
    recorder.flush()
    _save_counters(run, recorder, report)
    failed = list(getattr(report, "failed_targets", []) or [])
    extra = {"reopened": recorder.reopened, "reevaluated": recorder.reevaluated}
    if recorder.stopped or getattr(report, "stopped", False):
        return _close(ctx, run, RunStatus.INTERRUPTED, error_code="scan.stopped", extra=extra)
    if failed and len(failed) >= len(report.targets):
        first = next((e for e in report.errors if e.path in failed), None)
        code = first.code if first is not None else "scan.connection"
        params = {"detail": first.detail if first is not None else "", "target": failed[0]}
        return _close(ctx, run, RunStatus.FAILED, error_code=code, error_params=params, extra=extra)
    hours = ScanTarget.objects.filter(pk=run.target_id, enabled=True).values_list("interval_hours", flat=True).first()
    if run.trigger != Trigger.SCHEDULE and hours:  # a scheduled target's next run counts from a run by hand too
        ScanTarget.objects.filter(pk=run.target_id).update(next_run_at=timezone.now() + timedelta(hours=hours))
    return _close(ctx, run, RunStatus.FINISHED, extra=extra)


def scan_urls(ctx: Context, urls: Iterable[str], *, workers: int | None = None, full: bool = False,
              on_progress: Callable[[Progress], None] | None = None, options: dict[str, Any] | None = None,
              should_stop: Callable[[], bool] | None = None) -> list[ScanRun]:
    """The CLI's ``himitsu scan TARGET...``: each target (a relative folder is made absolute) gets its scan
    target, reused by URL or created (named by its URL, run by hand only), and is scanned in turn. Every URL is
    checked before the first scan starts."""
    access.require(access.can_manage_scan_targets(ctx.actor))
    if workers is not None:
        _check_workers(workers)
    checked = list(dict.fromkeys(normalize_url(u, relative_ok=True) for u in urls))
    opts = _check_options(options)
    targets = []
    for url in checked:
        target = ScanTarget.objects.filter(url=url).first()
        if target is None:
            target = create_target(ctx, name=url, url=url, options=opts, interval_hours=0,
                                   workers=workers or 1, enabled=True)
        elif options is not None and opts != target.options:
            target = update_target(ctx, target, options=opts)
        targets.append(target)
    trigger = _CHANNEL_TRIGGER.get(ctx.channel, Trigger.CLI)
    return [run_target(ctx, t, workers=workers, full=full, trigger=trigger, on_progress=on_progress,
                       should_stop=should_stop) for t in targets]


def queue_run(ctx: Context, target: ScanTarget) -> ScanRun:
    """"Run now" from the web app: a queued run the background worker takes first. A target that already has a
    queued or running run gets no second one (that run is returned)."""
    access.require(access.can_run_scans(ctx.actor, target))
    with transaction.atomic():
        ScanTarget.objects.select_for_update().filter(pk=target.pk).first()
        fresh = timezone.now() - timedelta(minutes=STALE_MINUTES)
        waiting = (ScanRun.objects.filter(target=target).filter(
            Q(status=RunStatus.QUEUED) | Q(status=RunStatus.RUNNING, heartbeat_at__gte=fresh)).order_by("pk").first())
        if waiting is not None:
            return waiting
        run = ScanRun.objects.create(target=target, status=RunStatus.QUEUED, trigger=Trigger.WEB, actor=ctx.user)
        _audit_run(ctx, run, Action.CREATE, {"event": "queued", "target": target.url})
    return run


# --- triage ------------------------------------------------------------------------------------------------------

def _check_status(status: Any, comment: Any) -> tuple[str, str]:
    if status not in Status.values:
        raise InputError("scan.status_invalid", status=str(status)[:40])
    text = str(comment or "").strip()
    if status in COMMENT_REQUIRED and not text:
        raise InputError("scan.comment_required")
    return str(status), text[:4000]


def _set(ctx: Context, finding: ScanFinding, status: str, comment: str) -> ScanFinding:
    old = finding.status
    finding.status, finding.comment = status, comment
    finding.status_by, finding.status_at = ctx.user, timezone.now()
    finding.save(update_fields=["status", "comment", "status_by", "status_at", "updated_at"])
    chain.record(Action.UPDATE, actor=ctx.actor, request=ctx.request, channel=ctx.channel,
                 object_type="scan_finding", object_id=finding.pk,
                 object_repr=f"{finding.kind} {finding.target.name}"[:250],
                 details={"status": [old, status], "comment": comment[:500], "kind": finding.kind,
                          "secret": finding.secret.management_number if finding.secret_id else None,
                          "target": finding.target_id})
    return finding


def set_status(ctx: Context, finding: ScanFinding, status: str, comment: str = "") -> ScanFinding:
    """Triage: new / confirmed / false_positive / resolved. False positive and resolved need a comment."""
    access.require(access.can_triage_scan_finding(ctx.actor, finding))
    status, comment = _check_status(status, comment)
    with transaction.atomic():
        finding = ScanFinding.objects.select_for_update(of=("self",)).select_related("target", "secret").get(
            pk=finding.pk)
        return _set(ctx, finding, status, comment)


def bulk_set_status(ctx: Context, findings: Iterable[ScanFinding], status: str, comment: str = "") -> list[ScanFinding]:
    """The same triage decision for several findings, all or nothing (each one checked and audited)."""
    status, comment = _check_status(status, comment)
    chosen = list(findings)
    for f in chosen:
        access.require(access.can_triage_scan_finding(ctx.actor, f))
    with transaction.atomic():
        rows = ScanFinding.objects.select_for_update(of=("self",)).select_related("target", "secret").filter(
            pk__in=[f.pk for f in chosen]).order_by("pk")
        return [_set(ctx, f, status, comment) for f in rows]


# --- texts for people (CLI and web): translated at the edge with the caller's gettext ------------------------------

#: extraction problems a run may record for a file (``himitsu.engine.model.Problem``)
PROBLEMS: dict[str, str] = {
    "encrypted": gettext_noop("Protected by a password: the content could not be inspected."),
    "unsupported": gettext_noop("A format Himitsu cannot read: not inspected."),
    "corrupt": gettext_noop("The document is damaged and could not be read."),
    "encoding": gettext_noop("The text encoding could not be recognised."),
    "limit.bytes": gettext_noop("Larger than the inspection limit: not inspected."),
    "limit.total": gettext_noop("The archive unpacks to more than the limit: the rest was not inspected."),
    "limit.ratio": gettext_noop("An archive member expands too much (a compressed-file bomb?): not unpacked."),
    "limit.depth": gettext_noop("Archives are nested too deep: the inner ones were not unpacked."),
    "limit.entries": gettext_noop("The archive has too many members: the rest were not inspected."),
    "limit.text": gettext_noop("More text than the inspection limit: the rest was not inspected."),
    "limit.time": gettext_noop("Inspecting the file took longer than the time limit: stopped."),
}


def explanation(finding: ScanFinding, translate: Callable[[str], str] = lambda s: s) -> str:
    """The finding's explanation in the caller's language: a detector's reason through the engine's ``explain``,
    a placement rule's reason through ``placement.explain`` (the reason code itself when unknown)."""
    params = finding.params if isinstance(finding.params, dict) else {}
    if finding.kind != Kind.DETECTION:
        return placement.explain(finding.reason, params, translate)
    f = Finding(detector=finding.detector, score=finding.score, start=finding.start, end=finding.end,
                snippet=finding.snippet, reason=finding.reason, explanation=finding.reason, part=finding.part,
                params=params)
    return explain(f, translate)


def error_message(code: str, detail: str, translate: Callable[[str], str] = lambda s: s) -> str:
    """A scan error (``scan.*``) or extraction problem in the caller's language (its code when unknown)."""
    if code in MESSAGES:
        return HimitsuError(code, detail=detail, limit=detail or "?").render(translate(MESSAGES[code]))
    if code in PROBLEMS:
        return translate(PROBLEMS[code])
    return code


def kind_labels() -> list[tuple[str, str]]:
    """(kind, label in the active language) of every kind of finding."""
    return [(value, str(label)) for value, label in Kind.choices]


# --- review lists: the register and reality should agree -------------------------------------------------------

def unregistered_marked(user: Any) -> QuerySet:
    """Present findings of documents with a confidentiality marking that no register entry matched."""
    return access.visible_scan_findings(user).filter(kind=Kind.UNREGISTERED, present=True).select_related("target")


def registered_not_found(user: Any) -> QuerySet:
    """Visible register entries that have registered documents, none of which a scan finds any more: no present
    registered-secret detection in any target whose scans have finished at least once. Empty until a target has
    finished a scan (before that, nothing was looked at)."""
    scanned = ScanRun.objects.filter(status=RunStatus.FINISHED).values("target_id")
    if not ScanRun.objects.filter(status=RunStatus.FINISHED).exists():
        return Secret.objects.none()
    found = ScanFinding.objects.filter(kind=Kind.DETECTION, detector="registered-secret", present=True,
                                       secret__isnull=False, target_id__in=scanned).values("secret_id")
    return (access.visible_secrets(user).filter(Q(pk__in=SecretDocument.objects.values("secret_id")))
            .exclude(pk__in=found).select_related("level", "owner_department").order_by("management_number"))
