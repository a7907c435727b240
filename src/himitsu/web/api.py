"""The HTTP API (/api/v1/, OpenAPI schema at /api/v1/openapi.json, docs at /api/v1/docs).

Thin caller of the same services, forms and need-to-know rules as the web pages.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Query, Schema, Status
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import django_auth

from himitsu.errors import HimitsuError, PermissionDeniedError
from himitsu.web.accounts import access
from himitsu.web.audit import chain
from himitsu.web.audit.models import Action
from himitsu.web.audit.views import filter_events
from himitsu.web.core.errors import message
from himitsu.web.register import services
from himitsu.web.register.forms import SecretForm
from himitsu.web.register.models import Secret
from himitsu.web.register.resolve import form_data

api = NinjaAPI(title="Himitsu API", version="1", auth=django_auth, urls_namespace="api")
MAX_PAGE = 500


class ErrorOut(Schema):
    code: str
    message: str
    fields: dict[str, list[str]] | None = None


class LocationOut(Schema):
    kind: str
    location: str


class SecretOut(Schema):
    id: int
    management_number: str
    title: str
    summary: str
    category: str
    level: str
    legal_type: str
    owner_department: str
    responsible: str | None
    allowed_users: list[str]
    allowed_groups: list[str]
    locations: list[LocationOut]
    marking: str
    review_date: date | None
    protection_decision: str
    decision_date: date | None
    secrecy_score: int
    secrecy_status: str
    updated_at: datetime


class SecretPage(Schema):
    count: int
    offset: int
    limit: int
    items: list[SecretOut]


class SecretIn(Schema):
    management_number: str
    title: str
    summary: str = ""
    category: str
    level: str
    legal_type: str = "trade_secret"
    owner_department: str
    responsible: str | None = None
    allowed_users: list[str] = []
    allowed_groups: list[str] = []
    locations: list[str] = []
    marking: str = ""
    review_date: str | None = None
    protection_decision: str = "undecided"
    decision_date: str | None = None
    decision_reasons: str = ""
    usefulness_notes: str = ""
    published: str = "unknown"
    patented: str = "unknown"
    reverse_engineerable: str = "unknown"
    non_public_notes: str = ""


class RevisionOut(Schema):
    number: int
    action: str
    channel: str
    actor: str
    at: datetime
    changes: dict[str, Any]
    hash: str


class AuditOut(Schema):
    seq: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    object_repr: str
    channel: str
    ip: str
    details: dict[str, Any]


class StatsOut(Schema):
    total: int
    by_status: dict[str, int]
    by_level: dict[str, int]


#: offsets beyond this are clamped (a larger one overflows the databases' integer)
MAX_OFFSET = 2**31 - 1


def page_bounds(offset: int, limit: int) -> tuple[int, int]:
    """A list's offset and limit as every endpoint clamps them: 0 ≤ offset ≤ MAX_OFFSET, 1 ≤ limit ≤ MAX_PAGE."""
    return max(0, min(offset, MAX_OFFSET)), max(1, min(limit, MAX_PAGE))


class Filters(Schema):
    q: str = ""
    level: str = ""
    category: str = ""
    status: str = ""
    department: str = ""
    offset: int = 0
    limit: int = 100


def _out(s: Secret) -> dict[str, Any]:
    return {
        "id": s.pk, "management_number": s.management_number, "title": s.title, "summary": s.summary,
        "category": s.category, "level": s.level.code, "legal_type": s.legal_type,
        "owner_department": s.owner_department.code,
        "responsible": s.responsible.username if s.responsible else None,
        "allowed_users": [u.username for u in s.allowed_users.all()],
        "allowed_groups": [g.name for g in s.allowed_groups.all()],
        "locations": [{"kind": loc.kind, "location": loc.location} for loc in s.locations.all()],
        "marking": s.marking, "review_date": s.review_date, "protection_decision": s.protection_decision,
        "decision_date": s.decision_date, "secrecy_score": s.secrecy_score, "secrecy_status": s.secrecy_status,
        "updated_at": s.updated_at,
    }


def _ctx(request: HttpRequest) -> services.Context:
    return services.Context(actor=request.user, channel="api", request=request)


def _visible(request: HttpRequest, secret_id: int) -> Secret:
    secret = services.visible_entry(_ctx(request), secret_id)
    if secret is None:
        raise HttpError(404, _("The register entry does not exist or you do not have access to it."))
    return secret


def _form(request: HttpRequest, payload: SecretIn, instance: Secret | None = None) -> SecretForm:
    data = form_data(payload.dict())
    return SecretForm(data.values, instance=instance, actor=request.user, unresolved=data.unresolved)


def _save(request: HttpRequest, form: SecretForm) -> Secret:
    if not form.is_valid():
        fields = {name: [str(m) for m in errs] for name, errs in form.errors.items()}
        raise _Invalid(fields)
    return services.save(_ctx(request), form)


class _Invalid(Exception):
    def __init__(self, fields: dict[str, list[str]]) -> None:
        self.fields = fields


@api.exception_handler(_Invalid)
def _invalid(request: HttpRequest, exc: _Invalid) -> Any:
    return api.create_response(
        request, {"code": "input.invalid", "message": _("The input is not valid."), "fields": exc.fields}, status=422)


@api.exception_handler(PermissionDeniedError)
def _denied(request: HttpRequest, exc: PermissionDeniedError) -> Any:
    chain.record(Action.DENIED, request=request, channel="api", details={"path": request.path[:200]})
    return api.create_response(request, {"code": exc.code, "message": message(exc)}, status=403)


@api.exception_handler(HimitsuError)
def _himitsu_error(request: HttpRequest, exc: HimitsuError) -> Any:
    return api.create_response(request, {"code": exc.code, "message": message(exc)}, status=400)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> Any:
    return api.create_response(request, {"code": f"http.{exc.status_code}", "message": str(exc)},
                               status=exc.status_code)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> Any:
    return api.create_response(request, {"code": "auth.required", "message": _("Log in first.")}, status=401)


@api.exception_handler(ValidationError)
def _schema_error(request: HttpRequest, exc: ValidationError) -> Any:
    fields: dict[str, list[str]] = {}
    for err in exc.errors:
        # ("body", "payload", "title") -> "title", as the form reports it; ("query", "limit") -> "limit"
        parts = [str(p) for p in err.get("loc", ())]
        loc = ".".join(parts[2:] if parts[:1] == ["body"] else parts[1:]) or "body"
        fields.setdefault(loc, []).append(str(err.get("msg", "")))
    return api.create_response(
        request, {"code": "input.invalid", "message": _("The input is not valid."), "fields": fields}, status=422)


@api.get("/secrets", response=SecretPage, tags=["register"])
def list_secrets(request: HttpRequest, filters: Query[Filters]) -> dict[str, Any]:
    from himitsu.web.register.views import filtered

    request.GET = request.GET.copy()
    qs, _f = filtered(request)
    offset, limit = page_bounds(filters.offset, filters.limit)
    items = list(qs.prefetch_related("allowed_users", "allowed_groups", "locations")[offset:offset + limit])
    chain.record(Action.LIST, request=request, channel="api", object_type="secret",
                 details={"offset": offset, "limit": limit})
    return {"count": qs.count(), "offset": offset, "limit": limit, "items": [_out(s) for s in items]}


@api.get("/secrets/{secret_id}", response={200: SecretOut, 404: ErrorOut}, tags=["register"])
def get_secret(request: HttpRequest, secret_id: int) -> Any:
    secret = _visible(request, secret_id)
    services.record_view(_ctx(request), secret)
    return _out(secret)


@api.post("/secrets", response={201: SecretOut, 403: ErrorOut, 422: ErrorOut}, tags=["register"])
def create_secret(request: HttpRequest, payload: SecretIn) -> Any:
    access.require(access.can_create(request.user))
    secret = _save(request, _form(request, payload))
    return Status(201, _out(secret))


@api.put("/secrets/{secret_id}", response={200: SecretOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
         tags=["register"])
def update_secret(request: HttpRequest, secret_id: int, payload: SecretIn) -> Any:
    secret = _visible(request, secret_id)
    access.require(access.can_edit(request.user, secret))
    return _out(_save(request, _form(request, payload, instance=secret)))


@api.delete("/secrets/{secret_id}", response={204: None, 403: ErrorOut, 404: ErrorOut}, tags=["register"])
def delete_secret(request: HttpRequest, secret_id: int) -> Any:
    secret = _visible(request, secret_id)
    services.delete(_ctx(request), secret)
    return Status(204, None)


@api.get("/secrets/{secret_id}/history", response={200: list[RevisionOut], 404: ErrorOut}, tags=["register"])
def secret_history(request: HttpRequest, secret_id: int) -> Any:
    secret = _visible(request, secret_id)
    return [{"number": r.number, "action": r.action, "channel": r.channel, "actor": r.actor_name, "at": r.at,
             "changes": r.changes, "hash": r.hash} for r in secret.revisions.order_by("number")]


@api.get("/stats", response=StatsOut, tags=["register"])
def stats(request: HttpRequest) -> dict[str, Any]:
    from django.db.models import Count

    visible = access.visible_secrets(request.user)
    by_status = {r["secrecy_status"]: r["n"] for r in visible.values("secrecy_status").annotate(n=Count("pk"))}
    by_level = {r["level__code"]: r["n"] for r in visible.values("level__code").annotate(n=Count("pk"))}
    return {"total": sum(by_status.values()), "by_status": by_status, "by_level": by_level}


@api.get("/audit", response={200: list[AuditOut], 403: ErrorOut}, tags=["audit"])
def audit(request: HttpRequest, actor: str = "", action: str = "", offset: int = 0, limit: int = 100) -> Any:
    access.require(access.can_view_audit(request.user))
    offset, limit = page_bounds(offset, limit)
    params = {"actor": actor.replace("\x00", "")[:100], "action": action.replace("\x00", "")[:20]}
    events = list(filter_events(params)[offset:offset + limit])  # before our own record
    chain.record(Action.LIST, request=request, channel="api", object_type="audit")
    return [{"seq": e.seq, "at": e.at, "actor": e.actor_name, "action": e.action, "object_type": e.object_type,
             "object_id": e.object_id, "object_repr": e.object_repr, "channel": e.channel, "ip": e.ip,
             "details": e.details} for e in events]


api.add_router("", "himitsu.web.api_people.router")
api.add_router("", "himitsu.web.api_guard.router")
