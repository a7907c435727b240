"""Access grants (the records explaining every membership of an entry) and access reviews, on the real DB."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from himitsu.errors import InputError, PermissionDeniedError
from himitsu.web.accounts import access
from himitsu.web.audit import chain
from himitsu.web.audit.models import AuditEvent
from himitsu.web.grants import services
from himitsu.web.grants.models import LEAVER_REASON, Grant, Review, Source
from himitsu.web.notices.models import Notice
from himitsu.web.register import io
from himitsu.web.register.models import Secret
from himitsu.web.register.services import Context
from himitsu.web.workflows import services as workflows
from tests.web.test_api import JSON, payload
from tests.web.test_io import csv_file, new_row, table
from tests.web.test_register import data

ROLES = ["admin", "manager", "devlead", "saleslead", "alice", "bob", "auditor"]


def ctx(org, name: str, channel: str = "test") -> Context:
    return Context(actor=org.users[name], channel=channel)


def live(secret: Secret) -> Grant:
    return Grant.objects.filter(secret=secret, revoked_at__isnull=True)


def sees(user, secret: Secret) -> bool:
    return access.visible_secrets(user).filter(pk=secret.pk).exists()


# --- sync from the register's own change paths --------------------------------------------------------------------

def test_form_create_and_edit_create_and_revoke_grants(org, login):
    client = login("devlead")
    assert client.post("/register/new/", data(org)).status_code == 302
    secret = Secret.objects.get(management_number="REG-001")
    g = live(secret).get()
    assert (g.user, g.source, g.reason, g.granted_by_name) == (org.users["alice"], Source.FORM,
                                                                "register entry edited", "devlead")
    r = client.post(f"/register/{secret.pk}/edit/", data(org, secret, allowed_users=[org.users["bob"].pk],
                                                           allowed_groups=[org.group.pk]))
    assert r.status_code == 302
    g.refresh_from_db()
    assert g.revoked_at is not None and g.revoked_by_name == "devlead" and g.revoke_reason == "register entry edited"
    assert {x.user or x.group for x in live(secret)} == {org.users["bob"], org.group}
    assert AuditEvent.objects.filter(object_type="grant", action="grant").count() == 3
    assert AuditEvent.objects.filter(object_type="grant", action="revoke").count() == 1
    assert chain.verify().ok


def test_api_edit_records_api_grants(org, login):
    r = login("admin").post("/api/v1/secrets", payload(), content_type=JSON)
    assert r.status_code == 201, r.content
    secret = Secret.objects.get(management_number="API-001")
    assert {(g.source, g.reason) for g in live(secret)} == {(Source.API, "changed through the API")}
    assert live(secret).count() == 2  # alice and the group
    r = login("admin").put(f"/api/v1/secrets/{secret.pk}", payload(allowed_groups=[]), content_type=JSON)
    assert r.status_code == 200, r.content
    assert [g.user.username for g in live(secret)] == ["alice"]
    assert Grant.objects.filter(secret=secret, group=org.group, revoked_at__isnull=False).exists()


def test_import_records_imported_grants(org):
    services.sync(ctx(org, "manager"), org.drawing)  # the group's membership has its grant
    rows = table(new_row("IMP-1", アクセス可能者="alice, bob"),
                 new_row("DEV-002", 名称="金型図面", アクセス可能グループ=""))
    result = io.import_register(ctx(org, "manager", "cli"), "台帳.csv", csv_file(rows))
    assert result.ok, result.errors
    secret = Secret.objects.get(management_number="IMP-1")
    assert sorted((g.user.username, g.source, g.reason) for g in live(secret)) == [
        ("alice", Source.IMPORT, "imported"), ("bob", Source.IMPORT, "imported")]
    # DEV-002 lost its group through the import (the column was empty)
    assert not org.drawing.allowed_groups.exists()
    g = Grant.objects.get(secret=org.drawing, group=org.group)
    assert g.revoked_at is not None and g.revoke_reason == "imported"


def test_leaver_revocation_revokes_grants(org):
    from tests.web.test_workflows import leaving, step

    bob = org.users["bob"]
    services.grant(ctx(org, "manager"), org.recipe, user=bob, reason="試作の立会い")
    case = leaving(org, who="bob", days=0)
    workflows.complete_step(ctx(org, "manager"), step(case, "revoke_access"), "done")
    g = Grant.objects.get(secret=org.recipe, user=bob)
    assert g.revoked_at is not None and g.revoke_reason == LEAVER_REASON
    assert not sees(bob, org.recipe)


# --- grant / revoke / expire -------------------------------------------------------------------------------------

def test_grant_revoke_change_what_a_person_sees(org):
    bob = org.users["bob"]
    assert not sees(bob, org.recipe)
    g = services.grant(ctx(org, "devlead"), org.recipe, user=bob, reason="量産立上げ",
                       expires_on=timezone.localdate() + timedelta(days=30))
    assert sees(bob, org.recipe) and org.recipe.allowed_users.filter(pk=bob.pk).exists()
    assert g.granted_by == org.users["devlead"] and g.source == Source.PAGE
    rev = org.recipe.revisions.order_by("-number").first()
    assert "bob" in rev.snapshot["allowed_users"]
    with pytest.raises(InputError) as e:
        services.grant(ctx(org, "devlead"), org.recipe, user=bob, reason="again")
    assert e.value.code == "grant.exists"
    with pytest.raises(InputError) as e:
        services.revoke(ctx(org, "devlead"), g, "  ")
    assert e.value.code == "grant.revoke_reason_required"
    services.revoke(ctx(org, "devlead"), g, "立上げ完了")
    assert not sees(bob, org.recipe)
    with pytest.raises(InputError) as e:
        services.revoke(ctx(org, "devlead"), g, "again")
    assert e.value.code == "grant.revoked"
    # a new grant may follow a revoked one
    services.grant(ctx(org, "devlead"), org.recipe, user=bob, reason="再開")
    assert sees(bob, org.recipe)


def test_group_grant(org):
    bob = org.users["bob"]  # member of the group
    g = services.grant(ctx(org, "manager"), org.prices, group=org.group, reason="価格改定プロジェクト")
    assert sees(bob, org.prices)
    services.revoke(ctx(org, "manager"), g, "終了")
    assert not sees(bob, org.prices)


def test_existing_membership_gets_a_grant_before_a_new_one(org):
    # alice was added without a grant (fixture): the first grant on the entry records hers too
    services.grant(ctx(org, "manager"), org.recipe, user=org.users["bob"], reason="x")
    assert {g.user.username for g in live(org.recipe)} == {"alice", "bob"}
    alice = live(org.recipe).get(user=org.users["alice"])
    assert (alice.reason, alice.source) == ("existing access", Source.MIGRATION)


def test_refuses_leavers_empty_reason_and_no_holder(org):
    bob = org.users["bob"]
    for reason in ("", "   "):
        with pytest.raises(InputError) as e:
            services.grant(ctx(org, "manager"), org.recipe, user=bob, reason=reason)
        assert e.value.code == "grant.reason_required"
    bob.left_on = timezone.localdate() - timedelta(days=1)
    bob.save()
    with pytest.raises(InputError) as e:
        services.grant(ctx(org, "manager"), org.recipe, user=bob, reason="x")
    assert e.value.code == "grant.person_left"
    alice = org.users["alice"]
    alice.is_active = False
    alice.save()
    with pytest.raises(InputError) as e:
        services.grant(ctx(org, "manager"), org.prices, user=alice, reason="x")
    assert e.value.code == "grant.person_left"
    with pytest.raises(InputError) as e:
        services.grant(ctx(org, "manager"), org.prices, reason="x")
    assert e.value.code == "grant.holder_required"
    with pytest.raises(InputError) as e:
        services.grant(ctx(org, "manager"), org.prices, group=org.group, reason="x",
                       expires_on=timezone.localdate())
    assert e.value.code == "grant.expiry_in_past"
    assert not Grant.objects.filter(secret=org.prices).exists()


@pytest.mark.parametrize("name", ROLES)
def test_who_may_grant(org, name):
    allowed = name in {"admin", "manager", "devlead"}
    if allowed:
        services.grant(ctx(org, name), org.recipe, user=org.users["bob"], reason="x")
        assert sees(org.users["bob"], org.recipe)
    else:
        with pytest.raises(PermissionDeniedError):
            services.grant(ctx(org, name), org.recipe, user=org.users["bob"], reason="x")


def test_expire_revokes_past_expiry(org):
    bob = org.users["bob"]
    today = timezone.localdate()
    g = services.grant(ctx(org, "manager"), org.recipe, user=bob, reason="x", expires_on=today + timedelta(days=2))
    assert services.expire(ctx(org, "manager"), today + timedelta(days=2)) == []  # the last valid day
    assert sees(bob, org.recipe)
    assert [x.pk for x in services.expire(ctx(org, "manager"), today + timedelta(days=3))] == [g.pk]
    g.refresh_from_db()
    assert g.revoked_at is not None and g.revoke_reason.startswith("expired on")
    assert not sees(bob, org.recipe)
    assert AuditEvent.objects.filter(object_type="grant", details__event="expired").count() == 1


# --- pages and permissions ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,status", [("admin", 200), ("manager", 200), ("devlead", 200), ("saleslead", 404),
                                         ("alice", 200), ("bob", 404), ("auditor", 200)])
def test_grant_page_visibility(org, login, name, status):
    assert login(name).get(f"/grants/secret/{org.recipe.pk}/").status_code == status


@pytest.mark.parametrize("name", ROLES)
def test_grant_page_writes(org, login, name):
    client = login(name)
    r = client.post(f"/grants/secret/{org.recipe.pk}/", {"user": org.users["bob"].pk, "reason": "立会い"})
    may = name in {"admin", "manager", "devlead"}
    if may:
        assert r.status_code == 302
        g = live(org.recipe).get(user=org.users["bob"])
        assert client.post(f"/grants/secret/{org.recipe.pk}/revoke/{g.pk}/", {"reason": "完了"}).status_code == 302
        g.refresh_from_db()
        assert g.revoked_at is not None
    else:
        assert r.status_code in (403, 404)
        assert not org.recipe.allowed_users.filter(pk=org.users["bob"].pk).exists()


def test_grant_page_shows_errors_and_history(org, login):
    client = login("manager")
    r = client.post(f"/grants/secret/{org.recipe.pk}/", {"user": org.users["bob"].pk, "reason": ""})
    assert r.status_code == 200 and not org.recipe.allowed_users.filter(pk=org.users["bob"].pk).exists()
    client.post(f"/grants/secret/{org.recipe.pk}/", {"user": org.users["bob"].pk, "reason": "立会い"})
    page = client.get(f"/grants/secret/{org.recipe.pk}/").content.decode()
    assert "立会い" in page
    assert f"/grants/secret/{org.recipe.pk}/" in client.get(f"/register/{org.recipe.pk}/").content.decode()


# --- access reviews ----------------------------------------------------------------------------------------------

def test_review_flow(org, login):
    today = timezone.localdate()
    services.grant(ctx(org, "manager"), org.recipe, user=org.users["bob"], reason="x")
    review = services.open_review(ctx(org, "manager"), org.dev, "2026 H2", today + timedelta(days=14))
    assert list(review.reviewers.all()) == [org.users["devlead"]]
    items = list(review.items.select_related("grant"))
    # DEV-001: alice, bob; DEV-002: the group; nothing of SALES
    assert sorted(i.grant.holder for i in items) == sorted(["Alice", "Bob", "設計チーム"])
    assert Notice.objects.filter(recipient=org.users["devlead"], kind="grant.review_opened").exists()
    with pytest.raises(InputError) as e:
        services.open_review(ctx(org, "manager"), org.dev, "again", today)
    assert e.value.code == "grant.review_open"
    with pytest.raises(PermissionDeniedError):
        services.decide(ctx(org, "manager"), items[0], "confirm")
    with pytest.raises(InputError) as e:
        services.close(ctx(org, "devlead"), review)
    assert e.value.code == "grant.review_incomplete"
    client = login("devlead")
    assert client.get(f"/grants/reviews/{review.pk}/").status_code == 200
    bob_item = next(i for i in items if i.grant.user == org.users["bob"])
    r = client.post(f"/grants/reviews/{review.pk}/items/{bob_item.pk}/", {"decision": "revoke", "note": "不要"})
    assert r.status_code == 302
    assert not sees(org.users["bob"], org.recipe)
    bob_item.grant.refresh_from_db()
    assert bob_item.grant.revoke_reason == "不要"
    for i in items:
        if i.pk != bob_item.pk:
            services.decide(ctx(org, "devlead"), i, "confirm")
    with pytest.raises(InputError) as e:
        services.decide(ctx(org, "devlead"), items[0], "confirm")
    assert e.value.code == "grant.review_decided"
    assert client.post(f"/grants/reviews/{review.pk}/close/").status_code == 302
    review.refresh_from_db()
    assert review.closed_at is not None
    assert sees(org.users["alice"], org.recipe)
    assert chain.verify().ok


def test_review_needs_a_manager(org):
    from himitsu.web.accounts.models import Department

    empty = Department.objects.create(code="HR", name="人事部")
    with pytest.raises(InputError) as e:
        services.open_review(ctx(org, "manager"), empty, "2026", timezone.localdate())
    assert e.value.code == "grant.review_no_reviewer"


@pytest.mark.parametrize("name", ROLES)
def test_review_permissions(org, login, name):
    client = login(name)
    due = (timezone.localdate() + timedelta(days=7)).isoformat()
    r = client.post("/grants/reviews/", {"department": org.dev.pk, "period": "2026", "due_on": due})
    opens = name in {"admin", "manager"}
    assert r.status_code == (302 if opens else 403)
    review = Review.objects.first() or services.open_review(ctx(org, "manager"), org.dev, "2026",
                                                            timezone.localdate())
    item = review.items.first()
    lists = client.get("/grants/reviews/")
    assert lists.status_code == (200 if name in {"admin", "manager", "devlead", "saleslead", "auditor"} else 403)
    page = client.get(f"/grants/reviews/{review.pk}/").status_code
    assert page == (200 if name in {"admin", "manager", "devlead", "auditor"} else 404)
    client.post(f"/grants/reviews/{review.pk}/items/{item.pk}/", {"decision": "confirm"})
    item.refresh_from_db()
    assert bool(item.decision) == (name == "devlead")


def test_existing_access_migration(org):
    """The data migration's function creates a grant per existing membership."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("himitsu.web.grants.migrations.0002_existing_access")
    migration.forwards(apps, None)
    assert {(g.secret.management_number, g.holder, g.reason, g.source) for g in Grant.objects.all()} == {
        ("DEV-001", "Alice", "existing access", "migration"), ("DEV-002", "設計チーム", "existing access", "migration")}
