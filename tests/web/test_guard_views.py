"""Outbound guard pages (issue 6): the policy with its forms and "try it", API tokens, decision records with their
chart, and the quarantine (open, release to a real SMTP server, reject), for every role, on the real database
with documents registered in a real fingerprint index (tests/guard_env.py ``guarded``).

Who may do what (himitsu.web.accounts.access): managers (admin, manager) edit the policy and tokens and review
held mail; the auditor reads the policy, tokens, decisions and the quarantine list; a department manager sees
the decisions and held items of their department's senders and reviews those whose register entries they may
see; employees see none of it.
"""

from __future__ import annotations

import html
from datetime import date, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from himitsu.gateways.base import Identity, Outbound
from himitsu.web.audit.models import AuditEvent
from himitsu.web.guard import services
from himitsu.web.guard.models import (
    ApiToken,
    GuardDecision,
    PolicyAllowance,
    PolicyRule,
    QuarantineItem,
    QuarantineStatus,
)
from tests.guard_env import EXCERPT, HARMLESS, PERSONAL, PRICES_EXCERPT, guarded_fixture  # noqa: F401
from tests.smtp import free_port

ROLES = ["admin", "manager", "devlead", "saleslead", "alice", "bob", "auditor"]
MANAGERS = {"admin", "manager"}
POLICY_READERS = MANAGERS | {"auditor"}
DECISION_READERS = POLICY_READERS | {"devlead", "saleslead"}


def client_for(org, role: str, language: str | None = "en") -> Client:
    client = Client()
    client.force_login(org.users[role])
    if language:
        client.cookies["django_language"] = language
    return client


def body(response) -> str:
    return response.content.decode()


def outbound(text: str, channel: str = "mail", user: str = "alice", department: str = "DEV",
             to: tuple[str, ...] = ("someone@outside.example.com",)) -> Outbound:
    return Outbound(channel=channel, data=text.encode("utf-8"), name="message.eml",
                    identity=Identity(user=user, department=department), destinations=to,
                    meta={"mail_from": f"{user}@example.co.jp"})


def mail(text: str, sender: str = "bob@example.co.jp", subject: str = "=?utf-8?b?6KaL56mN?=") -> str:
    return (f"From: {sender}\r\nTo: buyer@outside.example.com\r\nSubject: {subject}\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n")


def hold(text: str, user: str, department: str) -> QuarantineItem:
    guard = services.DatabaseGuard()
    item = outbound(mail(text, f"{user}@example.co.jp"), user=user, department=department,
                    to=("buyer@outside.example.com",))
    verdict = guard.check(item)
    return QuarantineItem.objects.get(pk=int(guard.hold(item, verdict)))


# --- every page for every role -----------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
def test_pages_for_every_role(guarded, role):
    client = client_for(guarded, role)
    expected = {"/guard/": POLICY_READERS, "/guard/tokens/": POLICY_READERS,
                "/guard/decisions/": DECISION_READERS, "/guard/quarantine/": DECISION_READERS}
    for url, allowed in expected.items():
        r = client.get(url)
        assert r.status_code == (200 if role in allowed else 403), (url, r.status_code)
    home = body(client.get("/"))
    if role in POLICY_READERS:
        assert 'href="/guard/"' in home
    elif role in DECISION_READERS:
        assert 'href="/guard/decisions/"' in home
    else:
        assert "/guard/" not in home
    if role in POLICY_READERS:
        page = body(client.get("/guard/"))
        assert "top-secret" in page and "nda-partners" in page and 'id="try-form"' in page
        assert ('href="/guard/rules/new/"' in page) is (role in MANAGERS)
        assert ("/change/" in page) is (role in MANAGERS)
        tokens = body(client.get("/guard/tokens/"))
        assert ('id="token-form"' in tokens) is (role in MANAGERS)


def test_pages_require_login(guarded):
    for url in ("/guard/", "/guard/tokens/", "/guard/decisions/", "/guard/quarantine/", "/guard/quarantine/1/"):
        r = Client().get(url)
        assert r.status_code == 302 and "/login/" in r["Location"], url


def test_japanese_and_english(guarded):
    en = body(client_for(guarded, "manager", "en").get("/guard/"))
    assert "Outbound policy" in en and "Rules" in en and "Block" in en
    ja = body(client_for(guarded, "manager", "ja").get("/guard/"))
    assert '<html lang="ja">' in ja
    assert "極秘情報は社外に送信できません。" in ja  # the rule's own Japanese message
    assert "送信ポリシー" in ja and "送信ガード" in ja and "ブロック" in ja and "Outbound policy" not in ja


@pytest.mark.parametrize("role", sorted(set(ROLES) - MANAGERS))
def test_who_may_not_change_the_policy(guarded, role):
    services.ensure_seeded()
    rule = PolicyRule.objects.get(slug="credentials")
    allowance = PolicyAllowance.objects.first()
    client = client_for(guarded, role)
    posts = {"/guard/rules/new/": {"slug": "x", "action": "block"},
             f"/guard/rules/{rule.pk}/edit/": {"slug": "credentials", "action": "allow"},
             f"/guard/rules/{rule.pk}/delete/": {},
             f"/guard/rules/{rule.pk}/change/": {"toggle": "1"},
             f"/guard/exceptions/{allowance.pk}/change/": {"direction": "down"},
             f"/guard/exceptions/{allowance.pk}/delete/": {},
             "/guard/tokens/": {"name": "bot", "scopes": ["check"]}}
    for url, data in posts.items():
        assert client.post(url, data).status_code == 403, url
    assert client.get("/guard/rules/new/").status_code == 403
    assert PolicyRule.objects.get(slug="credentials").action == "block" and rule.enabled
    assert not ApiToken.objects.exists()


# --- the policy: rules and exceptions ----------------------------------------------------------------------------

def test_manager_adds_edits_moves_toggles_and_deletes_a_rule(guarded):
    client = client_for(guarded, "manager")
    assert client.get("/guard/rules/new/").status_code == 200
    r = client.post("/guard/rules/new/", {
        "slug": "dev-my-number", "action": "warn", "detectors": ["my-number"], "channels": ["api"],
        "departments": ["DEV"], "min_score": "0.5", "message_ja": "開発部はマイナンバーを扱わないでください。",
        "message_en": "Development must not handle My Numbers.", "enabled": "on"})
    assert r.status_code == 302
    rule = PolicyRule.objects.get(slug="dev-my-number")
    assert rule.action == "warn" and rule.detectors == ["my-number"] and rule.departments == ["DEV"]
    assert rule.min_score == 0.5 and rule.enabled
    slugs = list(PolicyRule.objects.values_list("slug", flat=True))
    assert slugs[-1] == "dev-my-number"
    page = body(client.get("/guard/"))
    assert "開発部はマイナンバーを扱わないでください。" in page and "guard-action-warn" in page
    # up, then down again
    assert client.post(f"/guard/rules/{rule.pk}/change/", {"direction": "up"}).status_code == 302
    assert list(PolicyRule.objects.values_list("slug", flat=True))[-2] == "dev-my-number"
    client.post(f"/guard/rules/{rule.pk}/change/", {"direction": "down"})
    assert list(PolicyRule.objects.values_list("slug", flat=True))[-1] == "dev-my-number"
    client.post(f"/guard/rules/{rule.pk}/change/", {"direction": "down"})  # already last: nothing moves
    assert list(PolicyRule.objects.values_list("slug", flat=True)) == slugs
    first = PolicyRule.objects.first()
    client.post(f"/guard/rules/{first.pk}/change/", {"direction": "up"})  # already first
    assert PolicyRule.objects.first() == first
    # disable and enable
    client.post(f"/guard/rules/{rule.pk}/change/", {"toggle": "1"})
    assert not PolicyRule.objects.get(pk=rule.pk).enabled
    client.post(f"/guard/rules/{rule.pk}/change/", {"toggle": "1"})
    assert PolicyRule.objects.get(pk=rule.pk).enabled
    # edit
    edit = client.get(f"/guard/rules/{rule.pk}/edit/")
    assert edit.status_code == 200 and 'value="dev-my-number"' in body(edit)
    r = client.post(f"/guard/rules/{rule.pk}/edit/", {"slug": "dev-my-number", "action": "block",
                                                       "detectors": ["my-number"], "min_score": "0"})
    assert r.status_code == 302
    rule.refresh_from_db()
    assert rule.action == "block" and rule.channels == [] and not rule.enabled  # unticked box: disabled
    # delete: a confirmation, then the deletion
    confirm = client.get(f"/guard/rules/{rule.pk}/delete/")
    assert confirm.status_code == 200 and "dev-my-number" in body(confirm)
    assert client.post(f"/guard/rules/{rule.pk}/delete/").status_code == 302
    assert not PolicyRule.objects.filter(slug="dev-my-number").exists()
    kinds = list(AuditEvent.objects.filter(object_type="guard_rule", object_id=str(rule.pk))
                 .order_by("seq").values_list("action", flat=True))
    assert kinds[0] == "create" and kinds[-1] == "delete"


@pytest.mark.parametrize("data, field, text", [
    ({"slug": "bad id!", "action": "block"}, "slug", "is not valid"),
    ({"slug": "top-secret", "action": "block"}, "slug", "already exists"),
    ({"slug": "x", "action": "explode"}, "action", "Select a valid choice"),
    ({"slug": "x", "action": "block", "channels": ["fax"]}, "channels", "Select a valid choice"),
    ({"slug": "x", "action": "block", "min_score": "1.5"}, "min_score", "between 0 and 1"),
    ({"slug": "x", "action": "block", "min_score": "high"}, "min_score", "between 0 and 1"),
    ({"slug": "x", "action": "block", "message_ja": "長" * 501}, "message_ja", "at most 500"),
    ({"slug": "", "action": "block"}, "slug", "required"),
])
def test_rule_form_errors_are_shown_next_to_their_field(guarded, data, field, text):
    services.ensure_seeded()
    before = PolicyRule.objects.count()
    r = client_for(guarded, "manager").post("/guard/rules/new/", data)
    assert r.status_code == 400
    form = r.context["form"]
    assert field in form.errors and text in " ".join(form.errors[field]), form.errors
    page = body(r)
    start = page.index(f'id="field-{field}"')
    end = page.find('id="field-', start + 1)
    assert 'class="errorlist' in page[start:end if end > 0 else None]
    assert PolicyRule.objects.count() == before


def test_rule_form_errors_in_japanese(guarded):
    services.ensure_seeded()
    r = client_for(guarded, "manager", "ja").post("/guard/rules/new/", {"slug": "top-secret", "action": "block"})
    assert r.status_code == 400 and "ID top-secret のルールまたは例外は既に存在します。" in body(r)


def test_exceptions_add_expire_and_validate(guarded):
    client = client_for(guarded, "manager")
    r = client.post("/guard/exceptions/new/", {"slug": "kitakanto", "domains": "@Kitakanto.co.jp\nnankai.example",
                                               "action": "allow", "channels": ["mail"], "levels": ["秘"],
                                               "detectors": ["registered-secret"],
                                               "until": (date.today() + timedelta(days=30)).isoformat(),
                                               "message_ja": "NDA締結済み", "enabled": "on"})
    assert r.status_code == 302, r.context["form"].errors if r.context else r
    allowance = PolicyAllowance.objects.get(slug="kitakanto")
    assert allowance.domains == ["kitakanto.co.jp", "nankai.example"] and allowance.enabled
    page = body(client.get("/guard/"))
    assert "kitakanto.co.jp" in page and "expired" not in page.split('id="allowance-table"')[1]
    services.update_allowance(services.Context(actor=guarded.users["manager"]), allowance,
                              until=date.today() - timedelta(days=1))
    row = body(client.get("/guard/")).split(f'id="allowance-{allowance.pk}"')[1].split("</tr>")[0]
    assert "expired-row" in row and 'class="tag expired"' in row
    for data, field in [({"slug": "none", "domains": ""}, "domains"),
                        ({"slug": "bad", "domains": "bad_domain!.example"}, "domains"),
                        ({"slug": "date", "domains": "x.example", "until": "2026-02-31"}, "until"),
                        ({"slug": "kitakanto", "domains": "x.example"}, "slug")]:
        r = client.post("/guard/exceptions/new/", data | {"action": "allow"})
        assert r.status_code == 400 and field in r.context["form"].errors, (data, r.context["form"].errors)
    edit = client.post(f"/guard/exceptions/{allowance.pk}/edit/", {"slug": "kitakanto", "domains": "kitakanto.co.jp",
                                                                   "action": "warn", "channels": ["mail"]})
    assert edit.status_code == 302
    allowance.refresh_from_db()
    assert allowance.action == "warn" and allowance.domains == ["kitakanto.co.jp"] and allowance.until is None
    assert client.post(f"/guard/exceptions/{allowance.pk}/delete/").status_code == 302
    assert not PolicyAllowance.objects.filter(pk=allowance.pk).exists()


def test_missing_and_huge_ids_are_404(guarded):
    client = client_for(guarded, "manager")
    for url in ("/guard/rules/999999/edit/", "/guard/rules/99999999999999999999/edit/",
                "/guard/exceptions/999999/delete/", "/guard/tokens/999999/revoke/", "/guard/quarantine/999999/",
                "/guard/quarantine/99999999999999999999/"):
        assert client.get(url).status_code == 404, url
    assert client.post("/guard/rules/999999/change/", {"toggle": "1"}).status_code == 404
    assert client.post("/guard/quarantine/999999/open/").status_code == 404
    assert client.get("/guard/rules/abc/edit/").status_code == 404


def test_forms_need_csrf(guarded):
    client = Client(enforce_csrf_checks=True)
    client.force_login(guarded.users["manager"])
    assert client.post("/guard/rules/new/", {"slug": "x", "action": "block"}).status_code == 403
    assert client.post("/guard/tokens/", {"name": "bot", "scopes": ["check"]}).status_code == 403
    assert client.post("/guard/try/", {"text": "x", "channel": "mail"}).status_code == 403
    page = body(client.get("/guard/"))
    assert 'name="csrfmiddlewaretoken"' in page
    token = client.cookies["csrftoken"].value
    r = client.post("/guard/rules/new/", {"slug": "x", "action": "block", "csrfmiddlewaretoken": token})
    assert r.status_code == 302


# --- try it ------------------------------------------------------------------------------------------------------

def test_try_a_text_shows_the_decision_and_records_nothing(guarded):
    client = client_for(guarded, "manager", "ja")
    decisions = GuardDecision.objects.count()
    r = client.post("/guard/try/", {"text": EXCERPT, "channel": "mail", "destinations": "x@outside.example"})
    assert r.status_code == 200
    tried = r.context["tried"]
    assert tried["action"] == "block"
    page = body(r)
    assert "極秘情報は社外に送信できません。" in page  # the reason in Japanese
    assert "Top-secret information may not leave the company" in page  # and in English
    assert "guard-action-block" in page and "registered-secret" in page
    assert "焼結条件" in page  # the manager may see the entry's title
    assert "八百五十度、第二ゾーンで千百二十度とし、保持時間は四十五分とする。" not in page.split('id="try-result"')[1]
    assert GuardDecision.objects.count() == decisions
    event = AuditEvent.objects.filter(object_type="guard_test").latest("seq")
    assert event.details["action"] == "block" and "top-secret" in event.details["rules"]
    assert "焼結" not in str(event.details) and "焼結" not in event.object_repr


def test_try_hides_titles_of_entries_the_viewer_may_not_see(guarded, monkeypatch):
    from himitsu.web.accounts import access

    # an auditor sees every entry; pretend the viewer sees none to check the hiding on the page
    monkeypatch.setattr(access, "visible_secrets", lambda user, qs=None: (qs if qs is not None else __import__(
        "himitsu.web.register.models", fromlist=["Secret"]).Secret.objects).none())
    r = client_for(guarded, "auditor").post("/guard/try/", {"text": PRICES_EXCERPT, "channel": "ai"})
    assert r.status_code == 200 and r.context["tried"]["action"] == "block"
    page = body(r)
    assert "顧客別価格表" not in page and "an entry you do not have access to" in page


def test_try_a_file_and_redaction(guarded):
    client = client_for(guarded, "admin")
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("見積.txt", PRICES_EXCERPT.encode("utf-8"), content_type="text/plain")
    r = client.post("/guard/try/", {"file": upload, "channel": "mail"})
    assert r.status_code == 200 and r.context["tried"]["action"] == "hold"
    r = client.post("/guard/try/", {"text": PERSONAL, "channel": "api"})
    assert r.status_code == 200 and r.context["tried"]["action"] == "redact"
    assert r.context["tried"]["redacted"] and "123456789" not in r.context["tried"]["redacted"]
    r = client.post("/guard/try/", {"text": HARMLESS, "channel": "ai"})
    assert r.context["tried"]["action"] == "allow" and not r.context["tried"]["reasons"]


def test_try_a_damaged_file_reports_what_could_not_be_inspected(guarded):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("見積.docx", b"PK\x03\x04 not really a workbook", content_type="application/zip")
    r = client_for(guarded, "manager").post("/guard/try/", {"file": upload, "channel": "mail"})
    assert r.status_code == 200
    tried = r.context["tried"]
    assert tried["problems"] and tried["action"] in ("hold", "block")
    assert "Parts that could not be inspected" in body(r)


@pytest.mark.parametrize("data", [
    {"text": "", "channel": "mail"},
    {"text": "   ", "channel": "mail"},
    {"text": "hello", "channel": "fax"},
    {"text": "hello", "channel": "mail", "destinations": ",".join(f"a{i}@x.example" for i in range(101))},
])
def test_try_bad_input_is_a_400_not_a_500(guarded, data):
    r = client_for(guarded, "manager").post("/guard/try/", data)
    assert r.status_code == 400 and r.context["tried"] is None


def test_try_text_and_file_together_is_refused(guarded):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("a.txt", b"hello", content_type="text/plain")
    r = client_for(guarded, "manager").post("/guard/try/", {"text": "hello", "file": upload, "channel": "mail"})
    assert r.status_code == 400 and "either the text or a file" in body(r)


def test_try_is_refused_to_those_without_the_policy_page(guarded):
    for role in ("alice", "devlead"):
        assert client_for(guarded, role).post("/guard/try/", {"text": EXCERPT, "channel": "mail"}).status_code == 403
    assert client_for(guarded, "manager").get("/guard/try/").status_code == 405


# --- tokens ------------------------------------------------------------------------------------------------------

def test_token_is_shown_once_and_never_listed(guarded):
    client = client_for(guarded, "manager")
    r = client.post("/guard/tokens/", {"name": "社内AIチャット連携", "scopes": ["check", "ai"],
                                       "user": guarded.users["alice"].pk,
                                       "expires_at": (date.today() + timedelta(days=90)).isoformat()})
    assert r.status_code == 200
    plaintext = r.context["plaintext"]
    assert plaintext.startswith("hmt_")
    page = body(r)
    assert plaintext in page and "it will not be shown again" in page
    assert "no-store" in r.get("Cache-Control", "") or "max-age=0" in r.get("Cache-Control", "")
    token = ApiToken.objects.get()
    assert token.user == guarded.users["alice"] and token.scopes == ["check", "ai"] and token.expires_at
    assert services.verify_token(plaintext, "check") == token
    for role in ("manager", "admin", "auditor"):
        listing = body(client_for(guarded, role).get("/guard/tokens/"))
        assert "社内AIチャット連携" in listing and f"hmt_{token.prefix}_" in listing
        assert plaintext not in listing and plaintext.split("_", 2)[2] not in listing
    secret = plaintext.split("_", 2)[2]
    assert not any(secret in str(e.details) for e in AuditEvent.objects.all())


def test_token_form_errors(guarded):
    client = client_for(guarded, "manager")
    for data, field in [({"name": "", "scopes": ["check"]}, "name"),
                        ({"name": "bot"}, "scopes"),
                        ({"name": "bot", "scopes": ["root"]}, "scopes"),
                        ({"name": "bot", "scopes": ["check"], "expires_at": "2020-01-01"}, "expires_at"),
                        ({"name": "bot", "scopes": ["check"], "expires_at": "tomorrow"}, "expires_at"),
                        ({"name": "bot", "scopes": ["check"], "user": "999999"}, "user")]:
        r = client.post("/guard/tokens/", data)
        assert r.status_code == 400 and field in r.context["form"].errors, (data, r.context["form"].errors)
        assert "hmt_" not in body(r).split('id="token-form"')[0].split('id="token-table"')[1] or \
            not ApiToken.objects.exists()
    assert not ApiToken.objects.exists()


def test_revoke_with_confirmation(guarded):
    token, plaintext = services.create_token(services.Context(actor=guarded.users["manager"]), "bot", ["check"])
    client = client_for(guarded, "admin")
    page = client.get(f"/guard/tokens/{token.pk}/revoke/")
    assert page.status_code == 200 and "stop working" in body(page)
    assert client_for(guarded, "auditor").post(f"/guard/tokens/{token.pk}/revoke/").status_code == 403
    assert client_for(guarded, "alice").get(f"/guard/tokens/{token.pk}/revoke/").status_code == 403
    assert services.verify_token(plaintext, "check") is not None
    assert client.post(f"/guard/tokens/{token.pk}/revoke/").status_code == 302
    assert services.verify_token(plaintext, "check") is None
    listing = body(client.get("/guard/tokens/"))
    assert "revoked" in listing
    again = client.post(f"/guard/tokens/{token.pk}/revoke/", follow=True)
    assert "already revoked" in body(again)


# --- decisions ---------------------------------------------------------------------------------------------------

@pytest.fixture
def decisions(guarded):
    guard = services.DatabaseGuard()
    made = {
        "dev_block": guard.check(outbound(EXCERPT, user="alice", department="DEV")),
        "dev_hold": guard.check(outbound(PRICES_EXCERPT, user="bob", department="DEV")),
        "sales_ai": guard.check(outbound(PERSONAL, channel="ai", user="saleslead", department="SALES")),
        "sales_ok": guard.check(outbound(HARMLESS, user="saleslead", department="SALES")),
    }
    guarded.decisions = {k: GuardDecision.objects.get(pk=int(v.record)) for k, v in made.items()}
    old = guarded.decisions["sales_ok"]
    GuardDecision.objects.filter(pk=old.pk).update(at=timezone.now() - timedelta(days=3))
    return guarded


DECISIONS_SEEN = {"admin": {"dev_block", "dev_hold", "sales_ai", "sales_ok"},
                  "manager": {"dev_block", "dev_hold", "sales_ai", "sales_ok"},
                  "auditor": {"dev_block", "dev_hold", "sales_ai", "sales_ok"},
                  "devlead": {"dev_block", "dev_hold"}, "saleslead": {"sales_ai", "sales_ok"}}


def shown(org, response) -> set[str]:
    ids = {r["d"].pk for r in response.context["rows"]}
    return {k for k, d in org.decisions.items() if d.pk in ids}


@pytest.mark.parametrize("role", ROLES)
def test_decisions_by_role(decisions, role):
    r = client_for(decisions, role).get("/guard/decisions/")
    if role not in DECISIONS_SEEN:
        assert r.status_code == 403
        return
    assert r.status_code == 200
    assert shown(decisions, r) == DECISIONS_SEEN[role]
    page = body(r)
    recipe, prices = decisions.recipe, decisions.prices
    # register entries are links only where the viewer may see them
    assert (f'href="/register/{recipe.pk}/"' in page) is (role in POLICY_READERS | {"devlead"})
    assert (f'href="/register/{prices.pk}/"' in page) is (role in POLICY_READERS)
    if role == "devlead":
        assert "1 entry you do not have access to" in page  # the prices bob mailed
    # the chart: 30 days, today's column holds the decisions made today
    chart = r.context["chart"]
    assert len(chart["columns"]) == 30
    assert chart["columns"][-1]["total"] == len(DECISIONS_SEEN[role] - {"sales_ok"})
    assert sum(c["total"] for c in chart["columns"]) == len(DECISIONS_SEEN[role])


def test_decision_filters(decisions):
    client = client_for(decisions, "manager")

    def seen(query: str) -> set[str]:
        r = client.get(f"/guard/decisions/?{query}")
        assert r.status_code == 200
        return shown(decisions, r)

    assert seen("channel=ai") == {"sales_ai"}
    assert seen("action=block") == {"dev_block", "sales_ai"}  # a My Number mailed as a file: not redactable
    assert seen("action=hold&channel=mail") == {"dev_hold"}
    assert seen("user=bob") == {"dev_hold"}
    assert seen("department=SALES") == {"sales_ai", "sales_ok"}
    assert seen("detector=my-number") == {"sales_ai"}
    assert seen("detector=registered-secret") == {"dev_block", "dev_hold"}
    today = timezone.localdate()
    assert seen(f"from={today.isoformat()}") == {"dev_block", "dev_hold", "sales_ai"}
    assert seen(f"to={(today - timedelta(days=1)).isoformat()}") == {"sales_ok"}
    assert AuditEvent.objects.filter(object_type="guard_decision", action="list").exists()


@pytest.mark.parametrize("query", [
    "channel=fax", "action=explode", "from=2026-13-45", "to=yesterday", "from=%00", "user=%00bob",
    "department=" + "x" * 500, "detector=%25", "detector=%22%5D", "page=abc", "page=-1", "page=99999999999999999999",
    "from=9999-12-31", "user=' OR 1=1 --",
])
def test_bad_decision_filters_are_ignored(decisions, query):
    r = client_for(decisions, "manager").get(f"/guard/decisions/?{query}")
    assert r.status_code == 200


def test_quarantine_bad_filters(decisions):
    for query in ("status=bogus", "status=%00", "page=x", "status=all&page=999"):
        assert client_for(decisions, "auditor").get(f"/guard/quarantine/?{query}").status_code == 200


# --- quarantine --------------------------------------------------------------------------------------------------

@pytest.fixture
def held(guarded):
    guarded.own = hold(EXCERPT.replace("例の件", "例の件 <script>alert(1)</script>"), "alice", "DEV")
    guarded.foreign = hold(PRICES_EXCERPT, "bob", "DEV")  # SALES's entry, DEV sender
    return guarded


QUARANTINE_SEES = {"admin": {"own", "foreign"}, "manager": {"own", "foreign"}, "auditor": {"own", "foreign"},
                   "devlead": {"own", "foreign"}, "saleslead": set()}
REVIEWS = {"admin": {"own", "foreign"}, "manager": {"own", "foreign"}, "devlead": {"own"}}


@pytest.mark.parametrize("role", ROLES)
def test_quarantine_by_role(held, role):
    client = client_for(held, role)
    r = client.get("/guard/quarantine/")
    if role not in QUARANTINE_SEES:
        assert r.status_code == 403
        assert client.get(f"/guard/quarantine/{held.own.pk}/").status_code == 403
        return
    items = {"own": held.own, "foreign": held.foreign}
    assert {q.pk for q in (row["q"] for row in r.context["rows"])} == {items[k].pk for k in QUARANTINE_SEES[role]}
    for key, item in items.items():
        page = client.get(f"/guard/quarantine/{item.pk}/")
        if key not in QUARANTINE_SEES[role]:
            assert page.status_code == 404
            assert client.post(f"/guard/quarantine/{item.pk}/open/").status_code == 404
            continue
        assert page.status_code == 200
        text = body(page)
        assert "例の件" not in text and "顧客別の特別価格" not in text  # no content before "open"
        may = key in REVIEWS.get(role, set())
        assert ('id="open-form"' in text) is may
        opened = client.post(f"/guard/quarantine/{item.pk}/open/")
        assert opened.status_code == (200 if may else 403)
        assert client.post(f"/guard/quarantine/{item.pk}/reject/", {"comment": "x"}).status_code == (
            302 if may else 403)
    for item in items.values():
        item.refresh_from_db()


def test_decisions_link_to_their_held_item(held):
    page = body(client_for(held, "auditor").get("/guard/decisions/"))
    assert f'href="/guard/quarantine/{held.own.pk}/"' in page and f'href="/guard/quarantine/{held.foreign.pk}/"' in page
    other = body(client_for(held, "saleslead").get("/guard/decisions/"))
    assert f"/guard/quarantine/{held.own.pk}/" not in other and f"/guard/quarantine/{held.foreign.pk}/" not in other


def test_open_shows_headers_and_escaped_text_and_is_audited(held):
    client = client_for(held, "manager")
    before = AuditEvent.objects.filter(object_type="guard_quarantine", action="view").count()
    r = client.post(f"/guard/quarantine/{held.own.pk}/open/")
    assert r.status_code == 200
    page = body(r)
    assert "例の件" in page and "見積" in page  # the decoded subject
    assert "alice@example.co.jp" in page
    assert "<script>alert(1)</script>" not in page and html.escape("<script>alert(1)</script>") in page
    assert AuditEvent.objects.filter(object_type="guard_quarantine", action="view").count() >= before + 1
    assert "no-store" in r.get("Cache-Control", "") or "max-age=0" in r.get("Cache-Control", "")
    assert client.get(f"/guard/quarantine/{held.own.pk}/open/").status_code == 405


def test_release_to_a_real_smtp_server(held, settings, smtp):
    settings.HIMITSU_MAIL_NEXT_HOP = f"127.0.0.1:{settings.MAIL.port}"
    settings.HIMITSU_MAIL_NEXT_HOP_STARTTLS = "off"
    client = client_for(held, "manager")
    r = client.post(f"/guard/quarantine/{held.foreign.pk}/release/", {"comment": "見積送付として承認"}, follow=True)
    assert r.status_code == 200 and "was released" in body(r)
    item = QuarantineItem.objects.get(pk=held.foreign.pk)
    assert item.status == QuarantineStatus.RELEASED and item.erased and item.comment == "見積送付として承認"
    assert smtp.recipients == [["buyer@outside.example.com"]]
    assert "北関東精機" in smtp.messages[0].get_payload(decode=True).decode("utf-8")
    again = client.post(f"/guard/quarantine/{held.foreign.pk}/release/", {"comment": ""}, follow=True)
    assert "already released" in body(again) and len(smtp.messages) == 1
    page = body(client.get(f"/guard/quarantine/{held.foreign.pk}/"))
    assert 'id="release-form"' not in page and "見積送付として承認" in page
    listing = client.get("/guard/quarantine/?status=released")
    assert [row["q"].pk for row in listing.context["rows"]] == [held.foreign.pk]
    assert [row["q"].pk for row in client.get("/guard/quarantine/").context["rows"]] == [held.own.pk]


def test_failed_delivery_shows_the_error_and_stays_held(held, settings):
    settings.HIMITSU_MAIL_NEXT_HOP = f"127.0.0.1:{free_port()}"
    settings.HIMITSU_MAIL_NEXT_HOP_STARTTLS = "off"
    r = client_for(held, "admin").post(f"/guard/quarantine/{held.own.pk}/release/", {"comment": ""}, follow=True)
    assert r.status_code == 200
    page = body(r)
    assert "could not be delivered" in page and 'id="delivery-error"' in page
    item = QuarantineItem.objects.get(pk=held.own.pk)
    assert item.status == QuarantineStatus.HELD and not item.erased and item.delivery_error


def test_bad_next_hop_setting_is_reported(held, settings):
    settings.HIMITSU_MAIL_NEXT_HOP = "127.0.0.1:notaport"
    r = client_for(held, "admin").post(f"/guard/quarantine/{held.own.pk}/release/", {}, follow=True)
    assert r.status_code == 200 and "HIMITSU_MAIL_NEXT_HOP" in body(r)
    assert QuarantineItem.objects.get(pk=held.own.pk).status == QuarantineStatus.HELD


def test_reject_needs_a_comment(held):
    client = client_for(held, "manager")
    r = client.post(f"/guard/quarantine/{held.own.pk}/reject/", {"comment": "  "})
    assert r.status_code == 400 and "Give the reason" in body(r)
    assert QuarantineItem.objects.get(pk=held.own.pk).status == QuarantineStatus.HELD
    r = client.post(f"/guard/quarantine/{held.own.pk}/reject/", {"comment": "極秘情報のため送信不可"})
    assert r.status_code == 302
    item = QuarantineItem.objects.get(pk=held.own.pk)
    assert item.status == QuarantineStatus.REJECTED and item.erased and item.comment == "極秘情報のため送信不可"
    opened = client.post(f"/guard/quarantine/{held.own.pk}/open/", follow=True)
    assert "already released or rejected" in body(opened)
