"""Pledge pages: my pledges, issue, managers' list with reminders, detail with verification, PDF, upload."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from himitsu.catalog import pledges as catalog
from himitsu.errors import HimitsuError, InputError
from himitsu.web.accounts import access
from himitsu.web.accounts.models import Department
from himitsu.web.audit import chain
from himitsu.web.audit.models import Action
from himitsu.web.core.errors import message
from himitsu.web.core.views import posted, query_filters
from himitsu.web.pledges import services
from himitsu.web.pledges.forms import IssueForm
from himitsu.web.pledges.models import Pledge, Status
from himitsu.web.register.services import Context

PAGE_SIZE = 50


def ctx(request: HttpRequest) -> Context:
    return Context(actor=request.user, channel="web", request=request)


def visible_or_404(request: HttpRequest, pk: int) -> Pledge:
    pledge = services.visible_pledge(ctx(request), pk)
    if pledge is None:
        raise Http404(_("The pledge does not exist or you do not have access to it."))
    return pledge


def _lang() -> str:
    return "en" if (get_language() or "ja").startswith("en") else "ja"


def _template_titles() -> dict[str, str]:
    lang = _lang()
    return {t.code: t.title_in(lang) for t in catalog.catalog().templates.values()}


def _flags(request: HttpRequest) -> dict[str, Any]:
    return {"can_issue": access.can_issue_pledges(request.user),
            "can_list": access.can_list_pledges(request.user)}


def mine(request: HttpRequest) -> HttpResponse:
    """The signed-in person's own pledges: the ones to acknowledge with their full text, then the rest."""
    today = timezone.localdate()
    own = list(Pledge.objects.filter(person_id=request.user.pk).prefetch_related("secrets"))
    open_ = [p for p in own if p.status == Status.ISSUED and not services.is_expired(p, today)]
    others = [p for p in own if p not in open_]
    return render(request, "pledges/mine.html", {
        "open": open_, "others": others, "today": today, "titles": _template_titles(), **_flags(request)})


@require_POST
def acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    pledge = visible_or_404(request, pk)
    try:
        services.acknowledge(ctx(request), pledge, confirmed=request.POST.get("confirm") == "1",
                             seen_sha256=request.POST.get("text_sha256", ""))
    except InputError as exc:
        messages.error(request, message(exc))
    else:
        messages.success(request, _("Thank you. Your acknowledgement of %(number)s was recorded.")
                         % {"number": pledge.number})
    return redirect("pledges:mine")


@require_http_methods(["GET", "POST"])
def issue(request: HttpRequest) -> HttpResponse:
    access.require(access.can_issue_pledges(request.user))
    initial = _prefill(request)
    form = IssueForm(posted(request), actor=request.user, language=_lang(), initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            pledge = services.issue(ctx(request), form.request())
        except InputError as exc:
            form.add_error(None, message(exc))
        else:
            messages.success(request, _("Pledge %(number)s was issued to %(person)s.")
                             % {"number": pledge.number, "person": pledge.person})
            return redirect("pledges:detail", pk=pledge.pk)
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "pledges/issue.html", {"form": form, **_flags(request)}, status=status)


def _prefill(request: HttpRequest) -> dict[str, Any]:
    """?person=ID&template=CODE preselect; for the leaving pledge, also the entries the person can access
    (among those the issuer may see), which the pledge must name."""
    initial: dict[str, Any] = {}
    template = request.GET.get("template", "")
    if template in catalog.catalog().templates:
        initial["template"] = template
        if "categories" in catalog.catalog().templates[template].requires:
            initial["categories"] = list(catalog.catalog().categories)  # all, to narrow down if need be
    pk = request.GET.get("person", "")
    person = access.pledge_recipients(request.user).filter(pk=int(pk)).first() if pk.isdigit() else None
    if person is not None:
        initial["person"] = person.pk
        if template == "leaving":
            mine = access.visible_secrets(request.user).values("pk")
            initial["secrets"] = list(access.visible_secrets(person).filter(pk__in=mine).values_list("pk", flat=True))
    return initial


def manage(request: HttpRequest) -> HttpResponse:
    """Managers' list with filters (missing, expiring, status, template, department, person) and reminders."""
    access.require(access.can_list_pledges(request.user))
    today = timezone.localdate()
    f = query_filters(request, ("show", "status", "template", "department", "q"))
    qs = access.visible_pledges(request.user).select_related("person__department")
    if f["show"] == "missing":
        qs = services.missing_pledges(qs, today)
    elif f["show"] == "expiring":
        qs = services.expiring_pledges(qs, today)
    if f["status"]:
        qs = qs.filter(status=f["status"])
    if f["template"]:
        qs = qs.filter(template_code=f["template"])
    if f["department"]:
        qs = qs.filter(person__department__code=f["department"])
    if f["q"]:
        qs = qs.filter(Q(person__username__icontains=f["q"]) | Q(person__display_name__icontains=f["q"]))
    page = Paginator(qs.order_by("-issued_at", "-pk"), PAGE_SIZE).get_page(request.GET.get("page"))
    chain.record(Action.LIST, request=request, object_type="pledge",
                 details={k: v for k, v in f.items() if v} | {"count": page.paginator.count})
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "pledges/list.html", {
        "page": page, "f": f, "query": query.urlencode(), "today": today,
        "reminders": services.reminders(request.user, today), "titles": _template_titles(),
        "statuses": Status.choices, "departments": Department.objects.all(),
        "expiring_days": services.EXPIRING_DAYS, **_flags(request)})


def detail(request: HttpRequest, pk: int) -> HttpResponse:
    pledge = visible_or_404(request, pk)
    chain.record(Action.VIEW, request=request, object_type="pledge", object_id=pledge.pk,
                 object_repr=pledge.number)
    verification = services.verify(pledge)
    return render(request, "pledges/detail.html", {
        "pledge": pledge, "verification": verification,
        "problems": [message(HimitsuError(code, id=pledge.pk)) for code in verification.problems],
        "secrets": pledge.secrets.all(), "template_title": _template_titles().get(pledge.template_code, ""),
        "categories": [catalog.catalog().categories[c].text(_lang()) for c in pledge.categories
                       if c in catalog.catalog().categories],
        "can_manage": access.can_manage_pledge(request.user, pledge),
        "can_acknowledge": access.can_acknowledge_pledge(request.user, pledge),
        "expired": services.is_expired(pledge), "missing": services.is_missing(pledge),
        "max_upload": services.MAX_SIGNED_BYTES, **_flags(request)})


def pdf(request: HttpRequest, pk: int) -> HttpResponse:
    from himitsu.web.pledges.pdf import render_pdf

    pledge = visible_or_404(request, pk)
    data = render_pdf({"pledge": pledge, "lang": _lang()})
    chain.record(Action.EXPORT, request=request, object_type="pledge", object_id=pledge.pk,
                 object_repr=pledge.number, details={"format": "pdf", "size": len(data)})
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{pledge.number}.pdf"'
    return response


@require_POST
def upload(request: HttpRequest, pk: int) -> HttpResponse:
    pledge = visible_or_404(request, pk)
    access.require(access.can_manage_pledge(request.user, pledge))
    upload_file = request.FILES.get("file")
    try:
        if upload_file is None:
            raise InputError("pledge.upload_empty")
        if upload_file.size is not None and upload_file.size > services.MAX_SIGNED_BYTES:
            raise InputError("io.too_large", size=upload_file.size, limit=services.MAX_SIGNED_BYTES)
        services.upload_signed(ctx(request), pledge, upload_file.name or "signed.pdf",
                               upload_file.read(services.MAX_SIGNED_BYTES + 1))
    except InputError as exc:
        messages.error(request, message(exc))
        return redirect("pledges:detail", pk=pledge.pk)
    messages.success(request, _("The signed PDF was stored."))
    return redirect("pledges:detail", pk=pledge.pk)


def signed(request: HttpRequest, pk: int) -> HttpResponse:
    pledge = visible_or_404(request, pk)
    if not pledge.signed_path:
        raise Http404(_("No signed PDF was uploaded for this pledge."))
    try:
        data = services.signed_file(pledge)
    except InputError as exc:
        raise Http404(message(exc)) from None
    chain.record(Action.EXPORT, request=request, object_type="pledge", object_id=pledge.pk,
                 object_repr=pledge.number, details={"format": "signed_pdf", "sha256": pledge.signed_sha256})
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{pledge.number}-signed.pdf"'
    return response


@require_POST
def revoke(request: HttpRequest, pk: int) -> HttpResponse:
    pledge = visible_or_404(request, pk)
    access.require(access.can_manage_pledge(request.user, pledge))
    try:
        services.revoke(ctx(request), pledge, request.POST.get("reason", ""))
    except InputError as exc:
        messages.error(request, message(exc))
    else:
        messages.success(request, _("Pledge %(number)s was revoked.") % {"number": pledge.number})
    return redirect("pledges:detail", pk=pledge.pk)
