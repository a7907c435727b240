"""The HTTP API: create, update, delete with valid and invalid payloads; errors are JSON, never 500."""

from __future__ import annotations

from typing import Any

import pytest

from himitsu.web.audit.models import Action, AuditEvent
from himitsu.web.register.models import Secret, SecretRevision

JSON = "application/json"



@pytest.fixture
def admin(org, login):
    return login("admin")


def payload(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "management_number": "API-001", "title": "配合比率", "summary": "材料の配合比率（数値は書かない）",
        "category": "technical", "level": "gokuhi", "owner_department": "DEV", "responsible": "devlead",
        "allowed_users": ["alice"], "allowed_groups": ["設計チーム"], "locations": ["\\\\fs01\\dev\\recipe"],
        "marking": "㊙ スタンプ", "review_date": "2099-04-01",
    }
    data.update(overrides)
    return data


def _error(response: Any, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["code"], str) and body["code"]
    assert isinstance(body["message"], str) and body["message"]
    return body


# --- create ------------------------------------------------------------------------------------------

def test_create_returns_the_entry(admin, org):
    r = admin.post("/api/v1/secrets", payload(), content_type=JSON)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["management_number"] == "API-001"
    assert body["level"] == "gokuhi" and body["owner_department"] == "DEV" and body["responsible"] == "devlead"
    assert body["allowed_users"] == ["alice"] and body["allowed_groups"] == ["設計チーム"]
    assert body["locations"] == [{"kind": "path", "location": "\\\\fs01\\dev\\recipe"}]
    assert body["review_date"] == "2099-04-01"
    assert 0 <= body["secrecy_score"] <= 100
    secret = Secret.objects.get(pk=body["id"])
    assert secret.created_by == org.users["admin"]
    assert secret.secrecy_score == body["secrecy_score"]
    rev = SecretRevision.objects.get(secret=secret)
    assert (rev.number, rev.action, rev.channel, rev.actor_name) == (1, "create", "api", "admin")
    event = AuditEvent.objects.filter(action=Action.CREATE).get()
    assert (event.channel, event.object_id, event.object_repr) == ("api", str(secret.pk), "API-001")


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"category": "技術情報", "level": "極秘"}, {"category": "technical", "level": "gokuhi"}),
    ({"category": "Business information", "level": "hi"}, {"category": "business", "level": "hi"}),
    ({"owner_department": "開発部"}, {"owner_department": "DEV"}),
    ({"review_date": "令和7年4月1日"}, {"review_date": "2025-04-01"}),
    ({"review_date": "２０２５／４／１"}, {"review_date": "2025-04-01"}),
    ({"review_date": None, "responsible": None}, {"review_date": None, "responsible": None}),
    ({"title": "t" * 200}, {"title": "t" * 200}),
    ({"title": "  前後の空白  "}, {"title": "前後の空白"}),
    ({"protection_decision": "secrecy", "decision_date": "R6.3.31"}, {"protection_decision": "secrecy"}),
    ({"unknown_extra_field": "ignored"}, {}),
    ({"legal_type": "Limited-provision data"}, {"legal_type": "limited_data"}),
    ({"legal_type": "限定提供データ", "published": "いいえ"}, {"legal_type": "limited_data"}),
    ({"protection_decision": "Undecided", "published": "No", "patented": "yes"}, {"protection_decision": "undecided"}),
])
def test_create_accepts_people_readable_values(admin, overrides, expected):
    r = admin.post("/api/v1/secrets", payload(**overrides), content_type=JSON)
    assert r.status_code == 201, r.content
    body = r.json()
    for key, value in expected.items():
        assert body[key] == value


@pytest.mark.parametrize("language", ["ja", "en"])
def test_labels_in_either_language_whatever_the_ui_language(admin, language):
    admin.cookies["django_language"] = language
    body = {"category": "Business information", "legal_type": "営業秘密", "published": "Unknown"}
    r = admin.post("/api/v1/secrets", payload(**body), content_type=JSON)
    assert r.status_code == 201, r.content
    assert (r.json()["category"], r.json()["legal_type"]) == ("business", "trade_secret")
    r = admin.post("/api/v1/secrets", payload(management_number="API-002", category="営業情報"), content_type=JSON)
    assert r.status_code == 201 and r.json()["category"] == "business"


@pytest.mark.parametrize(("overrides", "field"), [
    ({"title": ""}, "title"),
    ({"title": "   "}, "title"),
    ({"title": "t" * 201}, "title"),
    ({"title": "t" * 300}, "title"),
    ({"title": "a\x00b"}, "title"),
    ({"title": "bell\x07"}, "title"),
    ({"summary": "s" * 2001}, "summary"),
    ({"management_number": ""}, "management_number"),
    ({"management_number": "has space"}, "management_number"),
    ({"management_number": "-starts-with-dash"}, "management_number"),
    ({"management_number": "N" * 41}, "management_number"),
    ({"management_number": "<script>"}, "management_number"),
    ({"level": "nonexistent"}, "level"),
    ({"level": ""}, "level"),
    ({"owner_department": "NOPE"}, "owner_department"),
    ({"owner_department": ""}, "owner_department"),
    ({"responsible": "ghost"}, "responsible"),
    ({"allowed_users": ["alice", "ghost"]}, "allowed_users"),
    ({"allowed_groups": ["幽霊チーム"]}, "allowed_groups"),
    ({"category": "secret-sauce"}, "category"),
    ({"legal_type": "whatever"}, "legal_type"),
    ({"published": "maybe"}, "published"),
    ({"review_date": "2025-02-30"}, "review_date"),
    ({"review_date": "令和1年4月30日"}, "review_date"),
    ({"review_date": "tomorrow"}, "review_date"),
    ({"protection_decision": "patent", "decision_date": None}, "decision_date"),
    ({"locations": ["x" * 501]}, "locations"),
    ({"locations": [f"/srv/{i}" for i in range(51)]}, "locations"),
    ({"marking": "m" * 301}, "marking"),
])
def test_create_rejects_invalid_values_with_422(admin, overrides, field):
    r = admin.post("/api/v1/secrets", payload(**overrides), content_type=JSON)
    body = _error(r)
    assert body["code"] == "input.invalid"
    assert field in body["fields"], body
    assert all(isinstance(m, str) and m for m in body["fields"][field])
    assert not Secret.objects.filter(management_number=payload(**overrides)["management_number"]).exclude(
        management_number__in=["DEV-001", "DEV-002", "SAL-001"]).exists()


def test_unknown_names_are_reported_together(admin):
    r = admin.post("/api/v1/secrets", payload(level="nope", owner_department="ZZ", responsible="ghost",
                                              allowed_users=["ghost", "alice", "phantom"]), content_type=JSON)
    body = _error(r)
    assert set(body["fields"]) == {"level", "owner_department", "responsible", "allowed_users"}
    assert "nope" in body["fields"]["level"][0]
    assert "ZZ" in body["fields"]["owner_department"][0]
    assert "ghost" in body["fields"]["responsible"][0]
    assert "ghost" in body["fields"]["allowed_users"][0] and "phantom" in body["fields"]["allowed_users"][0]
    assert "alice" not in body["fields"]["allowed_users"][0]


def test_inactive_users_cannot_be_named(admin, org):
    org.users["bob"].is_active = False
    org.users["bob"].save()
    body = _error(admin.post("/api/v1/secrets", payload(responsible="bob"), content_type=JSON))
    assert "responsible" in body["fields"]


def test_duplicate_management_number_is_422(admin):
    assert admin.post("/api/v1/secrets", payload(), content_type=JSON).status_code == 201
    body = _error(admin.post("/api/v1/secrets", payload(title="別物"), content_type=JSON))
    assert "management_number" in body["fields"]
    body = _error(admin.post("/api/v1/secrets", payload(management_number="DEV-001"), content_type=JSON))
    assert "management_number" in body["fields"]
    assert Secret.objects.filter(management_number="API-001").count() == 1


@pytest.mark.parametrize(("body", "content_type"), [
    ("{bad json", JSON),
    ('{"title": "unterminated', JSON),
    ("\xff\xfe", JSON),
    ("[1, 2]", JSON),
    ("null", JSON),
    ('"a string"', JSON),
    ("42", JSON),
    ("", JSON),
    ("title=x", "text/plain"),
    ("title=x&level=hi", "application/x-www-form-urlencoded"),
    ('{"management_number": 5, "title": ["x"], "category": {}, "level": null, "owner_department": 1}', JSON),
    ('{"management_number": "A-1", "title": "x", "category": "technical", "level": "hi", '
     '"owner_department": "DEV", "allowed_users": "alice"}', JSON),
    ('{"management_number": "A-1", "title": "x", "category": "technical", "level": "hi", '
     '"owner_department": "DEV", "locations": [{"nested": true}]}', JSON),
])
def test_malformed_bodies_are_4xx_json(admin, body, content_type):
    r = admin.post("/api/v1/secrets", body, content_type=content_type)
    assert 400 <= r.status_code < 500, (r.status_code, r.content)
    _error(r, r.status_code)
    assert not Secret.objects.filter(management_number="A-1").exists()


def test_missing_fields_are_named_like_the_form_fields(admin):
    body = _error(admin.post("/api/v1/secrets", {"title": 3}, content_type=JSON))
    assert {"management_number", "category", "level", "owner_department", "title"} <= set(body["fields"])


def test_malformed_json_on_update_is_4xx(admin, org):
    r = admin.put(f"/api/v1/secrets/{org.recipe.pk}", "{oops", content_type=JSON)
    assert 400 <= r.status_code < 500
    _error(r, r.status_code)


# --- update -------------------------------------------------------------------------------------------

def test_update_replaces_fields_and_records_changes(admin, org):
    r = admin.put(f"/api/v1/secrets/{org.recipe.pk}",
                  payload(management_number="DEV-001", title="焼結条件（改訂）", marking="㊙"), content_type=JSON)
    assert r.status_code == 200, r.content
    assert r.json()["title"] == "焼結条件（改訂）"
    org.recipe.refresh_from_db()
    assert org.recipe.title == "焼結条件（改訂）" and org.recipe.marking == "㊙"
    rev = org.recipe.revisions.get()
    assert rev.action == "update" and rev.channel == "api"
    assert rev.changes["title"] == ["焼結条件", "焼結条件（改訂）"]
    event = AuditEvent.objects.filter(action=Action.UPDATE, object_id=str(org.recipe.pk)).get()
    assert "title" in event.details["fields"]


def test_update_with_same_number_is_not_a_duplicate(admin, org):
    body = payload(management_number="DEV-001", title=org.recipe.title)
    assert admin.put(f"/api/v1/secrets/{org.recipe.pk}", body, content_type=JSON).status_code == 200


def test_update_to_another_entrys_number_is_422(admin, org):
    r = admin.put(f"/api/v1/secrets/{org.recipe.pk}", payload(management_number="SAL-001"), content_type=JSON)
    assert "management_number" in _error(r)["fields"]
    org.recipe.refresh_from_db()
    assert org.recipe.management_number == "DEV-001"


@pytest.mark.parametrize(("overrides", "field"), [
    ({"title": ""}, "title"),
    ({"title": "x" * 300}, "title"),
    ({"level": "secret-level"}, "level"),
    ({"owner_department": "XX"}, "owner_department"),
    ({"allowed_users": ["nobody"]}, "allowed_users"),
])
def test_invalid_update_is_422_and_changes_nothing(admin, org, overrides, field):
    r = admin.put(f"/api/v1/secrets/{org.recipe.pk}", payload(management_number="DEV-001", **overrides),
                  content_type=JSON)
    assert field in _error(r)["fields"]
    org.recipe.refresh_from_db()
    assert org.recipe.title == "焼結条件"
    assert not org.recipe.revisions.exists()


def test_dept_manager_cannot_move_or_create_outside_their_department(org, login):
    client = login("devlead")
    r = client.post("/api/v1/secrets", payload(owner_department="SALES"), content_type=JSON)
    assert "owner_department" in _error(r)["fields"]
    r = client.put(f"/api/v1/secrets/{org.recipe.pk}", payload(management_number="DEV-001",
                                                               owner_department="SALES"), content_type=JSON)
    assert "owner_department" in _error(r)["fields"]
    org.recipe.refresh_from_db()
    assert org.recipe.owner_department == org.dev
    r = client.post("/api/v1/secrets", payload(owner_department="DEV"), content_type=JSON)
    assert r.status_code == 201


def test_employee_create_is_403_json_and_audited(org, login):
    r = login("alice").post("/api/v1/secrets", payload(), content_type=JSON)
    body = _error(r, 403)
    assert body["code"] == "access.denied"
    assert AuditEvent.objects.filter(action=Action.DENIED, actor_name="alice", channel="api").exists()


# --- delete -------------------------------------------------------------------------------------------

def test_delete_keeps_history_and_hides_the_entry(admin, org):
    pk = org.recipe.pk
    r = admin.delete(f"/api/v1/secrets/{pk}")
    assert r.status_code == 204 and r.content == b""
    assert not Secret.objects.filter(pk=pk).exists()
    rev = SecretRevision.objects.get(management_number="DEV-001")
    assert rev.secret is None and rev.action == "delete" and rev.channel == "api"
    assert rev.snapshot == {} and rev.changes["title"] == ["焼結条件", None]
    assert AuditEvent.objects.filter(action=Action.DELETE, object_id=str(pk), channel="api").exists()
    assert _error(admin.get(f"/api/v1/secrets/{pk}"), 404)["code"] == "http.404"
    assert admin.delete(f"/api/v1/secrets/{pk}").status_code == 404
    assert admin.get("/api/v1/stats").json()["total"] == 2


def test_history_lists_revisions_in_order(admin, org):
    url = f"/api/v1/secrets/{org.recipe.pk}"
    for title in ("一", "二", "三"):
        assert admin.put(url, payload(management_number="DEV-001", title=title), content_type=JSON).status_code == 200
    history = admin.get(f"{url}/history").json()
    assert [h["number"] for h in history] == [1, 2, 3]
    assert [h["changes"]["title"][1] for h in history] == ["一", "二", "三"]
    assert all(h["actor"] == "admin" and h["channel"] == "api" and len(h["hash"]) == 64 for h in history)


# --- listing, paging, odd parameters -------------------------------------------------------------------

@pytest.mark.parametrize(("query", "offset", "limit", "count"), [
    ("", 0, 100, 3),
    ("?limit=1", 0, 1, 1),
    ("?limit=0", 0, 1, 1),
    ("?limit=-5", 0, 1, 1),
    ("?limit=100000", 0, 500, 3),
    ("?offset=2", 2, 100, 1),
    ("?offset=-3", 0, 100, 3),
    ("?offset=10", 10, 100, 0),
    ("?sort=-number", 0, 100, 3),
    ("?sort=drop table", 0, 100, 3),
])
def test_list_paging_is_clamped(admin, query, offset, limit, count):
    body = admin.get(f"/api/v1/secrets{query}").json()
    assert body["count"] == 3
    assert (body["offset"], body["limit"], len(body["items"])) == (offset, limit, count)


def test_list_sort_order(admin):
    numbers = [i["management_number"] for i in admin.get("/api/v1/secrets?sort=-number").json()["items"]]
    assert numbers == ["SAL-001", "DEV-002", "DEV-001"]


@pytest.mark.parametrize("url", [
    "/api/v1/secrets?limit=abc",
    "/api/v1/secrets?offset=1.5",
    "/api/v1/secrets/abc",
    "/api/v1/secrets/99999999999999999999999",
    "/api/v1/secrets/-1",
    "/api/v1/secrets/0/history",
    "/api/v1/audit?limit=x",
    "/api/v1/nothing-here",
])
def test_odd_parameters_are_4xx_json(admin, url):
    r = admin.get(url)
    assert 400 <= r.status_code < 500, (url, r.status_code)
    _error(r, r.status_code)


def test_unsupported_method_is_not_500(admin, org):
    r = admin.patch(f"/api/v1/secrets/{org.recipe.pk}", {"title": "x"}, content_type=JSON)
    assert r.status_code == 405


def test_audit_api_filters(org, login):
    login("alice").get(f"/register/{org.prices.pk}/")
    client = login("auditor")
    events = client.get("/api/v1/audit?action=denied").json()
    assert events and all(e["action"] == "denied" for e in events)
    assert {e["actor"] for e in events} == {"alice"}
    assert all(e["actor"] == "alice" for e in client.get("/api/v1/audit?actor=alic").json())
    assert len(client.get("/api/v1/audit?limit=1").json()) == 1
    seqs = [e["seq"] for e in client.get("/api/v1/audit").json()]
    assert seqs == sorted(seqs, reverse=True)


# --- OpenAPI ------------------------------------------------------------------------------------------

def test_openapi_schema_lists_the_paths(admin):
    r = admin.get("/api/v1/openapi.json")
    assert r.status_code == 200
    schema = r.json()
    assert schema["info"]["title"] == "Himitsu API"
    paths = schema["paths"]
    for path in ("/api/v1/secrets", "/api/v1/secrets/{secret_id}", "/api/v1/secrets/{secret_id}/history",
                 "/api/v1/stats", "/api/v1/audit"):
        assert path in paths, path
    assert {"get", "post"} <= set(paths["/api/v1/secrets"])
    assert {"get", "put", "delete"} <= set(paths["/api/v1/secrets/{secret_id}"])
    assert "SecretIn" in schema["components"]["schemas"]


def test_api_docs_page_renders(admin):
    assert admin.get("/api/v1/docs").status_code == 200


def test_huge_offsets_are_clamped_not_a_server_error(org, login):
    client = login("auditor")
    for url in ("/api/v1/secrets?offset=100000000000000000000", "/api/v1/audit?offset=100000000000000000000"):
        response = client.get(url)
        assert response.status_code == 200, (url, response.content[:300])
