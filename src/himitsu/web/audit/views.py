"""The audit trail for auditors and system administrators: browse, filter, verify."""

from __future__ import annotations

from datetime import datetime, time

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _l
from django.views.decorators.http import require_POST

from himitsu import jpdate
from himitsu.web.accounts import access
from himitsu.web.audit import chain
from himitsu.web.audit.models import Action, AuditEvent
from himitsu.web.core.views import query_filters

PAGE_SIZE = 100
OBJECT_TYPES = {
    "secret": _l("register entry"), "secret_history": _l("entry history"), "register": _l("register"),
    "user": _l("user"), "group": _l("access group"), "level": _l("classification level"), "audit": _l("audit trail"),
    "check": _l("check of a file or text"), "people": _l("people import"), "side_job": _l("side-job notice"),
    "pledge": _l("pledge"), "notice": _l("notice"), "training_course": _l("training course"),
    "training_completion": _l("training completion"), "workflow_case": _l("joining or leaving case"),
    "grant": _l("access grant"), "access_review": _l("access review"),
    "scan_target": _l("scan target"), "scan_run": _l("scan run"), "scan_finding": _l("scan finding"),
}


def _day(text: str, end: bool) -> datetime | None:
    if not text:
        return None
    try:
        day = jpdate.parse(text)
    except jpdate.DateFormatError:
        return None
    return timezone.make_aware(datetime.combine(day, time.max if end else time.min))


def filter_events(params: dict[str, str]) -> QuerySet:
    qs = AuditEvent.objects.all()
    if params.get("actor"):
        qs = qs.filter(actor_name__icontains=params["actor"])
    if params.get("action"):
        qs = qs.filter(action=params["action"])
    if params.get("object"):
        qs = qs.filter(object_repr__icontains=params["object"]) | qs.filter(object_id=params["object"])
    if params.get("ip"):
        qs = qs.filter(ip__startswith=params["ip"])
    start, end = _day(params.get("from", ""), False), _day(params.get("to", ""), True)
    if start:
        qs = qs.filter(at__gte=start)
    if end:
        qs = qs.filter(at__lte=end)
    return qs.order_by("-seq")


def audit_list(request: HttpRequest) -> HttpResponse:
    access.require(access.can_view_audit(request.user))
    params = query_filters(request, ("actor", "action", "object", "ip", "from", "to"))
    bad_dates = [k for k in ("from", "to") if params[k] and _day(params[k], False) is None]
    page = Paginator(filter_events(params), PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)  # read before this visit's own record is appended
    for event in page.object_list:
        event.type_label = OBJECT_TYPES.get(event.object_type, event.object_type)
    chain.record(Action.LIST, request=request, object_type="audit", details={k: v for k, v in params.items() if v})
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "audit/list.html", {
        "page": page, "f": params, "actions": Action.choices, "query": query.urlencode(), "bad_dates": bad_dates,
    })


@require_POST
def audit_verify(request: HttpRequest) -> HttpResponse:
    access.require(access.can_view_audit(request.user))
    result = chain.verify()
    chain.record(Action.VERIFY, request=request, object_type="audit",
                 details={"ok": result.ok, "checked": result.checked, "problems": len(result.problems)})
    if result.ok:
        messages.success(request, _("The audit trail is intact: %(n)d records verified.") % {"n": result.checked})
    else:
        messages.error(request, _("The audit trail failed verification: %(p)d problems in %(n)d records "
                                  "(first at record %(seq)d).")
                       % {"p": len(result.problems), "n": result.checked, "seq": result.problems[0].seq})
    return redirect("audit-list")
