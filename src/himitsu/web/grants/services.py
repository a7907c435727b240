"""The only writer of access grants and access reviews.

``sync`` is called after every change of an entry's allowed users/groups made elsewhere (register save,
import, API, revoking a leaver's access); ``grant`` / ``revoke`` / ``expire`` change the memberships
themselves. Every change is audited (object type ``grant``), appends a revision of the entry and
reassesses its secrecy-evidence score, in one transaction.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from himitsu.errors import InputError, PermissionDeniedError
from himitsu.web.accounts import access
from himitsu.web.accounts.models import AccessGroup, Department, Role, User
from himitsu.web.audit import chain
from himitsu.web.audit.models import Action
from himitsu.web.grants.models import (
    EXISTING_REASON,
    OUTSIDE_REASON,
    REASON_API,
    REASON_FORM,
    REASON_IMPORT,
    Decision,
    Grant,
    Review,
    ReviewItem,
    Source,
)
from himitsu.web.register import services as register
from himitsu.web.register.models import Secret, SecretRevision
from himitsu.web.register.services import Context

# Reasons recorded for grants made or ended by a change elsewhere (English: the record is data; shown translated).
SYNC_REASONS = {Source.FORM: REASON_FORM, Source.IMPORT: REASON_IMPORT, Source.API: REASON_API}


def _source_for(ctx: Context) -> str:
    return Source.API if ctx.channel == "api" else Source.FORM


def _name(ctx: Context) -> str:
    return ctx.actor.get_username()[:150] if ctx.actor is not None else ""


def _user(ctx: Context) -> User | None:
    return ctx.user


def _audit(ctx: Context, action: str, grant: Grant, details: dict[str, Any]) -> None:
    holder = {"user": grant.user.username} if grant.user_id else {"group": grant.group.name}
    chain.record(action, actor=ctx.actor, request=ctx.request, channel=ctx.channel, object_type="grant",
                 object_id=grant.pk, object_repr=f"{grant.secret.management_number} {grant.holder}"[:250],
                 details={"secret": grant.secret.management_number, **holder, **details})


def _create(ctx: Context, secret: Secret, holder: User | AccessGroup, reason: str, source: str,
            expires_on: date | None = None) -> Grant:
    is_user = isinstance(holder, User)
    g = Grant.objects.create(
        secret=secret, user=holder if is_user else None, group=None if is_user else holder, reason=reason[:500],
        source=source, granted_by=_user(ctx), granted_by_name=_name(ctx), granted_at=timezone.now(),
        expires_on=expires_on)
    _audit(ctx, Action.GRANT, g, {"event": "granted", "reason": g.reason, "source": source,
                                   "expires_on": expires_on.isoformat() if expires_on else None})
    return g


def _close(ctx: Context, g: Grant, reason: str, event: str = "revoked") -> Grant:
    g.revoked_at = timezone.now()
    g.revoked_by = _user(ctx)
    g.revoked_by_name = _name(ctx)
    g.revoke_reason = reason[:500]
    g.save(update_fields=["revoked_at", "revoked_by", "revoked_by_name", "revoke_reason"])
    _audit(ctx, Action.REVOKE, g, {"event": event, "reason": g.revoke_reason})
    return g


def sync(ctx: Context, secret: Secret, *, source: str | None = None, reason: str | None = None,
         revoke_reason: str | None = None) -> tuple[list[Grant], list[Grant]]:
    """Make the live grants match the entry's memberships after a change made elsewhere: a grant for each new
    person or group, and the grants of removed ones revoked. Returns (created, revoked)."""
    source = source or _source_for(ctx)
    reason = reason or SYNC_REASONS.get(source, REASON_FORM)
    revoke_reason = revoke_reason or reason
    users = set(secret.allowed_users.values_list("pk", flat=True))
    groups = set(secret.allowed_groups.values_list("pk", flat=True))
    live = list(Grant.objects.select_related("secret", "user", "group").filter(secret=secret,
                                                                              revoked_at__isnull=True))
    revoked = [_close(ctx, g, revoke_reason) for g in live
               if (g.user_id and g.user_id not in users) or (g.group_id and g.group_id not in groups)]
    have_users = {g.user_id for g in live if g.user_id}
    have_groups = {g.group_id for g in live if g.group_id}
    created = [_create(ctx, secret, u, reason, source)
               for u in User.objects.filter(pk__in=users - have_users).order_by("username")]
    created += [_create(ctx, secret, grp, reason, source)
                for grp in AccessGroup.objects.filter(pk__in=groups - have_groups).order_by("name")]
    return created, revoked


def reconcile(ctx: Context, secret: Secret) -> None:
    """Memberships that have no grant (made before grants were kept) get one as existing access."""
    sync(ctx, secret, source=Source.MIGRATION, reason=EXISTING_REASON, revoke_reason=OUTSIDE_REASON)


def _changed(ctx: Context, secret: Secret, before: dict[str, Any]) -> None:
    """After a membership change made here: reassess, and append the entry's revision."""
    register._reassess(secret)
    after = register.snapshot(secret)
    if before != after:
        register._revision(secret, secret.management_number, SecretRevision.Action.UPDATE, before, after, ctx)


def _left(person: User, today: date) -> bool:
    return not person.is_active or (person.left_on is not None and person.left_on < today)


def grant(ctx: Context, secret: Secret, *, user: User | None = None, group: AccessGroup | None = None,
          reason: str = "", expires_on: date | None = None, source: str = Source.PAGE) -> Grant:
    """Give a person or a group access to the entry, with the reason (and optionally an expiry date)."""
    access.require(access.can_manage_grants(ctx.actor, secret))
    if (user is None) == (group is None):
        raise InputError("grant.holder_required")
    reason = (reason or "").strip()
    if not reason:
        raise InputError("grant.reason_required")
    today = timezone.localdate()
    if user is not None and _left(user, today):
        raise InputError("grant.person_left", person=str(user))
    if expires_on is not None and expires_on <= today:
        raise InputError("grant.expiry_in_past")
    with transaction.atomic():
        secret = Secret.objects.select_for_update().get(pk=secret.pk)
        before = register.snapshot(secret)
        reconcile(ctx, secret)
        holder: User | AccessGroup = user if user is not None else group  # type: ignore[assignment]
        live = Grant.objects.filter(secret=secret, revoked_at__isnull=True)
        if (live.filter(user=user) if user is not None else live.filter(group=group)).exists():
            raise InputError("grant.exists", holder=str(holder))
        if user is not None:
            secret.allowed_users.add(user)
        else:
            secret.allowed_groups.add(group)
        g = _create(ctx, secret, holder, reason, source, expires_on)
        _changed(ctx, secret, before)
    return g


def _revoke(ctx: Context, g: Grant, reason: str, event: str = "revoked") -> Grant:
    with transaction.atomic():
        g = Grant.objects.select_for_update(of=("self",)).select_related("secret", "user", "group").get(pk=g.pk)
        if g.revoked_at is not None:
            raise InputError("grant.revoked")
        secret = g.secret
        before = register.snapshot(secret)
        if g.user_id:
            secret.allowed_users.remove(g.user)
        else:
            secret.allowed_groups.remove(g.group)
        _close(ctx, g, reason, event)
        _changed(ctx, secret, before)
    return g


def revoke(ctx: Context, g: Grant, reason: str) -> Grant:
    """End a grant: the person or group is removed from the entry's access."""
    access.require(access.can_manage_grants(ctx.actor, g.secret))
    reason = (reason or "").strip()
    if not reason:
        raise InputError("grant.revoke_reason_required")
    return _revoke(ctx, g, reason)


def expire(ctx: Context, today: date | None = None) -> list[Grant]:
    """Revoke every live grant whose expiry date has passed (the daily job). Returns them."""
    today = today or timezone.localdate()
    due = Grant.objects.filter(revoked_at__isnull=True, expires_on__lt=today).order_by("secret_id", "pk")
    out = []
    for g in due:
        out.append(_revoke(ctx, g, f"expired on {g.expires_on.isoformat()}", event="expired"))
    return out


def live_grants(secret: Secret) -> Any:
    return Grant.objects.filter(secret=secret, revoked_at__isnull=True).select_related("user", "group")


# --- Access reviews ----------------------------------------------------------------------------------------------


def reviewers_of(department: Department) -> Any:
    return User.objects.filter(role=Role.DEPT_MANAGER, department=department, is_active=True).order_by("username")


def open_review(ctx: Context, department: Department, period: str, due_on: date) -> Review:
    """Open a review of every live grant on the department's entries; its managers are notified."""
    from himitsu.web.notices.services import notify

    access.require(access.can_open_reviews(ctx.actor))
    if due_on < timezone.localdate():
        raise InputError("grant.review_due_in_past")
    reviewers = list(reviewers_of(department))
    if not reviewers:
        raise InputError("grant.review_no_reviewer", department=department.code)
    with transaction.atomic():
        Department.objects.select_for_update().get(pk=department.pk)
        if Review.objects.filter(department=department, closed_at__isnull=True).exists():
            raise InputError("grant.review_open", department=department.code)
        for secret in Secret.objects.filter(owner_department=department).order_by("pk"):
            reconcile(ctx, secret)  # memberships without a grant are reviewed too
        review = Review.objects.create(department=department, period=period.strip()[:40], due_on=due_on,
                                       opened_by=_user(ctx), opened_by_name=_name(ctx), opened_at=timezone.now())
        review.reviewers.set(reviewers)
        grants = Grant.objects.filter(revoked_at__isnull=True, secret__owner_department=department).order_by(
            "secret__management_number", "pk")
        ReviewItem.objects.bulk_create(ReviewItem(review=review, grant=g) for g in grants)
        chain.record(Action.CREATE, actor=ctx.actor, request=ctx.request, channel=ctx.channel,
                     object_type="access_review", object_id=review.pk, object_repr=str(review),
                     details={"department": department.code, "period": review.period, "items": grants.count(),
                              "due_on": due_on.isoformat(), "reviewers": [r.username for r in reviewers]})
        link = reverse("grants:review", args=[review.pk])
        notify(reviewers, "grant.review_opened",
               f"アクセスレビューの依頼 / Access review: {department.name} {review.period}",
               f"{department.name}の営業秘密へのアクセス権を {due_on.isoformat()} までに確認してください。\n"
               f"Please review the access to the trade secrets of {department.name_en or department.name} "
               f"by {due_on.isoformat()}.", link)
    return review


def decide(ctx: Context, item: ReviewItem, decision: str, note: str = "") -> ReviewItem:
    """Confirm a grant, or revoke it (the person or group loses access now)."""
    review = item.review
    if not access.can_decide_review(ctx.actor, review):
        raise PermissionDeniedError()
    if decision not in Decision.values:
        raise InputError("grant.decision_invalid")
    note = (note or "").strip()
    with transaction.atomic():
        item = ReviewItem.objects.select_for_update().select_related("review", "grant").get(pk=item.pk)
        if item.review.closed_at is not None:
            raise InputError("grant.review_closed")
        if item.decision:
            raise InputError("grant.review_decided")
        if decision == Decision.REVOKE:
            if item.grant.revoked_at is None:
                _revoke(ctx, item.grant, note or f"revoked in the access review {review.period}")
        elif item.grant.revoked_at is not None:
            raise InputError("grant.revoked")
        item.decision, item.note = decision, note[:500]
        item.decided_by, item.decided_by_name, item.decided_at = _user(ctx), _name(ctx), timezone.now()
        item.save()
        chain.record(Action.UPDATE, actor=ctx.actor, request=ctx.request, channel=ctx.channel,
                     object_type="access_review", object_id=review.pk, object_repr=str(review),
                     details={"event": "decided", "grant": item.grant_id, "decision": decision, "note": item.note})
    return item


def close(ctx: Context, review: Review) -> Review:
    if not access.can_decide_review(ctx.actor, review):
        raise PermissionDeniedError()
    with transaction.atomic():
        review = Review.objects.select_for_update().get(pk=review.pk)
        if review.closed_at is not None:
            raise InputError("grant.review_closed")
        undecided = review.items.filter(decision="").count()
        if undecided:
            raise InputError("grant.review_incomplete", count=undecided)
        review.closed_at = timezone.now()
        review.save(update_fields=["closed_at"])
        chain.record(Action.UPDATE, actor=ctx.actor, request=ctx.request, channel=ctx.channel,
                     object_type="access_review", object_id=review.pk, object_repr=str(review),
                     details={"event": "closed",
                              "confirmed": review.items.filter(decision=Decision.CONFIRM).count(),
                              "revoked": review.items.filter(decision=Decision.REVOKE).count()})
    return review
