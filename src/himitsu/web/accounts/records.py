"""What Himitsu keeps for a person, as the viewer may see it: shared by the person page and the API."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.utils.translation import get_language

from himitsu.web.accounts import access
from himitsu.web.accounts.models import User


def person_records(viewer: Any, person: User) -> dict[str, Any]:
    """The entries on whose access lists ``person`` is (directly or through a group; among the entries the viewer
    may see) with the live grants that explain it, their pledges and required training (as the viewer may see
    them), and their joining and leaving cases visible to the viewer."""
    from himitsu.web.grants.models import Grant
    from himitsu.web.register.models import Secret
    from himitsu.web.training import services as training

    direct = set(Secret.allowed_users.through.objects.filter(user_id=person.pk).values_list("secret_id", flat=True))
    via: dict[int, list[str]] = {}
    for secret_id, name in (Secret.allowed_groups.through.objects.filter(accessgroup__members=person.pk)
                            .order_by("accessgroup__name").values_list("secret_id", "accessgroup__name")):
        via.setdefault(secret_id, []).append(name)
    entries = list(access.visible_secrets(viewer).filter(pk__in=direct | set(via)).select_related("level")
                   .order_by("management_number"))
    grants: dict[int, list[Grant]] = {}
    for g in (Grant.objects.filter(revoked_at__isnull=True, secret__in=[e.pk for e in entries])
              .filter(Q(user=person) | Q(group__members=person)).select_related("group").order_by("pk").distinct()):
        grants.setdefault(g.secret_id, []).append(g)
    return {
        "access_rows": [{"secret": e, "direct": e.pk in direct, "groups": via.get(e.pk, []),
                         "grants": grants.get(e.pk, [])} for e in entries],
        "sees_every_entry": access.role_of(person) in access.ALL_SECRETS,
        "pledges": access.visible_pledges(viewer).filter(person=person).order_by("-issued_at"),
        "training": [{"row": r, "title": r.course.localized_title(get_language())} for r in training.status([person])],
        "cases": access.visible_cases(viewer).filter(person=person),
    }
