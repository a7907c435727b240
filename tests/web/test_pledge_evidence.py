"""The 秘密管理性 evidence counts pledges: the share of the people with access who acknowledged (or signed on
paper) a current pledge naming the entry or its category, and whether access is limited to named people."""

from __future__ import annotations

from datetime import date, timedelta

from django.utils import timezone

from himitsu.catalog import checklist as cl
from himitsu.web.accounts.models import AccessGroup, User
from himitsu.web.pledges import services as pledges
from himitsu.web.pledges.models import Pledge
from himitsu.web.register import services as register
from himitsu.web.register.models import Secret
from himitsu.web.register.services import Context


def _issue(org, person: str, template="leaving", secrets=(), categories=(), **kw) -> Pledge:
    req = pledges.IssueRequest(person=org.users[person], template=template, company="株式会社青嵐精工",
                               due_on=timezone.localdate() + timedelta(days=7), secrets=list(secrets),
                               categories=list(categories), duration_years=2, **kw)
    return pledges.issue(Context(actor=org.users["manager"], channel="test"), req)


def _ack(org, pledge: Pledge, person: str) -> Pledge:
    return pledges.acknowledge(Context(actor=org.users[person], channel="test"), pledge)


def _item(secret: Secret, key: str = "pledges") -> cl.ItemResult:
    return next(i for i in register.assessment(secret).items if i.key == key)


def _stored(secret: Secret) -> int:
    return Secret.objects.get(pk=secret.pk).secrecy_score


def test_checklist_counts_pledges_purely():
    base = {"has_summary": True, "has_responsible": True, "marking": "㊙", "people_with_access": 5,
            "organisation_size": 30, "location_count": 1, "review_date": date(2030, 1, 1), "today": date(2026, 1, 1)}
    item = lambda **kw: next(i for i in cl.assess(cl.Facts(**(base | kw))).items if i.key == "pledges")  # noqa: E731
    assert item().answer == cl.UNKNOWN and item().source == "manual"  # not counted: the manual answer alone
    assert (item(pledged_people=3).answer, item(pledged_people=3).reason) == (cl.PARTIAL, "pledges.some")
    assert dict(item(pledged_people=3).params) == {"pledged": 3, "total": 5}
    assert item(pledged_people=0).answer == cl.NO and item(pledged_people=5).answer == cl.YES
    assert item(pledged_people=5).source == "auto"
    # a better manual answer (paper NDAs outside Himitsu) still counts; the counted gap stays explained
    kept = item(pledged_people=3, answers={"pledges": "yes"})
    assert (kept.answer, kept.source, kept.reason) == (cl.YES, "manual", "pledges.some")
    assert item(pledged_people=0, people_with_access=0, answers={"pledges": "partial"}).answer == cl.PARTIAL
    assert str(cl.checklist()["version"]) == "2026.2"


def test_acknowledged_pledge_naming_the_entry_raises_the_score(org, login):
    recipe = org.recipe  # alice has access
    recipe.allowed_groups.add(org.group)  # and bob, through the group
    register.refresh([recipe.pk])
    before = _stored(recipe)
    assert _item(recipe).answer == cl.NO and _item(recipe).reason == "pledges.none"
    pledge = _issue(org, "alice", secrets=[recipe])
    assert _stored(recipe) == before  # issued, not yet acknowledged: does not count
    _ack(org, pledge, "alice")
    item = _item(recipe)
    assert (item.answer, dict(item.params)) == (cl.PARTIAL, {"pledged": 1, "total": 2})
    partly = _stored(recipe)
    assert partly > before and partly == register.assessment(recipe).score  # stored at once
    client = login("manager")
    html = client.get(_detail_url(recipe)).content.decode()
    assert "アクセスできる 2 人のうち 1 人が" in html
    # bob acknowledges a joining pledge naming the category (technical): both are covered now
    _ack(org, _issue(org, "bob", template="joining", categories=["technical"]), "bob")
    assert _item(recipe).answer == cl.YES and _stored(recipe) > partly
    # revoking recomputes the stored score
    pledges.revoke(Context(actor=org.users["manager"], channel="test"), pledge, "test")
    assert _item(recipe).answer == cl.PARTIAL and _stored(recipe) == partly


def _detail_url(secret: Secret) -> str:
    from django.urls import reverse

    return reverse("secret-detail", args=[secret.pk])


def test_expired_pledges_and_people_without_access_do_not_count(org):
    recipe = org.recipe
    pledge = _ack(org, _issue(org, "alice", secrets=[recipe], expires_on=timezone.localdate() + timedelta(days=30)),
                  "alice")
    assert register.pledged_people(recipe) == 1
    Pledge.objects.filter(pk=pledge.pk).update(expires_on=timezone.localdate() - timedelta(days=1))
    assert register.pledged_people(recipe) == 0
    _ack(org, _issue(org, "bob", secrets=[recipe]), "bob")  # bob has no access to the recipe
    assert register.pledged_people(recipe) == 0
    alice = org.users["alice"]
    alice.is_active = False
    alice.save()
    assert register.people_with_access(recipe) == 0 and _item(recipe).answer == cl.UNKNOWN


def test_opening_access_to_everyone_lowers_the_score(org):
    recipe = org.recipe
    _ack(org, _issue(org, "alice", secrets=[recipe]), "alice")
    assert _item(recipe, "access_limited").answer == cl.YES and _item(recipe).answer == cl.YES
    before = _stored(recipe)
    everyone = AccessGroup.objects.create(name="全社員")
    everyone.members.set(User.objects.filter(is_active=True))
    recipe.allowed_groups.add(everyone)
    register.refresh([recipe.pk])
    access_item = _item(recipe, "access_limited")
    assert (access_item.answer, access_item.reason) == (cl.PARTIAL, "access.too_wide")
    item = _item(recipe)
    assert (item.answer, dict(item.params)) == (cl.PARTIAL, {"pledged": 1, "total": 7})
    assert _stored(recipe) < before and _stored(recipe) == register.assessment(recipe).score


def test_evidence_page_shows_the_count(org, login):
    client = login("manager")
    url = _detail_url(org.recipe) + "evidence/"
    page = client.get(url)
    assert page.status_code == 200, url
    assert "アクセスできる 1 人のうち、" in page.content.decode()
    _ack(org, _issue(org, "alice", secrets=[org.recipe]), "alice")
    assert "1 人全員" in client.get(url).content.decode()


def test_stored_score_refreshed_when_a_pledge_expires(org):
    """A pledge that lapses after the entry was assessed makes the stored score stale (daily refresh)."""
    recipe = org.recipe
    pledge = _ack(org, _issue(org, "alice", secrets=[recipe], expires_on=timezone.localdate() + timedelta(days=30)),
                  "alice")
    with_pledge = _stored(recipe)
    # time passes: the pledge expired yesterday, the score was computed the day before
    Pledge.objects.filter(pk=pledge.pk).update(expires_on=timezone.localdate() - timedelta(days=1))
    Secret.objects.filter(pk=recipe.pk).update(assessed_on=timezone.localdate() - timedelta(days=2))
    assert register.refresh_stale() >= 1
    assert _stored(recipe) < with_pledge
    assert register.refresh_stale() == 0  # assessed today: no longer stale
