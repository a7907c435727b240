"""The API of people and agreements: people, access grants, pledges, joining and leaving cases, training.

Mounted by ``himitsu.web.api`` (its error handlers answer for this router too). A thin caller of the same
services, forms and need-to-know rules (``himitsu.web.accounts.access``) as the pages: every write goes through
its service, which checks the rule again and writes the audit record. An object the caller may not see is
answered exactly like a missing one (404).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from ninja.errors import HttpError

from himitsu.errors import HimitsuError
from himitsu.web.accounts import access, records
from himitsu.web.accounts.models import User
from himitsu.web.audit import chain
from himitsu.web.audit.models import Action
from himitsu.web.core.errors import message
from himitsu.web.core.views import clean_filter
from himitsu.web.grants import services as grants
from himitsu.web.grants.models import Grant, Source
from himitsu.web.pledges import services as pledges
from himitsu.web.pledges.forms import IssueForm
from himitsu.web.pledges.models import Pledge
from himitsu.web.pledges.models import Status as PledgeStatus
from himitsu.web.register.services import Context
from himitsu.web.training import services as training
from himitsu.web.workflows import services as workflows
from himitsu.web.workflows.models import Case, CaseStatus, Kind, Step

router = Router()  # defined before the API module is imported: it mounts this router, whichever comes first

from himitsu.web.api import ErrorOut, _Invalid, _visible, page_bounds  # noqa: E402

PersonStatus = Literal["", "active", "leaving_soon", "left"]
PledgeStatusFilter = Literal[("",) + tuple(PledgeStatus.values)]  # type: ignore[valid-type]
KindFilter = Literal[("",) + tuple(Kind.values)]  # type: ignore[valid-type]
CaseStatusFilter = Literal[("",) + tuple(CaseStatus.values)]  # type: ignore[valid-type]


# --- schemas ----------------------------------------------------------------------------------------------------

class GrantOut(Schema):
    id: int
    secret_id: int
    secret: str
    user: str | None
    group: str | None
    reason: str
    source: str
    granted_by: str
    granted_at: datetime
    expires_on: date | None
    live: bool
    revoked_at: datetime | None
    revoked_by: str
    revoke_reason: str


class GrantsOut(Schema):
    live: list[GrantOut]
    past: list[GrantOut]


class GrantIn(Schema):
    user: str | None = None
    group: str | None = None
    reason: str = ""
    expires_on: date | None = None


class RevokeIn(Schema):
    reason: str = ""


class PledgeOut(Schema):
    id: int
    number: str
    person: str
    template: str
    template_version: str
    title: str
    language: str
    status: str
    issued_at: datetime
    issued_by: str
    due_on: date
    expires_on: date | None
    acknowledged_at: datetime | None
    text_sha256: str
    secrets: list[str]
    categories: list[str]
    company: str
    partner: str
    project: str
    duration_years: int | None
    revoked_at: datetime | None
    revoke_reason: str
    expired: bool
    missing: bool


class ProblemOut(Schema):
    code: str
    message: str


class VerificationOut(Schema):
    checked: bool
    ok: bool
    problems: list[ProblemOut]


class PledgeDetailOut(PledgeOut):
    text: str
    text_en: str
    acknowledgement_hash: str
    signed_sha256: str
    verification: VerificationOut


class PledgePage(Schema):
    count: int
    offset: int
    limit: int
    items: list[PledgeOut]


class PledgeIn(Schema):
    """The fields of the issue form (people by login ID, register entries by management number)."""

    person: str
    template: str
    company: str
    due_on: str
    project: str = ""
    partner: str = ""
    secrets: list[str] = []
    categories: list[str] = []
    duration_years: int | None = None
    expires_on: str | None = None
    bilingual: bool = False


class AcknowledgeIn(Schema):
    text_sha256: str


class StepOut(Schema):
    id: int
    code: str
    title: str
    title_en: str
    action: str
    pledge_template: str
    owner: str | None
    due_on: date
    status: str
    overdue: bool
    evidence_note: str
    evidence_filename: str
    evidence_sha256: str
    pledge: int | None
    completed_by: str
    completed_at: datetime | None


class CaseOut(Schema):
    id: int
    number: str
    kind: str
    person: str
    department: str | None
    status: str
    opened_at: datetime
    due_on: date
    closed_at: datetime | None
    done: int
    total: int
    overdue: bool
    all_steps: bool


class CaseDetailOut(CaseOut):
    other_company: bool
    cancel_reason: str
    steps: list[StepOut]


class CasePage(Schema):
    count: int
    offset: int
    limit: int
    items: list[CaseOut]


class CompleteIn(Schema):
    note: str = ""


class TrainingRowOut(Schema):
    person: str
    department: str | None
    course: str
    title: str
    last_completed_on: date | None
    due_on: date | None
    overdue: bool
    days_overdue: int


class PersonOut(Schema):
    id: int
    username: str
    name: str
    email: str
    role: str
    department: str | None
    person_type: str
    employee_number: str | None
    joined_on: date | None
    left_on: date | None
    is_active: bool
    leaving_status: str
    groups: list[str]


class AccessRowOut(Schema):
    secret_id: int
    management_number: str
    title: str
    level: str
    direct: bool
    groups: list[str]
    grants: list[GrantOut]


class SideJobOut(Schema):
    id: int
    employer: str
    description: str
    starts_on: date
    ends_on: date | None
    status: str
    decided_by: str | None
    decided_at: datetime | None


class PersonDetailOut(PersonOut):
    sees_every_entry: bool
    access: list[AccessRowOut]
    pledges: list[PledgeOut]
    training: list[TrainingRowOut]
    cases: list[CaseOut]
    side_job_notices: list[SideJobOut]


class PersonPage(Schema):
    count: int
    offset: int
    limit: int
    items: list[PersonOut]


class Paging(Schema):
    offset: int = 0
    limit: int = 100


class PeopleFilters(Paging):
    department: str = ""
    type: str = ""
    status: PersonStatus = ""


class PledgeFilters(Paging):
    status: PledgeStatusFilter = ""
    template: str = ""
    person: str = ""


class CaseFilters(Paging):
    kind: KindFilter = ""
    status: CaseStatusFilter = ""


# --- helpers ----------------------------------------------------------------------------------------------------

def _ctx(request: HttpRequest) -> Context:
    return Context(actor=request.user, channel="api", request=request)


def _named(value: str) -> str | None:
    """A name to look up, or None when it cannot name anything (a NUL character)."""
    return None if "\x00" in value else value


def _not_found(text: str) -> HttpError:
    return HttpError(404, text)


def _grant_out(g: Grant) -> dict[str, Any]:
    return {"id": g.pk, "secret_id": g.secret_id, "secret": g.secret.management_number,
            "user": g.user.username if g.user_id else None, "group": g.group.name if g.group_id else None,
            "reason": g.reason, "source": g.source, "granted_by": g.granted_by_name, "granted_at": g.granted_at,
            "expires_on": g.expires_on, "live": g.live, "revoked_at": g.revoked_at, "revoked_by": g.revoked_by_name,
            "revoke_reason": g.revoke_reason}


def _pledge_out(p: Pledge, today: date) -> dict[str, Any]:
    return {"id": p.pk, "number": p.number, "person": p.person.username, "template": p.template_code,
            "template_version": p.template_version, "title": p.title, "language": p.language, "status": p.status,
            "issued_at": p.issued_at, "issued_by": p.issued_by_name, "due_on": p.due_on, "expires_on": p.expires_on,
            "acknowledged_at": p.acknowledged_at, "text_sha256": p.text_sha256,
            "secrets": sorted(s.management_number for s in p.secrets.all()), "categories": list(p.categories),
            "company": p.company, "partner": p.partner, "project": p.project, "duration_years": p.duration_years,
            "revoked_at": p.revoked_at, "revoke_reason": p.revoke_reason,
            "expired": pledges.is_expired(p, today), "missing": pledges.is_missing(p, today)}


def _pledge_detail(p: Pledge) -> dict[str, Any]:
    result = pledges.verify(p)
    return {**_pledge_out(p, pledges.today()), "text": p.text, "text_en": p.text_en,
            "acknowledgement_hash": p.acknowledgement_hash, "signed_sha256": p.signed_sha256,
            "verification": {"checked": result.checked, "ok": result.ok,
                             "problems": [{"code": code, "message": message(HimitsuError(code, id=p.pk))}
                                          for code in result.problems]}}


def _step_out(s: Step, today: date) -> dict[str, Any]:
    return {"id": s.pk, "code": s.code, "title": s.title, "title_en": s.title_en, "action": s.action,
            "pledge_template": s.pledge_template, "owner": s.owner.username if s.owner_id else None,
            "due_on": s.due_on, "status": s.status, "overdue": workflows.is_overdue(s, today),
            "evidence_note": s.evidence_note, "evidence_filename": s.evidence_filename,
            "evidence_sha256": s.evidence_sha256, "pledge": s.pledge_id, "completed_by": s.completed_by_name,
            "completed_at": s.completed_at}


def _case_out(user: Any, case: Case, today: date, steps: list[Step] | None = None) -> dict[str, Any]:
    """The case with the counts of the steps the user may see (as the cases list shows them)."""
    steps = steps if steps is not None else list(access.visible_steps(user, case))
    dept = case.person.department
    return {"id": case.pk, "number": case.number, "kind": case.kind, "person": case.person.username,
            "department": dept.code if dept else None, "status": case.status, "opened_at": case.opened_at,
            "due_on": case.due_on, "closed_at": case.closed_at, "done": sum(1 for s in steps if s.done),
            "total": len(steps),
            "overdue": case.status == CaseStatus.OPEN and any(workflows.is_overdue(s, today) for s in steps),
            "all_steps": access.can_see_all_steps(user, case)}


def _training_out(row: training.Row) -> dict[str, Any]:
    dept = row.person.department
    return {"person": row.person.username, "department": dept.code if dept else None, "course": row.course.code,
            "title": row.course.localized_title(get_language()), "last_completed_on": row.last,
            "due_on": row.due, "overdue": row.overdue, "days_overdue": row.days_overdue}


def _person_out(u: User) -> dict[str, Any]:
    return {"id": u.pk, "username": u.username, "name": str(u), "email": u.email, "role": u.role,
            "department": u.department.code if u.department_id else None, "person_type": u.person_type,
            "employee_number": u.employee_number, "joined_on": u.joined_on, "left_on": u.left_on,
            "is_active": u.is_active, "leaving_status": u.leaving_status(),
            "groups": [g.name for g in u.access_groups.all()]}


# --- people -----------------------------------------------------------------------------------------------------

@router.get("/people", response={200: PersonPage, 403: ErrorOut, 422: ErrorOut}, tags=["people"])
def list_people(request: HttpRequest, filters: Query[PeopleFilters]) -> Any:
    from himitsu.web.accounts.views import _people

    access.require(access.can_list_people(request.user))
    users, _f = _people(request)
    offset, limit = page_bounds(filters.offset, filters.limit)
    chain.record(Action.LIST, request=request, channel="api", object_type="user",
                 details={"offset": offset, "limit": limit})
    return {"count": users.count(), "offset": offset, "limit": limit,
            "items": [_person_out(u) for u in users[offset:offset + limit]]}


@router.get("/people/{person_id}", response={200: PersonDetailOut, 403: ErrorOut, 404: ErrorOut}, tags=["people"])
def get_person(request: HttpRequest, person_id: int) -> Any:
    access.require(access.can_view_person(request.user))
    person = User.objects.select_related("department").filter(pk=person_id).first()
    if person is None:
        raise _not_found(_("The page does not exist or you do not have access to it."))
    access.require(access.can_view_person(request.user, person))
    chain.record(Action.VIEW, request=request, channel="api", object_type="user", object_id=person.pk,
                 object_repr=person.username)
    found = records.person_records(request.user, person)
    today = timezone.localdate()
    return {
        **_person_out(person),
        "sees_every_entry": found["sees_every_entry"],
        "access": [{"secret_id": r["secret"].pk, "management_number": r["secret"].management_number,
                    "title": r["secret"].title, "level": r["secret"].level.code, "direct": r["direct"],
                    "groups": r["groups"], "grants": [_grant_out(g) for g in r["grants"]]}
                   for r in found["access_rows"]],
        "pledges": [_pledge_out(p, today) for p in found["pledges"].select_related("person")
                    .prefetch_related("secrets")],
        "training": [_training_out(t["row"]) for t in found["training"]],
        "cases": [_case_out(request.user, c, today) for c in found["cases"].select_related("person__department")],
        "side_job_notices": [{"id": n.pk, "employer": n.employer, "description": n.description,
                              "starts_on": n.starts_on, "ends_on": n.ends_on, "status": n.status,
                              "decided_by": n.decided_by.username if n.decided_by_id else None,
                              "decided_at": n.decided_at}
                             for n in person.side_job_notices.select_related("decided_by")],
    }


# --- access grants ----------------------------------------------------------------------------------------------

def _grants_entry(request: HttpRequest, secret_id: int) -> Any:
    secret = _visible(request, secret_id)
    if not access.can_view_grants(request.user, secret):
        raise _not_found(_("The register entry does not exist or you do not have access to it."))
    return secret


@router.get("/secrets/{secret_id}/grants", response={200: GrantsOut, 404: ErrorOut}, tags=["grants"])
def secret_grants(request: HttpRequest, secret_id: int) -> Any:
    secret = _grants_entry(request, secret_id)
    rows = Grant.objects.filter(secret=secret).select_related("secret", "user", "group").order_by("-granted_at", "-pk")
    return {"live": [_grant_out(g) for g in rows if g.revoked_at is None],
            "past": [_grant_out(g) for g in rows if g.revoked_at is not None]}


def _holder(payload: GrantIn) -> dict[str, Any]:
    """The person (login ID) or group (name) of a new grant; an unknown name is a field error."""
    from himitsu.web.accounts.models import AccessGroup

    found: dict[str, Any] = {"user": None, "group": None}
    if payload.user:
        found["user"] = User.objects.filter(username=payload.user).first() if _named(payload.user) else None
        if found["user"] is None:
            raise _Invalid({"user": [message(HimitsuError("user.not_found", username=payload.user))]})
    if payload.group:
        found["group"] = AccessGroup.objects.filter(name=payload.group).first() if _named(payload.group) else None
        if found["group"] is None:
            raise _Invalid({"group": [_("No access groups named: %(names)s.") % {"names": payload.group}]})
    return found


@router.post("/secrets/{secret_id}/grants", response={201: GrantOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut,
                                                       422: ErrorOut}, tags=["grants"])
def create_grant(request: HttpRequest, secret_id: int, payload: GrantIn) -> Any:
    secret = _grants_entry(request, secret_id)
    access.require(access.can_manage_grants(request.user, secret))
    g = grants.grant(_ctx(request), secret, **_holder(payload), reason=payload.reason,
                     expires_on=payload.expires_on, source=Source.API)
    return Status(201, _grant_out(Grant.objects.select_related("secret", "user", "group").get(pk=g.pk)))


@router.post("/grants/{grant_id}/revoke", response={200: GrantOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut,
                                                     422: ErrorOut}, tags=["grants"])
def revoke_grant(request: HttpRequest, grant_id: int, payload: RevokeIn) -> Any:
    g = Grant.objects.select_related("secret").filter(pk=grant_id).first()
    if g is None:
        raise _not_found(message(HimitsuError("grant.not_found", id=grant_id)))
    try:
        secret = _grants_entry(request, g.secret_id)
    except HttpError:
        raise _not_found(message(HimitsuError("grant.not_found", id=grant_id))) from None
    access.require(access.can_manage_grants(request.user, secret))
    grants.revoke(_ctx(request), g, payload.reason)
    return _grant_out(Grant.objects.select_related("secret", "user", "group").get(pk=g.pk))


# --- pledges ----------------------------------------------------------------------------------------------------

def _visible_pledge(request: HttpRequest, pledge_id: int) -> Pledge:
    pledge = pledges.visible_pledge(_ctx(request), pledge_id)
    if pledge is None:
        raise _not_found(_("The pledge does not exist or you do not have access to it."))
    return pledge


@router.get("/pledges", response={200: PledgePage, 422: ErrorOut}, tags=["pledges"])
def list_pledges(request: HttpRequest, filters: Query[PledgeFilters]) -> Any:
    qs = access.visible_pledges(request.user).select_related("person").prefetch_related("secrets")
    if filters.status:
        qs = qs.filter(status=filters.status)
    template, person = clean_filter(filters.template, 200), clean_filter(filters.person, 200)
    if template:
        qs = qs.filter(template_code=template)
    if person:
        qs = qs.filter(person__username=person)
    offset, limit = page_bounds(filters.offset, filters.limit)
    qs = qs.order_by("-issued_at", "-pk")
    items = list(qs[offset:offset + limit])
    chain.record(Action.LIST, request=request, channel="api", object_type="pledge",
                 details={k: clean_filter(v, 200) if isinstance(v, str) else v for k, v in filters.dict().items() if v}
                 | {"offset": offset, "limit": limit})
    today = pledges.today()
    return {"count": qs.count(), "offset": offset, "limit": limit, "items": [_pledge_out(p, today) for p in items]}


@router.get("/pledges/{pledge_id}", response={200: PledgeDetailOut, 404: ErrorOut}, tags=["pledges"])
def get_pledge(request: HttpRequest, pledge_id: int) -> Any:
    pledge = _visible_pledge(request, pledge_id)
    chain.record(Action.VIEW, request=request, channel="api", object_type="pledge", object_id=pledge.pk,
                 object_repr=pledge.number)
    return _pledge_detail(pledge)


def _issue_form(request: HttpRequest, payload: PledgeIn) -> IssueForm:
    """The issue form bound to the payload: the person by login ID among the people the caller may issue to, the
    entries by management number among those the caller may see (anything else stays as given: the form rejects
    it, alike for missing and invisible)."""
    actor = request.user
    recipients = access.pledge_recipients(actor).filter(username=payload.person)
    person = recipients.values_list("pk", flat=True).first() if _named(payload.person) else None
    numbers = dict(access.visible_secrets(actor).filter(management_number__in=[n for n in payload.secrets if _named(n)])
                   .values_list("management_number", "pk"))
    data = {**payload.dict(), "person": person if person is not None else payload.person,
            "secrets": [numbers.get(n, n) for n in payload.secrets]}
    return IssueForm(data, actor=actor, language=get_language() or "ja")


@router.post("/pledges", response={201: PledgeDetailOut, 400: ErrorOut, 403: ErrorOut, 422: ErrorOut},
             tags=["pledges"])
def issue_pledge(request: HttpRequest, payload: PledgeIn) -> Any:
    access.require(access.can_issue_pledges(request.user))
    form = _issue_form(request, payload)
    if not form.is_valid():
        raise _Invalid({name: [str(m) for m in errs] for name, errs in form.errors.items()})
    pledge = pledges.issue(_ctx(request), form.request())
    return Status(201, _pledge_detail(pledge))


@router.post("/pledges/{pledge_id}/acknowledge", response={200: PledgeDetailOut, 400: ErrorOut, 403: ErrorOut,
                                                           404: ErrorOut, 422: ErrorOut}, tags=["pledges"])
def acknowledge_pledge(request: HttpRequest, pledge_id: int, payload: AcknowledgeIn) -> Any:
    pledge = _visible_pledge(request, pledge_id)
    return _pledge_detail(pledges.acknowledge(_ctx(request), pledge, confirmed=True, seen_sha256=payload.text_sha256))


# --- joining and leaving cases ----------------------------------------------------------------------------------

def _visible_case(request: HttpRequest, case_id: int) -> Case:
    case = access.visible_cases(request.user, Case.objects.select_related("person", "person__department")) \
        .filter(pk=case_id).first()
    if case is None:
        if Case.objects.filter(pk=case_id).exists():
            chain.record(Action.DENIED, request=request, channel="api", object_type="workflow_case",
                         object_id=case_id)
        raise _not_found(_("The case does not exist or you do not have access to it."))
    return case


@router.get("/cases", response={200: CasePage, 403: ErrorOut, 422: ErrorOut}, tags=["workflows"])
def list_cases(request: HttpRequest, filters: Query[CaseFilters]) -> Any:
    access.require(access.can_list_cases(request.user))
    qs = access.visible_cases(request.user, Case.objects.select_related("person", "person__department"))
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.status:
        qs = qs.filter(status=filters.status)
    qs = qs.order_by("due_on", "pk")
    offset, limit = page_bounds(filters.offset, filters.limit)
    today = timezone.localdate()
    items = [_case_out(request.user, c, today) for c in qs[offset:offset + limit]]
    chain.record(Action.LIST, request=request, channel="api", object_type="workflow_case",
                 details={"offset": offset, "limit": limit})
    return {"count": qs.count(), "offset": offset, "limit": limit, "items": items}


def _case_detail(request: HttpRequest, case: Case) -> dict[str, Any]:
    today = timezone.localdate()
    steps = list(access.visible_steps(request.user, case).select_related("owner"))
    return {**_case_out(request.user, case, today, steps), "other_company": case.other_company,
            "cancel_reason": case.cancel_reason, "steps": [_step_out(s, today) for s in steps]}


@router.get("/cases/{case_id}", response={200: CaseDetailOut, 404: ErrorOut}, tags=["workflows"])
def get_case(request: HttpRequest, case_id: int) -> Any:
    case = _visible_case(request, case_id)
    if case.status == CaseStatus.OPEN and (access.can_manage_case(request.user, case)
                                           or case.steps.filter(owner_id=request.user.pk).exists()):
        workflows.sync_pledges(_ctx(request), case)  # as the case page: a pledge acknowledged since completes its step
    chain.record(Action.VIEW, request=request, channel="api", object_type="workflow_case", object_id=case.pk,
                 object_repr=case.number)
    return _case_detail(request, case)


@router.post("/cases/{case_id}/steps/{step_id}/complete",
             response={200: CaseDetailOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
             tags=["workflows"])
def complete_step(request: HttpRequest, case_id: int, step_id: int, payload: CompleteIn) -> Any:
    case = _visible_case(request, case_id)
    step = access.visible_steps(request.user, case).filter(pk=step_id).select_related("case", "case__person").first()
    if step is None:
        raise _not_found(_("The step does not exist or you do not have access to it."))
    access.require(access.can_complete_step(request.user, step))
    workflows.complete_step(_ctx(request), step, payload.note)  # a revoke_access step: services.revoke_access
    case.refresh_from_db()
    return _case_detail(request, case)


# --- training ---------------------------------------------------------------------------------------------------

@router.get("/training/overdue", response={200: list[TrainingRowOut], 403: ErrorOut}, tags=["training"])
def training_overdue(request: HttpRequest) -> Any:
    access.require(access.can_view_training_overview(request.user))
    rows = training.overdue(request.user)
    chain.record(Action.LIST, request=request, channel="api", object_type="training_completion",
                 details={"overdue": len(rows)})
    return [_training_out(r) for r in rows]
