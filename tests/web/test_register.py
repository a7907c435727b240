"""The register: services (revisions, hash chain, diff, delete), pages, form validation, languages, scope."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone, translation

from himitsu.errors import PermissionDeniedError
from himitsu.web.audit import chain
from himitsu.web.audit.models import Action, AuditEvent
from himitsu.web.register import services
from himitsu.web.register.forms import SecretForm
from himitsu.web.register.models import Secret, SecretRevision

GENESIS = "0" * 64



def data(org: Any, secret: Secret | None = None, **overrides: Any) -> dict[str, Any]:
    """POST data of the entry form (a new DEV entry unless ``secret`` is given)."""
    if secret is None:
        values: dict[str, Any] = {
            "management_number": "REG-001", "title": "熱処理条件", "summary": "炉の温度プロファイル",
            "category": "technical", "level": org.levels["gokuhi"].pk, "legal_type": "trade_secret",
            "owner_department": org.dev.pk, "responsible": org.users["devlead"].pk,
            "allowed_users": [org.users["alice"].pk], "allowed_groups": [], "marking": "",
            "review_date": "", "protection_decision": "undecided", "decision_date": "",
            "decision_reasons": "", "usefulness_notes": "", "published": "unknown", "patented": "unknown",
            "reverse_engineerable": "unknown", "non_public_notes": "", "locations": "",
        }
    else:
        values = {
            "management_number": secret.management_number, "title": secret.title, "summary": secret.summary,
            "category": secret.category, "level": secret.level_id, "legal_type": secret.legal_type,
            "owner_department": secret.owner_department_id, "responsible": secret.responsible_id or "",
            "allowed_users": list(secret.allowed_users.values_list("pk", flat=True)),
            "allowed_groups": list(secret.allowed_groups.values_list("pk", flat=True)),
            "marking": secret.marking,
            "review_date": secret.review_date.isoformat() if secret.review_date else "",
            "protection_decision": secret.protection_decision,
            "decision_date": secret.decision_date.isoformat() if secret.decision_date else "",
            "decision_reasons": secret.decision_reasons, "usefulness_notes": secret.usefulness_notes,
            "published": secret.published, "patented": secret.patented,
            "reverse_engineerable": secret.reverse_engineerable, "non_public_notes": secret.non_public_notes,
            "locations": "\n".join(loc for loc in secret.locations.values_list("location", flat=True)),
        }
    values.update(overrides)
    return values


def save(org: Any, actor: str = "admin", secret: Secret | None = None, **overrides: Any) -> Secret:
    user = org.users[actor]
    form = SecretForm(data(org, secret, **overrides), instance=secret, actor=user)
    assert form.is_valid(), form.errors
    return services.save(services.Context(actor=user, channel="test"), form)


def expected_hash(rev: SecretRevision) -> str:
    body = {"n": rev.number, "action": rev.action, "snapshot": rev.snapshot, "at": rev.at.isoformat(),
            "actor": rev.actor_name}
    return hashlib.sha256(
        (rev.prev_hash + json.dumps(body, sort_keys=True, ensure_ascii=False, default=str)).encode()).hexdigest()


def assert_chain(revisions: list[SecretRevision]) -> None:
    assert [r.number for r in revisions] == sorted({r.number for r in revisions}), "numbers must increase"
    previous = GENESIS
    for rev in revisions:
        assert rev.prev_hash == previous, rev.number
        assert rev.hash == expected_hash(rev), rev.number
        previous = rev.hash


# --- services: revisions and their hash chain ----------------------------------------------------------

def test_create_update_keeps_hash_linked_revisions(org):
    secret = save(org)
    secret = save(org, secret=secret, title="熱処理条件（第2版）")
    secret = save(org, secret=secret, marking="㊙", locations="キャビネット: 本社3F 書庫A")
    revisions = list(SecretRevision.objects.filter(secret=secret).order_by("number"))
    assert [(r.number, r.action, r.channel, r.actor_name) for r in revisions] == [
        (1, "create", "test", "admin"), (2, "update", "test", "admin"), (3, "update", "test", "admin")]
    assert_chain(revisions)
    assert revisions[1].changes == {"title": ["熱処理条件", "熱処理条件（第2版）"]}
    third = revisions[2].changes
    assert third["marking"] == ["", "㊙"]
    assert third["locations"] == [[], ["cabinet:本社3F 書庫A"]]
    assert third["secrecy_score"][1] > third["secrecy_score"][0]
    assert revisions[2].snapshot["title"] == "熱処理条件（第2版）"
    assert revisions[0].snapshot["allowed_users"] == ["alice"]
    assert revisions[0].actor_id == org.users["admin"].pk


def test_unchanged_save_adds_no_revision_or_audit_record(org):
    secret = save(org)
    before = AuditEvent.objects.count()
    save(org, secret=secret)
    assert SecretRevision.objects.filter(secret=secret).count() == 1
    assert AuditEvent.objects.count() == before


def test_revision_hash_covers_the_snapshot(org):
    secret = save(org)
    save(org, secret=secret, title="別名")
    first, second = SecretRevision.objects.filter(secret=secret).order_by("number")
    first.snapshot["title"] = "改竄"
    assert expected_hash(first) != first.hash
    assert second.prev_hash == first.hash


def test_delete_keeps_revisions_with_secret_none(org):
    secret = save(org)
    secret = save(org, secret=secret, title="第2版")
    services.delete(services.Context(actor=org.users["devlead"], channel="test"), secret)
    assert not Secret.objects.filter(management_number="REG-001").exists()
    revisions = list(SecretRevision.objects.filter(management_number="REG-001").order_by("number"))
    assert [r.action for r in revisions] == ["create", "update", "delete"]
    assert all(r.secret_id is None for r in revisions)
    assert_chain(revisions)
    last = revisions[-1]
    assert last.actor_name == "devlead" and last.snapshot == {}
    assert last.changes["title"] == ["第2版", None]  # the deletion records what was removed
    assert AuditEvent.objects.filter(action=Action.DELETE, object_repr="REG-001").exists()


def test_number_reused_after_delete_continues_the_numbers_chain(org):
    secret = save(org)
    services.delete(services.Context(actor=org.users["admin"]), secret)
    again = save(org, title="再登録")
    revisions = list(SecretRevision.objects.filter(management_number="REG-001").order_by("number"))
    assert [r.action for r in revisions] == ["create", "delete", "create"]
    assert_chain(revisions)
    assert list(again.revisions.values_list("number", flat=True)) == [3]


def test_renamed_entry_keeps_one_linked_history(org):
    secret = save(org)
    secret = save(org, secret=secret, management_number="REG-999")
    secret = save(org, secret=secret, title="改名後")
    revisions = list(secret.revisions.order_by("number"))
    assert [r.management_number for r in revisions] == ["REG-001", "REG-999", "REG-999"]
    assert [r.number for r in revisions] == [1, 2, 3]
    assert_chain(revisions)
    assert revisions[1].changes["management_number"] == ["REG-001", "REG-999"]


def test_renamed_to_a_deleted_entrys_number(org):
    """The old number's revisions stay; the renamed entry's revision still gets a fresh number."""
    old = save(org, management_number="OLD-1")
    services.delete(services.Context(actor=org.users["admin"]), old)
    secret = save(org)
    secret = save(org, secret=secret, management_number="OLD-1")
    numbers = list(SecretRevision.objects.filter(management_number="OLD-1").values_list("number", flat=True))
    assert len(numbers) == len(set(numbers)) == 3
    assert_chain(list(secret.revisions.order_by("number")))


def test_services_enforce_need_to_know(org):
    alice = org.users["alice"]
    form = SecretForm(data(org), actor=org.users["admin"])
    assert form.is_valid()
    with pytest.raises(PermissionDeniedError):
        services.save(services.Context(actor=alice), form)
    with pytest.raises(PermissionDeniedError):
        services.delete(services.Context(actor=org.users["saleslead"]), org.recipe)
    with pytest.raises(PermissionDeniedError):
        services.set_evidence(services.Context(actor=org.users["auditor"]), org.recipe, {"pledges": ("yes", "")})
    form = SecretForm(data(org, org.prices, title="x"), instance=org.prices, actor=org.users["admin"])
    assert form.is_valid()
    with pytest.raises(PermissionDeniedError):
        services.save(services.Context(actor=org.users["devlead"]), form)
    assert not SecretRevision.objects.exists()
    assert Secret.objects.get(pk=org.prices.pk).title == "顧客別価格表"


def test_save_reassesses_the_entry(org):
    secret = save(org)
    low = secret.secrecy_score
    secret = save(org, secret=secret, marking="㊙", locations="/srv/secret",
                  review_date=(timezone.localdate() + timedelta(days=30)).isoformat())
    assert secret.secrecy_score > low
    stored = Secret.objects.get(pk=secret.pk)
    assert stored.secrecy_score == secret.secrecy_score == services.assessment(stored).score
    assert stored.checklist_version


def test_evidence_updates_score_and_history(org, login):
    secret = save(org, marking="㊙", locations="/srv/x",
                  review_date=(timezone.localdate() + timedelta(days=30)).isoformat())
    before = secret.secrecy_score
    client = login("devlead")
    from himitsu.catalog import checklist as cl

    post = {}
    for item in cl.manual_items():
        post[f"{item['key']}__answer"] = "yes"
        post[f"{item['key']}__note"] = "2025年度 誓約書取得済み"
    assert client.get(f"/register/{secret.pk}/evidence/").status_code == 200
    assert client.post(f"/register/{secret.pk}/evidence/", post).status_code == 302
    secret.refresh_from_db()
    assert secret.secrecy_score > before
    assert secret.secrecy_status == "qualifies"
    last = secret.revisions.order_by("-number").first()
    assert last.action == "update" and "evidence" in last.changes
    bad = dict(post, pledges__answer="certainly")
    assert client.post(f"/register/{secret.pk}/evidence/", bad).status_code == 400


# --- pages --------------------------------------------------------------------------------------------

def test_history_page_shows_changes(org, login):
    secret = save(org)
    save(org, secret=secret, title="第2版のタイトル", marking="社外秘スタンプ")
    body = login("alice").get(f"/register/{secret.pk}/history/").content.decode()
    for text in ("熱処理条件", "第2版のタイトル", "社外秘スタンプ", "marking", "admin"):
        assert text in body, text


def test_web_create_edit_delete_round_trip(org, login):
    client = login("devlead")
    r = client.post("/register/new/", data(org))
    assert r.status_code == 302
    secret = Secret.objects.get(management_number="REG-001")
    assert r["Location"] == f"/register/{secret.pk}/"
    assert secret.created_by == org.users["devlead"]
    r = client.post(f"/register/{secret.pk}/edit/", data(org, secret, title="編集後"))
    assert r.status_code == 302
    secret.refresh_from_db()
    assert secret.title == "編集後" and secret.updated_by == org.users["devlead"]
    assert client.get(f"/register/{secret.pk}/delete/").status_code == 200
    assert Secret.objects.filter(pk=secret.pk).exists()  # GET only asks
    assert client.post(f"/register/{secret.pk}/delete/").status_code == 302
    assert not Secret.objects.filter(pk=secret.pk).exists()
    assert [r.channel for r in SecretRevision.objects.filter(management_number="REG-001")] == ["web"] * 3


@pytest.mark.parametrize("field", ["title", "summary", "marking", "usefulness_notes", "non_public_notes",
                                   "decision_reasons", "locations"])
def test_html_is_escaped_on_the_detail_page(org, login, field):
    script = "<script>alert('x')</script>"
    value = f"/srv/{script}" if field == "locations" else script
    secret = save(org, **{field: value})
    body = login("admin").get(f"/register/{secret.pk}/").content.decode()
    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(" in body


def test_html_is_escaped_in_lists_history_and_dashboard(org, login):
    secret = save(org, title="<img src=x onerror=alert(1)>")
    save(org, secret=secret, title="<script>alert(2)</script>")
    client = login("admin")
    for url in ("/register/", f"/register/{secret.pk}/history/", "/", f"/register/{secret.pk}/edit/"):
        body = client.get(url).content.decode()
        assert "<script>alert(2)" not in body and "<img src=x" not in body, url


def test_search_with_nul_is_not_500(org, login):
    client = login("admin")
    assert client.get("/register/", {"q": "価格\x00"}).status_code == 200
    assert client.get("/api/v1/secrets", {"q": "\x00"}).status_code == 200
    assert chain.verify().ok


@pytest.mark.parametrize("url", ["/register/?page=999", "/register/?page=abc", "/register/?sort=nonsense",
                                 "/register/?level=nope&status=x&category=y&department=z"])
def test_odd_list_parameters(org, login, url):
    assert login("admin").get(url).status_code == 200


# --- form validation and languages ----------------------------------------------------------------------

def _required_ja() -> str:
    """Django says このフィールドは必須です。; the project's catalogue may word it its own way."""
    with translation.override("ja"):
        text = str(translation.gettext("This field is required."))
    assert text in ("このフィールドは必須です。", "この項目は必須です。"), text
    return text


def test_required_messages_are_japanese_by_default(org, login):
    r = login("admin").post("/register/new/", data(org, title="", category=""))
    assert r.status_code == 400
    body = r.content.decode()
    assert _required_ja() in body
    assert r.context["form"].errors["title"] == [_required_ja()]
    assert "This field is required." not in body
    assert '<html lang="ja">' in body


def test_required_messages_are_english_with_the_language_cookie(org, login):
    client = login("admin")
    client.cookies["django_language"] = "en"
    r = client.post("/register/new/", data(org, title=""))
    assert r.status_code == 400
    body = r.content.decode()
    assert "This field is required." in body
    assert _required_ja() not in body


def test_language_switch_sets_the_cookie(org, login):
    client = login("admin")
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert client.cookies["django_language"].value == "en"
    assert "This field is required." in client.post("/register/new/", data(org, title="")).content.decode()


@pytest.mark.parametrize("number", ["", " ", "has space", "-dash-first", "_under", "日本語-1", "A" * 41, "a\tb",
                                    "<b>", "x;drop"])
def test_invalid_management_numbers(org, number):
    form = SecretForm(data(org, management_number=number), actor=org.users["admin"])
    assert not form.is_valid()
    assert "management_number" in form.errors


@pytest.mark.parametrize("number", ["A", "DEV-001x", "2025/R&D"[:4], "a.b_c-d/e", "Z" * 40, "  SP-1  "])
def test_valid_management_numbers(org, number):
    form = SecretForm(data(org, management_number=number), actor=org.users["admin"])
    assert form.is_valid(), form.errors
    assert form.cleaned_data["management_number"] == number.strip()


def test_invalid_management_number_on_the_page(org, login):
    r = login("admin").post("/register/new/", data(org, management_number="bad number!"))
    assert r.status_code == 400
    errors = r.context["form"].errors.as_data()["management_number"]
    assert errors[0].code == "format"


@pytest.mark.parametrize(("overrides", "field"), [
    ({"review_date": "2025-02-30"}, "review_date"),
    ({"review_date": "平成31年5月1日"}, "review_date"),
    ({"protection_decision": "patent"}, "decision_date"),
    ({"title": "x" * 201}, "title"),
    ({"title": "\x1b[31m"}, "title"),
    ({"locations": "\n".join(f"/srv/{i}" for i in range(51))}, "locations"),
    ({"management_number": "DEV-001"}, "management_number"),
])
def test_form_rejects(org, overrides, field):
    form = SecretForm(data(org, **overrides), actor=org.users["admin"])
    assert not form.is_valid()
    assert field in form.errors, form.errors


@pytest.mark.parametrize(("text", "iso"), [("令和7年4月1日", "2025-04-01"), ("R7.4.1", "2025-04-01"),
                                           ("2025/4/1", "2025-04-01"), ("２０２５年４月１日", "2025-04-01")])
def test_form_accepts_japanese_dates(org, text, iso):
    form = SecretForm(data(org, review_date=text), actor=org.users["admin"])
    assert form.is_valid(), form.errors
    assert form.cleaned_data["review_date"].isoformat() == iso


# --- department scope --------------------------------------------------------------------------------

def test_dept_manager_cannot_create_in_another_department(org, login):
    client = login("devlead")
    r = client.post("/register/new/", data(org, owner_department=org.sales.pk))
    assert r.status_code == 400
    assert "owner_department" in r.context["form"].errors
    assert not Secret.objects.filter(management_number="REG-001").exists()
    choices = [c for c, _label in r.context["form"].fields["owner_department"].choices if c != ""]
    assert [int(str(c)) for c in choices] == [org.dev.pk]


def test_dept_manager_cannot_move_an_entry_to_another_department(org, login):
    client = login("devlead")
    r = client.post(f"/register/{org.recipe.pk}/edit/", data(org, org.recipe, owner_department=org.sales.pk))
    assert r.status_code == 400
    org.recipe.refresh_from_db()
    assert org.recipe.owner_department == org.dev


def test_dept_manager_cannot_edit_another_departments_entry(org, login):
    client = login("devlead")
    url = f"/register/{org.prices.pk}/edit/"
    assert client.get(url).status_code == 404
    assert client.post(url, data(org, org.prices, title="x")).status_code == 404
    org.prices.allowed_users.add(org.users["devlead"])  # granted: may read, still not edit
    assert client.get(url).status_code == 403
    assert client.post(url, data(org, org.prices, title="x")).status_code == 403
    org.prices.refresh_from_db()
    assert org.prices.title == "顧客別価格表"


def test_dept_manager_default_department_on_new_form(org, login):
    r = login("saleslead").get("/register/new/")
    assert r.context["form"].initial["owner_department"] == org.sales.pk


# --- classification levels ---------------------------------------------------------------------------

def _level_post(rules: str) -> dict[str, str]:
    return {"name": "極秘", "name_en": "Top secret", "handling_rules": rules, "handling_rules_en": "Locked."}


def test_manager_edits_level_handling_rules(org, login):
    level = org.levels["gokuhi"]
    client = login("manager")
    assert client.get(f"/levels/{level.pk}/edit/").status_code == 200
    r = client.post(f"/levels/{level.pk}/edit/", _level_post("施錠保管・持出禁止"))
    assert r.status_code == 302
    level.refresh_from_db()
    assert level.handling_rules == "施錠保管・持出禁止"
    event = AuditEvent.objects.filter(action=Action.UPDATE, object_type="level").get()
    assert event.actor_name == "manager" and "handling_rules" in event.details["fields"]
    assert "施錠保管・持出禁止" in client.get("/levels/").content.decode()
    assert "施錠保管・持出禁止" in client.get(f"/register/{org.recipe.pk}/").content.decode()


def test_devlead_cannot_edit_level_handling_rules(org, login):
    level = org.levels["gokuhi"]
    original = level.handling_rules
    client = login("devlead")
    assert client.get(f"/levels/{level.pk}/edit/").status_code == 403
    assert client.post(f"/levels/{level.pk}/edit/", _level_post("誰でも閲覧可")).status_code == 403
    level.refresh_from_db()
    assert level.handling_rules == original
    assert client.get("/levels/").status_code == 200


def test_level_form_rejects_empty_name(org, login):
    level = org.levels["hi"]
    r = login("admin").post(f"/levels/{level.pk}/edit/", dict(_level_post("x"), name=""))
    assert r.status_code == 400
    assert login("admin").get("/levels/999999/edit/").status_code == 404


def test_scores_made_stale_by_the_calendar_are_refreshed(org):
    from datetime import timedelta

    from django.utils import timezone

    from himitsu.web.register import services
    from himitsu.web.register.models import Secret

    today = timezone.localdate()
    assert services.refresh_stale() == 0
    # assessed two days ago while the review date (yesterday) was still ahead: now overdue
    Secret.objects.filter(pk=org.recipe.pk).update(review_date=today - timedelta(days=1),
                                                   assessed_on=today - timedelta(days=2), secrecy_score=99)
    Secret.objects.filter(pk=org.prices.pk).update(checklist_version="1999.1", secrecy_score=99)
    assert services.refresh_stale() == 2
    recipe = Secret.objects.get(pk=org.recipe.pk)
    assert recipe.secrecy_score != 99 and recipe.assessed_on == today
    review = {r.key: r for r in services.assessment(recipe).items}["review_current"]
    assert review.reason == "review.overdue"
    assert services.refresh_stale() == 0


def test_documents_on_the_detail_page(org, login, tmp_path, monkeypatch):
    from django.core.files.uploadedfile import SimpleUploadedFile

    monkeypatch.setenv("HIMITSU_INDEX_DIR", str(tmp_path / "index"))
    text = "量産ライン三号機の焼結条件は材料ロットごとに補正係数を見直し、品質保証部の承認を得て更新する。" * 3
    c = login("devlead")
    r = c.post(f"/register/{org.recipe.pk}/documents/", {"file": SimpleUploadedFile("条件.txt", text.encode())})
    assert r.status_code == 302
    doc = org.recipe.documents.get()
    assert doc.fingerprints > 0
    page = c.get(f"/register/{org.recipe.pk}/").content.decode()
    assert "条件.txt" in page and text[:20] not in page
    alice = login("alice")  # granted, read-only
    assert alice.post(f"/register/{org.recipe.pk}/documents/{doc.pk}/remove/").status_code == 403
    c = login("devlead")
    assert c.post(f"/register/{org.recipe.pk}/documents/{doc.pk}/remove/").status_code == 302
    assert not org.recipe.documents.exists()
    assert login("saleslead").post(f"/register/{org.recipe.pk}/documents/",
                                   {"file": SimpleUploadedFile("x.txt", b"x")}).status_code == 404
