"""Every pledge change goes through here: issue, acknowledge, upload a signed paper, revoke; and verify.

Acknowledgement integrity: when the person acknowledges (or a signed paper is uploaded), the pledge keeps a
record (pledge id, person id and username, template code and version, text SHA-256, time, named entries'
ids) and its HMAC-SHA256 under a key derived from the installation's audit key. ``verify`` recomputes the
record from the rows as they are now and names what was changed afterwards. Every change is also written
to the audit trail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from himitsu import config
from himitsu.catalog import pledges as catalog
from himitsu.errors import InputError, PermissionDeniedError
from himitsu.web.accounts import access
from himitsu.web.accounts.models import User
from himitsu.web.audit import chain
from himitsu.web.audit.models import Action
from himitsu.web.core.files import private_dir, write_private
from himitsu.web.notices.services import SendResult
from himitsu.web.pledges.models import Language, Pledge, Status
from himitsu.web.register import services as register
from himitsu.web.register.models import Secret
from himitsu.web.register.services import Context

MAX_SIGNED_BYTES = 10 * 1024 * 1024
EXPIRING_DAYS = 30
RECORD_VERSION = 1
_KEY_LABEL = b"himitsu/pledge-acknowledgement/v1"


# --- text and record ------------------------------------------------------------------------------------

#: the issuer's words for the template variables (the issue form's labels), for "this template needs: ..."
VARIABLE_LABELS = {
    "secrets": gettext_noop("named register entries"), "categories": gettext_noop("information categories"),
    "duration": gettext_noop("duration (years)"), "partner": gettext_noop("partner"),
    "project": gettext_noop("project"),
}


def text_digest(text: str, text_en: str = "") -> str:
    """SHA-256 of the exact text issued: the Japanese text alone, or both texts when issued bilingually."""
    if not text_en:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
    body = json.dumps({"ja": text, "en": text_en}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def record_key() -> bytes:
    """The HMAC key of acknowledgement records, derived from the audit key (never on a command line)."""
    return hmac.new(config.audit_key(), _KEY_LABEL, hashlib.sha256).digest()


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def build_record(pledge: Pledge, kind: str, at: datetime, person: User, secret_ids: Iterable[int],
                 file_sha256: str = "") -> dict[str, Any]:
    record: dict[str, Any] = {
        "v": RECORD_VERSION,
        "kind": kind,
        "pledge": pledge.pk,
        "person": {"id": person.pk, "username": person.username},
        "template": {"code": pledge.template_code, "version": pledge.template_version},
        "text_sha256": pledge.text_sha256,
        "at": _iso(at),
        "secrets": sorted(int(i) for i in secret_ids),
    }
    if file_sha256:
        record["file_sha256"] = file_sha256
    return record


def canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def record_hash(record: dict[str, Any], key: bytes | None = None) -> str:
    return hmac.new(key or record_key(), canonical(record), hashlib.sha256).hexdigest()


# --- rules ----------------------------------------------------------------------------------------------

def today() -> date:
    return timezone.localdate()


def is_expired(pledge: Pledge, on: date | None = None) -> bool:
    return pledge.expires_on is not None and pledge.expires_on < (on or today())


def is_missing(pledge: Pledge, on: date | None = None) -> bool:
    return pledge.status == Status.ISSUED and pledge.due_on < (on or today())


def _audit(ctx: Context, action: str, pledge: Pledge, details: dict[str, Any]) -> None:
    chain.record(action, actor=ctx.actor, request=ctx.request, channel=ctx.channel, object_type="pledge",
                 object_id=pledge.pk, object_repr=f"{pledge.number} {pledge.template_code} {pledge.person.username}",
                 details=details)


@dataclass(frozen=True)
class IssueRequest:
    person: User
    template: str
    company: str
    due_on: date
    secrets: Sequence[Secret] = ()
    categories: Sequence[str] = ()
    duration_years: int | None = None
    expires_on: date | None = None
    bilingual: bool = False
    partner: str = ""
    project: str = ""


def _department(person: User) -> tuple[str, str]:
    dept = person.department
    return (dept.name, dept.name_en or dept.name) if dept is not None else ("", "")


def issue(ctx: Context, req: IssueRequest) -> Pledge:
    """Render the template and issue it to ``req.person`` (need-to-know on every named entry)."""
    access.require(access.can_issue_pledge_to(ctx.actor, req.person))
    if not req.person.is_active:
        raise InputError("pledge.person_left", person=req.person.get_username())
    cat = catalog.catalog()
    template = cat.template(req.template)
    secrets = list(dict.fromkeys(req.secrets))
    visible = set(access.visible_secrets(ctx.actor).filter(pk__in=[s.pk for s in secrets]).values_list("pk", flat=True))
    hidden = [s.pk for s in secrets if s.pk not in visible]
    if hidden:
        chain.record(Action.DENIED, actor=ctx.actor, request=ctx.request, channel=ctx.channel,
                     object_type="secret", object_id=hidden[0], details={"pledge_issue": req.template})
        raise PermissionDeniedError("pledge.secret_not_visible")
    supplied = {"secrets": bool(secrets), "categories": bool(req.categories), "duration": req.duration_years,
                "partner": req.partner.strip(), "project": req.project.strip()}
    missing = sorted(name for name in template.requires if not supplied[name])
    if missing:
        raise InputError("pledge.value_required", names=", ".join(gettext(VARIABLE_LABELS[n]) for n in missing))
    if req.duration_years is not None and not 1 <= req.duration_years <= catalog.MAX_DURATION_YEARS:
        raise InputError("pledge.duration_invalid", max=catalog.MAX_DURATION_YEARS)
    now = timezone.now()
    issued_on = timezone.localdate(now)
    if req.due_on < issued_on:
        raise InputError("pledge.due_in_past")
    if req.expires_on is not None and req.expires_on < req.due_on:
        raise InputError("pledge.expiry_before_due")
    dept_ja, dept_en = _department(req.person)
    ordered = sorted(secrets, key=lambda s: s.management_number)
    values = catalog.Values(
        company=req.company.strip(), person=str(req.person), department=dept_ja, department_en=dept_en,
        issued_on=issued_on, secrets=[(s.management_number, s.title) for s in ordered],
        categories=list(dict.fromkeys(req.categories)), duration_years=req.duration_years,
        partner=req.partner.strip(), project=req.project.strip())
    ja = catalog.render(template, values, "ja", cat)
    en = catalog.render(template, values, "en", cat) if req.bilingual else None
    text_en = en.text if en else ""
    with transaction.atomic():
        pledge = Pledge.objects.create(
            person=req.person, template_code=template.code, template_version=cat.version, title=ja.title,
            language=Language.JA_EN if en else Language.JA, text=ja.text, text_en=text_en,
            text_sha256=text_digest(ja.text, text_en), categories=list(values.categories),
            company=values.company, partner=values.partner, project=values.project,
            duration_years=req.duration_years, issued_by=ctx.user, issued_by_name=ctx.actor.get_username(),
            issued_at=now, due_on=req.due_on, expires_on=req.expires_on)
        pledge.secrets.set(ordered)
        _audit(ctx, Action.CREATE, pledge, {
            "event": "pledge_issued", "template": template.code, "version": cat.version,
            "text_sha256": pledge.text_sha256, "secrets": [s.pk for s in ordered], "due_on": req.due_on.isoformat()})
    return pledge


def _refresh_evidence(pledge: Pledge) -> None:
    """Reassess the register entries whose secrecy evidence counts this pledge (named, or in its categories)."""
    named = Q(pk__in=pledge.secrets.values("pk"))
    if pledge.categories:
        named |= Q(category__in=list(pledge.categories))
    register.refresh(Secret.objects.filter(named).values_list("pk", flat=True))


def _locked(pledge: Pledge) -> Pledge:
    return Pledge.objects.select_for_update().select_related("person").get(pk=pledge.pk)


def _check_open(pledge: Pledge) -> None:
    if pledge.status == Status.REVOKED:
        raise InputError("pledge.revoked")
    if pledge.done:
        at = timezone.localtime(pledge.acknowledged_at).strftime("%Y-%m-%d %H:%M") if pledge.acknowledged_at else ""
        raise InputError("pledge.already_acknowledged", at=at)
    if is_expired(pledge):
        raise InputError("pledge.expired", date=pledge.expires_on.isoformat() if pledge.expires_on else "")


def acknowledge(ctx: Context, pledge: Pledge, *, confirmed: bool = True, seen_sha256: str | None = None) -> Pledge:
    """The person themself acknowledges the exact text they were shown."""
    if not access.can_acknowledge_pledge(ctx.actor, pledge):
        raise PermissionDeniedError("pledge.not_yours")
    with transaction.atomic():
        pledge = _locked(pledge)
        _check_open(pledge)
        if not confirmed:
            raise InputError("pledge.not_confirmed")
        if seen_sha256 is not None and seen_sha256 != pledge.text_sha256:
            raise InputError("pledge.text_stale")
        if text_digest(pledge.text, pledge.text_en) != pledge.text_sha256:
            raise InputError("pledge.text_corrupt")
        at = timezone.now()
        secret_ids = list(pledge.secrets.values_list("pk", flat=True))
        record = build_record(pledge, "acknowledged", at, pledge.person, secret_ids)
        pledge.status, pledge.acknowledged_at = Status.ACKNOWLEDGED, at
        pledge.acknowledgement, pledge.acknowledgement_hash = record, record_hash(record)
        pledge.save(update_fields=["status", "acknowledged_at", "acknowledgement", "acknowledgement_hash"])
        _audit(ctx, Action.UPDATE, pledge, {"event": "pledge_acknowledged", "record_hash": pledge.acknowledgement_hash,
                                            "text_sha256": pledge.text_sha256})
        _refresh_evidence(pledge)
    return pledge


# --- signed paper ---------------------------------------------------------------------------------------

def signed_dir() -> Path:
    return private_dir("pledges")


def check_pdf(data: bytes) -> int:
    """The page count of a real, readable PDF; ``InputError`` for anything else."""
    if not data.startswith(b"%PDF-"):
        raise InputError("pledge.upload_not_pdf")
    import pypdfium2

    try:
        doc = pypdfium2.PdfDocument(data)
    except Exception:
        raise InputError("pledge.upload_not_pdf") from None
    try:
        pages = len(doc)
    finally:
        doc.close()
    if pages < 1:
        raise InputError("pledge.upload_not_pdf")
    return pages


def upload_signed(ctx: Context, pledge: Pledge, filename: str, data: bytes) -> Pledge:
    """Store the PDF of the signed paper pledge under HIMITSU_HOME/pledges and mark the pledge signed."""
    if not access.can_manage_pledge(ctx.actor, pledge):
        raise PermissionDeniedError()
    if not data:
        raise InputError("pledge.upload_empty")
    if len(data) > MAX_SIGNED_BYTES:
        raise InputError("io.too_large", size=len(data), limit=MAX_SIGNED_BYTES)
    check_pdf(data)
    digest = hashlib.sha256(data).hexdigest()
    path = signed_dir() / f"{pledge.pk}-{digest}.pdf"
    with transaction.atomic():
        pledge = _locked(pledge)
        _check_open(pledge)
        write_private(path, data)
        try:
            at = timezone.now()
            secret_ids = list(pledge.secrets.values_list("pk", flat=True))
            record = build_record(pledge, "signed_upload", at, pledge.person, secret_ids, file_sha256=digest)
            pledge.status, pledge.acknowledged_at = Status.SIGNED_UPLOAD, at
            pledge.acknowledgement, pledge.acknowledgement_hash = record, record_hash(record)
            pledge.signed_filename, pledge.signed_path = Path(filename).name[:255] or "signed.pdf", path.name
            pledge.signed_sha256, pledge.signed_size = digest, len(data)
            pledge.signed_by_name = ctx.actor.get_username()
            pledge.save()
            _audit(ctx, Action.UPDATE, pledge, {"event": "pledge_signed_upload", "file_sha256": digest,
                                                "size": len(data), "record_hash": pledge.acknowledgement_hash})
            _refresh_evidence(pledge)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    return pledge


def signed_file(pledge: Pledge) -> bytes:
    path = signed_dir() / pledge.signed_path if pledge.signed_path else None
    if path is None or not path.is_file():
        raise InputError("pledge.file_missing", id=pledge.pk)
    return path.read_bytes()


def revoke(ctx: Context, pledge: Pledge, reason: str = "") -> Pledge:
    if not access.can_manage_pledge(ctx.actor, pledge):
        raise PermissionDeniedError()
    with transaction.atomic():
        pledge = _locked(pledge)
        if pledge.status == Status.REVOKED:
            raise InputError("pledge.revoked")
        before = pledge.status
        pledge.status, pledge.revoked_at = Status.REVOKED, timezone.now()
        pledge.revoked_by_name, pledge.revoke_reason = ctx.actor.get_username(), reason.strip()[:500]
        pledge.save(update_fields=["status", "revoked_at", "revoked_by_name", "revoke_reason"])
        _audit(ctx, Action.UPDATE, pledge, {"event": "pledge_revoked", "previous_status": before,
                                            "reason": pledge.revoke_reason})
        _refresh_evidence(pledge)
    return pledge


# --- verification ---------------------------------------------------------------------------------------

@dataclass
class Verification:
    pledge_id: int
    number: str
    person: str
    checked: bool
    problems: list[str] = field(default_factory=list)  # stable codes pledge.*

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"pledge": self.pledge_id, "number": self.number, "person": self.person, "checked": self.checked,
                "ok": self.ok, "problems": list(self.problems)}


def verify(pledge: Pledge, key: bytes | None = None) -> Verification:
    """Recompute the acknowledgement record from the rows as they are now; name every changed part."""
    pledge = Pledge.objects.select_related("person").get(pk=pledge.pk)
    result = Verification(pledge.pk, pledge.number, pledge.person.username, checked=False)
    acknowledged = pledge.done or bool(pledge.acknowledgement_hash) or pledge.acknowledged_at is not None
    if not acknowledged:
        if text_digest(pledge.text, pledge.text_en) != pledge.text_sha256:
            result.problems.append("pledge.text_changed")
        return result
    result.checked = True
    stored = pledge.acknowledgement if isinstance(pledge.acknowledgement, dict) else {}
    if not stored or not pledge.acknowledgement_hash or pledge.acknowledged_at is None:
        result.problems.append("pledge.record_missing")
        return result
    key = key or record_key()
    kind = str(stored.get("kind", "acknowledged"))
    current = build_record(pledge, kind, pledge.acknowledged_at, pledge.person,
                           pledge.secrets.values_list("pk", flat=True), file_sha256=pledge.signed_sha256
                           if kind == "signed_upload" else "")
    problems: list[str] = []
    if text_digest(pledge.text, pledge.text_en) != pledge.text_sha256 \
            or current["text_sha256"] != stored.get("text_sha256"):
        problems.append("pledge.text_changed")
    if current["at"] != stored.get("at"):
        problems.append("pledge.time_changed")
    if current["person"] != stored.get("person"):
        problems.append("pledge.person_changed")
    if current["secrets"] != stored.get("secrets"):
        problems.append("pledge.secrets_changed")
    if current["template"] != stored.get("template") or current["pledge"] != stored.get("pledge"):
        problems.append("pledge.template_changed")
    if kind == "signed_upload":
        if current.get("file_sha256") != stored.get("file_sha256"):
            problems.append("pledge.file_changed")
        else:
            path = signed_dir() / pledge.signed_path if pledge.signed_path else None
            if path is None or not path.is_file():
                problems.append("pledge.file_missing")
            elif hashlib.sha256(path.read_bytes()).hexdigest() != pledge.signed_sha256:
                problems.append("pledge.file_changed")
    if not hmac.compare_digest(record_hash(stored, key), pledge.acknowledgement_hash):
        problems.append("pledge.record_edited")
    elif not problems and not hmac.compare_digest(record_hash(current, key), pledge.acknowledgement_hash):
        problems.append("pledge.record_edited")  # pragma: no cover - a field outside the stored record
    result.problems = problems
    return result


def verify_all(queryset: Any = None) -> list[Verification]:
    qs = queryset if queryset is not None else Pledge.objects.all()
    key = record_key()
    return [verify(p, key) for p in qs.order_by("pk").iterator(chunk_size=500)]


# --- reminders ------------------------------------------------------------------------------------------

@dataclass
class PersonReminders:
    person: User
    missing: list[Pledge] = field(default_factory=list)
    expiring: list[Pledge] = field(default_factory=list)

    def as_dict(self, on: date) -> dict[str, Any]:
        dept = self.person.department
        return {
            "username": self.person.username, "name": str(self.person), "active": self.person.is_active,
            "department": {"code": dept.code, "name": dept.name} if dept else None,
            "missing": [{"id": p.pk, "number": p.number, "template": p.template_code, "title": p.title,
                         "due_on": p.due_on.isoformat(), "days_overdue": (on - p.due_on).days} for p in self.missing],
            "expiring": [{"id": p.pk, "number": p.number, "template": p.template_code, "title": p.title,
                          "expires_on": p.expires_on.isoformat() if p.expires_on else None,
                          "days_left": (p.expires_on - on).days if p.expires_on else None} for p in self.expiring],
        }


def missing_pledges(qs: Any, on: date) -> Any:
    return qs.filter(status=Status.ISSUED, due_on__lt=on)


def expiring_pledges(qs: Any, on: date, days: int = EXPIRING_DAYS) -> Any:
    return qs.filter(status__in=[Status.ACKNOWLEDGED, Status.SIGNED_UPLOAD], expires_on__gte=on,
                     expires_on__lte=on + timedelta(days=days))


def reminders(actor: Any, on: date | None = None, days: int = EXPIRING_DAYS) -> list[PersonReminders]:
    """Missing (issued, not acknowledged, past due) and expiring (within ``days``) pledges the actor may see,
    per person, ordered by department and person. A later step sends them by e-mail."""
    on = on or today()
    base = access.visible_pledges(actor).select_related("person__department")
    people: dict[int, PersonReminders] = {}
    for p in missing_pledges(base, on).order_by("due_on", "pk"):
        people.setdefault(p.person_id, PersonReminders(p.person)).missing.append(p)
    for p in expiring_pledges(base, on, days).order_by("expires_on", "pk"):
        people.setdefault(p.person_id, PersonReminders(p.person)).expiring.append(p)
    return sorted(people.values(), key=lambda r: (r.person.department.code if r.person.department else "~",
                                                  r.person.username))


def _reminder_lines(r: PersonReminders, on: date, lang: str) -> list[str]:
    out = []
    for p in r.missing:
        days = (on - p.due_on).days
        out.append(f"- {p.number} {p.title}: not acknowledged, due {p.due_on.isoformat()} ({days} days overdue)"
                   if lang == "en" else f"・{p.number} {p.title}：未提出（期限 {p.due_on.isoformat()}、{days}日超過）")
    for p in r.expiring:
        expires = p.expires_on.isoformat() if p.expires_on else ""
        out.append(f"- {p.number} {p.title}: expires on {expires}" if lang == "en"
                   else f"・{p.number} {p.title}：有効期限 {expires}")
    return out


def send_reminders(rows: Sequence[PersonReminders], on: date) -> SendResult:
    """One notice per person listing their missing and expiring pledges, and a summary to the department
    managers of each department concerned (Japanese first, then English)."""
    from himitsu.web.notices.services import by_department_managers, notify

    result = SendResult()
    for r in rows:
        n = len(r.missing) + len(r.expiring)
        subject = f"【誓約書】対応が必要な誓約書が{n}件あります / {n} pledge(s) need your attention"
        body = ("未提出または有効期限が近い誓約書があります。内容を確認し、同意してください。\n"
                + "\n".join(_reminder_lines(r, on, "ja"))
                + "\n\nThe following pledges are missing or expiring soon. Please read and acknowledge them.\n"
                + "\n".join(_reminder_lines(r, on, "en")))
        result.add(notify([r.person], "pledge.reminder", subject, body, "/pledges/"))
    for dept, managers, dept_rows in by_department_managers(rows, lambda r: r.person):
        m = sum(len(r.missing) for r in dept_rows)
        e = sum(len(r.expiring) for r in dept_rows)
        subject = (f"【誓約書】{dept.name}：未提出 {m}件・期限間近 {e}件 / "
                   f"{dept.name_en or dept.name}: {m} missing, {e} expiring pledge(s)")
        ja = "\n".join(f"{r.person}（{r.person.username}）\n" + "\n".join(_reminder_lines(r, on, "ja"))
                       for r in dept_rows)
        en = "\n".join(f"{r.person} ({r.person.username})\n" + "\n".join(_reminder_lines(r, on, "en"))
                       for r in dept_rows)
        body = f"部門の未提出・期限間近の誓約書：\n{ja}\n\nMissing and expiring pledges in your department:\n{en}"
        result.add(notify(managers, "pledge.reminder_summary", subject, body, "/pledges/manage/"))
    return result


def visible_pledge(ctx: Context, pk: int) -> Pledge | None:
    """The pledge if the actor may see it; otherwise None (missing and invisible alike), audited."""
    pledge = access.visible_pledges(ctx.actor).select_related("person__department").filter(pk=pk).first()
    if pledge is None:
        chain.record(Action.DENIED, actor=ctx.actor, request=ctx.request, channel=ctx.channel, object_type="pledge",
                     object_id=pk, details={"path": ctx.request.path[:200] if ctx.request is not None else ""})
    return pledge
