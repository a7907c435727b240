"""Login; people and access groups for system administrators; people's pages, side-job notices and the HR
import for system administrators and trade-secret managers."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.views import LoginView
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from himitsu.errors import InputError
from himitsu.web.accounts import access, people_io, records
from himitsu.web.accounts.forms import GroupForm, SideJobNoticeForm, UserForm
from himitsu.web.accounts.models import LEAVING_SOON_DAYS, AccessGroup, Department, PersonType, SideJobNotice, User
from himitsu.web.audit import chain
from himitsu.web.audit.models import Action
from himitsu.web.core.errors import message
from himitsu.web.core.views import posted, query_filters
from himitsu.web.register import io as register_io
from himitsu.web.register.services import Context

LEAVING_STATUSES = [
    ("active", gettext_lazy("Active")),
    ("leaving_soon", gettext_lazy("Leaving soon (within 30 days)")),
    ("left", gettext_lazy("Left")),
]


class HimitsuLoginView(LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


def leaving_filter(status: str) -> Q:
    """People by their leaving date: ``active``, ``leaving_soon`` (within 30 days) or ``left``."""
    today = timezone.localdate()
    soon = today + timedelta(days=LEAVING_SOON_DAYS)
    if status == "left":
        return Q(left_on__lt=today)
    if status == "leaving_soon":
        return Q(left_on__gte=today, left_on__lte=soon)
    return Q(left_on__isnull=True) | Q(left_on__gt=soon)


def _people(request: HttpRequest) -> tuple[QuerySet, dict[str, str]]:
    f = query_filters(request, ("department", "type", "status"), 50)
    users = User.objects.select_related("department").prefetch_related("access_groups").order_by("username")
    if f["department"]:
        users = users.filter(department__code=f["department"])
    if f["type"]:
        users = users.filter(person_type=f["type"])
    if f["status"] in dict(LEAVING_STATUSES):
        users = users.filter(leaving_filter(f["status"]))
    return users, f


def user_list(request: HttpRequest) -> HttpResponse:
    access.require(access.can_list_people(request.user))
    users, f = _people(request)
    return render(request, "accounts/users.html", {
        "users": users, "groups": AccessGroup.objects.all(), "f": f, "departments": Department.objects.all(),
        "types": PersonType.choices, "statuses": LEAVING_STATUSES,
        "can_import_people": access.can_import_people(request.user),
        "can_view_person": access.can_view_person(request.user),
        "can_manage_users": access.can_manage_users(request.user),
    })


def _person_page(request: HttpRequest, person: User, form: SideJobNoticeForm | None = None,
                 status: int = 200) -> HttpResponse:
    can_manage = access.can_manage_side_jobs(request.user, person)
    if form is None and can_manage:
        form = SideJobNoticeForm()
    return render(request, "accounts/person.html", {
        "person": person, "notices": person.side_job_notices.select_related("decided_by"),
        **records.person_records(request.user, person),
        "form": form, "can_manage_side_jobs": can_manage, "can_manage_users": access.can_manage_users(request.user),
        "can_open_case": access.can_open_case_for(request.user, person),
        "open_kinds": set(person.workflow_cases.filter(status="open").values_list("kind", flat=True)),
    }, status=status)


def person_detail(request: HttpRequest, pk: int) -> HttpResponse:
    access.require(access.can_view_person(request.user))
    person = get_object_or_404(User.objects.select_related("department"), pk=pk)
    access.require(access.can_view_person(request.user, person))
    return _person_page(request, person)


@require_POST
def side_job_add(request: HttpRequest, pk: int) -> HttpResponse:
    access.require(access.can_manage_side_jobs(request.user))
    person = get_object_or_404(User.objects.select_related("department"), pk=pk)
    access.require(access.can_manage_side_jobs(request.user, person))
    form = SideJobNoticeForm(request.POST)
    form.instance.person = person
    if not form.is_valid():
        return _person_page(request, person, form, status=400)
    with transaction.atomic():
        notice = form.save()
        chain.record(Action.CREATE, request=request, object_type="side_job", object_id=notice.pk,
                     object_repr=str(notice)[:250], details={"person": person.username})
    messages.success(request, _("The side-job notice was recorded."))
    return redirect("person-detail", pk=person.pk)


@require_POST
def side_job_decide(request: HttpRequest, pk: int, notice_pk: int) -> HttpResponse:
    access.require(access.can_manage_side_jobs(request.user))
    notice = get_object_or_404(SideJobNotice.objects.select_related("person"), pk=notice_pk, person_id=pk)
    access.require(access.can_manage_side_jobs(request.user, notice.person))
    decision = {"approve": SideJobNotice.Status.APPROVED, "reject": SideJobNotice.Status.REJECTED}.get(
        request.POST.get("decision", ""))
    if decision is None:
        return HttpResponseBadRequest(_("Choose approve or reject."))
    with transaction.atomic():
        before = notice.status
        notice.status, notice.decided_by, notice.decided_at = decision, request.user, timezone.now()
        notice.save(update_fields=["status", "decided_by", "decided_at"])
        chain.record(Action.UPDATE, request=request, object_type="side_job", object_id=notice.pk,
                     object_repr=str(notice)[:250],
                     details={"person": notice.person.username, "status": [before, str(decision)]})
    messages.success(request, _("The side-job notice was approved.") if decision == SideJobNotice.Status.APPROVED
                     else _("The side-job notice was rejected."))
    return redirect("person-detail", pk=pk)


@require_http_methods(["GET", "POST"])
def people_import(request: HttpRequest) -> HttpResponse:
    """The HR import page (the work is done by ``people_io.import_people``, shared with the CLI)."""
    access.require(access.can_import_people(request.user))
    limit = register_io.max_bytes()
    context: dict[str, object] = {"columns": people_io.COLUMNS, "max_bytes": limit,
                                  "max_rows": register_io.max_rows(), "sheet": people_io.SHEET_NAME,
                                  "can_manage_users": access.can_manage_users(request.user)}
    status = 200
    if request.method == "POST":
        upload = request.FILES.get("file")
        dry_run = bool(request.POST.get("dry_run"))
        context["dry_run"] = dry_run
        if upload is None:
            context["file_error"] = _("Choose a .xlsx or .csv file.")
            status = 400
        elif upload.size is not None and upload.size > limit:
            context["file_error"] = message(InputError("io.too_large", size=upload.size, limit=limit))
            status = 400
        else:
            ctx = Context(actor=request.user, channel="web", request=request)
            try:
                result = people_io.import_people(ctx, upload.name or "", upload.read(), dry_run=dry_run)
            except InputError as exc:
                context["file_error"] = message(exc)
                status = 400
            else:
                if result.ok and not dry_run:
                    messages.success(request, _(
                        "Imported: %(c)d created, %(u)d updated, %(s)d unchanged, %(d)d deactivated.")
                        % {"c": result.created, "u": result.updated, "s": result.unchanged, "d": result.deactivated})
                    return redirect("people-import")
                context["result"] = result
                status = 200 if result.ok else 400
    return render(request, "accounts/import.html", context, status=status)


def _saved(request: HttpRequest, form: UserForm | GroupForm, kind: str, creating: bool) -> None:
    from himitsu.web.register.services import reassess_all

    with transaction.atomic():
        obj = form.save()
        chain.record(Action.CREATE if creating else Action.UPDATE, request=request, object_type=kind,
                     object_id=obj.pk, object_repr=str(obj)[:250],
                     details={"fields": sorted(f for f in form.changed_data if f != "password")})
        if kind == "user" and "left_on" in form.changed_data:
            from himitsu.web.workflows.services import open_leaving_case

            open_leaving_case(Context(actor=request.user, channel="web", request=request), obj)  # 退職手続き
        reassess_all()  # who has access, and the organisation's size, feed every entry's score


def _edit(request: HttpRequest, form_class: type[UserForm] | type[GroupForm], pk: int | None, kind: str,
          saved_message: str) -> HttpResponse:
    access.require(access.can_manage_users(request.user))
    model = form_class._meta.model
    instance = get_object_or_404(model, pk=pk) if pk else None
    form = form_class(posted(request), instance=instance)
    if request.method == "POST" and form.is_valid():
        _saved(request, form, kind, instance is None)
        messages.success(request, saved_message)
        return redirect("user-list")
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "accounts/form.html", {"form": form, "kind": kind, "obj": instance}, status=status)


@require_http_methods(["GET", "POST"])
def user_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    return _edit(request, UserForm, pk, "user", _("The user was saved."))


@require_http_methods(["GET", "POST"])
def group_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    return _edit(request, GroupForm, pk, "group", _("The access group was saved."))
