"""Need-to-know: every page and API call, as every role, inside and outside its scope.

The organisation (tests/conftest.py ``org``):

=========  ==============  =====================================================
user       role            sees
=========  ==============  =====================================================
admin      system_admin    R, P, D (all)
manager    secret_manager  R, P, D (all)
devlead    dept_manager    R, D (department DEV)
saleslead  dept_manager    P (department SALES)
alice      employee        R (granted directly)
bob        employee        D (granted through the group 設計チーム)
auditor    auditor         R, P, D (read-only)
=========  ==============  =====================================================

R = DEV-001 焼結条件 (recipe), P = SAL-001 顧客別価格表 (prices), D = DEV-002 金型図面 (drawing).
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.test import Client

from himitsu.web.audit.models import Action, AuditEvent

ROLES = ["admin", "manager", "devlead", "saleslead", "alice", "bob", "auditor"]
SECRETS = {"R": "recipe", "P": "prices", "D": "drawing"}
NUMBERS = {"R": "DEV-001", "P": "SAL-001", "D": "DEV-002"}
TITLES = {"R": "焼結条件", "P": "顧客別価格表", "D": "金型図面"}

SEES = {"admin": "RPD", "manager": "RPD", "devlead": "RD", "saleslead": "P", "alice": "R", "bob": "D",
        "auditor": "RPD"}
WRITES = {"admin": "RPD", "manager": "RPD", "devlead": "RD", "saleslead": "P", "alice": "", "bob": "",
          "auditor": ""}
CREATES = {"admin", "manager", "devlead", "saleslead"}
AUDITS = {"admin", "auditor"}
LEVELS = {"admin", "manager"}
PEOPLE = {"admin", "manager"}  # the people list: system administrators and trade-secret managers (read-only)



def _write_status(role: str, s: str, ok: int) -> int:
    if s in WRITES[role]:
        return ok
    return 403 if s in SEES[role] else 404


def _read_status(role: str, s: str, ok: int = 200) -> int:
    return ok if s in SEES[role] else 404


def _table() -> list[tuple[str, str, str, int]]:
    rows: list[tuple[str, str, str, int]] = []
    for role in ROLES:
        creator, auditor, leveller = role in CREATES, role in AUDITS, role in LEVELS
        admin = role == "admin"
        rows += [
            (role, "GET", "/", 200),
            (role, "GET", "/register/", 200),
            (role, "GET", "/register/new/", 200 if creator else 403),
            (role, "POST", "/register/new/", 302 if creator else 403),
            (role, "GET", "/register/import/", 200 if creator else 403),
            (role, "GET", "/register/export/?format=csv", 200),
            (role, "GET", "/levels/", 200),
            (role, "GET", "/levels/{level}/edit/", 200 if leveller else 403),
            (role, "POST", "/levels/{level}/edit/", 302 if leveller else 403),
            (role, "GET", "/people/", 200 if role in PEOPLE else 403),
            (role, "GET", "/people/users/new/", 200 if admin else 403),
            (role, "POST", "/people/users/new/", 400 if admin else 403),
            (role, "GET", "/people/users/{user}/", 200 if admin else 403),
            (role, "GET", "/people/groups/new/", 200 if admin else 403),
            (role, "GET", "/people/groups/{group}/", 200 if admin else 403),
            (role, "POST", "/people/groups/{group}/", 400 if admin else 403),
            (role, "GET", "/audit/", 200 if auditor else 403),
            (role, "POST", "/audit/verify/", 302 if auditor else 403),
            (role, "GET", "/api/v1/secrets", 200),
            (role, "POST", "/api/v1/secrets", 201 if creator else 403),
            (role, "GET", "/api/v1/stats", 200),
            (role, "GET", "/api/v1/audit", 200 if auditor else 403),
        ]
        for s in "RPD":
            rows += [
                (role, "GET", f"/register/{{{s}}}/", _read_status(role, s)),
                (role, "GET", f"/register/{{{s}}}/edit/", _write_status(role, s, 200)),
                (role, "POST", f"/register/{{{s}}}/edit/", _write_status(role, s, 302)),
                (role, "GET", f"/register/{{{s}}}/delete/", _write_status(role, s, 200)),
                (role, "POST", f"/register/{{{s}}}/delete/", _write_status(role, s, 302)),
                (role, "GET", f"/register/{{{s}}}/evidence/", _write_status(role, s, 200)),
                (role, "POST", f"/register/{{{s}}}/evidence/", _write_status(role, s, 302)),
                (role, "GET", f"/register/{{{s}}}/history/", _read_status(role, s)),
                (role, "GET", f"/api/v1/secrets/{{{s}}}", _read_status(role, s)),
                (role, "PUT", f"/api/v1/secrets/{{{s}}}", _write_status(role, s, 200)),
                (role, "DELETE", f"/api/v1/secrets/{{{s}}}", _write_status(role, s, 204)),
                (role, "GET", f"/api/v1/secrets/{{{s}}}/history", _read_status(role, s)),
            ]
    return rows


TABLE = _table()

# Insider risk: the list (pseudonymised) for system administrators, trade-secret managers and auditors; ingest and
# scoring for the first two; reveal for trade-secret managers only (tests/web/test_insider_views.py: the pages).
INSIDER_READERS = {"admin", "manager", "auditor"}
INSIDER_RUNNERS = {"admin", "manager"}
INSIDER_REVEALERS = {"manager"}
TABLE += [row for role in ROLES for row in (
    (role, "GET", "/insider/", 200 if role in INSIDER_READERS else 403),
    (role, "POST", "/insider/budget/", 302 if role in INSIDER_READERS else 403),
    (role, "POST", "/insider/score/", 302 if role in INSIDER_RUNNERS else 403),
)]


def form_payload(secret: Any = None, **overrides: Any) -> dict[str, Any]:
    """The web form's POST data for ``secret`` (or a minimal new entry), with ``overrides``."""
    from himitsu.web.register.models import ClassificationLevel

    if secret is None:
        data: dict[str, Any] = {
            "management_number": "NEW-001", "title": "新規", "summary": "", "category": "technical",
            "level": ClassificationLevel.objects.get(code="hi").pk, "legal_type": "trade_secret",
            "owner_department": "", "responsible": "", "allowed_users": [], "allowed_groups": [],
            "marking": "", "review_date": "", "protection_decision": "undecided", "decision_date": "",
            "decision_reasons": "", "usefulness_notes": "", "published": "unknown", "patented": "unknown",
            "reverse_engineerable": "unknown", "non_public_notes": "", "locations": "",
        }
    else:
        data = {
            "management_number": secret.management_number, "title": secret.title, "summary": secret.summary,
            "category": secret.category, "level": secret.level_id, "legal_type": secret.legal_type,
            "owner_department": secret.owner_department_id, "responsible": secret.responsible_id or "",
            "allowed_users": list(secret.allowed_users.values_list("pk", flat=True)),
            "allowed_groups": list(secret.allowed_groups.values_list("pk", flat=True)),
            "marking": secret.marking, "review_date": "", "protection_decision": secret.protection_decision,
            "decision_date": "", "decision_reasons": secret.decision_reasons,
            "usefulness_notes": secret.usefulness_notes, "published": secret.published,
            "patented": secret.patented, "reverse_engineerable": secret.reverse_engineerable,
            "non_public_notes": secret.non_public_notes, "locations": "",
        }
    data.update(overrides)
    return data


def api_payload(secret: Any = None, **overrides: Any) -> dict[str, Any]:
    if secret is None:
        data: dict[str, Any] = {"management_number": "NEW-001", "title": "新規", "category": "technical",
                                "level": "hi", "owner_department": "DEV"}
    else:
        data = {"management_number": secret.management_number, "title": secret.title,
                "category": secret.category, "level": secret.level.code,
                "owner_department": secret.owner_department.code,
                "allowed_users": list(secret.allowed_users.values_list("username", flat=True)),
                "allowed_groups": list(secret.allowed_groups.values_list("name", flat=True))}
    data.update(overrides)
    return data


def _evidence_payload() -> dict[str, str]:
    from himitsu.catalog import checklist as cl

    data: dict[str, str] = {}
    for item in cl.manual_items():
        data[f"{item['key']}__answer"] = "yes"
        data[f"{item['key']}__note"] = "確認済み"
    return data


def _request(client: Client, org: Any, role: str, method: str, template: str) -> Any:
    ids = {s: getattr(org, name).pk for s, name in SECRETS.items()}
    level = org.levels["hi"]
    url = template.format(level=level.pk, user=org.users["bob"].pk, group=org.group.pk, **ids)
    user = org.users[role]
    if method == "GET":
        return client.get(url)
    if method == "DELETE":
        return client.delete(url)
    target = next((s for s in "RPD" if f"{{{s}}}" in template), None)
    secret = getattr(org, SECRETS[target]) if target else None
    if url.startswith("/api/"):
        body = api_payload(secret, title="変更後") if secret else api_payload(
            owner_department=(user.department.code if user.department else "DEV"))
        call = client.put if method == "PUT" else client.post
        return call(url, body, content_type="application/json")
    if url.startswith("/people/"):
        field = "username" if "/users/" in url else "name"
        return client.post(url, {field: ""})  # an invalid form: refused (403) or rejected (400), never saved
    if "/levels/" in url:
        return client.post(url, {"name": level.name, "name_en": level.name_en, "handling_rules": "施錠保管",
                                 "handling_rules_en": "Keep locked"})
    if url.endswith("/evidence/"):
        return client.post(url, _evidence_payload())
    if url.endswith("/edit/"):
        return client.post(url, form_payload(secret, title="変更後"))
    if url == "/register/new/":
        dept = user.department_id or org.dev.pk
        return client.post(url, form_payload(owner_department=dept))
    return client.post(url)


@pytest.mark.parametrize(("role", "method", "url", "expected"), TABLE,
                         ids=[f"{r}-{m}-{u}" for r, m, u, _e in TABLE])
def test_access_matrix(org, login, role, method, url, expected):
    client = login(role)
    before = AuditEvent.objects.filter(action=Action.DENIED).count()
    response = _request(client, org, role, method, url)
    assert response.status_code == expected, (role, method, url, response.content[:300])
    denied = AuditEvent.objects.filter(action=Action.DENIED).count() - before
    if expected in (403, 404):
        assert denied == 1, "a refused request must leave exactly one 'denied' audit record"
        if url.startswith("/api/"):
            assert response["Content-Type"].startswith("application/json")
            assert set(response.json()) >= {"code", "message"}
    else:
        assert denied == 0


def _csv_numbers(content: bytes) -> set[str]:
    text = content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    found = set()
    for row in rows[1:]:
        for cell in row:
            if cell in NUMBERS.values() or cell.startswith("NEW-"):
                found.add(cell)
    return found


@pytest.mark.parametrize("role", ROLES)
def test_lists_counts_and_exports_hold_only_visible_entries(org, login, role):
    client = login(role)
    visible = {NUMBERS[s] for s in SEES[role]}
    hidden = set(NUMBERS.values()) - visible

    page = client.get("/register/").content.decode()
    dashboard = client.get("/").content.decode()
    for s, number in NUMBERS.items():
        shown = number in visible
        assert (number in page) is shown, (role, number)
        assert (TITLES[s] in page) is shown
        assert TITLES[s] not in dashboard or shown

    data = client.get("/api/v1/secrets").json()
    assert data["count"] == len(visible)
    assert {item["management_number"] for item in data["items"]} == visible

    stats = client.get("/api/v1/stats").json()
    assert stats["total"] == len(visible)
    assert sum(stats["by_status"].values()) == len(visible)
    assert sum(stats["by_level"].values()) == len(visible)

    export = client.get("/register/export/?format=csv")
    assert export.status_code == 200
    assert export["Content-Type"].startswith("text/csv")
    assert _csv_numbers(export.content) == visible
    body = export.content.decode("utf-8-sig")
    for number in hidden:
        assert number not in body


@pytest.mark.parametrize(("role", "query", "expected"), [
    ("alice", "価格", set()),
    ("alice", "SAL", set()),
    ("alice", "DEV", {"DEV-001"}),
    ("bob", "焼結", set()),
    ("bob", "DEV", {"DEV-002"}),
    ("saleslead", "金型", set()),
    ("saleslead", "価格", {"SAL-001"}),
    ("devlead", "価格", set()),
    ("manager", "価格", {"SAL-001"}),
    ("auditor", "DEV", {"DEV-001", "DEV-002"}),
])
def test_search_never_reveals_invisible_entries(org, login, role, query, expected):
    client = login(role)
    page = client.get("/register/", {"q": query}).content.decode()
    for number in NUMBERS.values():
        assert (number in page) is (number in expected), (role, query, number)
    data = client.get("/api/v1/secrets", {"q": query}).json()
    assert data["count"] == len(expected)
    assert {i["management_number"] for i in data["items"]} == expected
    export = client.get("/register/export/", {"q": query, "format": "csv"})
    assert _csv_numbers(export.content) == expected


def test_search_by_summary_does_not_leak(org, login):
    org.prices.summary = "取引先ごとの値引率"
    org.prices.save()
    client = login("alice")
    assert client.get("/api/v1/secrets", {"q": "値引"}).json()["count"] == 0
    assert "SAL-001" not in client.get("/register/", {"q": "値引"}).content.decode()
    assert login("saleslead").get("/api/v1/secrets", {"q": "値引"}).json()["count"] == 1


def test_filters_combine_with_need_to_know(org, login):
    client = login("alice")
    for params in ({"department": "SALES"}, {"level": "hi"}, {"category": "business"}):
        assert client.get("/api/v1/secrets", params).json()["count"] == 0, params
    assert client.get("/api/v1/secrets", {"level": "gokuhi"}).json()["count"] == 1


def test_group_membership_grants_and_revokes(org, login):
    client = login("bob")
    assert client.get(f"/register/{org.drawing.pk}/").status_code == 200
    org.group.members.remove(org.users["bob"])
    assert client.get(f"/register/{org.drawing.pk}/").status_code == 404
    assert client.get("/api/v1/stats").json()["total"] == 0


def test_inactive_user_sees_nothing(org, client):
    from himitsu.web.accounts import access

    alice = org.users["alice"]
    alice.is_active = False
    alice.save()
    assert access.visible_secrets(alice).count() == 0
    assert not access.can_create(org.users["devlead"].__class__(role="dept_manager", is_active=False))


def test_dept_manager_granted_foreign_entry_can_read_not_write(org, login):
    """A department manager granted another department's entry sees it, but may not change it."""
    org.prices.allowed_users.add(org.users["devlead"])
    client = login("devlead")
    pk = org.prices.pk
    assert client.get(f"/register/{pk}/").status_code == 200
    assert client.get(f"/register/{pk}/history/").status_code == 200
    assert client.get(f"/register/{pk}/edit/").status_code == 403
    assert client.post(f"/register/{pk}/edit/", form_payload(org.prices, title="x")).status_code == 403
    assert client.post(f"/register/{pk}/delete/").status_code == 403
    assert client.post(f"/register/{pk}/evidence/", _evidence_payload()).status_code == 403
    assert client.put(f"/api/v1/secrets/{pk}", api_payload(org.prices, title="x"),
                      content_type="application/json").status_code == 403
    assert client.delete(f"/api/v1/secrets/{pk}").status_code == 403
    org.prices.refresh_from_db()
    assert org.prices.title == "顧客別価格表"
    assert client.get("/api/v1/stats").json()["total"] == 3


def test_missing_and_invisible_entries_look_the_same(org, login):
    client = login("alice")
    missing = client.get("/register/999999/")
    invisible = client.get(f"/register/{org.prices.pk}/")
    assert missing.status_code == invisible.status_code == 404
    api_missing = client.get("/api/v1/secrets/999999").json()
    api_invisible = client.get(f"/api/v1/secrets/{org.prices.pk}").json()
    assert api_missing == api_invisible


def test_refused_writes_change_nothing(org, login):
    from himitsu.web.register.models import Secret

    before = {s.pk: (s.title, s.secrecy_score) for s in Secret.objects.all()}
    client = login("alice")
    client.post(f"/register/{org.recipe.pk}/edit/", form_payload(org.recipe, title="x"))
    client.post(f"/register/{org.recipe.pk}/delete/")
    client.post(f"/register/{org.recipe.pk}/evidence/", _evidence_payload())
    client.post("/register/new/", form_payload(owner_department=org.dev.pk))
    client.put(f"/api/v1/secrets/{org.recipe.pk}", api_payload(org.recipe, title="x"),
               content_type="application/json")
    client.delete(f"/api/v1/secrets/{org.recipe.pk}")
    client.post("/api/v1/secrets", api_payload(), content_type="application/json")
    assert {s.pk: (s.title, s.secrecy_score) for s in Secret.objects.all()} == before


@pytest.mark.parametrize(("role", "url", "status"), [
    ("alice", "/register/{P}/", 404),
    ("alice", "/register/{R}/edit/", 403),
    ("auditor", "/register/new/", 403),
    ("bob", "/audit/", 403),
    ("devlead", "/levels/{level}/edit/", 403),
    ("alice", "/api/v1/secrets/{P}", 404),
    ("bob", "/api/v1/audit", 403),
])
def test_denied_access_is_audited(org, login, role, url, status):
    client = login(role)
    target = url.format(R=org.recipe.pk, P=org.prices.pk, level=org.levels["hi"].pk)
    assert client.get(target).status_code == status
    event = AuditEvent.objects.filter(action=Action.DENIED).order_by("-seq").first()
    assert event is not None
    assert event.actor_name == role
    assert event.actor_id == org.users[role].pk
    assert event.ip == "127.0.0.1"
    assert event.channel == ("api" if target.startswith("/api/") else "web")
    if target.endswith(f"/{org.prices.pk}/") or target.endswith(f"/{org.prices.pk}"):
        assert event.object_type == "secret" and event.object_id == str(org.prices.pk)


# --- anonymous -------------------------------------------------------------------------------------

PAGES = ["/", "/register/", "/register/new/", "/register/{R}/", "/register/{R}/edit/", "/register/{R}/delete/",
         "/register/{R}/evidence/", "/register/{R}/history/", "/register/import/",
         "/register/export/?format=csv", "/levels/", "/levels/{level}/edit/", "/audit/", "/people/",
         "/people/users/new/"]
API = [("GET", "/api/v1/secrets"), ("POST", "/api/v1/secrets"), ("GET", "/api/v1/secrets/{R}"),
       ("PUT", "/api/v1/secrets/{R}"), ("DELETE", "/api/v1/secrets/{R}"), ("GET", "/api/v1/secrets/{R}/history"),
       ("GET", "/api/v1/stats"), ("GET", "/api/v1/audit")]


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_pages_redirect_to_login(org, client, url):
    target = url.format(R=org.recipe.pk, level=org.levels["hi"].pk)
    response = client.get(target)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
    assert TITLES["R"] not in response.content.decode()


@pytest.mark.parametrize("url", ["/register/new/", "/register/{R}/edit/", "/register/{R}/delete/",
                                 "/audit/verify/"])
def test_anonymous_posts_redirect_and_change_nothing(org, client, url):
    from himitsu.web.register.models import Secret

    target = url.format(R=org.recipe.pk)
    response = client.post(target, form_payload(org.recipe, title="x"))
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert Secret.objects.filter(pk=org.recipe.pk, title="焼結条件").exists()


@pytest.mark.parametrize(("method", "url"), API)
def test_anonymous_api_is_401_json(org, client, method, url):
    target = url.format(R=org.recipe.pk)
    call = getattr(client, method.lower())
    response = call(target, api_payload(org.recipe), content_type="application/json") if method in (
        "POST", "PUT") else call(target)
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "auth.required"
    assert "ログインしてください。" in response.content.decode()  # readable UTF-8, as every other error of the API
    assert "焼結" not in response.content.decode()


def test_login_page_is_public(db, client):
    assert client.get("/login/").status_code == 200


# --- CSRF on the API (session auth) ------------------------------------------------------------------

@pytest.fixture
def csrf_client(org):
    client = Client(enforce_csrf_checks=True)
    client.force_login(org.users["admin"])
    return client


def _token(client: Client) -> str:
    assert client.get("/").status_code == 200
    return client.cookies["csrftoken"].value


def test_api_writes_without_csrf_token_are_refused(org, csrf_client):
    from himitsu.web.register.models import Secret

    r = csrf_client.post("/api/v1/secrets", api_payload(), content_type="application/json")
    assert r.status_code == 403
    assert r.json()["code"] == "http.403"
    r = csrf_client.put(f"/api/v1/secrets/{org.recipe.pk}", api_payload(org.recipe, title="x"),
                        content_type="application/json")
    assert r.status_code == 403
    assert csrf_client.delete(f"/api/v1/secrets/{org.recipe.pk}").status_code == 403
    assert csrf_client.post("/api/v1/secrets", api_payload(), content_type="application/json",
                            headers={"X-CSRFToken": "wrong" * 8}).status_code == 403
    assert not Secret.objects.filter(management_number="NEW-001").exists()
    assert Secret.objects.filter(pk=org.recipe.pk, title="焼結条件").exists()


def test_api_writes_with_csrf_token_from_cookie(org, csrf_client):
    token = _token(csrf_client)
    headers = {"X-CSRFToken": token}
    r = csrf_client.post("/api/v1/secrets", api_payload(), content_type="application/json", headers=headers)
    assert r.status_code == 201, r.content
    new_id = r.json()["id"]
    r = csrf_client.put(f"/api/v1/secrets/{new_id}", api_payload(title="改名"), content_type="application/json",
                        headers=headers)
    assert r.status_code == 200 and r.json()["title"] == "改名"
    assert csrf_client.delete(f"/api/v1/secrets/{new_id}", headers=headers).status_code == 204


def test_api_reads_need_no_csrf_token(org, csrf_client):
    assert csrf_client.get("/api/v1/secrets").status_code == 200
    assert csrf_client.get(f"/api/v1/secrets/{org.recipe.pk}").status_code == 200


def test_web_forms_need_csrf_token(org, csrf_client):
    r = csrf_client.post(f"/register/{org.recipe.pk}/delete/")
    assert r.status_code == 403
    token = _token(csrf_client)
    r = csrf_client.post(f"/register/{org.recipe.pk}/delete/", {"csrfmiddlewaretoken": token})
    assert r.status_code == 302


@pytest.mark.parametrize("role", ROLES)
def test_insider_access_for_every_role(org, role):
    from himitsu.web.accounts import access

    user = org.users[role]
    assert access.can_view_insider(user) is (role in INSIDER_READERS)
    assert access.can_run_insider(user) is (role in INSIDER_RUNNERS)
    assert access.can_reveal_insider(user) is (role in INSIDER_REVEALERS)
    assert not access.can_reveal_insider(access.system_actor())  # the shell operator reveals nobody
