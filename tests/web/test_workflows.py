"""Joining and leaving cases (入社・退職手続き): catalogue, opening, evidence, completion, pledges, revocation,
notices, permissions and pages — on the real database, nothing of ours mocked."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from himitsu.catalog import load
from himitsu.catalog import workflows as wf_catalog
from himitsu.errors import ConfigError, InputError, PermissionDeniedError
from himitsu.web.accounts.models import User
from himitsu.web.audit.models import AuditEvent
from himitsu.web.notices.models import Notice
from himitsu.web.register.services import Context
from himitsu.web.workflows import services
from himitsu.web.workflows.models import Case, CaseStatus, Step, StepStatus

LEAVING = ["exit_pledge", "return_items", "revoke_access", "no_wipe", "activity_review", "exit_interview"]
NOTE = "回収済み：ノートPC 1台、USBメモリ 2本 / returned"


def ctx(org, name: str) -> Context:
    return Context(actor=org.users[name], channel="web")


def leaving(org, who: str = "alice", days: int = 10, actor: str = "manager") -> Case:
    person = org.users[who]
    person.left_on = timezone.localdate() + timedelta(days=days)
    person.save(update_fields=["left_on"])
    return services.open_case(ctx(org, actor), person, "leaving")


def step(case: Case, code: str) -> Step:
    return case.steps.get(code=code)


# --- catalogue ------------------------------------------------------------------------------------------

def test_catalogue_steps_and_versions():
    cat = wf_catalog.catalog()
    assert cat.version
    assert [s.code for s in cat.kind("leaving").steps] == LEAVING
    assert cat.kind("leaving").steps[0].pledge == "leaving"
    assert [s.code for s in cat.kind("joining").steps_for(False)] == [
        "joining_pledge", "account_department", "training", "rules_explained"]
    assert "no_former_secrets" in [s.code for s in cat.kind("joining").steps_for(True)]
    assert "analytics" in cat.kind("leaving").steps[4].help["en"]
    for kind in cat.kinds.values():
        for s in kind.steps:
            assert s.title["ja"] and s.title["en"] and s.help["ja"] and s.help["en"]
    with pytest.raises(InputError) as err:
        cat.kind("transfer")
    assert err.value.code == "workflow.kind_unknown"


def _broken(mutate) -> str:
    import copy

    data = copy.deepcopy(load(wf_catalog.FILE))
    mutate(data)
    with pytest.raises(ConfigError) as err:
        wf_catalog.validate(data, "test.yaml", frozenset({"leaving", "joining", "prior_employer"}))
    assert err.value.code == "workflow.catalog_invalid"
    assert "test.yaml" in str(err.value)
    return err.value.params["reason"]


def test_catalogue_validation_errors():
    def first(d):
        return d["kinds"]["leaving"]["steps"][0]

    assert "version" in _broken(lambda d: d.update(version=""))
    assert "kinds" in _broken(lambda d: d["kinds"].pop("joining"))
    assert "en text is missing" in _broken(lambda d: first(d)["title"].pop("en"))
    assert "owner" in _broken(lambda d: first(d).update(owner="ceo"))
    assert "due_days" in _broken(lambda d: first(d).update(due_days="soon"))
    assert "pledge" in _broken(lambda d: first(d).update(pledge="nope"))
    assert "action" in _broken(lambda d: first(d).update(action="format_disk"))
    assert "when" in _broken(lambda d: first(d).update(when="always"))
    assert "unknown keys" in _broken(lambda d: first(d).update(colour="red"))
    assert "twice" in _broken(lambda d: d["kinds"]["leaving"]["steps"].append(dict(first(d))))
    assert "non-empty list" in _broken(lambda d: d["kinds"]["joining"].update(steps=[]))
    with pytest.raises(ConfigError):
        wf_catalog.validate(["not", "a", "mapping"])


# --- opening --------------------------------------------------------------------------------------------

def test_open_copies_steps_owners_and_notifies(org):
    case = leaving(org)
    assert case.status == CaseStatus.OPEN and case.due_on == org.users["alice"].left_on
    steps = list(case.steps.all())
    assert [s.code for s in steps] == LEAVING
    assert steps[0].title.startswith("退職時誓約書") and steps[0].title_en.startswith("Exit pledge")
    assert case.catalog_version == wf_catalog.catalog().version
    owners = {s.code: s.owner.username for s in steps}
    assert owners["return_items"] == "devlead" and owners["exit_interview"] == "devlead"
    assert owners["revoke_access"] == "manager" and owners["exit_pledge"] == "manager"
    assert step(case, "exit_interview").due_on == case.due_on - timedelta(days=1)
    notices = Notice.objects.filter(kind="workflow.opened")
    assert set(notices.values_list("recipient__username", flat=True)) == {"devlead", "manager"}
    assert not notices.filter(recipient=org.users["alice"]).exists()
    n = notices.get(recipient__username="devlead")
    assert "退職手続き" in n.subject and "Leaving" in n.subject and n.link == f"/workflows/{case.pk}/"
    assert n.body.index("貸与品") < n.body.index("Return of devices")
    assert AuditEvent.objects.filter(object_type="workflow_case", object_id=str(case.pk), action="create").exists()
    with pytest.raises(InputError) as err:
        services.open_case(ctx(org, "manager"), org.users["alice"], "leaving")
    assert err.value.code == "workflow.already_open"


def test_joining_other_company_adds_declaration(org):
    plain = services.open_case(ctx(org, "admin"), org.users["bob"], "joining")
    assert "no_former_secrets" not in plain.steps.values_list("code", flat=True)
    hire = User.objects.create(username="newhire", department=org.dev, joined_on=timezone.localdate())
    case = services.open_case(ctx(org, "devlead"), hire, "joining", other_company=True)
    assert case.other_company and case.due_on == hire.joined_on
    assert step(case, "no_former_secrets").pledge_template == "prior_employer"


def test_leave_date_on_person_form_opens_case(org, login):
    alice = org.users["alice"]
    client = login("admin")
    left = (timezone.localdate() + timedelta(days=20)).isoformat()
    data = {"username": "alice", "display_name": "Alice", "email": "", "role": "employee",
            "department": org.dev.pk, "person_type": "employee", "employee_number": "", "joined_on": "",
            "left_on": left, "is_active": "on", "password": ""}
    response = client.post(f"/people/users/{alice.pk}/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    case = Case.objects.get(person=alice, kind="leaving")
    assert case.due_on.isoformat() == left and case.steps.count() == len(LEAVING)
    # saving again (same date) opens nothing new; a new date moves the open case
    assert client.post(f"/people/users/{alice.pk}/", data).status_code == 302
    later = (timezone.localdate() + timedelta(days=30)).isoformat()
    assert client.post(f"/people/users/{alice.pk}/", {**data, "left_on": later}).status_code == 302
    assert Case.objects.filter(person=alice).count() == 1
    case.refresh_from_db()
    assert case.due_on.isoformat() == later
    assert step(case, "return_items").due_on.isoformat() == later
    page = client.get(f"/people/{alice.pk}/").content.decode()
    assert case.number in page and "/workflows/new/?person=" in page


def test_leave_date_in_hr_import_opens_case(org):
    from himitsu.web.accounts import people_io

    alice = org.users["alice"]
    alice.employee_number = "E-100"
    alice.save(update_fields=["employee_number"])
    left = timezone.localdate() + timedelta(days=15)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["社員番号", "氏名", "ログインID", "メール", "部署コード", "区分", "入社日", "退職日"])
    writer.writerow(["E-100", "Alice", "alice", "", "DEV", "正社員", "2020-04-01", left.isoformat()])
    writer.writerow(["E-200", "新人", "", "", "DEV", "正社員", "2026-04-01", ""])
    result = people_io.import_people(ctx(org, "manager"), "hr.csv", out.getvalue().encode("utf-8-sig"))
    assert result.ok, result.errors
    case = Case.objects.get(person=alice, kind="leaving")
    assert case.due_on == left and case.opened_by_name == "manager"
    assert Case.objects.count() == 1
    again = people_io.import_people(ctx(org, "manager"), "hr.csv", out.getvalue().encode("utf-8-sig"))
    assert again.ok and Case.objects.count() == 1

    # history: people who left long ago open no case; a recent leaver still does
    long_ago = timezone.localdate() - timedelta(days=services.LEAVING_CASE_LOOKBACK_DAYS + 1)
    recent = timezone.localdate() - timedelta(days=services.LEAVING_CASE_LOOKBACK_DAYS)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["社員番号", "氏名", "ログインID", "メール", "部署コード", "区分", "入社日", "退職日"])
    writer.writerow(["E-300", "旧社員", "", "", "DEV", "正社員", "2001-04-01", long_ago.isoformat()])
    writer.writerow(["E-301", "最近の退職者", "", "", "DEV", "正社員", "2001-04-01", recent.isoformat()])
    result = people_io.import_people(ctx(org, "manager"), "history.csv", out.getvalue().encode("utf-8-sig"))
    assert result.ok, result.errors
    assert not Case.objects.filter(person__employee_number="E-300").exists()
    assert Case.objects.filter(person__employee_number="E-301", kind="leaving").count() == 1


# --- evidence and completion ----------------------------------------------------------------------------

def test_step_needs_evidence_and_case_needs_every_step(org):
    case = leaving(org)
    s = step(case, "return_items")
    with pytest.raises(InputError) as err:
        services.complete_step(ctx(org, "devlead"), s, "済")
    assert err.value.code == "workflow.evidence_required"
    s.refresh_from_db()
    assert s.status == StepStatus.OPEN
    services.complete_step(ctx(org, "devlead"), s, NOTE)
    s.refresh_from_db()
    assert s.done and s.completed_by_name == "devlead" and s.evidence_note == NOTE
    with pytest.raises(InputError) as err:
        services.complete_step(ctx(org, "devlead"), s, NOTE)
    assert err.value.code == "workflow.step_done"
    # a file alone is evidence: SHA-256 and size kept, stored under HIMITSU_HOME
    interview = step(case, "exit_interview")
    data = b"%PDF-1.4 interview minutes"
    services.complete_step(ctx(org, "devlead"), interview, "", "面談記録.pdf", data)
    interview.refresh_from_db()
    assert interview.evidence_sha256 == hashlib.sha256(data).hexdigest() and interview.evidence_size == len(data)
    assert (services.evidence_dir() / interview.evidence_path).read_bytes() == data
    assert services.evidence_file(interview) == ("面談記録.pdf", data)
    with pytest.raises(InputError) as err:
        services.complete_case(ctx(org, "manager"), case)
    assert err.value.code == "workflow.case_incomplete" and err.value.params["count"] == 4
    with pytest.raises(InputError) as err:
        services.complete_step(ctx(org, "manager"), step(case, "exit_pledge"), NOTE)
    assert err.value.code == "workflow.pledge_not_done"
    assert services.progress(case) == (2, 6)


def _ack_leaving_pledge(org, case):
    from himitsu.web.pledges import services as pledges

    pledge = pledges.issue(ctx(org, "manager"), pledges.IssueRequest(
        person=case.person, template="leaving", company="テスト株式会社", due_on=timezone.localdate(),
        secrets=[org.recipe], duration_years=2))
    return pledges, pledge


def test_pledge_linked_step_completes_on_acknowledgement(org, login):
    case = leaving(org)
    pledges, pledge = _ack_leaving_pledge(org, case)
    assert services.sync_pledges(ctx(org, "manager"), case) == 0  # issued, not acknowledged
    pledges.acknowledge(Context(actor=org.users["alice"], channel="web"), pledge, confirmed=True,
                        seen_sha256=pledge.text_sha256)
    page = login("manager").get(f"/workflows/{case.pk}/")
    assert page.status_code == 200
    s = step(case, "exit_pledge")
    assert s.done and s.pledge_id == pledge.pk
    assert pledge.number in page.content.decode()
    assert AuditEvent.objects.filter(object_type="workflow_case", details__event="workflow_step_completed",
                                     details__step="exit_pledge").exists()


def test_complete_and_cancel_case(org):
    case = leaving(org, days=0)
    pledges, pledge = _ack_leaving_pledge(org, case)
    pledges.acknowledge(Context(actor=org.users["alice"], channel="web"), pledge, confirmed=True,
                        seen_sha256=pledge.text_sha256)
    for code in ["return_items", "no_wipe", "activity_review", "exit_interview"]:
        services.complete_step(ctx(org, "manager"), step(case, code), NOTE)
    services.complete_step(ctx(org, "manager"), step(case, "revoke_access"))
    done = services.complete_case(ctx(org, "manager"), case)
    assert done.status == CaseStatus.COMPLETE and done.closed_at
    with pytest.raises(InputError) as err:
        services.complete_step(ctx(org, "manager"), step(case, "no_wipe"), NOTE)
    assert err.value.code in {"workflow.case_closed", "workflow.step_done"}
    other = services.open_case(ctx(org, "manager"), org.users["bob"], "joining")
    with pytest.raises(InputError) as err:
        services.cancel_case(ctx(org, "manager"), other, " ")
    assert err.value.code == "workflow.reason_required"
    services.cancel_case(ctx(org, "manager"), other, "入社取消し")
    other.refresh_from_db()
    assert other.status == CaseStatus.CANCELLED and other.cancel_reason == "入社取消し"
    events = set(AuditEvent.objects.filter(object_type="workflow_case").values_list("details__event", flat=True))
    assert {"workflow_opened", "workflow_step_completed", "workflow_completed", "workflow_cancelled"} <= events


# --- revocation -----------------------------------------------------------------------------------------

def test_revoke_removes_grants_and_deactivates(org):
    bob = org.users["bob"]
    org.recipe.allowed_users.add(bob)
    case = leaving(org, who="bob", days=0)
    with pytest.raises(PermissionDeniedError):
        services.complete_step(ctx(org, "devlead"), step(case, "revoke_access"))
    services.complete_step(ctx(org, "manager"), step(case, "revoke_access"), "VPN も削除済み")
    bob.refresh_from_db()
    assert not bob.is_active
    assert not org.recipe.allowed_users.filter(pk=bob.pk).exists()
    assert not org.group.members.filter(pk=bob.pk).exists()
    s = step(case, "revoke_access")
    assert s.done and "DEV-001" in s.evidence_note and "設計チーム" in s.evidence_note and "VPN" in s.evidence_note
    events = AuditEvent.objects.filter(details__user="bob")
    assert events.filter(object_type="secret", details__event="access_revoked").count() == 1
    assert events.filter(object_type="group", details__event="member_removed").count() == 1
    assert AuditEvent.objects.filter(object_type="user", object_id=str(bob.pk),
                                     details__event="account_deactivated").exists()
    # bob's access to DEV-001 was added without a grant record: it gets one, revoked, so the history shows it
    from himitsu.web.grants.models import LEAVER_REASON, Grant

    past = Grant.objects.get(secret=org.recipe, user=bob)
    assert past.revoked_at is not None and past.revoke_reason == LEAVER_REASON


def test_revoke_before_leave_date_deactivates_on_the_day(org):
    alice = org.users["alice"]
    case = leaving(org, days=5)
    services.complete_step(ctx(org, "admin"), step(case, "revoke_access"))
    alice.refresh_from_db()
    assert alice.is_active and not org.recipe.allowed_users.filter(pk=alice.pk).exists()
    assert services.deactivate_due(ctx(org, "admin"), timezone.localdate()) == []
    assert [p.username for p in services.deactivate_due(ctx(org, "admin"),
                                                        timezone.localdate() + timedelta(days=5))] == ["alice"]
    alice.refresh_from_db()
    assert not alice.is_active


# --- reminders ------------------------------------------------------------------------------------------

def test_overdue_reminders_once_a_day(org):
    case = leaving(org, days=0)
    later = timezone.localdate() + timedelta(days=3)
    sent = services.remind(Context(actor=org.users["admin"], channel="cli"), later)
    assert {r.owner.username for r in sent} == {"devlead", "manager"}
    n = Notice.objects.get(kind="workflow.overdue", recipient__username="devlead")
    assert "期限超過" in n.subject and "overdue" in n.subject and case.number in n.body
    assert services.remind(Context(actor=org.users["admin"], channel="cli"), later) == []
    assert Notice.objects.filter(kind="workflow.overdue").count() == 2


# --- permissions ----------------------------------------------------------------------------------------

def test_permission_matrix(org, login, client):
    case = leaving(org)  # alice (DEV) is leaving
    ret = step(case, "return_items")
    url = f"/workflows/{case.pk}/"
    expected = {"admin": 6, "manager": 6, "devlead": 6, "auditor": 6, "saleslead": None, "bob": None,
                "alice": None}
    for name, steps in expected.items():
        response = login(name).get(url)
        if steps is None:
            assert response.status_code == 404, name
        else:
            assert response.status_code == 200, name
            assert response.content.decode().count('id="step-') == steps, name
    # a step assigned to the person themself: they see that step only, nothing else of the case
    Step.objects.filter(pk=ret.pk).update(owner=org.users["alice"])
    page = login("alice").get(url).content.decode()
    assert page.count('id="step-') == 1 and 'id="step-return_items"' in page
    assert "退職面談" not in page
    listing = login("alice").get("/workflows/").content.decode()
    assert case.number in listing and "0 / 1" in listing
    # completing
    post = {"note": NOTE}
    assert login("auditor").post(f"{url}steps/{ret.pk}/", post).status_code == 403
    assert login("saleslead").post(f"{url}steps/{ret.pk}/", post).status_code == 404
    assert login("alice").post(f"{url}steps/{ret.pk}/", post).status_code == 302
    assert step(case, "return_items").done
    wipe = step(case, "no_wipe")
    assert login("alice").post(f"{url}steps/{wipe.pk}/", post).status_code == 404
    assert login("devlead").post(f"{url}steps/{wipe.pk}/", post).status_code == 302
    # cancel and open
    assert login("auditor").post(f"{url}cancel/", {"reason": "x"}).status_code == 403
    assert login("bob").get("/workflows/new/").status_code == 403
    assert login("auditor").get("/workflows/new/").status_code == 403
    assert login("saleslead").post("/workflows/new/", {"person": org.users["bob"].pk,
                                                       "kind": "joining"}).status_code == 400
    assert login("devlead").post("/workflows/new/", {"person": org.users["bob"].pk,
                                                     "kind": "joining"}).status_code == 302
    with pytest.raises(PermissionDeniedError):
        services.open_case(ctx(org, "saleslead"), org.users["bob"], "leaving")
    # a department manager's own leaving case: only the steps assigned to them
    own = leaving(org, who="devlead", actor="admin")
    response = login("devlead").get(f"/workflows/{own.pk}/")
    assert response.status_code == 404
    client.logout()
    assert client.get("/workflows/").status_code in (302, 403)


def test_pages_list_filters_new_and_evidence_forms(org, login):
    case = leaving(org, days=0)
    joining = services.open_case(ctx(org, "manager"), org.users["bob"], "joining")
    client = login("manager")
    page = client.get("/workflows/").content.decode()
    assert case.number in page and joining.number in page and "0 / 6" in page
    assert joining.number not in client.get("/workflows/?kind=leaving").content.decode()
    assert case.number not in client.get("/workflows/?department=SALES").content.decode()
    Step.objects.filter(pk=step(case, "no_wipe").pk).update(due_on=timezone.localdate() - timedelta(days=1))
    overdue = client.get("/workflows/?show=overdue").content.decode()
    assert case.number in overdue and joining.number not in overdue
    detail = client.get(f"/workflows/{case.pk}/").content.decode()
    assert "0 / 6" in detail and "退職時誓約書" in detail and "/pledges/new/?template=leaving&amp;person=" in detail
    response = client.post(f"/workflows/{case.pk}/steps/{step(case, 'no_wipe').pk}/", {"note": "短い"})
    assert response.status_code == 302
    assert not step(case, "no_wipe").done
    upload = SimpleUploadedFile("指示書.txt", b"do not wipe", content_type="text/plain")
    client.post(f"/workflows/{case.pk}/steps/{step(case, 'no_wipe').pk}/", {"file": upload})
    s = step(case, "no_wipe")
    assert s.done and s.evidence_filename == "指示書.txt"
    download = client.get(f"/workflows/{case.pk}/steps/{s.pk}/file")
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"do not wipe"
    assert "1 / 6" in client.get(f"/workflows/{case.pk}/").content.decode()
    new = client.get(f"/workflows/new/?person={org.users['alice'].pk}&kind=joining")
    assert new.status_code == 200
    response = client.post("/workflows/new/", {"person": org.users["alice"].pk, "kind": "leaving"})
    assert response.status_code == 400  # already open
    assert client.post(f"/workflows/{case.pk}/complete/").status_code == 302
    case.refresh_from_db()
    assert case.status == CaseStatus.OPEN
    assert client.post(f"/workflows/{case.pk}/cancel/", {"reason": "退職撤回"}).status_code == 302
    case.refresh_from_db()
    assert case.status == CaseStatus.CANCELLED
    assert "/workflows/" in login("admin").get("/people/").content.decode()
