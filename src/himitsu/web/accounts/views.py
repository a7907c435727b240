"""Login, and people and access groups for system administrators."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.views import LoginView
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from himitsu.web.accounts import access
from himitsu.web.accounts.forms import GroupForm, UserForm
from himitsu.web.accounts.models import AccessGroup, User
from himitsu.web.audit import chain
from himitsu.web.audit.models import Action
from himitsu.web.core.views import posted


class HimitsuLoginView(LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


def user_list(request: HttpRequest) -> HttpResponse:
    access.require(access.can_manage_users(request.user))
    users = User.objects.select_related("department").prefetch_related("access_groups").order_by("username")
    return render(request, "accounts/users.html", {"users": users, "groups": AccessGroup.objects.all()})


def _saved(request: HttpRequest, form: UserForm | GroupForm, kind: str, creating: bool) -> None:
    from himitsu.web.register.services import reassess_all

    with transaction.atomic():
        obj = form.save()
        chain.record(Action.CREATE if creating else Action.UPDATE, request=request, object_type=kind,
                     object_id=obj.pk, object_repr=str(obj)[:250],
                     details={"fields": sorted(f for f in form.changed_data if f != "password")})
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
