"""The people-and-agreements API (people, grants, pledges, cases, training): every endpoint as every role, need-to-know,
audited writes through the services, typed errors for bad input, the OpenAPI schema.

Organisation: tests/conftest.py ``org`` (recipe DEV-001 seen by devlead and alice, prices SAL-001 seen by saleslead,
drawing DEV-002 seen by devlead and bob through the group; admin, manager and auditor see all).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from himitsu.web.audit import chain
from himitsu.web.audit.models import Action, AuditEvent
from himitsu.web.grants import services as grants
from himitsu.web.grants.models import Grant, Source
from himitsu.web.pledges import services as pledges
from himitsu.web.pledges.models import Pledge, Status
from himitsu.web.register.services import Context
from himitsu.web.training import services as training
from himitsu.web.training.models import Course
from himitsu.web.workflows import services as workflows
from himitsu.web.workflows.models import Case, Step, StepStatus

JSON = "application/json"
API = "/api/v1"
ROLES = ["admin", "manager", "devlead", "saleslead", "alice", "bob", "auditor"]
NOTE = "回収済み：ノートPC 1台、USBメモリ 2本 / returned"
MISSING = 987654


def ctx(org, name: str) -> Context:
    return Context(actor=org.users[name], channel="test")


def issue(org, person: str = "alice", secrets: tuple[str, ...] = ("recipe",), issuer: str = "manager") -> Pledge:
    req = pledges.IssueRequest(
        person=org.users[person], template="leaving", company="株式会社青嵐精工",
        due_on=timezone.localdate() + timedelta(days=7), secrets=[getattr(org, s) for s in secrets],
        duration_years=2)
    return pledges.issue(ctx(org, issuer), req)


def leaving_case(org, who: str = "alice") -> Case:
    person = org.users[who]
    person.left_on = timezone.localdate() + timedelta(days=10)
    person.save(update_fields=["left_on"])
    return workflows.open_case(ctx(org, "manager"), person, "leaving")


def overdue_course(org) -> Course:
    course = training.save_course(ctx(org, "manager"), Course(code="SEC-101", title="営業秘密の基礎",
                                                               title_en="Trade secrets 101", new_person_days=30))
    Course.objects.filter(pk=course.pk).update(created_at=timezone.now() - timedelta(days=100))
    return course


def error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.content)
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["code"], str) and body["code"]
    assert isinstance(body["message"], str) and body["message"]
    if code is not None:
        assert body["code"] == code, body
    return body


def post(client, url: str, body: Any) -> Any:
    return client.post(f"{API}{url}", body, content_type=JSON)


def audited(action: str, object_type: str, actor: str, **details: Any) -> AuditEvent:
    lookups = {f"details__{k}": v for k, v in details.items()}
    return AuditEvent.objects.filter(action=action, object_type=object_type, actor_name=actor, channel="api",
                                     **lookups).get()


# --- role x endpoint matrix ---------------------------------------------------------------------------------------

@pytest.fixture
def world(org):
    """A pledge for alice (naming DEV-001), bob (DEV-002) and saleslead (SAL-001), alice's leaving case, a course
    everyone is overdue with, and a live grant of DEV-001 to bob."""
    org.p_alice, org.p_bob, org.p_sales = issue(org), issue(org, "bob", ("drawing",)), issue(org, "saleslead",
                                                                                           ("prices",))
    org.case = leaving_case(org)
    org.course = overdue_course(org)
    org.grant = grants.grant(ctx(org, "manager"), org.recipe, user=org.users["bob"], reason="試作の立会い")
    return org


def read_urls(org) -> dict[str, str]:
    return {
        "people": "/people", "person": f"/people/{org.users['alice'].pk}",
        "grants": f"/secrets/{org.recipe.pk}/grants", "sales_grants": f"/secrets/{org.prices.pk}/grants",
        "pledges": "/pledges", "pledge": f"/pledges/{org.p_alice.pk}", "cases": "/cases",
        "case": f"/cases/{org.case.pk}", "overdue": "/training/overdue",
    }


READS = {  # role: expected status of each read endpoint
    "admin": dict(people=200, person=200, grants=200, sales_grants=200, pledges=200, pledge=200, cases=200, case=200,
                  overdue=200),
    "manager": dict(people=200, person=200, grants=200, sales_grants=200, pledges=200, pledge=200, cases=200,
                    case=200, overdue=200),
    "auditor": dict(people=403, person=403, grants=200, sales_grants=200, pledges=200, pledge=200, cases=200,
                    case=200, overdue=200),
    "devlead": dict(people=403, person=403, grants=200, sales_grants=404, pledges=200, pledge=200, cases=200,
                    case=200, overdue=200),
    "saleslead": dict(people=403, person=403, grants=404, sales_grants=200, pledges=200, pledge=404, cases=200,
                      case=404, overdue=200),
    "alice": dict(people=403, person=403, grants=200, sales_grants=404, pledges=200, pledge=200, cases=200,
                  case=404, overdue=403),
    "bob": dict(people=403, person=403, grants=200, sales_grants=404, pledges=200, pledge=404, cases=200,
                case=404, overdue=403),  # bob was granted DEV-001 in ``world``
}


@pytest.mark.parametrize("role", ROLES)
def test_read_matrix(world, login, role):
    client = login(role)
    for name, url in read_urls(world).items():
        r = client.get(f"{API}{url}")
        expected = READS[role][name]
        assert r.status_code == expected, (role, name, r.status_code, r.content)
        if expected == 403:
            error(r, 403, "access.denied")
        elif expected == 404:
            error(r, 404, "http.404")


@pytest.mark.parametrize(("role", "count", "cases", "overdue_people"), [
    ("admin", 3, 1, {"admin", "manager", "devlead", "saleslead", "alice", "bob", "auditor"}),
    ("manager", 3, 1, {"admin", "manager", "devlead", "saleslead", "alice", "bob", "auditor"}),
    ("auditor", 3, 1, {"admin", "manager", "devlead", "saleslead", "alice", "bob", "auditor"}),
    ("devlead", 2, 1, {"devlead", "alice", "bob"}),
    ("saleslead", 1, 0, {"saleslead"}),
    ("alice", 1, 0, None),
    ("bob", 1, 0, None),
])
def test_lists_are_scoped_by_need_to_know(world, login, role, count, cases, overdue_people):
    client = login(role)
    body = client.get(f"{API}/pledges").json()
    assert body["count"] == count == len(body["items"])
    if role in ("alice", "bob", "saleslead"):
        assert {p["person"] for p in body["items"]} == {role}
    assert client.get(f"{API}/cases").json()["count"] == cases
    if overdue_people is not None:
        rows = client.get(f"{API}/training/overdue").json()
        assert {r["person"] for r in rows} == overdue_people
        assert all(r["course"] == "SEC-101" and r["overdue"] and r["days_overdue"] > 0 for r in rows)


def test_unauthenticated_is_401(world, client):
    for url in read_urls(world).values():
        error(client.get(f"{API}{url}"), 401, "auth.required")
    error(post(client, "/pledges", {}), 401, "auth.required")


# --- people -------------------------------------------------------------------------------------------------------

def test_person_detail_shows_access_pledges_training_and_cases(world, login):
    body = login("manager").get(f"{API}/people/{world.users['bob'].pk}").json()
    assert body["username"] == "bob" and body["department"] == "DEV" and body["groups"] == ["設計チーム"]
    rows = {r["management_number"]: r for r in body["access"]}
    assert set(rows) == {"DEV-001", "DEV-002"}
    assert rows["DEV-001"]["direct"] and [g["reason"] for g in rows["DEV-001"]["grants"]] == ["試作の立会い"]
    assert not rows["DEV-002"]["direct"] and rows["DEV-002"]["groups"] == ["設計チーム"]
    assert [p["number"] for p in body["pledges"]] == [world.p_bob.number]
    assert [t["course"] for t in body["training"]] == ["SEC-101"]
    assert body["cases"] == [] and body["sees_every_entry"] is False
    alice = login("admin").get(f"{API}/people/{world.users['alice'].pk}").json()
    assert [c["number"] for c in alice["cases"]] == [world.case.number]
    assert alice["cases"][0]["total"] == 6 and alice["leaving_status"] == "leaving_soon"
    assert AuditEvent.objects.filter(action=Action.VIEW, object_type="user", channel="api").count() == 2


def test_people_filters(world, login):
    client = login("admin")
    names = lambda query: [p["username"] for p in client.get(f"{API}/people{query}").json()["items"]]  # noqa: E731
    assert names("?department=SALES") == ["saleslead"]
    assert names("?department=DEV&status=leaving_soon") == ["alice"]
    assert "alice" not in names("?status=active")
    assert names("?status=left") == []
    assert names("?type=contractor") == []
    assert client.get(f"{API}/people?limit=2").json()["count"] == 7
    assert "status" in error(client.get(f"{API}/people?status=retired"), 422, "input.invalid")["fields"]


def test_unknown_person_is_404(world, login):
    error(login("admin").get(f"{API}/people/{MISSING}"), 404, "http.404")
    error(login("alice").get(f"{API}/people/{MISSING}"), 403, "access.denied")  # the role decides first


# --- grants -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("role", "status"), [
    ("admin", 201), ("manager", 201), ("devlead", 201), ("auditor", 403), ("alice", 403), ("saleslead", 404),
    ("bob", 404),
])
def test_grant_as_every_role(org, login, role, status):
    expires = str(timezone.localdate() + timedelta(days=30))
    r = post(login(role), f"/secrets/{org.recipe.pk}/grants", {"user": "bob", "reason": "量産立上げの支援",
                                                               "expires_on": expires})
    assert r.status_code == status, r.content
    live = Grant.objects.filter(secret=org.recipe, user=org.users["bob"], revoked_at__isnull=True)
    if status == 201:
        body = r.json()
        assert (body["user"], body["reason"], body["source"], body["granted_by"]) == ("bob", "量産立上げの支援",
                                                                                       Source.API, role)
        assert live.get().pk == body["id"]
        org.recipe.refresh_from_db()
        assert org.users["bob"] in org.recipe.allowed_users.all()
        event = audited(Action.GRANT, "grant", role, user="bob")
        assert event.details["user"] == "bob" and event.details["source"] == "api"
        assert org.recipe.revisions.filter(channel="api").exists()
    else:
        error(r, status)
        assert not live.exists()
    if status == 403:
        assert AuditEvent.objects.filter(action=Action.DENIED, actor_name=role, channel="api").exists()
    assert chain.verify().ok


def test_grant_to_a_group(org, login):
    r = post(login("saleslead"), f"/secrets/{org.prices.pk}/grants", {"group": "設計チーム", "reason": "共同見積"})
    assert r.status_code == 201, r.content
    assert r.json()["group"] == "設計チーム" and r.json()["user"] is None
    assert org.group in org.prices.allowed_groups.all()


@pytest.mark.parametrize("role", ROLES)
def test_revoke_as_every_role(org, login, role):
    g = grants.grant(ctx(org, "manager"), org.recipe, user=org.users["bob"], reason="試作の立会い")
    status = {"admin": 200, "manager": 200, "devlead": 200, "auditor": 403, "alice": 403, "bob": 403,
              "saleslead": 404}[role]
    r = post(login(role), f"/grants/{g.pk}/revoke", {"reason": "異動"})
    g.refresh_from_db()
    if status == 200:
        assert r.status_code == 200, r.content
        assert r.json()["live"] is False and r.json()["revoke_reason"] == "異動"
        assert g.revoked_at is not None and g.revoked_by_name == role
        assert audited(Action.REVOKE, "grant", role).details["reason"] == "異動"
        assert org.users["bob"] not in org.recipe.allowed_users.all()
    else:
        error(r, status)
        assert g.revoked_at is None


def test_grants_list_live_and_past(org, login):
    g = grants.grant(ctx(org, "manager"), org.recipe, user=org.users["bob"], reason="試作の立会い")
    grants.revoke(ctx(org, "manager"), g, "終了")
    body = login("devlead").get(f"{API}/secrets/{org.recipe.pk}/grants").json()
    assert [x["user"] for x in body["live"]] == ["alice"]
    assert [(x["user"], x["revoke_reason"]) for x in body["past"]] == [("bob", "終了")]


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"user": "bob"}, 400, "grant.reason_required"),
    ({"user": "bob", "reason": "   "}, 400, "grant.reason_required"),
    ({"reason": "理由"}, 400, "grant.holder_required"),
    ({"user": "bob", "group": "設計チーム", "reason": "理由"}, 400, "grant.holder_required"),
    ({"user": "alice", "reason": "理由"}, 400, "grant.exists"),
    ({"user": "bob", "reason": "理由", "expires_on": "2000-01-01"}, 400, "grant.expiry_in_past"),
    ({"user": "bob", "reason": "理由", "expires_on": "someday"}, 422, "input.invalid"),
    ({"user": "ghost", "reason": "理由"}, 422, "input.invalid"),
    ({"group": "幽霊チーム", "reason": "理由"}, 422, "input.invalid"),
    ({"user": ["bob"], "reason": "理由"}, 422, "input.invalid"),
])
def test_bad_grants_are_typed_errors(org, login, body, status, code):
    before = Grant.objects.count()
    r = post(login("manager"), f"/secrets/{org.recipe.pk}/grants", body)
    found = error(r, status, code)
    if status == 422:
        assert found["fields"]
    assert Grant.objects.count() == before


def test_grant_to_a_person_who_left(org, login):
    bob = org.users["bob"]
    bob.left_on = timezone.localdate() - timedelta(days=1)
    bob.save(update_fields=["left_on"])
    error(post(login("manager"), f"/secrets/{org.recipe.pk}/grants", {"user": "bob", "reason": "理由"}), 400,
          "grant.person_left")
    bob.left_on, bob.is_active = None, False
    bob.save(update_fields=["left_on", "is_active"])
    error(post(login("manager"), f"/secrets/{org.recipe.pk}/grants", {"user": "bob", "reason": "理由"}), 400,
          "grant.person_left")
    assert not Grant.objects.filter(user=bob).exists()


def test_revoke_needs_a_reason_and_only_once(org, login):
    g = grants.grant(ctx(org, "manager"), org.recipe, user=org.users["bob"], reason="試作の立会い")
    client = login("manager")
    error(post(client, f"/grants/{g.pk}/revoke", {}), 400, "grant.revoke_reason_required")
    assert post(client, f"/grants/{g.pk}/revoke", {"reason": "終了"}).status_code == 200
    error(post(client, f"/grants/{g.pk}/revoke", {"reason": "終了"}), 400, "grant.revoked")


def test_invisible_grants_answer_like_missing_ones(org, login):
    client = login("bob")
    invisible = client.get(f"{API}/secrets/{org.recipe.pk}/grants")
    missing = client.get(f"{API}/secrets/{MISSING}/grants")
    assert error(invisible, 404) == error(missing, 404)
    g = grants.grant(ctx(org, "manager"), org.recipe, user=org.users["saleslead"], reason="見積の確認")
    hidden = client.post(f"{API}/grants/{g.pk}/revoke", {"reason": "x"}, content_type=JSON)
    gone = client.post(f"{API}/grants/{MISSING}/revoke", {"reason": "x"}, content_type=JSON)
    assert error(hidden, 404)["message"].replace(str(g.pk), "N") == error(gone, 404)["message"].replace(
        str(MISSING), "N")
    assert AuditEvent.objects.filter(action=Action.DENIED, actor_name="bob", object_type="secret").exists()


# --- pledges ------------------------------------------------------------------------------------------------------

def issue_body(**overrides: Any) -> dict[str, Any]:
    body = {"person": "alice", "template": "leaving", "company": "株式会社青嵐精工",
            "due_on": str(timezone.localdate() + timedelta(days=14)), "secrets": ["DEV-001"], "duration_years": 2}
    return body | overrides


@pytest.mark.parametrize(("role", "status"), [
    ("admin", 201), ("manager", 201), ("devlead", 201), ("saleslead", 422), ("alice", 403), ("bob", 403),
    ("auditor", 403),
])
def test_issue_as_every_role(org, login, role, status):
    r = post(login(role), "/pledges", issue_body())
    if status == 201:
        assert r.status_code == 201, r.content
        body = r.json()
        assert body["person"] == "alice" and body["secrets"] == ["DEV-001"] and body["status"] == "issued"
        assert "DEV-001" in body["text"] and body["verification"]["ok"]
        pledge = Pledge.objects.get(pk=body["id"])
        assert pledge.issued_by_name == role and pledge.text_sha256 == body["text_sha256"]
        assert audited(Action.CREATE, "pledge", role).details["event"] == "pledge_issued"
    else:
        found = error(r, status)
        if status == 422:
            assert "person" in found["fields"]  # not one of the people saleslead may issue to
        assert not Pledge.objects.exists()


@pytest.mark.parametrize(("overrides", "status", "field_or_code"), [
    ({"person": "ghost"}, 422, "person"),
    ({"template": "nope"}, 422, "template"),
    ({"company": ""}, 422, "company"),
    ({"company": "a\x00b"}, 422, "company"),
    ({"due_on": "someday"}, 422, "due_on"),
    ({"due_on": ""}, 422, "due_on"),
    ({"secrets": ["NOPE-1"]}, 422, "secrets"),
    ({"categories": ["nope"]}, 422, "categories"),
    ({"duration_years": 0}, 422, "duration_years"),
    ({"secrets": []}, 400, "pledge.value_required"),
    ({"due_on": "2000-01-01"}, 400, "pledge.due_in_past"),
    ({"expires_on": str(timezone.localdate())}, 400, "pledge.expiry_before_due"),
])
def test_bad_issues_are_typed_errors(org, login, overrides, status, field_or_code):
    found = error(post(login("manager"), "/pledges", issue_body(**overrides)), status)
    if status == 422:
        assert found["code"] == "input.invalid" and field_or_code in found["fields"], found
    else:
        assert found["code"] == field_or_code
    assert not Pledge.objects.exists()


def test_missing_issue_fields_are_named(org, login):
    found = error(post(login("manager"), "/pledges", {"secrets": []}), 422, "input.invalid")
    assert {"person", "template", "company", "due_on"} <= set(found["fields"])


def test_invisible_entries_in_a_pledge_answer_like_missing_ones(org, login):
    client = login("devlead")
    hidden = error(post(client, "/pledges", issue_body(secrets=["SAL-001"])), 422)["fields"]["secrets"]
    missing = error(post(client, "/pledges", issue_body(secrets=["NOPE-1"])), 422)["fields"]["secrets"]
    assert [m.replace("SAL-001", "X") for m in hidden] == [m.replace("NOPE-1", "X") for m in missing]
    assert str(org.prices.pk) not in " ".join(hidden)


def test_pledge_filters(world, login):
    client = login("manager")
    items = lambda query: [p["number"] for p in client.get(f"{API}/pledges{query}").json()["items"]]  # noqa: E731
    assert items("?person=bob") == [world.p_bob.number]
    assert items("?template=joining") == []
    assert len(items("?status=issued")) == 3 and items("?status=acknowledged") == []
    error(client.get(f"{API}/pledges?status=bogus"), 422, "input.invalid")
    assert login("alice").get(f"{API}/pledges?person=bob").json()["count"] == 0


def test_employee_never_sees_other_peoples_pledges(world, login):
    client = login("alice")
    assert [p["person"] for p in client.get(f"{API}/pledges").json()["items"]] == ["alice"]
    other = client.get(f"{API}/pledges/{world.p_bob.pk}")
    missing = client.get(f"{API}/pledges/{MISSING}")
    assert error(other, 404) == error(missing, 404)
    assert error(post(client, f"/pledges/{world.p_bob.pk}/acknowledge", {"text_sha256": world.p_bob.text_sha256}),
                 404) == error(post(client, f"/pledges/{MISSING}/acknowledge", {"text_sha256": "0" * 64}), 404)
    world.p_bob.refresh_from_db()
    assert world.p_bob.status == Status.ISSUED


def test_department_manager_does_not_see_a_pledge_naming_an_entry_they_may_not_see(org, login):
    hidden = issue(org, "alice", ("recipe", "prices"))
    client = login("devlead")
    assert error(client.get(f"{API}/pledges/{hidden.pk}"), 404) == error(client.get(f"{API}/pledges/{MISSING}"), 404)
    assert client.get(f"{API}/pledges").json()["count"] == 0
    assert login("alice").get(f"{API}/pledges/{hidden.pk}").json()["secrets"] == ["DEV-001", "SAL-001"]


def test_acknowledge_by_the_person_once(world, login):
    client = login("alice")
    r = post(client, f"/pledges/{world.p_alice.pk}/acknowledge", {"text_sha256": world.p_alice.text_sha256})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["status"] == "acknowledged" and body["verification"] == {"checked": True, "ok": True, "problems": []}
    event = audited(Action.UPDATE, "pledge", "alice")
    assert event.details["event"] == "pledge_acknowledged"
    again = post(client, f"/pledges/{world.p_alice.pk}/acknowledge", {"text_sha256": world.p_alice.text_sha256})
    error(again, 400, "pledge.already_acknowledged")
    detail = client.get(f"{API}/pledges/{world.p_alice.pk}").json()
    assert detail["acknowledged_at"] and len(detail["acknowledgement_hash"]) == 64


@pytest.mark.parametrize("role", ["admin", "manager", "devlead", "auditor"])
def test_acknowledging_someone_elses_pledge_is_403(world, login, role):
    r = post(login(role), f"/pledges/{world.p_alice.pk}/acknowledge", {"text_sha256": world.p_alice.text_sha256})
    error(r, 403, "pledge.not_yours")
    world.p_alice.refresh_from_db()
    assert world.p_alice.status == Status.ISSUED


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"text_sha256": "0" * 64}, 400, "pledge.text_stale"),
    ({"text_sha256": ""}, 400, "pledge.text_stale"),
    ({}, 422, "input.invalid"),
    ({"text_sha256": 5}, 422, "input.invalid"),
])
def test_wrong_text_hash(world, login, body, status, code):
    error(post(login("alice"), f"/pledges/{world.p_alice.pk}/acknowledge", body), status, code)
    world.p_alice.refresh_from_db()
    assert world.p_alice.status == Status.ISSUED


def test_tampered_pledge_shows_the_verification_problem(world, login):
    client = login("alice")
    post(client, f"/pledges/{world.p_alice.pk}/acknowledge", {"text_sha256": world.p_alice.text_sha256})
    Pledge.objects.filter(pk=world.p_alice.pk).update(text=world.p_alice.text + "改")
    body = login("auditor").get(f"{API}/pledges/{world.p_alice.pk}").json()
    assert body["verification"]["ok"] is False
    assert "pledge.text_changed" in [p["code"] for p in body["verification"]["problems"]]
    assert all(p["message"] for p in body["verification"]["problems"])


# --- joining and leaving cases ------------------------------------------------------------------------------------

def step(case: Case, code: str) -> Step:
    return case.steps.get(code=code)


@pytest.mark.parametrize(("role", "status"), [
    ("admin", 200), ("manager", 200), ("devlead", 200), ("auditor", 403), ("saleslead", 404), ("alice", 404),
    ("bob", 404),
])
def test_complete_step_as_every_role(org, login, role, status):
    case = leaving_case(org)
    ret = step(case, "return_items")
    r = post(login(role), f"/cases/{case.pk}/steps/{ret.pk}/complete", {"note": NOTE})
    ret.refresh_from_db()
    if status == 200:
        assert r.status_code == 200, r.content
        row = next(s for s in r.json()["steps"] if s["code"] == "return_items")
        assert row["status"] == "complete" and row["completed_by"] == role and row["evidence_note"] == NOTE
        event = AuditEvent.objects.filter(object_type="workflow_case", channel="api", actor_name=role).get()
        assert event.details["event"] == "workflow_step_completed" and event.details["step"] == "return_items"
    else:
        error(r, status)
        assert ret.status == StepStatus.OPEN


def test_step_owner_sees_and_completes_only_their_step(org, login):
    case = leaving_case(org)
    ret = step(case, "return_items")
    Step.objects.filter(pk=ret.pk).update(owner=org.users["alice"])
    client = login("alice")
    body = client.get(f"{API}/cases/{case.pk}").json()
    assert [s["code"] for s in body["steps"]] == ["return_items"] and body["all_steps"] is False
    assert client.get(f"{API}/cases").json()["items"][0]["total"] == 1
    wipe = step(case, "no_wipe")
    hidden = post(client, f"/cases/{case.pk}/steps/{wipe.pk}/complete", {"note": NOTE})
    missing = post(client, f"/cases/{case.pk}/steps/{MISSING}/complete", {"note": NOTE})
    assert error(hidden, 404) == error(missing, 404)
    assert post(client, f"/cases/{case.pk}/steps/{ret.pk}/complete", {"note": NOTE}).status_code == 200


@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("manager", 200), ("devlead", 403), ("auditor", 403)])
def test_revoke_access_step_goes_through_the_service(org, login, role, status):
    case = leaving_case(org)
    revoke = step(case, "revoke_access")
    r = post(login(role), f"/cases/{case.pk}/steps/{revoke.pk}/complete", {"note": ""})
    if status == 200:
        assert r.status_code == 200, r.content
        assert org.users["alice"] not in org.recipe.allowed_users.all()
        assert not Grant.objects.filter(user=org.users["alice"], revoked_at__isnull=True).exists()
        assert next(s for s in r.json()["steps"] if s["code"] == "revoke_access")["status"] == "complete"
        assert AuditEvent.objects.filter(object_type="secret", channel="api", actor_name=role,
                                         details__event="access_revoked").exists()
    else:
        error(r, status, "access.denied")
        assert org.users["alice"] in org.recipe.allowed_users.all()


@pytest.mark.parametrize(("note", "code"), [("", "workflow.evidence_required"), ("短い", "workflow.evidence_required")])
def test_step_without_evidence_is_a_typed_error(org, login, note, code):
    case = leaving_case(org)
    ret = step(case, "return_items")
    error(post(login("manager"), f"/cases/{case.pk}/steps/{ret.pk}/complete", {"note": note}), 400, code)


def test_step_twice_and_pledge_steps(org, login):
    case = leaving_case(org)
    client = login("manager")
    ret = step(case, "return_items")
    assert post(client, f"/cases/{case.pk}/steps/{ret.pk}/complete", {"note": NOTE}).status_code == 200
    error(post(client, f"/cases/{case.pk}/steps/{ret.pk}/complete", {"note": NOTE}), 400, "workflow.step_done")
    exit_pledge = step(case, "exit_pledge")
    error(post(client, f"/cases/{case.pk}/steps/{exit_pledge.pk}/complete", {"note": NOTE}), 400,
          "workflow.pledge_not_done")
    pledge = issue(org)
    pledges.acknowledge(ctx(org, "alice"), pledge, seen_sha256=pledge.text_sha256)
    body = client.get(f"{API}/cases/{case.pk}").json()  # as the page: the acknowledged pledge completes its step
    assert next(s for s in body["steps"] if s["code"] == "exit_pledge")["pledge"] == pledge.pk


def test_case_filters_and_unknown_cases(org, login):
    case = leaving_case(org)
    client = login("manager")
    assert client.get(f"{API}/cases?kind=leaving&status=open").json()["count"] == 1
    assert client.get(f"{API}/cases?kind=joining").json()["count"] == 0
    error(client.get(f"{API}/cases?kind=transfer"), 422, "input.invalid")
    assert error(client.get(f"{API}/cases/{MISSING}"), 404) == error(login("bob").get(f"{API}/cases/{case.pk}"), 404)
    assert AuditEvent.objects.filter(action=Action.DENIED, actor_name="bob", object_type="workflow_case").exists()


# --- malformed bodies and the schema ------------------------------------------------------------------------------

@pytest.mark.parametrize("body", ["{bad json", "[1, 2]", "null", "42", ""])
def test_malformed_json_is_a_4xx_typed_error(world, login, body):
    ret = step(world.case, "return_items")
    for who, url in [("manager", f"/secrets/{world.recipe.pk}/grants"), ("manager", f"/grants/{world.grant.pk}/revoke"),
                     ("manager", "/pledges"), ("alice", f"/pledges/{world.p_alice.pk}/acknowledge"),
                     ("manager", f"/cases/{world.case.pk}/steps/{ret.pk}/complete")]:
        r = login(who).post(f"{API}{url}", body, content_type=JSON)
        assert 400 <= r.status_code < 500, (url, r.status_code, r.content)
        error(r, r.status_code)
    world.grant.refresh_from_db()
    assert world.grant.revoked_at is None and step(world.case, "return_items").status == StepStatus.OPEN


def test_openapi_lists_the_new_paths(org, login):
    schema = login("alice").get(f"{API}/openapi.json").json()
    expected = {
        "/api/v1/people": {"get": "people"}, "/api/v1/people/{person_id}": {"get": "people"},
        "/api/v1/secrets/{secret_id}/grants": {"get": "grants", "post": "grants"},
        "/api/v1/grants/{grant_id}/revoke": {"post": "grants"},
        "/api/v1/pledges": {"get": "pledges", "post": "pledges"}, "/api/v1/pledges/{pledge_id}": {"get": "pledges"},
        "/api/v1/pledges/{pledge_id}/acknowledge": {"post": "pledges"},
        "/api/v1/cases": {"get": "workflows"}, "/api/v1/cases/{case_id}": {"get": "workflows"},
        "/api/v1/cases/{case_id}/steps/{step_id}/complete": {"post": "workflows"},
        "/api/v1/training/overdue": {"get": "training"},
    }
    for path, methods in expected.items():
        assert path in schema["paths"], path
        for method, tag in methods.items():
            assert schema["paths"][path][method]["tags"] == [tag], (path, method)
    assert "/api/v1/secrets/{secret_id}" in schema["paths"]  # the register's own paths stay


@pytest.mark.parametrize("query", [f"?offset={10**20}", f"?limit={10**20}", "?offset=-1&limit=0", "?person=a%00b",
                                   "?template=a%00b", "?department=a%00b", "?offset=x"])
def test_odd_parameters_never_500(world, login, query):
    client = login("admin")
    for url in ("/people", "/pledges", "/cases"):
        r = client.get(f"{API}{url}{query}")
        assert r.status_code in (200, 422), (url, query, r.status_code, r.content)


def test_names_with_nul_are_unknown(world, login):
    client = login("admin")
    found = error(post(client, f"/secrets/{world.recipe.pk}/grants", {"user": "bo\x00b", "reason": "x"}), 422)
    assert "user" in found["fields"]
    found = error(post(client, "/pledges", issue_body(person="ali\x00ce", secrets=["DEV\x00-001"])), 422)
    assert {"person", "secrets"} <= set(found["fields"])
