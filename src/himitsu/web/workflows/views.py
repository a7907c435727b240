"""Joining and leaving pages: the cases list, a case with its steps and evidence forms, the open-case form."""

from __future__ import annotations

import io
from typing import Any

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from himitsu.errors import InputError
from himitsu.web.accounts import access
from himitsu.web.accounts.models import Department
from himitsu.web.audit import chain
from himitsu.web.audit.models import Action
from himitsu.web.core.errors import message
from himitsu.web.core.views import posted, query_filters
from himitsu.web.register.services import Context
from himitsu.web.workflows import services
from himitsu.web.workflows.forms import OpenCaseForm
from himitsu.web.workflows.models import Case, CaseStatus, Kind, Step, StepStatus

SHOW = ("open", "overdue", "all")


def ctx(request: HttpRequest) -> Context:
    return Context(actor=request.user, channel="web", request=request)


def _lang() -> str:
    return "en" if (get_language() or "ja").startswith("en") else "ja"


def visible_or_404(request: HttpRequest, pk: int) -> Case:
    case = access.visible_cases(request.user, Case.objects.select_related("person", "person__department")) \
        .filter(pk=pk).first()
    if case is None:
        if Case.objects.filter(pk=pk).exists():
            chain.record(Action.DENIED, request=request, object_type="workflow_case", object_id=pk)
        raise Http404(_("The case does not exist or you do not have access to it."))
    return case


def case_list(request: HttpRequest) -> HttpResponse:
    access.require(access.can_list_cases(request.user))
    f = query_filters(request, ("show", "kind", "department"), 50)
    if f["show"] not in SHOW:
        f["show"] = "open"
    today = timezone.localdate()
    cases = access.visible_cases(request.user, Case.objects.select_related("person", "person__department"))
    if f["show"] in ("open", "overdue"):
        cases = cases.filter(status=CaseStatus.OPEN)
    if f["show"] == "overdue":
        cases = cases.filter(steps__status=StepStatus.OPEN, steps__due_on__lt=today).distinct()
    if f["kind"] in Kind.values:
        cases = cases.filter(kind=f["kind"])
    if f["department"]:
        cases = cases.filter(person__department__code=f["department"])
    rows = []
    for case in cases.order_by("due_on", "pk")[:500]:
        steps = list(access.visible_steps(request.user, case))
        rows.append({"case": case, "done": sum(1 for s in steps if s.done), "total": len(steps),
                     "overdue": case.status == CaseStatus.OPEN and any(services.is_overdue(s, today) for s in steps),
                     "all_steps": access.can_see_all_steps(request.user, case)})
    return render(request, "workflows/list.html", {
        "rows": rows, "f": f, "kinds": Kind.choices, "departments": Department.objects.all(),
        "can_open": access.can_open_cases(request.user)})


@require_http_methods(["GET", "POST"])
def case_new(request: HttpRequest) -> HttpResponse:
    access.require(access.can_open_cases(request.user))
    initial = {"kind": request.GET.get("kind", Kind.LEAVING)}
    if request.GET.get("person", "").isdigit():
        initial["person"] = int(request.GET["person"])
    form = OpenCaseForm(posted(request), user=request.user, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                case = services.open_case(ctx(request), form.cleaned_data["person"], form.cleaned_data["kind"],
                                          due_on=form.cleaned_data.get("due_on"),
                                          other_company=form.cleaned_data.get("other_company", False))
            except InputError as exc:
                form.add_error(None, message(exc))
            else:
                messages.success(request, _("Case %(number)s was opened; the step owners were notified.")
                                 % {"number": case.number})
                return redirect("workflows:detail", pk=case.pk)
        status = 400
    return render(request, "workflows/new.html", {"form": form}, status=status)


def case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    case = visible_or_404(request, pk)
    if case.status == CaseStatus.OPEN and (access.can_manage_case(request.user, case)
                                           or case.steps.filter(owner_id=request.user.pk).exists()):
        services.sync_pledges(ctx(request), case)  # a pledge acknowledged since completes its step
    chain.record(Action.VIEW, request=request, object_type="workflow_case", object_id=case.pk,
                 object_repr=case.number)
    today = timezone.localdate()
    lang = _lang()
    all_steps = list(case.steps.all())
    steps = list(access.visible_steps(request.user, case).select_related("owner", "pledge", "completed_by"))
    is_open = case.status == CaseStatus.OPEN
    rows = [{"step": s, "title": s.title_in(lang), "help": s.help_in(lang), "overdue": services.is_overdue(s, today),
             "can_complete": is_open and not s.done and access.can_complete_step(request.user, s)
             and (s.action != "revoke_access" or access.can_revoke_access(request.user, case.person))}
            for s in steps]
    done = sum(1 for s in all_steps if s.done)
    return render(request, "workflows/detail.html", {
        "case": case, "rows": rows, "done": sum(1 for s in steps if s.done), "total": len(steps),
        "all_steps": access.can_see_all_steps(request.user, case), "all_done": done == len(all_steps),
        "can_manage": is_open and access.can_manage_case(request.user, case), "min_note": services.MIN_NOTE,
        "max_file": services.MAX_EVIDENCE_BYTES, "can_view_person": access.can_view_person(request.user)})


def _step_or_404(request: HttpRequest, case: Case, step_pk: int) -> Step:
    step = access.visible_steps(request.user, case).filter(pk=step_pk).select_related("case", "case__person").first()
    if step is None:
        raise Http404(_("The step does not exist or you do not have access to it."))
    return step


@require_POST
def step_complete(request: HttpRequest, pk: int, step_pk: int) -> HttpResponse:
    case = visible_or_404(request, pk)
    step = _step_or_404(request, case, step_pk)
    access.require(access.can_complete_step(request.user, step))
    upload = request.FILES.get("file")
    try:
        if upload is not None and upload.size is not None and upload.size > services.MAX_EVIDENCE_BYTES:
            raise InputError("io.too_large", size=upload.size, limit=services.MAX_EVIDENCE_BYTES)
        data = upload.read(services.MAX_EVIDENCE_BYTES + 1) if upload is not None else b""
        services.complete_step(ctx(request), step, request.POST.get("note", ""),
                               (upload.name or "") if upload is not None else "", data)
    except InputError as exc:
        messages.error(request, message(exc))
    else:
        messages.success(request, _("The step was completed."))
    return redirect("workflows:detail", pk=case.pk)


def step_file(request: HttpRequest, pk: int, step_pk: int) -> HttpResponse:
    case = visible_or_404(request, pk)
    step = _step_or_404(request, case, step_pk)
    if not step.evidence_path:
        raise Http404(_("No file was stored for this step."))
    try:
        name, data = services.evidence_file(step)
    except InputError as exc:
        raise Http404(message(exc)) from None
    chain.record(Action.EXPORT, request=request, object_type="workflow_case", object_id=case.pk,
                 object_repr=case.number, details={"step": step.code, "sha256": step.evidence_sha256})
    response = FileResponse(io.BytesIO(data), as_attachment=True, filename=name,
                            content_type="application/octet-stream")
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _closing(request: HttpRequest, pk: int, action: Any, done: str) -> HttpResponse:
    case = visible_or_404(request, pk)
    access.require(access.can_manage_case(request.user, case))
    try:
        action(case)
    except InputError as exc:
        messages.error(request, message(exc))
    else:
        messages.success(request, done % {"number": case.number})
    return redirect("workflows:detail", pk=case.pk)


@require_POST
def case_complete(request: HttpRequest, pk: int) -> HttpResponse:
    return _closing(request, pk, lambda case: services.complete_case(ctx(request), case),
                    _("Case %(number)s is complete."))


@require_POST
def case_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _closing(request, pk, lambda case: services.cancel_case(ctx(request), case, request.POST.get("reason", "")),
                    _("Case %(number)s was cancelled."))
