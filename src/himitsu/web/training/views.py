"""Training pages: my training, courses, record completions, overdue per department."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from himitsu.errors import HimitsuError
from himitsu.web.accounts import access
from himitsu.web.audit import chain
from himitsu.web.audit.models import Action
from himitsu.web.core.errors import message
from himitsu.web.core.views import posted
from himitsu.web.register.services import Context
from himitsu.web.training import services
from himitsu.web.training.forms import CourseForm, RecordForm
from himitsu.web.training.models import Course


def ctx(request: HttpRequest) -> Context:
    return Context(actor=request.user, channel="web", request=request)


def _flags(request: HttpRequest) -> dict[str, bool]:
    user = request.user
    return {"can_manage": access.can_manage_courses(user), "can_record": access.can_record_training(user),
            "can_overview": access.can_view_training_overview(user)}


def mine(request: HttpRequest) -> HttpResponse:
    """The signed-in person's required courses with due dates, and their completions."""
    rows = services.status([request.user])
    completions = services.visible_completions(request.user).filter(person=request.user)
    return render(request, "training/mine.html", {"rows": rows, "completions": completions, **_flags(request)})


def courses(request: HttpRequest) -> HttpResponse:
    return render(request, "training/courses.html", {
        "courses": Course.objects.prefetch_related("departments"), **_flags(request)})


@require_http_methods(["GET", "POST"])
def course_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    access.require(access.can_manage_courses(request.user))
    course = None
    if pk is not None:
        course = Course.objects.filter(pk=pk).first()
        if course is None:
            raise Http404()
    form = CourseForm(posted(request), instance=course)
    if form.is_valid():
        try:
            saved = services.save_course(ctx(request), form.save(commit=False), form.cleaned_data["departments"])
        except HimitsuError as exc:
            form.add_error(None, message(exc))
        else:
            messages.success(request, _("The course %(code)s was saved.") % {"code": saved.code})
            return redirect("training:courses")
    return render(request, "training/course_form.html", {"form": form, "course": course},
                  status=400 if form.is_bound and form.errors else 200)


@require_http_methods(["GET", "POST"])
def record(request: HttpRequest) -> HttpResponse:
    """Record completions for one person or many at once (all or none)."""
    access.require(access.can_record_training(request.user))
    form = RecordForm(posted(request), actor=request.user)
    errors: list[str] = []
    if form.is_valid():
        data = form.cleaned_data
        people = list(data["people"])
        found = services.problems(request.user, data["course"], people, data["completed_on"], data["score"])
        if found:
            errors = [message(e) for e in found]
        else:
            done = services.record(ctx(request), data["course"], people, data["completed_on"], data["score"],
                                   data["note"])
            messages.success(request, _("Recorded %(count)d completions.") % {"count": len(done)})
            return redirect("training:record")
    status = 400 if form.is_bound and (form.errors or errors) else 200
    recent = services.visible_completions(request.user).order_by("-recorded_at", "-pk")[:30]
    return render(request, "training/record.html", {"form": form, "errors": errors, "recent": recent},
                  status=status)


def overdue(request: HttpRequest) -> HttpResponse:
    """Overdue courses per department (bar chart) and the list, for the people the user may see."""
    access.require(access.can_view_training_overview(request.user))
    rows = services.overdue(request.user)
    depts = services.per_department(rows)
    top = max((d.overdue for d in depts), default=0) or 1
    bars = [{"d": d, "pct": round(100 * d.overdue / top)} for d in depts]
    chain.record(Action.LIST, request=request, object_type="training_completion", details={"overdue": len(rows)})
    return render(request, "training/overdue.html", {"rows": rows, "bars": bars, **_flags(request)})
