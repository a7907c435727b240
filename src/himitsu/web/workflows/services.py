"""Every change of a joining or leaving case goes through here: open, complete a step, revoke access, complete
or cancel the case, remind. Rules enforced here, whatever the caller (page, CLI, HR import):

* a step is complete only with evidence: a note of at least ``MIN_NOTE`` characters, a file, or (for a step
  linked to a pledge template) a pledge of that template for the person that was acknowledged or signed;
* a case is complete only when every step is;
* revoking access removes the person from every register entry's allowed users and from every access group
  and deactivates the account at the leaving date, each change written to the audit trail.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from himitsu.catalog import workflows as catalog
from himitsu.errors import InputError, PermissionDeniedError
from himitsu.web.accounts import access
from himitsu.web.accounts.models import Role, User
from himitsu.web.audit import chain
from himitsu.web.audit.models import Action
from himitsu.web.core.files import private_dir, write_private
from himitsu.web.notices.services import notify
from himitsu.web.register.services import Context
from himitsu.web.workflows.models import Case, CaseStatus, Kind, Step, StepStatus

MIN_NOTE = 10
MAX_EVIDENCE_BYTES = 10 * 1024 * 1024
PLEDGE_WINDOW_DAYS = 180  # a pledge issued up to this long before the case was opened counts for it
JOINING_DUE_DAYS = 14  # a joining case without a joining date is due this many days after opening
KIND_JA = {Kind.JOINING: "入社手続き", Kind.LEAVING: "退職手続き"}
KIND_EN = {Kind.JOINING: "joining", Kind.LEAVING: "leaving"}


def today() -> date:
    return timezone.localdate()


def _audit(ctx: Context, action: str, case: Case, details: dict[str, Any]) -> None:
    chain.record(action, actor=ctx.actor, request=ctx.request, channel=ctx.channel, object_type="workflow_case",
                 object_id=case.pk, object_repr=f"{case.number} {case.kind} {case.person.username}",
                 details=details)


def _name(person: Any) -> str:
    return str(person)


# --- owners ---------------------------------------------------------------------------------------------

def default_owners(person: User) -> dict[str, User | None]:
    """``department_manager``: the person's department manager (else a trade-secret manager);
    ``secret_manager``: the first active trade-secret manager (else a system administrator). Never the person."""
    active = User.objects.filter(is_active=True).exclude(pk=person.pk).order_by("pk")
    manager = (active.filter(role=Role.SECRET_MANAGER).first() or active.filter(role=Role.SYSTEM_ADMIN).first())
    dept = None
    if person.department_id:
        dept = active.filter(role=Role.DEPT_MANAGER, department_id=person.department_id).first()
    return {"department_manager": dept or manager, "secret_manager": manager}


# --- opening --------------------------------------------------------------------------------------------

def open_case(ctx: Context, person: User, kind: str, *, due_on: date | None = None, other_company: bool = False,
              check_access: bool = True) -> Case:
    """Open a case with the steps of the current catalogue; notify each step owner. ``check_access=False``
    only for the leave-date hook (the caller already checked that the actor may change the person)."""
    if check_access:
        access.require(access.can_open_case_for(ctx.actor, person))
    kind_def = catalog.catalog().kind(kind)
    if due_on is None:
        if kind == Kind.LEAVING and person.left_on:
            due_on = person.left_on
        elif kind == Kind.JOINING and person.joined_on:
            due_on = person.joined_on
        else:
            due_on = today() + timedelta(days=JOINING_DUE_DAYS)
    owners = default_owners(person)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=person.pk).first()  # one open case per kind, even racing
        if Case.objects.filter(person=person, kind=kind, status=CaseStatus.OPEN).exists():
            raise InputError("workflow.already_open", person=_name(person), kind=KIND_EN[Kind(kind)])
        now = timezone.now()
        case = Case.objects.create(
            kind=kind, person=person, catalog_version=catalog.catalog().version,
            other_company=bool(other_company and kind == Kind.JOINING), opened_by=ctx.user,
            opened_by_name=ctx.actor.get_username(), opened_at=now, due_on=due_on)
        steps = [Step(case=case, position=i, code=d.code, title=d.title["ja"], title_en=d.title["en"],
                      help=d.help["ja"], help_en=d.help["en"], action=d.action, pledge_template=d.pledge,
                      owner=owners[d.owner], due_on=due_on + timedelta(days=d.due_days))
                 for i, d in enumerate(kind_def.steps_for(case.other_company))]
        Step.objects.bulk_create(steps)
        _audit(ctx, Action.CREATE, case, {
            "event": "workflow_opened", "kind": kind, "version": case.catalog_version, "due_on": due_on.isoformat(),
            "other_company": case.other_company,
            "steps": {s.code: (s.owner.username if s.owner else None) for s in steps}})
    _notify_opened(case)
    return case


#: a leaving date further in the past than this opens no case by itself (history loaded by an HR import: people
#: who left years ago); a case can still be opened by hand
LEAVING_CASE_LOOKBACK_DAYS = 90


def open_leaving_case(ctx: Context, person: User) -> Case | None:
    """The hook of the person form and the HR import: a leaving date opens a leaving case if none is open
    (an open case follows a changed leaving date), unless the date lies more than LEAVING_CASE_LOOKBACK_DAYS in
    the past. Returns the case opened, or None."""
    if not person.left_on:
        return None
    current = Case.objects.filter(person=person, kind=Kind.LEAVING, status=CaseStatus.OPEN).first()
    if current is None:
        if person.left_on < today() - timedelta(days=LEAVING_CASE_LOOKBACK_DAYS):
            return None
        return open_case(ctx, person, Kind.LEAVING, due_on=person.left_on, check_access=False)
    if current.due_on != person.left_on:
        _move(ctx, current, person.left_on)
    return None


def _move(ctx: Context, case: Case, due_on: date) -> None:
    with transaction.atomic():
        shift = due_on - case.due_on
        before = case.due_on
        case.due_on = due_on
        case.save(update_fields=["due_on"])
        for step in case.steps.filter(status=StepStatus.OPEN):
            step.due_on = step.due_on + shift
            step.save(update_fields=["due_on"])
        _audit(ctx, Action.UPDATE, case, {"event": "workflow_due_changed",
                                         "due_on": [before.isoformat(), due_on.isoformat()]})


# --- notices --------------------------------------------------------------------------------------------

def _link(case: Case) -> str:
    return reverse("workflows:detail", args=[case.pk])


def _by_owner(steps: list[Step]) -> dict[User, list[Step]]:
    owners: dict[User, list[Step]] = {}
    for step in steps:
        if step.owner is not None:
            owners.setdefault(step.owner, []).append(step)
    return owners


def _lines(steps: list[Step], english: bool) -> str:
    if english:
        return "\n".join(f"  - {s.title_en} (due {s.due_on.isoformat()})" for s in steps)
    return "\n".join(f"　・{s.title}（期限 {s.due_on.isoformat()}）" for s in steps)


def _notify_opened(case: Case) -> None:
    steps = list(case.steps.select_related("owner"))
    person = _name(case.person)
    ja_kind, en_kind = KIND_JA[Kind(case.kind)], KIND_EN[Kind(case.kind)]
    for owner, owned in _by_owner(steps).items():
        subject = f"【{ja_kind}】{person}：担当の手順があります / {en_kind.title()} case for {person}: steps for you"
        body = (f"{person} の{ja_kind}（{case.number}、期限 {case.due_on.isoformat()}）で、"
                f"次の手順の担当になりました。\n"
                f"{_lines(owned, False)}\n\n"
                f"You own these steps of the {en_kind} case {case.number} for {person} "
                f"(due {case.due_on.isoformat()}):\n{_lines(owned, True)}\n")
        notify([owner], "workflow.opened", subject, body, _link(case))


@dataclass
class Reminder:
    owner: User
    steps: list[Step]

    def as_dict(self, on: date) -> dict[str, Any]:
        return {"owner": self.owner.username, "steps": [step_dict(s, on) for s in self.steps]}


def overdue_steps(on: date | None = None) -> list[Step]:
    on = on or today()
    return list(Step.objects.filter(case__status=CaseStatus.OPEN, status=StepStatus.OPEN, due_on__lt=on)
                .select_related("case", "case__person", "owner").order_by("due_on", "pk"))


def remind(ctx: Context, on: date | None = None) -> list[Reminder]:
    """Send each owner of an overdue step one notice listing them (once a day at most)."""
    on = on or today()
    for case in {s.case for s in overdue_steps(on)}:
        sync_pledges(ctx, case)
    reminders: list[Reminder] = []
    for owner, steps in _by_owner(overdue_steps(on)).items():
        due = [s for s in steps if s.reminded_on != on]
        if not due:
            continue
        subject = (f"【期限超過】入社・退職手続きの手順 {len(due)}件 / "
                   f"{len(due)} overdue joining or leaving steps")
        ja = "\n".join(f"　・{s.case.number} {_name(s.case.person)}：{s.title}（期限 {s.due_on.isoformat()}）"
                       for s in due)
        en = "\n".join(f"  - {s.case.number} {_name(s.case.person)}: {s.title_en} (due {s.due_on.isoformat()})"
                       for s in due)
        body = f"次の手順が期限を過ぎています。\n{ja}\n\nThese steps are overdue:\n{en}\n"
        link = _link(due[0].case) if len({s.case_id for s in due}) == 1 else reverse("workflows:list") + "?show=overdue"
        notify([owner], "workflow.overdue", subject, body, link)
        Step.objects.filter(pk__in=[s.pk for s in due]).update(reminded_on=on)
        reminders.append(Reminder(owner, due))
    return reminders


# --- steps ----------------------------------------------------------------------------------------------

def evidence_dir() -> Path:
    return private_dir("workflows")


def _locked_case(case: Case) -> Case:
    case = Case.objects.select_for_update().select_related("person").get(pk=case.pk)
    if case.status != CaseStatus.OPEN:
        raise InputError("workflow.case_closed", status=case.status)
    return case


def find_pledge(step: Step) -> Any:
    """The done pledge that completes ``step`` (its template, for the person, not too old), else None."""
    from himitsu.web.pledges.models import Pledge, Status

    if not step.pledge_template:
        return None
    since = step.case.opened_at - timedelta(days=PLEDGE_WINDOW_DAYS)
    return (Pledge.objects.filter(person_id=step.case.person_id, template_code=step.pledge_template,
                                  status__in=[Status.ACKNOWLEDGED, Status.SIGNED_UPLOAD], issued_at__gte=since)
            .order_by("-acknowledged_at", "-pk").first())


def _finish(ctx: Context, step: Step, evidence: dict[str, Any]) -> None:
    step.status = StepStatus.COMPLETE
    step.completed_by = ctx.user
    step.completed_by_name = ctx.actor.get_username()
    step.completed_at = timezone.now()
    step.save()
    _audit(ctx, Action.UPDATE, step.case, {"event": "workflow_step_completed", "step": step.code, **evidence})


def complete_step(ctx: Context, step: Step, note: str = "", filename: str = "", data: bytes = b"") -> Step:
    """Complete ``step`` with evidence (``workflow.evidence_required`` without). A pledge-linked step needs
    its pledge acknowledged or signed; the revoke-access step revokes (``revoke_access``)."""
    if not access.can_complete_step(ctx.actor, step):
        raise PermissionDeniedError()
    if step.action == "revoke_access":
        return revoke_access(ctx, step, note)
    note = (note or "").strip()
    if data and len(data) > MAX_EVIDENCE_BYTES:
        raise InputError("io.too_large", size=len(data), limit=MAX_EVIDENCE_BYTES)
    path: Path | None = None
    with transaction.atomic():
        case = _locked_case(step.case)
        step = Step.objects.select_for_update().select_related("case", "case__person").get(pk=step.pk)
        if step.done:
            raise InputError("workflow.step_done")
        evidence: dict[str, Any] = {}
        if step.pledge_template:
            pledge = find_pledge(step)
            if pledge is None:
                raise InputError("workflow.pledge_not_done")
            step.pledge = pledge
            evidence["pledge"] = pledge.pk
        elif len(note) < MIN_NOTE and not data:
            raise InputError("workflow.evidence_required", min=MIN_NOTE)
        if note:
            step.evidence_note = note
            evidence["note_chars"] = len(note)
        try:
            if data:
                digest = hashlib.sha256(data).hexdigest()
                path = evidence_dir() / f"{case.pk}-{step.pk}-{digest}.bin"
                write_private(path, data)
                step.evidence_filename = Path(filename).name[:255] or "evidence"
                step.evidence_path, step.evidence_sha256, step.evidence_size = path.name, digest, len(data)
                evidence.update(file_sha256=digest, size=len(data))
            _finish(ctx, step, evidence)
        except BaseException:
            if path is not None:
                path.unlink(missing_ok=True)
            raise
    return step


def evidence_file(step: Step) -> tuple[str, bytes]:
    """The stored evidence file, checked against its SHA-256."""
    path = evidence_dir() / step.evidence_path if step.evidence_path else None
    if path is None or not path.is_file():
        raise InputError("workflow.file_missing", id=step.pk)
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != step.evidence_sha256:
        raise InputError("workflow.file_missing", id=step.pk)
    return step.evidence_filename, data


def sync_pledges(ctx: Context, case: Case) -> int:
    """Complete the open pledge-linked steps of ``case`` whose pledge is now acknowledged or signed."""
    if case.status != CaseStatus.OPEN:
        return 0
    done = 0
    for step in case.steps.filter(status=StepStatus.OPEN).exclude(pledge_template=""):
        pledge = find_pledge(step)
        if pledge is None:
            continue
        with transaction.atomic():
            step = Step.objects.select_for_update().select_related("case", "case__person").get(pk=step.pk)
            if step.done:
                continue
            step.pledge = pledge
            _finish(ctx, step, {"pledge": pledge.pk, "automatic": True})
            done += 1
    return done


def revoke_access(ctx: Context, step: Step, note: str = "") -> Step:
    """Remove the person from every register entry's allowed users and every access group (one audit record
    per entry and group) and deactivate the account if the leaving date has come (else ``deactivate_due``
    does it on that day); the step is completed with what was removed as its evidence."""
    from himitsu.web.grants import services as grants
    from himitsu.web.grants.models import LEAVER_REASON
    from himitsu.web.register.models import Secret

    if not access.can_revoke_access(ctx.actor, step.case.person):
        raise PermissionDeniedError()
    with transaction.atomic():
        case = _locked_case(step.case)
        step = Step.objects.select_for_update().select_related("case", "case__person").get(pk=step.pk)
        if step.done:
            raise InputError("workflow.step_done")
        person = User.objects.select_for_update().get(pk=case.person_id)
        secrets = list(Secret.objects.filter(allowed_users=person).order_by("management_number"))
        groups = list(person.access_groups.order_by("name"))
        for secret in secrets:
            grants.reconcile(ctx, secret)  # access from before grants were kept gets its record, then is revoked
            secret.allowed_users.remove(person)
            grants.sync(ctx, secret, reason=LEAVER_REASON)
            chain.record(Action.UPDATE, actor=ctx.actor, request=ctx.request, channel=ctx.channel,
                         object_type="secret", object_id=secret.pk, object_repr=secret.management_number,
                         details={"event": "access_revoked", "user": person.username, "case": case.pk})
        for group in groups:
            group.members.remove(person)
            chain.record(Action.UPDATE, actor=ctx.actor, request=ctx.request, channel=ctx.channel,
                         object_type="group", object_id=group.pk, object_repr=group.name[:250],
                         details={"event": "member_removed", "user": person.username, "case": case.pk})
        deactivated = _deactivate(ctx, person, case)
        lines = [f"台帳項目 / register entries: {', '.join(s.management_number for s in secrets) or '—'}",
                 f"アクセスグループ / access groups: {', '.join(g.name for g in groups) or '—'}",
                 ("アカウントを無効化しました / account deactivated" if deactivated else
                  f"アカウントは退職日 {person.left_on.isoformat() if person.left_on else '—'} に無効化されます / "
                  "the account is deactivated on the leaving date")]
        note = (note or "").strip()
        step.evidence_note = "\n".join(lines + ([note] if note else []))
        _finish(ctx, step, {"secrets": [s.pk for s in secrets], "groups": [g.pk for g in groups],
                            "deactivated": deactivated})
    if secrets or groups:
        from himitsu.web.register.services import reassess_all

        reassess_all()  # who has access feeds every entry's score
    return step


def _deactivate(ctx: Context, person: User, case: Case, on: date | None = None) -> bool:
    if not person.is_active:
        return True
    if person.left_on is not None and person.left_on > (on or today()):
        return False
    person.is_active = False
    person.save(update_fields=["is_active"])
    chain.record(Action.UPDATE, actor=ctx.actor, request=ctx.request, channel=ctx.channel, object_type="user",
                 object_id=person.pk, object_repr=person.username,
                 details={"event": "account_deactivated", "case": case.pk, "fields": ["is_active"]})
    return True


def deactivate_due(ctx: Context, on: date | None = None) -> list[User]:
    """Deactivate the people whose access was revoked in a leaving case and whose leaving date has come."""
    on = on or today()
    steps = Step.objects.filter(action="revoke_access", status=StepStatus.COMPLETE, case__kind=Kind.LEAVING,
                                case__person__is_active=True, case__person__left_on__lte=on)
    done: list[User] = []
    for step in steps.select_related("case", "case__person"):
        with transaction.atomic():
            if _deactivate(ctx, step.case.person, step.case, on):
                done.append(step.case.person)
    return done


# --- the case -------------------------------------------------------------------------------------------

def progress(case: Case) -> tuple[int, int]:
    steps = list(case.steps.all())
    return sum(1 for s in steps if s.done), len(steps)


def complete_case(ctx: Context, case: Case) -> Case:
    if not access.can_manage_case(ctx.actor, case):
        raise PermissionDeniedError()
    sync_pledges(ctx, case)
    with transaction.atomic():
        case = _locked_case(case)
        missing = case.steps.exclude(status=StepStatus.COMPLETE).count()
        if missing:
            raise InputError("workflow.case_incomplete", count=missing)
        case.status, case.closed_at, case.closed_by_name = CaseStatus.COMPLETE, timezone.now(), ctx.actor.get_username()
        case.save(update_fields=["status", "closed_at", "closed_by_name"])
        _audit(ctx, Action.UPDATE, case, {"event": "workflow_completed"})
    return case


def cancel_case(ctx: Context, case: Case, reason: str) -> Case:
    if not access.can_manage_case(ctx.actor, case):
        raise PermissionDeniedError()
    reason = (reason or "").strip()
    if not reason:
        raise InputError("workflow.reason_required")
    with transaction.atomic():
        case = _locked_case(case)
        case.status, case.closed_at = CaseStatus.CANCELLED, timezone.now()
        case.closed_by_name, case.cancel_reason = ctx.actor.get_username(), reason[:500]
        case.save(update_fields=["status", "closed_at", "closed_by_name", "cancel_reason"])
        _audit(ctx, Action.UPDATE, case, {"event": "workflow_cancelled", "reason": case.cancel_reason})
    return case


def is_overdue(step: Step, on: date | None = None) -> bool:
    return not step.done and step.due_on < (on or today())


def step_dict(step: Step, on: date) -> dict[str, Any]:
    return {"case": step.case_id, "code": step.code, "title": step.title, "title_en": step.title_en,
            "owner": step.owner.username if step.owner else None, "due_on": step.due_on.isoformat(),
            "status": step.status, "overdue": is_overdue(step, on), "pledge": step.pledge_id}


def case_dict(case: Case, on: date) -> dict[str, Any]:
    steps = list(case.steps.select_related("owner"))
    return {"id": case.pk, "number": case.number, "kind": case.kind, "person": case.person.username,
            "department": case.person.department.code if case.person.department else None,
            "status": case.status, "opened_at": case.opened_at.isoformat(), "due_on": case.due_on.isoformat(),
            "done": sum(1 for s in steps if s.done), "total": len(steps),
            "overdue": sum(1 for s in steps if is_overdue(s, on)) if case.status == CaseStatus.OPEN else 0,
            "steps": [step_dict(s, on) for s in steps]}
