"""Grant pages (per register entry) and access reviews."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from himitsu.errors import HimitsuError
from himitsu.web.accounts import access
from himitsu.web.core.errors import message
from himitsu.web.core.views import posted
from himitsu.web.grants import services
from himitsu.web.grants.forms import DecideForm, GrantForm, ReviewForm, RevokeForm
from himitsu.web.grants.models import Grant, Review
from himitsu.web.register import services as register
from himitsu.web.register.models import Secret
from himitsu.web.register.services import Context


def ctx(request: HttpRequest) -> Context:
    return Context(actor=request.user, channel="web", request=request)


def _entry(request: HttpRequest, pk: int) -> Secret:
    secret = register.visible_entry(ctx(request), pk)
    if secret is None or not access.can_view_grants(request.user, secret):
        raise Http404()
    return secret


@require_http_methods(["GET", "POST"])
def secret_grants(request: HttpRequest, pk: int) -> HttpResponse:
    """The entry's live and past grants; add a grant (those who may edit the entry)."""
    secret = _entry(request, pk)
    can_manage = access.can_manage_grants(request.user, secret)
    form = GrantForm(posted(request))
    if request.method == "POST":
        access.require(can_manage)
        if form.is_valid():
            d = form.cleaned_data
            try:
                services.grant(ctx(request), secret, user=d["user"], group=d["group"], reason=d["reason"],
                               expires_on=d["expires_on"])
            except HimitsuError as exc:
                form.add_error(None, message(exc))
            else:
                messages.success(request, _("Access was granted."))
                return redirect("grants:secret", pk=secret.pk)
    grants = Grant.objects.filter(secret=secret).select_related("user", "group").order_by("-granted_at", "-pk")
    return render(request, "grants/secret.html", {
        "secret": secret, "live": [g for g in grants if g.revoked_at is None],
        "past": [g for g in grants if g.revoked_at is not None], "form": form, "can_manage": can_manage,
        "revoke_form": RevokeForm()})


@require_POST
def grant_revoke(request: HttpRequest, pk: int, grant_pk: int) -> HttpResponse:
    secret = _entry(request, pk)
    access.require(access.can_manage_grants(request.user, secret))
    g = Grant.objects.filter(pk=grant_pk, secret=secret).select_related("secret").first()
    if g is None:
        raise Http404()
    form = RevokeForm(request.POST)
    form.is_valid()
    try:
        services.revoke(ctx(request), g, form.cleaned_data.get("reason", ""))
    except HimitsuError as exc:
        messages.error(request, message(exc))
    else:
        messages.success(request, _("The access was revoked."))
    return redirect("grants:secret", pk=secret.pk)


@require_http_methods(["GET", "POST"])
def review_list(request: HttpRequest) -> HttpResponse:
    access.require(access.can_list_reviews(request.user))
    can_open = access.can_open_reviews(request.user)
    form = ReviewForm(posted(request))
    if request.method == "POST":
        access.require(can_open)
        if form.is_valid():
            d = form.cleaned_data
            try:
                review = services.open_review(ctx(request), d["department"], d["period"], d["due_on"])
            except HimitsuError as exc:
                form.add_error(None, message(exc))
            else:
                messages.success(request, _("The access review was opened."))
                return redirect("grants:review", pk=review.pk)
    reviews = access.visible_reviews(request.user).select_related("department").prefetch_related("reviewers")
    return render(request, "grants/reviews.html", {"reviews": reviews, "form": form, "can_open": can_open})


def _review(request: HttpRequest, pk: int) -> Review:
    review = access.visible_reviews(request.user).filter(pk=pk).select_related("department").first()
    if review is None:
        raise Http404()
    return review


def review_detail(request: HttpRequest, pk: int) -> HttpResponse:
    review = _review(request, pk)
    items = review.items.select_related("grant", "grant__secret", "grant__user", "grant__group").order_by(
        "grant__secret__management_number", "pk")
    return render(request, "grants/review.html", {
        "review": review, "items": items, "can_decide": access.can_decide_review(request.user, review),
        "undecided": sum(1 for i in items if not i.decision), "decide_form": DecideForm()})


@require_POST
def review_decide(request: HttpRequest, pk: int, item_pk: int) -> HttpResponse:
    review = _review(request, pk)
    access.require(access.can_decide_review(request.user, review))
    item = review.items.filter(pk=item_pk).first()
    if item is None:
        raise Http404()
    form = DecideForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose confirm or revoke."))
    else:
        try:
            services.decide(ctx(request), item, form.cleaned_data["decision"], form.cleaned_data["note"])
        except HimitsuError as exc:
            messages.error(request, message(exc))
    return redirect("grants:review", pk=review.pk)


@require_POST
def review_close(request: HttpRequest, pk: int) -> HttpResponse:
    review = _review(request, pk)
    access.require(access.can_decide_review(request.user, review))
    try:
        services.close(ctx(request), review)
    except HimitsuError as exc:
        messages.error(request, message(exc))
    else:
        messages.success(request, _("The access review was closed."))
    return redirect("grants:review", pk=review.pk)
