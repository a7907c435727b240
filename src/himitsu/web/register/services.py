"""Every change to the register goes through here, whatever the caller (web page, API, CLI, import).

Each change checks need-to-know, recomputes the secrecy-evidence assessment, appends a
hash-linked revision of the entry and an audit record, all in one transaction.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from himitsu.catalog import checklist as cl
from himitsu.errors import InputError
from himitsu.web.accounts import access
from himitsu.web.accounts.models import User
from himitsu.web.audit import chain
from himitsu.web.audit.models import Action
from himitsu.web.register.models import EvidenceAnswer, Secret, SecretRevision, StorageLocation


@dataclass(frozen=True)
class Context:
    """Who acts, through which channel, and the HTTP request if there is one (for IP and agent)."""

    actor: Any
    channel: str = "web"
    request: Any = None

    @property
    def user(self) -> User | None:
        return self.actor if isinstance(self.actor, User) else None


def snapshot(secret: Secret) -> dict[str, Any]:
    """A JSON-able picture of the entry, as kept in its history (no ids that could change)."""
    return {
        "management_number": secret.management_number,
        "title": secret.title,
        "summary": secret.summary,
        "category": secret.category,
        "level": secret.level.name,
        "legal_type": secret.legal_type,
        "owner_department": secret.owner_department.code,
        "responsible": secret.responsible.username if secret.responsible else "",
        "allowed_users": sorted(secret.allowed_users.values_list("username", flat=True)),
        "allowed_groups": sorted(secret.allowed_groups.values_list("name", flat=True)),
        "locations": [f"{k}:{loc}" for k, loc in secret.locations.values_list("kind", "location")],
        "marking": secret.marking,
        "review_date": secret.review_date.isoformat() if secret.review_date else None,
        "protection_decision": secret.protection_decision,
        "decision_date": secret.decision_date.isoformat() if secret.decision_date else None,
        "decision_reasons": secret.decision_reasons,
        "usefulness_notes": secret.usefulness_notes,
        "published": secret.published,
        "patented": secret.patented,
        "reverse_engineerable": secret.reverse_engineerable,
        "non_public_notes": secret.non_public_notes,
        "evidence": {e.item: [e.answer, e.note] for e in secret.evidence.order_by("item")},
        "secrecy_score": secret.secrecy_score,
        "secrecy_status": secret.secrecy_status,
    }


def people_with_access(secret: Secret) -> int:
    return (
        User.objects.filter(is_active=True)
        .filter(pk__in=secret.allowed_users.values("pk"))
        .union(User.objects.filter(is_active=True, access_groups__in=secret.allowed_groups.all()))
        .count()
    )


def _access_people(secret: Secret) -> Any:
    """The active people with access (named directly or through a group), as one queryset."""
    named = Q(pk__in=secret.allowed_users.values("pk")) | Q(
        pk__in=User.access_groups.through.objects.filter(
            accessgroup_id__in=secret.allowed_groups.values("pk")).values("user_id"))
    return User.objects.filter(is_active=True).filter(named)


def pledged_people(secret: Secret) -> int:
    """How many of the people with access hold an acknowledged (or signed-on-paper), non-expired pledge that
    names this entry or its category (revoked pledges do not count)."""
    from himitsu.web.pledges.models import Pledge, Status

    today = timezone.localdate()
    current = Pledge.objects.filter(status__in=[Status.ACKNOWLEDGED, Status.SIGNED_UPLOAD]).filter(
        Q(expires_on__isnull=True) | Q(expires_on__gte=today))
    people = _access_people(secret)
    naming = current.filter(secrets=secret).values("person_id")
    # categories are a JSON list (no portable "contains" on SQLite): look only at the pledges of people with access
    by_category = [p for p, cats in current.filter(person__in=people.values("pk")).exclude(categories=[])
                   .values_list("person_id", "categories") if isinstance(cats, list) and secret.category in cats]
    return people.filter(Q(pk__in=naming) | Q(pk__in=by_category)).count()


def facts(secret: Secret) -> cl.Facts:
    return cl.Facts(
        has_summary=bool(secret.summary.strip()),
        has_responsible=secret.responsible_id is not None,
        marking=secret.marking,
        people_with_access=people_with_access(secret),
        pledged_people=pledged_people(secret),
        organisation_size=User.objects.filter(is_active=True).count(),
        location_count=secret.locations.count(),
        review_date=secret.review_date,
        today=timezone.localdate(),
        answers=dict(secret.evidence.values_list("item", "answer")),
    )


def assessment(secret: Secret) -> cl.Assessment:
    return cl.assess(facts(secret))


def _reassess(secret: Secret) -> None:
    result = assessment(secret)
    today = timezone.localdate()
    secret.secrecy_score, secret.secrecy_status, secret.checklist_version, secret.assessed_on = (
        result.score, result.status, result.version, today)
    Secret.objects.filter(pk=secret.pk).update(
        secrecy_score=result.score, secrecy_status=result.status, checklist_version=result.version,
        assessed_on=today,
    )


def refresh_stale() -> int:
    """Reassess the entries whose stored score went stale by the calendar or a new checklist version:
    a review date passed since the last assessment, or the checklist was upgraded. Returns how many."""
    today = timezone.localdate()
    version = str(cl.checklist()["version"])
    stale = Secret.objects.filter(
        Q(assessed_on__isnull=True) | ~Q(checklist_version=version)
        | Q(review_date__lt=today, review_date__gte=F("assessed_on"))
        | _expired_pledges_since_assessment(today)
    ).distinct()
    n = 0
    for secret in stale.iterator():
        _reassess(secret)
        n += 1
    return n


def _expired_pledges_since_assessment(today: Any) -> Q:
    """Entries whose pledge evidence lapsed after they were assessed: named by (or in a category of) an
    acknowledged or signed pledge that expired since."""
    from himitsu.web.pledges.models import Pledge, Status  # the pledges app builds on the register

    lapsed = Q(pledges__status__in=[Status.ACKNOWLEDGED, Status.SIGNED_UPLOAD], pledges__expires_on__lt=today,
               pledges__expires_on__gte=F("assessed_on"))
    latest: dict[str, Any] = {}
    expired = Pledge.objects.filter(status__in=[Status.ACKNOWLEDGED, Status.SIGNED_UPLOAD], expires_on__lt=today)
    for categories, expires_on in expired.exclude(categories=[]).values_list("categories", "expires_on"):
        for category in categories:
            latest[category] = max(latest.get(category, expires_on), expires_on)
    for category, expires_on in latest.items():
        lapsed |= Q(category=category, assessed_on__lte=expires_on)
    return lapsed


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    keys = dict.fromkeys([*before, *after])  # both sides: a deletion (after == {}) lists what was removed
    return {k: [before.get(k), after.get(k)] for k in keys if before.get(k) != after.get(k)}


def _revision(secret: Secret | None, number_text: str, action: str, before: dict[str, Any],
              after: dict[str, Any], ctx: Context) -> SecretRevision:
    last = SecretRevision.objects.filter(management_number=number_text).order_by("-number").first()
    # An entry whose management number was changed links to its own last revision (kept under the old
    # number) and numbers on from both, so its history stays one chain and the numbers stay unique.
    own = secret.revisions.order_by("-number", "-pk").first() if secret is not None and secret.pk else None
    link = own if own is not None and own.management_number != number_text else last
    prev_hash = link.hash if link else "0" * 64
    now = timezone.now()
    number = max(last.number if last else 0, own.number if own else 0) + 1
    body = {"n": number, "action": action, "snapshot": after,
            "at": now.isoformat(), "actor": ctx.actor.get_username()}
    digest = hashlib.sha256(
        (prev_hash + json.dumps(body, sort_keys=True, ensure_ascii=False, default=str)).encode()
    ).hexdigest()
    return SecretRevision.objects.create(
        secret=secret, management_number=number_text, number=body["n"], action=action, channel=ctx.channel,
        snapshot=after, changes=_diff(before, after), actor_id=getattr(ctx.actor, "pk", None),
        actor_name=ctx.actor.get_username(), at=now, prev_hash=prev_hash, hash=digest,
    )


def _audit(ctx: Context, action: str, secret: Secret, details: dict[str, Any] | None = None) -> None:
    chain.record(action, actor=ctx.actor, request=ctx.request, channel=ctx.channel, object_type="secret",
                 object_id=secret.pk, object_repr=secret.management_number, details=details or {})


def save(ctx: Context, form: Any, audit: bool = True, grant_source: str | None = None) -> Secret:
    """Create or update an entry from a valid ``SecretForm`` (``grant_source``: how new access grants are
    recorded, by default from the channel)."""
    instance: Secret = form.instance
    creating = instance.pk is None
    if creating:
        access.require(access.can_create_in(ctx.actor, form.cleaned_data["owner_department"]))
    else:
        access.require(access.can_edit(ctx.actor, Secret.objects.get(pk=instance.pk)))
        access.require(access.can_create_in(ctx.actor, form.cleaned_data["owner_department"]))
    with transaction.atomic():
        before = {} if creating else snapshot(Secret.objects.get(pk=instance.pk))
        secret = form.save(commit=False)
        if creating:
            secret.created_by = ctx.user
        secret.updated_by = ctx.user
        secret.save()
        form.save_m2m()
        from himitsu.web.grants import services as grants  # grants build on the register

        grants.sync(ctx, secret, source=grant_source)
        new_locations = form.cleaned_data.get("locations", [])
        if [(k, v) for k, v in secret.locations.values_list("kind", "location")] != new_locations:
            secret.locations.all().delete()
            StorageLocation.objects.bulk_create(
                StorageLocation(secret=secret, kind=k, location=v) for k, v in new_locations
            )
        _reassess(secret)
        after = snapshot(secret)
        if before != after:
            action = SecretRevision.Action.CREATE if creating else SecretRevision.Action.UPDATE
            _revision(secret, secret.management_number, action, before, after, ctx)
            if audit:
                _audit(ctx, Action.CREATE if creating else Action.UPDATE, secret,
                       {"level": secret.level.code} if creating else {"fields": sorted(_diff(before, after))})
    return secret


def delete(ctx: Context, secret: Secret) -> None:
    access.require(access.can_delete(ctx.actor, secret))
    from himitsu.web.pledges.models import Pledge

    named = [p.number for p in Pledge.objects.filter(secrets=secret).order_by("pk")]
    if named:  # an acknowledged pledge's record names the entry: deleting it would make the record unverifiable
        more = f" … (+{len(named) - 5})" if len(named) > 5 else ""
        raise InputError("secret.named_by_pledge", number=secret.management_number,
                         pledges=", ".join(named[:5]) + more)
    with transaction.atomic():
        before = snapshot(secret)
        _revision(secret, secret.management_number, SecretRevision.Action.DELETE, before, {}, ctx)
        _audit(ctx, Action.DELETE, secret)
        secret.delete()


def set_evidence(ctx: Context, secret: Secret, answers: dict[str, tuple[str, str]]) -> Secret:
    access.require(access.can_edit(ctx.actor, secret))
    with transaction.atomic():
        before = snapshot(secret)
        for item, (answer, note) in answers.items():
            EvidenceAnswer.objects.update_or_create(
                secret=secret, item=item, defaults={"answer": answer, "note": note, "updated_by": ctx.user}
            )
        _reassess(secret)
        after = snapshot(secret)
        if before != after:
            _revision(secret, secret.management_number, SecretRevision.Action.UPDATE, before, after, ctx)
            _audit(ctx, Action.UPDATE, secret, {"fields": sorted(_diff(before, after))})
    return secret


def refresh(secret_ids: Any) -> int:
    """Reassess these entries now (their evidence changed outside the register, e.g. a pledge naming them was
    acknowledged or revoked). Returns how many were reassessed."""
    n = 0
    for secret in Secret.objects.filter(pk__in=list(secret_ids)).iterator():
        _reassess(secret)
        n += 1
    return n


def reassess_all() -> int:
    """Recompute every entry's assessment (after the checklist or the organisation changed)."""
    n = 0
    for secret in Secret.objects.all().iterator():
        _reassess(secret)
        n += 1
    return n


def visible_entry(ctx: Context, pk: int) -> Secret | None:
    """The entry if the actor may see it; otherwise None, and the refused attempt is audited.

    Missing and invisible entries are answered alike, so that nobody learns an entry exists."""
    secret = access.visible_secrets(ctx.actor).select_related(
        "level", "owner_department", "responsible").filter(pk=pk).first()
    if secret is None:
        path = ctx.request.path[:200] if ctx.request is not None else ""
        chain.record(Action.DENIED, actor=ctx.actor, request=ctx.request, channel=ctx.channel,
                     object_type="secret", object_id=pk, details={"path": path})
    return secret


def record_view(ctx: Context, secret: Secret) -> None:
    _audit(ctx, Action.VIEW, secret)
