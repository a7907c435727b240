"""Insider-risk analytics for the web app, the CLI and any scheduled run: the one code path.

* :func:`ingest` takes activity-log files into the analytics store (``HIMITSU_HOME/insider.duckdb``, or
  ``HIMITSU_INSIDER_DB``) through :func:`himitsu.insider.ingest.ingest_file`, one audit record per file (counts
  only); a file that cannot be ingested is reported and the others go on.
* :func:`score` scores a day with Himitsu's own data: the register's storage locations of kind path or URL (with
  the entry's department, id and level) and the people module. **A person's log user id is their Himitsu login
  id (username)**: the logs' ``user`` column must spell it the same way. Users in the logs that Himitsu does not
  know (and that no people CSV loaded with ``himitsu insider people`` names) are scored without department or
  HR context and counted as unknown. The 60 days up to the day are scored in one pass (the timelines' scores);
  the day's ranked alerts are copied into Django models, the top ones with the person's 60-day timeline, so that
  pages never open the DuckDB file.
* Pseudonyms: ``利用者 7F3A-91C2``, an HMAC of the log user id keyed with the installation's audit key under the
  context ``insider-pseudonym:``: stable for the installation, not reversible without the key.
* :func:`reveal`: the identity behind a pseudonym, for trade-secret managers only, with a reason; audited (who
  revealed whom, when, why). The identity then stays shown to that analyst (and only them) on every page.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from himitsu import config
from himitsu.errors import MESSAGES, HimitsuError, InputError, gettext_noop
from himitsu.web.accounts import access
from himitsu.web.audit import chain
from himitsu.web.audit.models import Action
from himitsu.web.insider.models import AnalystBudget, IngestedFile, InsiderAlert, Reveal, ScoredDay

MESSAGES.update({
    "insider.reason_required": gettext_noop("Give the reason for revealing who this is."),
    "insider.budget_invalid": gettext_noop("The daily budget must be a whole number from 1 to {max}."),
    "insider.no_events": gettext_noop("The analytics store holds no events yet: ingest activity logs first."),
    "insider.store_busy": gettext_noop(
        "The analytics store {path} is in use by another process (an ingest or a scoring run); try again later."),
    "insider.alert_not_found": gettext_noop("No insider-risk alert with the id {id}."),
    "insider.date_invalid": gettext_noop("{value} is not a date: write it as 2026-04-01."),
    "insider.domains_invalid": gettext_noop(
        "The organisation's domain list {path} cannot be used: {reason}. Expected the layout of "
        "catalog/insider_domains.yaml: categories, each with a list of domains, and optionally internal_domains."),
})

DEFAULT_BUDGET = 5
MAX_BUDGET = 50
MAX_STORED = 200       # alerts of a day kept for the pages (ranked; the budget never exceeds MAX_BUDGET)
TIMELINE_TOP = 50      # alerts that get the person's timeline and touched register entries
TIMELINE_DAYS = 60
PSEUDONYM_CONTEXT = b"insider-pseudonym:"
Progress = Callable[[str, int, int], None]


# --- the store ---------------------------------------------------------------------------------------------------

def store_path() -> Path:
    """HIMITSU_INSIDER_DB, else HIMITSU_HOME/insider.duckdb."""
    raw = os.environ.get("HIMITSU_INSIDER_DB", "").strip()
    return Path(raw).expanduser() if raw else config.home() / "insider.duckdb"


def open_store(read_only: bool = False) -> Any:
    from himitsu.insider.errors import InsiderError
    from himitsu.insider.store import Store

    path = store_path()
    try:
        return Store(path, read_only=read_only)
    except InsiderError as exc:
        if "lock" in str(exc.params.get("reason", "")).lower():
            raise InputError("insider.store_busy", path=str(path)) from None
        raise


# --- pseudonyms --------------------------------------------------------------------------------------------------

def pseudonym(log_user: str) -> str:
    """``7F3A-91C2``: HMAC-SHA256 of the log user id under the installation's audit key (context-separated)."""
    mac = hmac.new(config.audit_key(), PSEUDONYM_CONTEXT + log_user.encode("utf-8"), hashlib.sha256)
    digest = mac.hexdigest().upper()
    return f"{digest[:4]}-{digest[4:8]}"


# --- ingest ------------------------------------------------------------------------------------------------------

@dataclass
class IngestOutcome:
    """A file given to :func:`ingest`: its report, or the error that kept it out (nothing of it was added)."""

    path: str
    report: Any = None
    error: HimitsuError | None = None
    record: IngestedFile | None = None
    codes: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


def _aware(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


def _rejected_codes(store: Any, file_id: int | None) -> dict[str, int]:
    if file_id is None:
        return {}
    rows = store.con.execute("SELECT code, count(*) FROM rejected WHERE file_id = ? GROUP BY code ORDER BY code",
                             [file_id]).fetchall()
    return {str(code): int(n) for code, n in rows}


def ingest(paths: Iterable[str | Path], fmt: str, actor: Any, *, tz: str = "Asia/Tokyo", channel: str = "web",
           request: Any = None, progress: Progress | None = None) -> list[IngestOutcome]:
    """Ingest each file (all or nothing per file); report every file, audit each (counts only)."""
    from himitsu.insider.errors import InsiderError
    from himitsu.insider.ingest import ingest_file

    access.require(access.can_run_insider(actor))
    outcomes: list[IngestOutcome] = []
    with open_store() as store:
        for raw in paths:
            path = str(raw)
            outcome = IngestOutcome(path=path)
            callback = (lambda done, total, p=path: progress(p, done, total)) if progress else None
            try:
                outcome.report = ingest_file(store, path, fmt, tz=tz, progress=callback)
            except InsiderError as exc:
                outcome.error = exc
            else:
                outcome.codes = _rejected_codes(store, outcome.report.file_id) if outcome.report.rejected else {}
            outcome.record = _record_ingest(outcome, fmt, actor, channel, request)
            outcomes.append(outcome)
    return outcomes


def _record_ingest(outcome: IngestOutcome, fmt: str, actor: Any, channel: str, request: Any) -> IngestedFile:
    r = outcome.report
    who = actor.get_username() if hasattr(actor, "get_username") else str(actor)
    row = IngestedFile(name=Path(outcome.path).name[:255], format=str(fmt)[:100], at=timezone.now(),
                       by_name=who[:150])
    if r is not None:
        row.name, row.sha256, row.format, row.kind = r.name[:255], r.sha256, str(r.format)[:100], r.kind or ""
        row.rows, row.added, row.duplicates, row.rejected, row.skipped = (r.rows, r.added, r.duplicates,
                                                                          r.rejected, r.skipped)
        row.first_ts, row.last_ts = _aware(r.first_ts), _aware(r.last_ts)
        row.samples = [[int(line), str(code), str(detail)] for line, code, detail in (r.samples or [])][:20]
        row.codes = outcome.codes
    else:
        assert outcome.error is not None
        row.error_code = outcome.error.code[:80]
        row.error = outcome.error.english()[:500]
    details: dict[str, Any] = {"format": row.format, "kind": row.kind, "rows": row.rows, "added": row.added,
                               "duplicates": row.duplicates, "rejected": row.rejected, "skipped": row.skipped}
    if row.error_code:
        details = {"format": row.format, "error": row.error_code}
    with transaction.atomic():
        row.save()
        chain.record(Action.IMPORT, actor=actor, request=request, channel=channel, object_type="insider_file",
                     object_id=row.sha256[:64], object_repr=row.name, details=details)
    return row


def load_people(path: str | Path, actor: Any, *, channel: str = "cli", request: Any = None) -> int:
    """Replace the analytics store's people with a CSV (for installations without the people module in use).
    People that Himitsu knows still win when a day is scored."""
    from himitsu.insider.enrich import load_people_csv, set_people

    access.require(access.can_run_insider(actor))
    people = load_people_csv(path)
    with open_store() as store:
        count = set_people(store, people)
    chain.record(Action.IMPORT, actor=actor, request=request, channel=channel, object_type="insider_people",
                 object_repr=Path(path).name, details={"people": count})
    return count


# --- score -------------------------------------------------------------------------------------------------------

@dataclass
class ScoreResult:
    scored: ScoredDay
    alerts: list[InsiderAlert]
    users: int
    unknown_users: int


def secret_paths() -> tuple[Any, ...]:
    """The register's path and URL storage locations as :class:`himitsu.insider.enrich.SecretPath`."""
    from himitsu.insider.enrich import SecretPath
    from himitsu.web.register.models import LocationKind, StorageLocation

    rows = (StorageLocation.objects.filter(kind__in=[LocationKind.PATH, LocationKind.URL])
            .select_related("secret__owner_department", "secret__level").order_by("pk"))
    return tuple(SecretPath(prefix=loc.location.strip(), department=loc.secret.owner_department.code,
                            entry_id=str(loc.secret_id), level=loc.secret.level.code)
                 for loc in rows if loc.location.strip())


def himitsu_people() -> list[Any]:
    """Every person Himitsu knows (leavers included), their username as the log user id."""
    from himitsu.insider.enrich import Person
    from himitsu.web.accounts.models import User

    return [Person(user=u.username, name=u.display_name or u.get_full_name() or u.username,
                   department=u.department.code if u.department else "", joined=u.joined_on, leaves=u.left_on,
                   email=u.email or "")
            for u in User.objects.select_related("department").order_by("pk")]


def _merged_people(store: Any) -> list[Any]:
    """The store's people (from a CSV) with Himitsu's people over them (same user id: Himitsu wins)."""
    from himitsu.insider.enrich import Person

    cols = ("user", "name", "department", "role", "supervisor", "joined", "leaves", "email")
    rows = store.con.execute('SELECT "user", name, department, role, supervisor, joined, leaves, email '
                             "FROM people").fetchall()
    merged: dict[str, Any] = {}
    for row in rows:
        values = dict(zip(cols, row, strict=True))
        merged[values["user"]] = Person(**{k: (v if v is not None or k in ("joined", "leaves") else "")
                                           for k, v in values.items()})
    for p in himitsu_people():
        merged[p.user] = p
    return list(merged.values())


def domains_file() -> Path:
    """The organisation's own domains: ``HIMITSU_INSIDER_DOMAINS``, else ``HIMITSU_HOME/insider_domains.yaml``."""
    return Path(os.environ.get("HIMITSU_INSIDER_DOMAINS") or config.home() / "insider_domains.yaml")


def own_domains() -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """(domains added per category, internal mail domains) from :func:`domains_file`, when it exists; the same
    layout as ``catalog/insider_domains.yaml`` (``categories: {personal_cloud: {domains: [...]}, ...}``) plus an
    optional ``internal_domains: [...]`` (the organisation's own mail domains)."""
    import yaml

    path = domains_file()
    if not path.exists():
        return {}, ()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError("not a mapping")
        extra: dict[str, tuple[str, ...]] = {}
        for name, entry in (data.get("categories") or {}).items():
            found = entry.get("domains") if isinstance(entry, dict) else entry
            if not isinstance(found, list) or not all(isinstance(d, str) for d in found):
                raise ValueError(f"{name}: domains must be a list of names")
            extra[str(name)] = tuple(found)
        internal = data.get("internal_domains") or []
        if not isinstance(internal, list) or not all(isinstance(d, str) for d in internal):
            raise ValueError("internal_domains must be a list of names")
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError, AttributeError) as exc:
        raise InputError("insider.domains_invalid", path=str(path), reason=str(exc)[:200]) from exc
    return extra, tuple(d.strip().lower() for d in internal if d.strip())


def build_config(tz: str = "Asia/Tokyo") -> Any:
    from himitsu.insider.enrich import Config

    extra, internal = own_domains()
    # internal mail domains: when the file names none, the engine takes those of the people's addresses
    return Config(tz=tz, secret_paths=secret_paths(), extra_domains=extra, internal_domains=internal)


def _number(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _indicators(alert: Any) -> list[dict[str, Any]]:
    return [{"name": i.name, "value": _number(i.value), "own_baseline": _number(i.own_baseline),
             "peer_baseline": _number(i.peer_baseline), "own_z": _number(i.own_z), "peer_z": _number(i.peer_z),
             "contribution": _number(i.contribution)} for i in alert.indicators]


def _timeline(store: Any, user: str, day: date, cfg: Any) -> list[dict[str, Any]]:
    from himitsu.insider.score import timeline

    out = []
    for point in timeline(store, user, day - timedelta(days=TIMELINE_DAYS - 1), day, cfg):
        d = point["day"]
        out.append({"day": d.isoformat() if isinstance(d, date) else str(d), "score": _number(point.get("score")),
                    "features": {str(k): _number(v) for k, v in (point.get("features") or {}).items()}})
    return out


def _normalised(text: str) -> str:
    t = text.strip().lower().replace("\\", "/")
    return t.split("://", 1)[1] if "://" in t else t


def _touched(store: Any, users: list[str], day: date, paths: tuple[Any, ...]) -> dict[str, list[int]]:
    """For each user: the register entries whose locations their file or web events touched in the timeline's
    window (prefix match, case-insensitive, slashes and URL schemes ignored)."""
    if not users or not paths:
        return {}
    con = store.con
    con.execute("CREATE OR REPLACE TEMP TABLE himitsu_prefixes (prefix VARCHAR, entry VARCHAR)")
    con.executemany("INSERT INTO himitsu_prefixes VALUES (?, ?)",
                    [[_normalised(p.prefix), p.entry_id] for p in paths if p.entry_id])
    con.execute("CREATE OR REPLACE TEMP TABLE himitsu_users (u VARCHAR)")
    con.executemany("INSERT INTO himitsu_users VALUES (?)", [[u] for u in users])
    start = datetime.combine(day - timedelta(days=TIMELINE_DAYS), datetime.min.time())
    end = datetime.combine(day + timedelta(days=1), datetime.min.time())
    rows = con.execute(
        """SELECT DISTINCT e."user", p.entry FROM events e
           JOIN himitsu_users u ON e."user" = u.u
           JOIN himitsu_prefixes p ON starts_with(
               regexp_replace(replace(lower(e.target), '\\', '/'), '^[a-z][a-z0-9+.-]*://', ''), p.prefix)
           WHERE e.kind IN ('file', 'http') AND e.target IS NOT NULL AND e.ts >= ? AND e.ts < ?""",
        [start, end]).fetchall()
    con.execute("DROP TABLE himitsu_prefixes")
    con.execute("DROP TABLE himitsu_users")
    out: dict[str, list[int]] = {}
    for user, entry in rows:
        if str(entry).isdigit():
            out.setdefault(user, []).append(int(entry))
    return {u: sorted(set(ids)) for u, ids in out.items()}


def score(day: date | None, actor: Any, *, tz: str = "Asia/Tokyo", channel: str = "web",
          request: Any = None) -> ScoreResult:
    """Score ``day`` (default: the last day with events) and keep its ranked alerts for the pages."""
    from himitsu.insider.enrich import set_people
    from himitsu.insider.score import last_day, score_range

    access.require(access.can_run_insider(actor))
    cfg = build_config(tz)
    with open_store() as store:
        day = day or last_day(store)
        if day is None:
            raise InputError("insider.no_events")
        people = _merged_people(store)
        set_people(store, people)
        # the timeline's days too, so that the person's chart has a score for each day (one pass over the window)
        days = score_range(store, day - timedelta(days=TIMELINE_DAYS - 1), day, cfg)
        alerts = sorted(days.get(day, []), key=lambda a: a.rank)
        top = [a.user for a in alerts[:TIMELINE_TOP]]
        timelines = {u: _timeline(store, u, day, cfg) for u in top}
        touched = _touched(store, top, day, cfg.secret_paths)
    known = {p.user for p in people}
    unknown = sum(1 for a in alerts if a.user not in known)
    return _keep(day, alerts, timelines, touched, unknown, len(cfg.secret_paths), actor, channel, request)


def _keep(day: date, alerts: list[Any], timelines: dict[str, list[dict[str, Any]]],
          touched: dict[str, list[int]], unknown: int, paths: int, actor: Any, channel: str,
          request: Any) -> ScoreResult:
    from himitsu.web.accounts.models import User

    kept = alerts[:MAX_STORED]
    persons = {u.username: u for u in User.objects.select_related("department").filter(
        username__in=[a.user for a in kept])}
    who = actor.get_username() if hasattr(actor, "get_username") else str(actor)
    with transaction.atomic():
        ScoredDay.objects.filter(day=day).delete()
        scored = ScoredDay.objects.create(day=day, scored_at=timezone.now(), scored_by_name=who[:150],
                                          users=len(alerts), unknown_users=unknown, secret_paths=paths)
        rows = []
        for a in kept:
            person = persons.get(a.user)
            department = a.department or (person.department.code if person and person.department else "")
            rows.append(InsiderAlert(
                scored=scored, day=day, log_user=a.user[:200], pseudonym=pseudonym(a.user), person=person,
                department=department[:100], score=_number(a.score) or 0.0, rank=a.rank,
                days_to_leave=a.days_to_leave, hr_weight=_number(a.hr_weight) or 1.0, indicators=_indicators(a),
                timeline=timelines.get(a.user, []), secret_ids=touched.get(a.user, [])))
        InsiderAlert.objects.bulk_create(rows)
        chain.record(Action.CREATE, actor=actor, request=request, channel=channel, object_type="insider_score",
                     object_id=day.isoformat(), object_repr=day.isoformat(),
                     details={"users": len(alerts), "unknown_users": unknown, "kept": len(rows),
                              "secret_paths": paths})
    return ScoreResult(scored=scored, alerts=list(scored.alerts.order_by("rank")), users=len(alerts),
                       unknown_users=unknown)


# --- reading what was scored -------------------------------------------------------------------------------------

def scored_days() -> list[date]:
    return list(ScoredDay.objects.order_by("-day").values_list("day", flat=True))


def top_alerts(day: date, n: int) -> list[InsiderAlert]:
    """The day's first ``n`` people with something against them (a score of 0 is nobody worth a look: on a quiet
    day the list is shorter than the budget)."""
    return list(InsiderAlert.objects.filter(day=day, score__gt=0).select_related("person__department")
                .order_by("rank")[:n])


def revealed_users(analyst: Any, log_users: Iterable[str]) -> set[str]:
    """The log users whose identity ``analyst`` revealed (shown to them, and only them, from then on)."""
    if getattr(analyst, "pk", None) is None or not access.can_reveal_insider(analyst):
        return set()
    return set(Reveal.objects.filter(analyst_id=analyst.pk, log_user__in=list(log_users))
               .values_list("log_user", flat=True))


def get_budget(user: Any) -> int:
    if getattr(user, "pk", None) is None:
        return DEFAULT_BUDGET
    row = AnalystBudget.objects.filter(user_id=user.pk).first()
    return row.budget if row else DEFAULT_BUDGET


def set_budget(user: Any, value: Any, *, request: Any = None, channel: str = "web") -> int:
    access.require(access.can_view_insider(user))
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        n = 0
    if not 1 <= n <= MAX_BUDGET:
        raise InputError("insider.budget_invalid", max=MAX_BUDGET)
    AnalystBudget.objects.update_or_create(user_id=user.pk, defaults={"budget": n})
    return n


# --- reveal ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Identity:
    pseudonym: str
    log_user: str
    name: str
    department: str
    person_id: int | None


def identity_of(log_user: str) -> Identity:
    from himitsu.web.accounts.models import User

    person = User.objects.select_related("department").filter(username=log_user).first()
    if person is None:
        return Identity(pseudonym=pseudonym(log_user), log_user=log_user, name=log_user, department="",
                        person_id=None)
    return Identity(pseudonym=pseudonym(log_user), log_user=log_user,
                    name=person.display_name or person.get_full_name() or person.username,
                    department=str(person.department) if person.department else "", person_id=person.pk)


def reveal(target: InsiderAlert | str, actor: Any, reason: str, *, channel: str = "web",
           request: Any = None) -> Identity:
    """Who is behind an alert's pseudonym (or a log user id): trade-secret managers only, a reason required.
    The audit record names the pseudonym, the reason and the day (never the name)."""
    access.require(access.can_reveal_insider(actor))
    reason = " ".join((reason or "").split())[:500]
    if not reason:
        raise InputError("insider.reason_required")
    log_user = target.log_user if isinstance(target, InsiderAlert) else str(target)
    identity = identity_of(log_user)
    details: dict[str, Any] = {"pseudonym": identity.pseudonym, "reason": reason}
    if isinstance(target, InsiderAlert):
        details |= {"day": target.day.isoformat(), "rank": target.rank}
    with transaction.atomic():
        if getattr(actor, "pk", None) is not None:
            Reveal.objects.create(analyst_id=actor.pk, log_user=log_user, pseudonym=identity.pseudonym,
                                  reason=reason, at=timezone.now())
        chain.record(Action.VIEW, actor=actor, request=request, channel=channel, object_type="insider_reveal",
                     object_id=identity.pseudonym, object_repr=identity.pseudonym, details=details)
    return identity


def as_json(alert: InsiderAlert, identity: Identity | None = None) -> dict[str, Any]:
    """One alert for ``--json``: pseudonymised unless ``identity`` is given."""
    data: dict[str, Any] = {"day": alert.day.isoformat(), "rank": alert.rank, "pseudonym": alert.pseudonym,
                            "department": alert.department, "score": alert.score,
                            "days_to_leave": alert.days_to_leave, "indicators": alert.indicators}
    if identity is not None:
        data |= {"user": identity.log_user, "name": identity.name}
    return json.loads(json.dumps(data, default=str))
