"""Insider-risk pages (issue 7) for every role, on the real database and a real analytics store.

Who may do what (himitsu.web.accounts.access): system administrators and trade-secret managers see the list and
person pages (pseudonymised), score days and keep a budget; only trade-secret managers reveal an identity (with a
reason, audited); auditors read the list (pseudonymised) and find the reveals in the audit trail; department
managers and employees get 403.
"""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from django.test import Client

from himitsu.web.audit.models import AuditEvent
from himitsu.web.insider import services
from himitsu.web.insider.models import AnalystBudget, InsiderAlert, Reveal
from tests.web.test_insider import COPIED, LAST, insider_db_fixture, insider_fixture  # noqa: F401

# alice left (the logs' leaver): she cannot sign in any more; bob is the employee here
ROLES = ["admin", "manager", "devlead", "saleslead", "bob", "auditor"]
READERS = {"admin", "manager", "auditor"}
RUNNERS = {"admin", "manager"}
REVEALERS = {"manager"}


def client_for(org, role: str, language: str = "en") -> Client:
    client = Client()
    client.force_login(org.users[role])
    client.cookies["django_language"] = language
    return client


def body(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def scored(insider):
    services.score(LAST, insider.users["manager"])
    insider.top = InsiderAlert.objects.get(day=LAST, rank=1)
    return insider


@pytest.mark.parametrize("role", ROLES)
def test_every_page_for_every_role(scored, role):
    client = client_for(scored, role)
    pk = scored.top.pk
    reader, runner, revealer = role in READERS, role in RUNNERS, role in REVEALERS
    assert client.get("/insider/").status_code == (200 if reader else 403)
    assert client.get(f"/insider/alerts/{pk}/").status_code == (200 if reader else 403)
    assert client.post("/insider/budget/", {"budget": "7"}).status_code == (302 if reader else 403)
    r = client.post(f"/insider/alerts/{pk}/reveal/", {"reason": "確認"})
    assert r.status_code == (302 if revealer else 403)
    assert Reveal.objects.exists() is revealer
    assert client.post("/insider/score/", {"day": LAST.isoformat()}).status_code == (302 if runner else 403)
    menu = client.get("/").content.decode()
    assert ('href="/insider/"' in menu) is reader
    if reader:
        assert client.get("/insider/alerts/999999/").status_code == 404
        assert client.get(f"/insider/alerts/{2**63}/").status_code == 404


def test_list_is_pseudonymised_with_reasons_in_words(scored):
    page = body(client_for(scored, "admin", "ja").get("/insider/"))
    top = scored.top
    assert f"利用者 {top.pseudonym}" in page
    assert "Alice" not in page and ">alice<" not in page
    assert f"USB機器への書き出し {COPIED} 件（本人の平常 0 件、部署" in page
    assert "10 日後" in page  # the leave date, in the HR window
    assert 'id="score-form"' in page
    assert "logon.csv" in page and 'id="ingest-status"' in page
    auditor = body(client_for(scored, "auditor").get("/insider/"))
    assert f"User {top.pseudonym}" in auditor and "Alice" not in auditor
    assert 'id="score-form"' not in auditor
    assert "Files written to removable media: 40 (usual for them: 0" in auditor


def test_budget_is_kept_and_sets_the_length_of_the_list(scored):
    client = client_for(scored, "manager")
    assert body(client.get("/insider/")).count('class="alert-row"') == 5
    client.post("/insider/budget/", {"budget": "2", "day": LAST.isoformat()})
    assert AnalystBudget.objects.get(user=scored.users["manager"]).budget == 2
    assert body(client.get("/insider/")).count('class="alert-row"') == 2
    assert body(client_for(scored, "admin").get("/insider/")).count('class="alert-row"') == 5
    r = client.post("/insider/budget/", {"budget": "500"}, follow=True)
    assert "from 1 to 50" in body(r)
    assert AnalystBudget.objects.get(user=scored.users["manager"]).budget == 2


def test_day_picker_and_last_scored_day_by_default(scored):
    earlier = LAST - timedelta(days=1)
    services.score(earlier, scored.users["manager"])
    client = client_for(scored, "manager")
    assert f"{LAST.isoformat()}: the top 5" in body(client.get("/insider/"))
    assert f"{earlier.isoformat()}: the top 5" in body(client.get("/insider/", {"day": earlier.isoformat()}))
    assert "Nobody was scored on this day." in body(client.get("/insider/", {"day": "2020-01-01"}))
    assert "is not a date" in body(client.get("/insider/", {"day": "yesterday"}))


def test_score_button_runs_the_service_and_is_audited(insider):
    client = client_for(insider, "admin")
    r = client.post("/insider/score/", {"day": ""}, follow=True)
    assert r.status_code == 200
    page = body(r)
    assert f"{LAST.isoformat()} was scored" in page and "2 of them not known to Himitsu" in page
    assert InsiderAlert.objects.filter(day=LAST).exists()
    assert AuditEvent.objects.filter(object_type="insider_score", actor_name="admin", channel="web").exists()
    assert client.get("/insider/score/").status_code == 405
    guarded = Client(enforce_csrf_checks=True)
    guarded.force_login(insider.users["admin"])
    assert guarded.post("/insider/score/", {"day": ""}).status_code == 403  # no CSRF token


def test_person_page_timeline_indicators_and_register_links(scored):
    page = body(client_for(scored, "auditor").get(f"/insider/alerts/{scored.top.pk}/"))
    assert "<svg" in page and "<polyline" in page and f"leave date {(LAST + timedelta(days=10)).isoformat()}" in page
    assert "Files written to removable media" in page
    assert f'href="/register/{scored.recipe.pk}/"' in page and "DEV-001" in page
    assert 'id="leaving"' not in page and 'id="reveal-form"' not in page and "Alice" not in page
    assert AuditEvent.objects.filter(object_type="insider_alert", object_id=str(scored.top.pk)).exists()


def test_reveal_needs_a_reason_shows_the_name_to_that_analyst_only_and_is_audited(scored):
    from himitsu.web.workflows.models import Case

    client = client_for(scored, "manager")
    url = f"/insider/alerts/{scored.top.pk}/"
    assert 'id="reveal-form"' in body(client.get(url))
    r = client.post(url + "reveal/", {"reason": "  "})
    assert r.status_code == 400 and "Give the reason" in body(r)
    assert not AuditEvent.objects.filter(object_type="insider_reveal").exists()

    r = client.post(url + "reveal/", {"reason": "退職前の持ち出し確認"}, follow=True)
    page = body(r)
    assert f"User {scored.top.pseudonym} is Alice" in page
    assert "Alice" in body(client.get("/insider/"))
    assert f'href="/people/{scored.users["alice"].pk}/"' in page
    assert f'/workflows/new/?kind=leaving&person={scored.users["alice"].pk}' in page
    assert 'id="reveal-form"' not in page
    assert "You revealed this identity on " in page and ": 退職前の持ち出し確認" in page
    event = AuditEvent.objects.get(object_type="insider_reveal")
    assert event.actor_name == "manager" and event.details["reason"] == "退職前の持ち出し確認"
    assert "Alice" not in body(client_for(scored, "admin").get("/insider/"))  # not revealed to others

    audit = body(client_for(scored, "auditor").get("/audit/"))
    assert scored.top.pseudonym in audit

    from himitsu.web.register.services import Context
    from himitsu.web.workflows import services as workflows

    case = workflows.open_case(Context(actor=scored.users["manager"]), scored.users["alice"], "leaving")
    assert isinstance(case, Case)
    assert f'href="/workflows/{case.pk}/"' in body(client.get(url))


def test_reasons_say_when_a_score_comes_only_from_the_days_before():
    from django.utils import translation

    from himitsu.web.insider import views

    moved = {"name": "usb_writes", "value": 40, "own_baseline": 0, "peer_baseline": 0.5}
    with translation.override("en"):
        assert views.reasons(InsiderAlert(score=5.0, indicators=[moved]))[0].startswith(
            views.feature_label("usb_writes"))
        assert views.reasons(InsiderAlert(score=2.7, indicators=[])) == [
            "No indicator moved today: the score comes from the days before (accumulated)."]
        assert views.reasons(InsiderAlert(score=0.0, indicators=[])) == []
    with translation.override("ja"):
        assert "前日までの累積" in views.reasons(InsiderAlert(score=2.7, indicators=[]))[0]
