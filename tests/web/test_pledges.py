"""Pledges and NDAs: templates, issue/acknowledge rules, tamper detection, permissions, pages, PDFs.

Organisation: tests/conftest.py ``org`` (R = DEV-001 seen by devlead and alice, P = SAL-001 seen by saleslead,
D = DEV-002 seen by devlead and bob; admin, manager and auditor see all).
"""

from __future__ import annotations

import copy
from datetime import timedelta

import pypdfium2
import pytest
import yaml
from django.utils import timezone

from himitsu.catalog import load
from himitsu.catalog import pledges as catalog
from himitsu.errors import ConfigError, InputError, PermissionDeniedError
from himitsu.web.audit.models import AuditEvent
from himitsu.web.pledges import services
from himitsu.web.pledges.models import Pledge, Status
from himitsu.web.register.services import Context

ROLES = ["admin", "manager", "devlead", "saleslead", "alice", "bob", "auditor"]


def ctx(user):
    return Context(actor=user, channel="test")


def issue(org, issuer="manager", person="alice", template="leaving", secrets=("recipe",), **kw):
    today = timezone.localdate()
    req = services.IssueRequest(
        person=org.users[person], template=template, company="株式会社青嵐精工",
        due_on=kw.pop("due_on", today + timedelta(days=7)), secrets=[getattr(org, s) for s in secrets],
        categories=kw.pop("categories", ["technical"]), duration_years=kw.pop("duration_years", 2), **kw)
    return services.issue(ctx(org.users[issuer]), req)


def pdf_text(data: bytes) -> str:
    doc = pypdfium2.PdfDocument(data)
    try:
        return "".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    finally:
        doc.close()


def tiny_pdf() -> bytes:
    from himitsu.web.pledges.pdf import render_pdf

    class P:  # a minimal stand-in rendered by the real template
        number, title, text, text_en = "P-000000", "署名済", "署名済の誓約書", ""
        template_code, template_version = "x", "1"
        text_sha256, acknowledged_at, acknowledgement_hash = "0" * 64, None, ""

        def get_status_display(self):
            return "—"

    return render_pdf({"pledge": P()})


# --- templates ------------------------------------------------------------------------------------------

def test_catalog_loads_five_templates_in_both_languages():
    cat = catalog.catalog()
    assert cat.version == "2026.1"
    assert set(cat.templates) == {"joining", "project", "leaving", "prior_employer", "partner_nda"}
    for t in cat.templates.values():
        assert t.text["ja"].strip() and t.text["en"].strip()
        assert "第1条" in t.text["ja"] and "Article 1" in t.text["en"]


def test_render_fills_every_variable():
    from datetime import date

    cat = catalog.catalog()
    values = catalog.Values(company="株式会社青嵐精工", person="山田 太郎", department="開発部",
                            department_en="Development",
                            issued_on=date(2026, 4, 1), secrets=[("DEV-001", "焼結条件"), ("DEV-002", "金型図面")],
                            categories=["technical", "business"], duration_years=2, partner="株式会社取引先",
                            project="新型ギア開発")
    for t in cat.templates.values():
        for lang in ("ja", "en"):
            text = catalog.render(t, values, lang, cat).text
            assert "{" not in text and "}" not in text
    leaving = catalog.render(cat.templates["leaving"], values, "ja", cat).text
    assert "株式会社青嵐精工" in leaving and "山田 太郎" in leaving and "開発部" in leaving
    assert "　・DEV-001　焼結条件" in leaving and "　・DEV-002　金型図面" in leaving
    assert "退職日から2年間" in leaving and "2026年4月1日" in leaving
    en = catalog.render(cat.templates["leaving"], values, "en", cat).text
    assert "  - DEV-001 焼結条件" in en and "2 years" in en and "1 April 2026" in en and "Development" in en
    nda = catalog.render(cat.templates["partner_nda"], values, "ja", cat).text
    assert "株式会社取引先（以下「当社」という。）" in nda and "技術情報" in nda and "営業情報" in nda
    project = catalog.render(cat.templates["project"], values, "ja", cat).text
    assert "新型ギア開発（以下「本プロジェクト」という。）" in project


def test_render_drops_an_empty_optional_list_line():
    from datetime import date

    cat = catalog.catalog()
    values = catalog.Values(company="A社", person="P", department="D", issued_on=date(2026, 1, 5),
                            categories=["technical"], duration_years=1, partner="B社")
    text = catalog.render(cat.templates["partner_nda"], values, "ja", cat).text
    assert "\n\n\n" not in text and "1年間" in text


def test_render_rejects_an_unknown_category():
    from datetime import date

    cat = catalog.catalog()
    values = catalog.Values(company="A", person="P", department="D", issued_on=date(2026, 1, 5), categories=["nope"])
    with pytest.raises(InputError) as exc:
        catalog.render(cat.templates["joining"], values, "ja", cat)
    assert exc.value.code == "pledge.category_unknown"


def _data():
    return copy.deepcopy(load(catalog.FILE))


@pytest.mark.parametrize("change, needle", [
    (lambda d: d["templates"][0]["text"].__setitem__("ja", d["templates"][0]["text"]["ja"] + "{salary}"),
     "unknown variable {salary}"),
    (lambda d: d["templates"][1]["text"].pop("en"), "the en text is missing"),
    (lambda d: d["templates"][2]["title"].pop("ja"), "the ja text is missing"),
    (lambda d: d.pop("version"), "`version`"),
    (lambda d: d.__setitem__("version", 2026.1), "`version`"),
    (lambda d: d["templates"][0]["text"].__setitem__("ja", "{company"), "malformed braces"),
    (lambda d: d["templates"][0]["text"].__setitem__("ja", d["templates"][0]["text"]["ja"] + "{person!r}"),
     "format or conversion"),
    (lambda d: d["templates"][0]["text"].__setitem__("en", "{company} only"), "different variables"),
    (lambda d: d["templates"].append(copy.deepcopy(d["templates"][0])), "appears twice"),
    (lambda d: d["templates"][3].__setitem__("requires", ["secrets"]), "does not use it"),
    (lambda d: d["templates"][3].__setitem__("requires", ["salary"]), "`requires`"),
    (lambda d: d["categories"][0].pop("en"), "the en text is missing"),
])
def test_catalog_validation_errors(change, needle):
    data = _data()
    change(data)
    with pytest.raises(ConfigError) as exc:
        catalog.validate(data, "test.yaml")
    assert exc.value.code == "pledge.catalog_invalid"
    assert needle in str(exc.value) and "test.yaml" in str(exc.value)


def test_catalog_yaml_parses_without_django():
    # the loader module is pure: validating the raw file needs only PyYAML
    from importlib import resources

    raw = resources.files("himitsu.catalog").joinpath(catalog.FILE).read_text(encoding="utf-8")
    assert catalog.validate(yaml.safe_load(raw)).version == "2026.1"


def test_loader_runs_with_django_blocked(tmp_path):
    from tests.web.test_engine_purity import _run

    result = _run("""
        from datetime import date
        from himitsu.catalog import pledges
        cat = pledges.catalog()
        v = pledges.Values(company="A社", person="P", department="D", issued_on=date(2026, 1, 5),
                           secrets=[("N-1", "T")], duration_years=1)
        print(pledges.render(cat.templates["leaving"], v, "ja", cat).title)
    """, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "退職時誓約書"


# --- issue and acknowledge ------------------------------------------------------------------------------

def test_issue_and_acknowledge_flow(org):
    pledge = issue(org)
    assert pledge.status == Status.ISSUED and pledge.template_version == "2026.1"
    assert "DEV-001　焼結条件" in pledge.text and pledge.text_en == ""
    assert pledge.text_sha256 == services.text_digest(pledge.text)
    assert list(pledge.secrets.all()) == [org.recipe]
    assert services.verify(pledge).ok and not services.verify(pledge).checked
    done = services.acknowledge(ctx(org.users["alice"]), pledge, seen_sha256=pledge.text_sha256)
    assert done.status == Status.ACKNOWLEDGED and done.acknowledged_at is not None
    assert len(done.acknowledgement_hash) == 64
    rec = done.acknowledgement
    assert rec["person"] == {"id": org.users["alice"].pk, "username": "alice"}
    assert rec["secrets"] == [org.recipe.pk] and rec["template"] == {"code": "leaving", "version": "2026.1"}
    v = services.verify(done)
    assert v.ok and v.checked
    events = list(AuditEvent.objects.filter(object_type="pledge", object_id=str(pledge.pk)).order_by("seq"))
    assert [e.details.get("event") for e in events] == ["pledge_issued", "pledge_acknowledged"]
    assert events[1].actor_name == "alice"


def test_bilingual_issue_keeps_both_texts(org):
    pledge = issue(org, template="joining", secrets=(), bilingual=True)
    assert pledge.language == "ja+en" and "Pledge on joining" in pledge.text_en
    assert pledge.text_sha256 == services.text_digest(pledge.text, pledge.text_en)
    assert pledge.text_sha256 != services.text_digest(pledge.text)


def test_double_acknowledgement_is_refused(org):
    pledge = issue(org)
    services.acknowledge(ctx(org.users["alice"]), pledge)
    with pytest.raises(InputError) as exc:
        services.acknowledge(ctx(org.users["alice"]), pledge)
    assert exc.value.code == "pledge.already_acknowledged"


def test_only_the_person_acknowledges(org):
    pledge = issue(org)
    for other in ("admin", "manager", "devlead", "bob", "auditor"):
        with pytest.raises(PermissionDeniedError):
            services.acknowledge(ctx(org.users[other]), pledge)
    assert Pledge.objects.get(pk=pledge.pk).status == Status.ISSUED


def test_acknowledging_needs_the_box_and_the_text_shown(org):
    pledge = issue(org)
    with pytest.raises(InputError) as exc:
        services.acknowledge(ctx(org.users["alice"]), pledge, confirmed=False)
    assert exc.value.code == "pledge.not_confirmed"
    with pytest.raises(InputError) as exc:
        services.acknowledge(ctx(org.users["alice"]), pledge, seen_sha256="0" * 64)
    assert exc.value.code == "pledge.text_stale"
    Pledge.objects.filter(pk=pledge.pk).update(text=pledge.text + "追記")
    with pytest.raises(InputError) as exc:
        services.acknowledge(ctx(org.users["alice"]), pledge)
    assert exc.value.code == "pledge.text_corrupt"


def test_expired_pledge_cannot_be_acknowledged(org):
    pledge = issue(org, expires_on=timezone.localdate() + timedelta(days=30))
    Pledge.objects.filter(pk=pledge.pk).update(expires_on=timezone.localdate() - timedelta(days=1))
    with pytest.raises(InputError) as exc:
        services.acknowledge(ctx(org.users["alice"]), pledge)
    assert exc.value.code == "pledge.expired"


def test_revoked_pledge_cannot_be_acknowledged_or_revoked_again(org):
    pledge = issue(org)
    services.revoke(ctx(org.users["devlead"]), pledge, "誤発行")
    with pytest.raises(InputError) as exc:
        services.acknowledge(ctx(org.users["alice"]), pledge)
    assert exc.value.code == "pledge.revoked"
    with pytest.raises(InputError) as exc:
        services.revoke(ctx(org.users["manager"]), pledge)
    assert exc.value.code == "pledge.revoked"
    assert AuditEvent.objects.filter(object_type="pledge", details__event="pledge_revoked").count() == 1


def test_no_pledge_for_a_person_who_left(org):
    alice = org.users["alice"]
    alice.is_active = False
    alice.save()
    with pytest.raises(InputError) as exc:
        issue(org)
    assert exc.value.code == "pledge.person_left"


def test_need_to_know_on_named_entries(org):
    # devlead may issue to alice (DEV) but may not name SAL-001, which devlead cannot see
    with pytest.raises(PermissionDeniedError) as exc:
        issue(org, issuer="devlead", secrets=("recipe", "prices"))
    assert exc.value.code == "pledge.secret_not_visible"
    assert not Pledge.objects.exists()
    assert AuditEvent.objects.filter(action="denied", object_type="secret", object_id=str(org.prices.pk)).exists()
    assert issue(org, issuer="devlead", secrets=("recipe", "drawing")).secrets.count() == 2


@pytest.mark.parametrize("issuer, person, allowed", [
    ("admin", "alice", True), ("manager", "alice", True), ("devlead", "alice", True),
    ("saleslead", "alice", False), ("alice", "alice", False), ("bob", "alice", False), ("auditor", "alice", False),
    ("saleslead", "saleslead", True), ("devlead", "saleslead", False),
])
def test_who_may_issue(org, issuer, person, allowed):
    secrets = ("prices",) if person == "saleslead" else ("recipe",)
    if allowed:
        assert issue(org, issuer=issuer, person=person, secrets=secrets).pk
    else:
        with pytest.raises(PermissionDeniedError):
            issue(org, issuer=issuer, person=person, secrets=secrets)


@pytest.mark.parametrize("kw, code", [
    ({"template": "leaving", "secrets": ()}, "pledge.value_required"),
    ({"template": "partner_nda", "secrets": ()}, "pledge.value_required"),
    ({"template": "project", "project": ""}, "pledge.value_required"),
    ({"template": "nope"}, "pledge.template_unknown"),
    ({"duration_years": 11}, "pledge.duration_invalid"),
    ({"due_on": timezone.localdate() - timedelta(days=1)}, "pledge.due_in_past"),
    ({"expires_on": timezone.localdate()}, "pledge.expiry_before_due"),
])
def test_issue_validation(org, kw, code):
    with pytest.raises(InputError) as exc:
        issue(org, **kw)
    assert exc.value.code == code


# --- tampering ------------------------------------------------------------------------------------------

@pytest.fixture
def acknowledged(org):
    pledge = issue(org, secrets=("recipe", "drawing"))
    return services.acknowledge(ctx(org.users["alice"]), pledge)


def _problems(pledge):
    return services.verify(pledge).problems


def test_tampered_text_is_detected(acknowledged):
    Pledge.objects.filter(pk=acknowledged.pk).update(text=acknowledged.text.replace("2年間", "半年間"))
    assert "pledge.text_changed" in _problems(acknowledged)


def test_tampered_text_and_its_hash_are_detected(acknowledged):
    text = acknowledged.text.replace("2年間", "半年間")
    Pledge.objects.filter(pk=acknowledged.pk).update(text=text, text_sha256=services.text_digest(text))
    assert "pledge.text_changed" in _problems(acknowledged)


def test_tampered_time_is_detected(acknowledged):
    Pledge.objects.filter(pk=acknowledged.pk).update(acknowledged_at=acknowledged.acknowledged_at - timedelta(days=90))
    assert _problems(acknowledged) == ["pledge.time_changed"]


def test_tampered_person_is_detected(org, acknowledged):
    Pledge.objects.filter(pk=acknowledged.pk).update(person=org.users["bob"])
    assert _problems(acknowledged) == ["pledge.person_changed"]


def test_renamed_person_is_detected(org, acknowledged):
    type(org.users["alice"]).objects.filter(pk=org.users["alice"].pk).update(username="alice2")
    assert _problems(acknowledged) == ["pledge.person_changed"]


def test_tampered_named_entries_are_detected(org, acknowledged):
    through = Pledge.secrets.through
    through.objects.filter(pledge_id=acknowledged.pk, secret_id=org.drawing.pk).update(secret_id=org.prices.pk)
    assert _problems(acknowledged) == ["pledge.secrets_changed"]


def test_removed_named_entry_is_detected(org, acknowledged):
    Pledge.secrets.through.objects.filter(pledge_id=acknowledged.pk, secret_id=org.drawing.pk).delete()
    assert _problems(acknowledged) == ["pledge.secrets_changed"]


def test_tampered_template_version_is_detected(acknowledged):
    Pledge.objects.filter(pk=acknowledged.pk).update(template_version="2020.1")
    assert _problems(acknowledged) == ["pledge.template_changed"]


def test_forged_record_is_detected(acknowledged):
    record = dict(acknowledged.acknowledgement, at="2020-01-01T00:00:00.000000+00:00")
    Pledge.objects.filter(pk=acknowledged.pk).update(acknowledgement=record, acknowledged_at="2020-01-01T00:00:00Z")
    assert "pledge.record_edited" in _problems(acknowledged)
    Pledge.objects.filter(pk=acknowledged.pk).update(acknowledgement={}, acknowledgement_hash="")
    assert _problems(acknowledged) == ["pledge.record_missing"]


def test_tampered_hash_is_detected(acknowledged):
    Pledge.objects.filter(pk=acknowledged.pk).update(acknowledgement_hash="0" * 64)
    assert _problems(acknowledged) == ["pledge.record_edited"]


def test_another_key_does_not_verify(acknowledged):
    assert services.verify(acknowledged, key=b"another installation").problems == ["pledge.record_edited"]


# --- signed paper ---------------------------------------------------------------------------------------

def test_upload_signed_pdf(org):
    pledge = issue(org)
    data = tiny_pdf()
    done = services.upload_signed(ctx(org.users["manager"]), pledge, "../../誓約書.pdf", data)
    assert done.status == Status.SIGNED_UPLOAD and done.signed_size == len(data)
    assert done.signed_filename == "誓約書.pdf" and len(done.signed_sha256) == 64
    path = services.signed_dir() / done.signed_path
    assert path.read_bytes() == data and path.parent.name == "pledges"
    assert services.verify(done).ok
    with pytest.raises(InputError) as exc:
        services.acknowledge(ctx(org.users["alice"]), done)
    assert exc.value.code == "pledge.already_acknowledged"
    path.write_bytes(data + b"\n%changed")
    assert services.verify(done).problems == ["pledge.file_changed"]
    path.unlink()
    assert services.verify(done).problems == ["pledge.file_missing"]


@pytest.mark.parametrize("data", [b"", b"hello", b"PK\x03\x04 zip", b"%PDF-1.7\n garbage, not a PDF"])
def test_upload_rejects_non_pdf(org, data):
    pledge = issue(org)
    with pytest.raises(InputError) as exc:
        services.upload_signed(ctx(org.users["manager"]), pledge, "x.pdf", data)
    assert exc.value.code in {"pledge.upload_not_pdf", "pledge.upload_empty"}
    assert Pledge.objects.get(pk=pledge.pk).status == Status.ISSUED


def test_upload_rejects_oversize(org):
    pledge = issue(org)
    big = b"%PDF-1.7\n" + b"0" * services.MAX_SIGNED_BYTES
    with pytest.raises(InputError) as exc:
        services.upload_signed(ctx(org.users["manager"]), pledge, "x.pdf", big)
    assert exc.value.code == "io.too_large"


def test_upload_needs_a_manager(org):
    pledge = issue(org)
    for who in ("alice", "auditor", "saleslead", "bob"):
        with pytest.raises(PermissionDeniedError):
            services.upload_signed(ctx(org.users[who]), pledge, "x.pdf", tiny_pdf())


# --- reminders ------------------------------------------------------------------------------------------

def test_reminders_list_missing_and_expiring(org):
    today = timezone.localdate()
    late = issue(org, person="alice")
    Pledge.objects.filter(pk=late.pk).update(due_on=today - timedelta(days=3))
    soon = issue(org, person="bob", secrets=("drawing",), expires_on=today + timedelta(days=20))
    services.acknowledge(ctx(org.users["bob"]), soon)
    far = issue(org, person="bob", secrets=("drawing",), expires_on=today + timedelta(days=200))
    services.acknowledge(ctx(org.users["bob"]), far)
    issue(org, person="saleslead", secrets=("prices",))  # not yet due
    rows = {r.person.username: r for r in services.reminders(org.users["manager"], today)}
    assert set(rows) == {"alice", "bob"}
    assert [p.pk for p in rows["alice"].missing] == [late.pk] and rows["alice"].expiring == []
    assert [p.pk for p in rows["bob"].expiring] == [soon.pk] and rows["bob"].missing == []
    assert rows["alice"].as_dict(today)["missing"][0]["days_overdue"] == 3
    # scope: a department manager sees only their department, an employee only themself
    assert {r.person.username for r in services.reminders(org.users["saleslead"], today)} == set()
    assert {r.person.username for r in services.reminders(org.users["alice"], today)} == {"alice"}


# --- permissions on pages -------------------------------------------------------------------------------

def _matrix_pledge(org):
    return issue(org, person="alice", secrets=("recipe",))


SEES = {"admin", "manager", "devlead", "alice", "auditor"}  # alice's pledge naming DEV-001
MANAGES = {"admin", "manager", "devlead"}
LISTS = {"admin", "manager", "devlead", "saleslead", "auditor"}
ISSUES = {"admin", "manager", "devlead", "saleslead"}


@pytest.mark.parametrize("role", ROLES)
def test_page_permission_matrix(org, login, role):
    pledge = _matrix_pledge(org)
    client = login(role)
    pk = pledge.pk
    assert client.get("/pledges/").status_code == 200
    assert client.get("/pledges/manage/").status_code == (200 if role in LISTS else 403)
    assert client.get("/pledges/new/").status_code == (200 if role in ISSUES else 403)
    assert client.get(f"/pledges/{pk}/").status_code == (200 if role in SEES else 404)
    assert client.get(f"/pledges/{pk}/pdf/").status_code == (200 if role in SEES else 404)
    hidden = 404 if role not in SEES else 403
    assert client.post(f"/pledges/{pk}/revoke/", {"reason": "x"}).status_code == (302 if role in MANAGES else hidden)
    # issuing to alice: issuers of alice's department redirect; saleslead's form refuses her (400)
    today = timezone.localdate()
    form = {"person": org.users["alice"].pk, "template": "leaving", "company": "株式会社青嵐精工",
            "secrets": [org.recipe.pk], "duration_years": "2", "due_on": (today + timedelta(days=7)).isoformat()}
    expected = 302 if role in MANAGES else 400 if role in ISSUES else 403
    assert client.post("/pledges/new/", form).status_code == expected


@pytest.mark.parametrize("role", ROLES)
def test_acknowledge_page_only_for_the_person(org, login, role):
    pledge = _matrix_pledge(org)
    response = login(role).post(f"/pledges/{pledge.pk}/acknowledge/",
                                {"confirm": "1", "text_sha256": pledge.text_sha256})
    pledge.refresh_from_db()
    if role == "alice":
        assert response.status_code == 302 and pledge.status == Status.ACKNOWLEDGED
    else:
        assert response.status_code == (403 if role in SEES else 404)
        assert pledge.status == Status.ISSUED


def test_dept_manager_does_not_see_a_pledge_naming_an_entry_they_may_not_see(org, login):
    pledge = issue(org, issuer="manager", person="alice", secrets=("recipe", "prices"))
    assert login("devlead").get(f"/pledges/{pledge.pk}/").status_code == 404
    assert login("alice").get(f"/pledges/{pledge.pk}/").status_code == 200  # her own: she was told
    assert login("auditor").get(f"/pledges/{pledge.pk}/").status_code == 200


def test_issue_form_offers_only_visible_entries_and_own_department(org, login):
    page = login("devlead").get("/pledges/new/").content.decode()
    assert "DEV-001" in page and "DEV-002" in page and "SAL-001" not in page
    assert "alice" in page and "saleslead (" not in page
    # a forged post naming an entry the issuer cannot see is refused by the form
    today = timezone.localdate()
    response = login("devlead").post("/pledges/new/", {
        "person": org.users["alice"].pk, "template": "leaving", "company": "A", "secrets": [org.prices.pk],
        "duration_years": "2", "due_on": (today + timedelta(days=7)).isoformat()})
    assert response.status_code == 400 and not Pledge.objects.exists()


# --- pages ----------------------------------------------------------------------------------------------

def test_my_pledges_page_acknowledge_and_show_record(org, login):
    pledge = _matrix_pledge(org)
    client = login("alice")
    page = client.get("/pledges/").content.decode()
    assert "上記の内容を確認し、誓約します" in page and "DEV-001　焼結条件" in page and pledge.text_sha256 in page
    # without the box ticked nothing happens
    client.post(f"/pledges/{pledge.pk}/acknowledge/", {"text_sha256": pledge.text_sha256})
    pledge.refresh_from_db()
    assert pledge.status == Status.ISSUED
    client.post(f"/pledges/{pledge.pk}/acknowledge/", {"confirm": "1", "text_sha256": pledge.text_sha256})
    pledge.refresh_from_db()
    assert pledge.status == Status.ACKNOWLEDGED
    page = client.get("/pledges/").content.decode()
    assert pledge.acknowledgement_hash in page
    second = client.post(f"/pledges/{pledge.pk}/acknowledge/", {"confirm": "1", "text_sha256": pledge.text_sha256},
                         follow=True)
    assert second.status_code == 200
    assert Pledge.objects.get(pk=pledge.pk).acknowledged_at == pledge.acknowledged_at


def test_detail_shows_verification_result(org, login):
    pledge = _matrix_pledge(org)
    services.acknowledge(ctx(org.users["alice"]), pledge)
    client = login("auditor")
    assert 'id="verification"' in client.get(f"/pledges/{pledge.pk}/").content.decode()
    ok_page = client.get(f"/pledges/{pledge.pk}/").content.decode()
    Pledge.objects.filter(pk=pledge.pk).update(text=pledge.text + "改ざん")
    bad_page = client.get(f"/pledges/{pledge.pk}/").content.decode()
    assert "errorlist" not in ok_page.split('id="verification"')[1].split("</section>")[0]
    assert "errorlist" in bad_page.split('id="verification"')[1].split("</section>")[0]


def test_issue_through_the_form(org, login):
    today = timezone.localdate()
    response = login("manager").post("/pledges/new/", {
        "person": org.users["bob"].pk, "template": "partner_nda", "company": "株式会社青嵐精工",
        "partner": "株式会社東和商事", "categories": ["technical", "third_party"], "secrets": [org.drawing.pk],
        "duration_years": "3", "due_on": (today + timedelta(days=10)).isoformat(), "bilingual": "on"})
    assert response.status_code == 302
    pledge = Pledge.objects.get()
    assert pledge.template_code == "partner_nda" and pledge.language == "ja+en"
    assert "株式会社東和商事（以下「当社」という。）" in pledge.text and "3年間" in pledge.text
    # a missing required value comes back as a form error, not a crash
    response = login("manager").post("/pledges/new/", {
        "person": org.users["bob"].pk, "template": "partner_nda", "company": "株式会社青嵐精工",
        "duration_years": "3", "due_on": (today + timedelta(days=10)).isoformat()})
    assert response.status_code == 400 and Pledge.objects.count() == 1


def test_manager_list_filters_and_reminders(org, login):
    today = timezone.localdate()
    late = _matrix_pledge(org)
    Pledge.objects.filter(pk=late.pk).update(due_on=today - timedelta(days=2))
    fresh = issue(org, person="bob", secrets=("drawing",))
    client = login("manager")
    page = client.get("/pledges/manage/").content.decode()
    assert 'id="reminders"' in page and late.number in page and fresh.number in page
    missing = client.get("/pledges/manage/?show=missing").content.decode().split('id="reminders"')[1]
    assert late.number in missing.split("</section>")[1] and fresh.number not in missing
    expiring = client.get("/pledges/manage/?show=expiring").content.decode().split("</section>")[1]
    assert late.number not in expiring
    assert fresh.number in client.get("/pledges/manage/?q=bob").content.decode().split("</section>")[1]


def test_upload_page_rejects_non_pdf_and_oversize(org, login, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    pledge = _matrix_pledge(org)
    client = login("manager")
    client.post(f"/pledges/{pledge.pk}/upload/", {"file": SimpleUploadedFile("x.pdf", b"not a pdf")})
    assert Pledge.objects.get(pk=pledge.pk).status == Status.ISSUED
    big = SimpleUploadedFile("big.pdf", b"%PDF-1.7\n" + b"0" * services.MAX_SIGNED_BYTES)
    client.post(f"/pledges/{pledge.pk}/upload/", {"file": big})
    assert Pledge.objects.get(pk=pledge.pk).status == Status.ISSUED
    client.post(f"/pledges/{pledge.pk}/upload/", {"file": SimpleUploadedFile("ok.pdf", tiny_pdf())})
    pledge.refresh_from_db()
    assert pledge.status == Status.SIGNED_UPLOAD
    response = client.get(f"/pledges/{pledge.pk}/signed.pdf")
    assert response.status_code == 200 and response.content.startswith(b"%PDF-")


def test_pdf_has_the_japanese_text(org, login):
    pledge = issue(org, bilingual=True)
    response = login("alice").get(f"/pledges/{pledge.pk}/pdf/")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    text = pdf_text(response.content)
    compact = "".join(text.split())
    assert "退職時誓約書" in compact and "焼結条件" in compact and "株式会社青嵐精工" in compact
    assert "第1条" in compact and "Pledgeonleaving" in compact and pledge.text_sha256[:16] in compact
    assert AuditEvent.objects.filter(action="export", object_type="pledge", object_id=str(pledge.pk)).exists()


def test_nav_link_for_everyone(org, login):
    for role in ROLES:
        assert 'href="/pledges/"' in login(role).get("/").content.decode()


def test_issue_form_prefills_the_leaving_pledge(org, login):
    bob = org.users["bob"]
    page = login("devlead").get(f"/pledges/new/?template=leaving&person={bob.pk}").content.decode()
    assert f'<option value="{org.drawing.pk}" selected>' in page  # bob reaches DEV-002 through his group
    assert f'<option value="{org.recipe.pk}" selected>' not in page
    # someone outside the issuer's department is not prefilled
    page = login("devlead").get(f"/pledges/new/?template=leaving&person={org.users['saleslead'].pk}").content.decode()
    assert " selected>" not in page.split('name="secrets"')[1].split("</select>")[0]


def test_an_entry_named_by_a_pledge_cannot_be_deleted(org, login):
    """The pledge's acknowledgement record names the entry: deleting it would make the record fail verification,
    so deletion is refused (service, page and API) with a translated message, and nothing changes."""
    from himitsu.web.register import services as register
    from himitsu.web.register.models import Secret

    pledge = issue(org)
    services.acknowledge(ctx(org.users["alice"]), pledge)
    with pytest.raises(InputError) as caught:
        register.delete(ctx(org.users["manager"]), org.recipe)
    assert caught.value.code == "secret.named_by_pledge" and pledge.number in str(caught.value.params)

    client = login("manager")
    response = client.post(f"/register/{org.recipe.pk}/delete/", follow=True)
    assert response.status_code == 200 and "削除できません" in response.content.decode()
    response = client.delete(f"/api/v1/secrets/{org.recipe.pk}")
    assert response.status_code == 400 and response.json()["code"] == "secret.named_by_pledge"
    assert Secret.objects.filter(pk=org.recipe.pk).exists()
    assert services.verify(Pledge.objects.get(pk=pledge.pk)).ok
    register.delete(ctx(org.users["manager"]), org.prices)  # an entry no pledge names goes as before
    assert not Secret.objects.filter(pk=org.prices.pk).exists()


def test_issue_form_states_the_configured_company(org, login, monkeypatch):
    """HIMITSU_COMPANY_NAME fills the company; without it, the company of the last pledge issued."""
    monkeypatch.setenv("HIMITSU_COMPANY_NAME", "  株式会社　テスト精工 ")
    assert 'value="株式会社 テスト精工"' in login("manager").get("/pledges/new/").content.decode()
    monkeypatch.delenv("HIMITSU_COMPANY_NAME")
    issue(org)
    last = Pledge.objects.latest("issued_at").company
    assert f'value="{last}"' in login("manager").get("/pledges/new/").content.decode()
