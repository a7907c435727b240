"""People: type, number, joining and leaving; side-job notices; the import from the HR system.

The organisation is tests/conftest.py ``org`` (one user per role). Everything runs against the real
database and the real audit chain.
"""

from __future__ import annotations

import csv
import io as stdio
from datetime import date, timedelta

import openpyxl
import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from himitsu.errors import InputError, PermissionDeniedError
from himitsu.web.accounts import people_io
from himitsu.web.accounts.forms import UserForm
from himitsu.web.accounts.models import PersonType, SideJobNotice, User
from himitsu.web.audit import chain
from himitsu.web.audit.models import Action, AuditEvent
from himitsu.web.register.services import Context

ROLES = ["admin", "manager", "devlead", "saleslead", "alice", "bob", "auditor"]
PEOPLE_MANAGERS = {"admin", "manager"}
HEADERS = ["社員番号", "氏名", "ログインID", "メール", "部署コード", "区分", "入社日", "退職日"]


def today() -> date:
    return timezone.localdate()


def ctx(org, name: str = "admin", channel: str = "cli") -> Context:
    return Context(actor=org.users[name], channel=channel)


def csv_file(rows: list[list[object]], encoding: str = "utf-8-sig", headers: list[str] | None = None) -> bytes:
    out = stdio.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers or HEADERS)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_file(rows: list[list[object]], title: str = "社員名簿", start_row: int = 1) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title
    for r, values in enumerate([HEADERS, *rows], start=start_row):
        for c, value in enumerate(values, start=1):
            sheet.cell(row=r, column=c, value=value)
    out = stdio.BytesIO()
    book.save(out)
    return out.getvalue()


def row(number: str, name: str = "", login: str = "", email: str = "", dept: str = "DEV", kind: str = "正社員",
        joined: object = "2020-04-01", left: object = "") -> list[object]:
    return [number, name or f"社員 {number}", login, email, dept, kind, joined, left]


def run_import(org, rows: list[list[object]], *, dry_run: bool = False, actor: str = "admin",
               data: bytes | None = None, filename: str = "hr.csv") -> people_io.PeopleImportResult:
    return people_io.import_people(ctx(org, actor), filename, data if data is not None else csv_file(rows),
                                   dry_run=dry_run)


def codes(result) -> list[tuple[int, str, str]]:
    return [(e.row, e.column, e.code) for e in result.errors]


# ---------------------------------------------------------------------------------------------------------
# Model and form


def test_person_fields_default_and_validation(org):
    alice = org.users["alice"]
    assert alice.person_type == PersonType.EMPLOYEE and alice.employee_number is None
    alice.joined_on, alice.left_on = date(2020, 4, 1), date(2020, 3, 31)
    with pytest.raises(ValidationError) as info:
        alice.full_clean()
    assert info.value.error_dict["left_on"][0].code == "person.left_before_joined"
    alice.left_on = date(2020, 4, 1)  # the same day is allowed
    alice.full_clean()


def test_employee_number_unique_only_when_set(org):
    org.users["alice"].employee_number = "E1"
    org.users["alice"].save()
    org.users["bob"].employee_number = "E1"
    with pytest.raises(ValidationError) as info:
        org.users["bob"].full_clean()
    assert "employee_number" in info.value.error_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        org.users["bob"].save()
    assert User.objects.filter(employee_number__isnull=True).count() == len(ROLES) - 1  # many people without


def test_form_refuses_leaving_before_joining_and_saves_the_new_fields(org):
    bob = org.users["bob"]
    data = {"username": "bob", "display_name": "Bob", "email": "", "role": "employee", "department": org.dev.pk,
            "person_type": "dispatched", "employee_number": "", "joined_on": "令和8年4月1日",
            "left_on": "2026/3/31", "is_active": "on"}
    form = UserForm(data, instance=bob)
    assert not form.is_valid()
    assert [e.code for e in form.errors.as_data()["left_on"]] == ["person.left_before_joined"]
    data["left_on"] = "2027-03-31"
    form = UserForm(data, instance=bob)
    assert form.is_valid(), form.errors
    form.save()
    bob.refresh_from_db()
    assert (bob.person_type, bob.employee_number, bob.joined_on, bob.left_on) == (
        "dispatched", None, date(2026, 4, 1), date(2027, 3, 31))


def test_leaving_status():
    person = User(username="x", joined_on=date(2020, 4, 1))
    now = date(2026, 6, 1)
    assert person.leaving_status(now) == "active"
    person.left_on = now + timedelta(days=31)
    assert person.leaving_status(now) == "active"
    person.left_on = now + timedelta(days=30)
    assert person.leaving_status(now) == "leaving_soon"
    person.left_on = now
    assert person.leaving_status(now) == "leaving_soon"
    person.left_on = now - timedelta(days=1)
    assert person.leaving_status(now) == "left"


# ---------------------------------------------------------------------------------------------------------
# People list and person page


def _set(user: User, **values: object) -> None:
    for name, value in values.items():
        setattr(user, name, value)
    user.save()


def test_list_shows_new_columns_and_filters(org, login):
    _set(org.users["alice"], employee_number="E-100", joined_on=date(2019, 4, 1),
         left_on=today() + timedelta(days=10))
    _set(org.users["bob"], employee_number="E-200", person_type="contractor", left_on=today() - timedelta(days=3))
    client = login("admin")
    page = client.get("/people/").content.decode()
    assert "E-100" in page and "2019-04-01" in page and "status-at_risk" in page and "status-not_qualified" in page
    assert "/people/import/" in page

    def names(query: str) -> set[str]:
        body = client.get("/people/?" + query).content.decode()
        return {u for u in ROLES if f">{u}</a>" in body}

    assert names("status=left") == {"bob"}
    assert names("status=leaving_soon") == {"alice"}
    assert names("status=active") == set(ROLES) - {"alice", "bob"}
    assert names("type=contractor") == {"bob"}
    assert names("department=DEV") == {"devlead", "alice", "bob"}
    assert names("department=DEV&status=active") == {"devlead"}
    assert names("status=nonsense") == set(ROLES)


def test_side_jobs_add_approve_reject(org, login):
    client = login("manager")
    alice = org.users["alice"]
    response = client.post(f"/people/{alice.pk}/side-jobs/", {"employer": "合同会社ミナト", "description": "週末の翻訳",
                                                              "starts_on": "令和8年5月1日", "ends_on": ""})
    assert response.status_code == 302
    notice = SideJobNotice.objects.get(person=alice)
    assert (notice.status, notice.starts_on, notice.decided_by) == ("submitted", date(2026, 5, 1), None)
    assert AuditEvent.objects.filter(action=Action.CREATE, object_type="side_job", object_id=str(notice.pk)).exists()

    page = client.get(f"/people/{alice.pk}/").content.decode()
    assert "合同会社ミナト" in page and 'value="approve"' in page

    assert client.post(f"/people/{alice.pk}/side-jobs/{notice.pk}/decide/", {"decision": "approve"}).status_code == 302
    notice.refresh_from_db()
    assert notice.status == "approved" and notice.decided_by == org.users["manager"] and notice.decided_at
    assert client.post(f"/people/{alice.pk}/side-jobs/{notice.pk}/decide/", {"decision": "reject"}).status_code == 302
    notice.refresh_from_db()
    assert notice.status == "rejected"
    updates = AuditEvent.objects.filter(action=Action.UPDATE, object_type="side_job", object_id=str(notice.pk))
    assert [e.details["status"] for e in updates.order_by("seq")] == [["submitted", "approved"],
                                                                       ["approved", "rejected"]]
    assert client.post(f"/people/{alice.pk}/side-jobs/{notice.pk}/decide/", {"decision": "maybe"}).status_code == 400
    # A notice is reached through its own person only.
    assert client.post(f"/people/{org.users['bob'].pk}/side-jobs/{notice.pk}/decide/",
                       {"decision": "approve"}).status_code == 404
    assert chain.verify().ok


def test_side_job_end_before_start_is_refused(org, login):
    client = login("admin")
    response = client.post(f"/people/{org.users['bob'].pk}/side-jobs/",
                           {"employer": "個人事業", "starts_on": "2026-05-01", "ends_on": "2026-04-01"})
    assert response.status_code == 400
    assert not SideJobNotice.objects.exists()


def _matrix() -> list[tuple[str, str, str, int]]:
    rows = []
    for role in ROLES:
        ok = role in PEOPLE_MANAGERS
        rows += [
            (role, "GET", "/people/{bob}/", 200 if ok else 403),
            (role, "POST", "/people/{bob}/side-jobs/", 400 if ok else 403),  # empty form: rejected, never saved
            (role, "POST", "/people/{bob}/side-jobs/{notice}/decide/", 302 if ok else 403),
            (role, "GET", "/people/import/", 200 if ok else 403),
            (role, "POST", "/people/import/", 400 if ok else 403),  # no file
            (role, "GET", "/people/?status=left", 200 if ok else 403),
        ]
    return rows


MATRIX = _matrix()


@pytest.mark.parametrize(("role", "method", "url", "expected"), MATRIX,
                         ids=[f"{r}-{m}-{u}" for r, m, u, _e in MATRIX])
def test_people_pages_access_matrix(org, login, role, method, url, expected):
    bob = org.users["bob"]
    notice = SideJobNotice.objects.create(person=bob, employer="副業先", starts_on=date(2026, 1, 1))
    client = login(role)
    target = url.format(bob=bob.pk, notice=notice.pk)
    before = AuditEvent.objects.filter(action=Action.DENIED).count()
    if method == "GET":
        response = client.get(target)
    elif target.endswith("/decide/"):
        response = client.post(target, {"decision": "approve"})
    else:
        response = client.post(target, {})
    assert response.status_code == expected, (role, method, url)
    denied = AuditEvent.objects.filter(action=Action.DENIED).count() - before
    assert denied == (1 if expected == 403 else 0)
    notice.refresh_from_db()
    if expected == 403:
        assert notice.status == "submitted"
    assert SideJobNotice.objects.count() == 1


# ---------------------------------------------------------------------------------------------------------
# HR import: errors


def test_required_columns_are_a_file_error(org):
    with pytest.raises(InputError) as info:
        run_import(org, [], data=csv_file([["1"]], headers=["社員番号"]))
    assert info.value.code == "io.columns_missing" and "氏名" in info.value.params["columns"]
    with pytest.raises(InputError) as info:
        run_import(org, [], data=csv_file([["1", "x", "y"]], headers=["社員番号", "氏名", "給与"]))
    assert info.value.code == "io.columns_unknown"
    with pytest.raises(InputError) as info:
        run_import(org, [], data=b"a,b\n", filename="hr.txt")
    assert info.value.code == "io.unknown_format"


ERROR_CASES = [
    # (rows, [(row, column, code)])
    ([row("")], [(2, "社員番号", "hr.required")]),
    ([["E1", "", "", "", "DEV", "", "", ""]], [(2, "氏名", "hr.required")]),
    ([row("E1"), row("E2"), row("E1")], [(4, "社員番号", "hr.duplicate_number")]),
    ([row("E1", login="sato"), row("E2", login="sato")], [(3, "ログインID", "hr.duplicate_login")]),
    ([row("E1", login="alice")], []),  # alice has no number yet: linked, not a conflict
    ([row("E1", email="a@example.jp"), row("E2", email="A@example.jp")], [(3, "メール", "hr.duplicate_email")]),
    ([row("E1", dept="NOPE")], [(2, "部署コード", "hr.unknown_department")]),
    ([row("E1", kind="アルバイト")], [(2, "区分", "hr.unknown_type")]),
    ([row("E1", joined="2026-04-01", left="2026-03-31")], [(2, "退職日", "person.left_before_joined")]),
    ([row("E1", joined="2026-02-30")], [(2, "入社日", "hr.bad_date")]),
    ([row("E1", left="いつか")], [(2, "退職日", "hr.bad_date")]),
    ([row("E1", login="bad name!")], [(2, "ログインID", "hr.invalid_login")]),
    ([row("E1", email="not-an-address")], [(2, "メール", "hr.invalid_email")]),
    ([row("E" * 31)], [(2, "社員番号", "hr.too_long")]),
    ([row("E1", dept="NOPE", kind="?", joined="x")],
     [(2, "部署コード", "hr.unknown_department"), (2, "区分", "hr.unknown_type"), (2, "入社日", "hr.bad_date")]),
]


@pytest.mark.parametrize(("rows", "expected"), ERROR_CASES)
def test_row_errors_have_row_column_and_code(org, rows, expected):
    users = User.objects.count()
    result = run_import(org, rows)
    assert codes(result) == expected
    assert all(e.message and "{" not in e.message for e in result.errors)
    if expected:
        assert not result.ok and User.objects.count() == users
        assert result.created == result.updated == 0


def test_login_and_email_taken_by_existing_people(org):
    _set(org.users["bob"], employee_number="B-1", email="bob@example.jp")
    result = run_import(org, [row("E1", login="bob"), row("E2", email="BOB@example.jp"), row("B-1", login="bob")])
    assert codes(result) == [(2, "ログインID", "hr.login_taken"), (3, "メール", "hr.email_taken")]
    assert "Bob" in result.errors[0].message


def test_reactivation_after_leaving_is_reported_not_done(org):
    left = today() - timedelta(days=10)
    _set(org.users["bob"], employee_number="B-1", joined_on=date(2020, 4, 1), left_on=left, is_active=False)
    for again in ["", (today() + timedelta(days=5)).isoformat()]:
        result = run_import(org, [row("B-1", name="Bob", login="bob", joined="2020-04-01", left=again)])
        assert codes(result) == [(2, "退職日", "hr.reactivation")]
        assert left.isoformat() in result.errors[0].message
    bob = User.objects.get(username="bob")
    assert bob.left_on == left and not bob.is_active
    # The same leaving date again is no change at all.
    result = run_import(org, [row("B-1", name="Bob", login="bob", dept="DEV", joined="2020-04-01",
                                  left=left.isoformat())])
    assert result.ok and (result.updated, result.unchanged) == (0, 1)


def test_errors_are_reported_for_every_row_and_nothing_is_written(org):
    result = run_import(org, [row("E1"), row("E2", dept="NOPE"), row("E3"), row("E4", kind="x")])
    assert [(e.row, e.code) for e in result.errors] == [(3, "hr.unknown_department"), (5, "hr.unknown_type")]
    assert not User.objects.filter(employee_number__in=["E1", "E3"]).exists()
    rejected = AuditEvent.objects.get(action=Action.IMPORT, object_type="people")
    assert rejected.details["rejected"] is True and rejected.details["errors"] == 2


# ---------------------------------------------------------------------------------------------------------
# HR import: writing


def test_create_update_unchanged_and_audit(org):
    _set(org.users["alice"], employee_number="A-1", display_name="Alice")
    soon = today() + timedelta(days=20)
    rows = [
        row("A-1", name="有栖 アリス", login="alice", dept="DEV", kind="正社員", joined="2018/4/1",
            left=soon.isoformat()),
        row("N-1", name="新人 一郎", email="n1@example.jp", dept="SALES", kind="派遣社員", joined="令和8年4月1日"),
        row("N-2", name="委託 花子", login="hanako", dept="", kind="業務委託", joined="2025-10-01"),
    ]
    dry = run_import(org, rows, dry_run=True)
    assert dry.ok and (dry.created, dry.updated, dry.unchanged, dry.deactivated) == (2, 1, 0, 0)
    assert not User.objects.filter(employee_number__in=["N-1", "N-2"]).exists()
    assert User.objects.get(username="alice").display_name == "Alice"
    assert not AuditEvent.objects.filter(action__in=[Action.IMPORT, Action.CREATE, Action.UPDATE]).exists()

    result = run_import(org, rows)
    assert result.ok and (result.created, result.updated, result.unchanged) == (2, 1, 0)
    alice = User.objects.get(username="alice")
    assert (alice.display_name, alice.joined_on, alice.left_on, alice.role) == (
        "有栖 アリス", date(2018, 4, 1), soon, "employee")
    assert alice.leaving_status() == "leaving_soon" and alice.is_active
    n1 = User.objects.get(employee_number="N-1")
    assert (n1.username, n1.email, n1.department, n1.person_type, n1.joined_on, n1.role) == (
        "N-1", "n1@example.jp", org.sales, "dispatched", date(2026, 4, 1), "employee")
    assert n1.is_active and not n1.has_usable_password()
    n2 = User.objects.get(username="hanako")
    assert (n2.person_type, n2.department) == ("contractor", None)

    imported = AuditEvent.objects.get(action=Action.IMPORT, object_type="people")
    assert imported.details == {"file": "hr.csv", "rows": 3, "created": 2, "updated": 1, "unchanged": 0,
                                "deactivated": 0}
    assert imported.actor_name == "admin" and imported.channel == "cli"
    created = AuditEvent.objects.filter(action=Action.CREATE, object_type="user")
    assert set(created.values_list("object_repr", flat=True)) == {"N-1", "hanako"}
    update = AuditEvent.objects.get(action=Action.UPDATE, object_type="user", object_id=str(alice.pk))
    assert update.details["fields"] == ["display_name", "joined_on", "left_on"] and update.details["row"] == 2
    assert chain.verify().ok

    again = run_import(org, rows)
    assert again.ok and (again.created, again.updated, again.unchanged) == (0, 0, 3)


def test_absent_columns_keep_values_and_role_is_never_changed(org):
    _set(org.users["devlead"], employee_number="D-1", email="dl@example.jp", joined_on=date(2015, 4, 1))
    data = csv_file([["D-1", "開発 リーダー"]], headers=["社員番号", "氏名"])
    result = run_import(org, [], data=data)
    assert result.ok and result.updated == 1
    devlead = User.objects.get(username="devlead")
    assert (devlead.display_name, devlead.email, devlead.department, devlead.joined_on, devlead.role) == (
        "開発 リーダー", "dl@example.jp", org.dev, date(2015, 4, 1), "dept_manager")


def test_leaving_date_in_the_past_deactivates(org):
    _set(org.users["bob"], employee_number="B-1")
    past = (today() - timedelta(days=1)).isoformat()
    result = run_import(org, [row("B-1", name="Bob", login="bob", left=past), row("N-9", left=past)])
    assert result.ok and (result.created, result.updated, result.deactivated) == (1, 1, 2)
    assert not User.objects.get(username="bob").is_active
    assert not User.objects.get(employee_number="N-9").is_active


def test_xlsx_with_title_rows_dates_and_formula_escape(org):
    rows = [["E1", "'=HYPERLINK(\"x\")", "", "", "DEV", "役員", date(2024, 4, 1), None],
            [1002, "数値 番号", "", "", "DEV", "取引先従業員", "2024/4/1", ""]]
    book = openpyxl.Workbook()
    book.active.title = "メモ"
    book.active.append(["説明"])
    sheet = book.create_sheet("社員名簿")
    sheet.append(["社員名簿 2026年度"])
    sheet.append([])
    sheet.append(HEADERS)
    for values in rows:
        sheet.append(values)
    out = stdio.BytesIO()
    book.save(out)
    result = run_import(org, [], data=out.getvalue(), filename="社員.xlsx")
    assert result.ok, codes(result)
    e1 = User.objects.get(employee_number="E1")
    assert (e1.display_name, e1.person_type, e1.joined_on) == ('=HYPERLINK("x")', "executive", date(2024, 4, 1))
    assert User.objects.get(employee_number="1002").person_type == "partner_staff"


def test_xlsx_row_numbers_in_errors(org):
    result = run_import(org, [], data=xlsx_file([row("E1"), row("E2", kind="?")], start_row=3),
                        filename="hr.xlsx")
    assert codes(result) == [(5, "区分", "hr.unknown_type")]


def test_shift_jis_csv(org):
    result = run_import(org, [], data=csv_file([row("S1", name="佐藤 花子", kind="役員")], encoding="cp932"))
    assert result.ok and User.objects.get(employee_number="S1").display_name == "佐藤 花子"


@pytest.mark.parametrize("role", ["devlead", "alice", "auditor"])
def test_import_needs_a_people_manager(org, role):
    with pytest.raises(PermissionDeniedError):
        run_import(org, [row("E1")], actor=role)
    assert not User.objects.filter(employee_number="E1").exists()


def test_secret_manager_may_import(org):
    assert run_import(org, [row("E1")], actor="manager").created == 1


# ---------------------------------------------------------------------------------------------------------
# HR import page


def _upload(data: bytes, name: str = "hr.csv"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="text/csv")


def test_import_page_dry_run_errors_and_import(org, login):
    client = login("manager")
    page = client.get("/people/import/").content.decode()
    assert "社員番号" in page and "退職日" in page

    response = client.post("/people/import/", {"file": _upload(csv_file([row("W1"), row("W2")])), "dry_run": "1"})
    assert response.status_code == 200 and 'id="import-summary"' in response.content.decode()
    assert not User.objects.filter(employee_number="W1").exists()

    response = client.post("/people/import/", {"file": _upload(csv_file([row("W1", dept="NOPE")]))})
    body = response.content.decode()
    assert response.status_code == 400 and "hr.unknown_department" in body and "部署コード" in body

    response = client.post("/people/import/", {"file": _upload(csv_file([row("W1"), row("W2")]))})
    assert response.status_code == 302 and response["Location"] == "/people/import/"
    assert User.objects.filter(employee_number__in=["W1", "W2"]).count() == 2
    imported = AuditEvent.objects.get(action=Action.IMPORT, object_type="people", details__rows=2,
                                      details__created=2)
    assert imported.channel == "web" and imported.actor_name == "manager"

    response = client.post("/people/import/", {"file": _upload(b"x", name="hr.txt")})
    assert response.status_code == 400 and 'id="file-error"' in response.content.decode()


def test_demo_company_has_numbers_types_and_people_leaving_soon(db, client):
    from himitsu.web.core.demo import load_demo

    assert load_demo("Demo-test-pw-2026")["loaded"]
    people = list(User.objects.all())
    numbers = [p.employee_number for p in people]
    assert all(numbers) and len(set(numbers)) == len(numbers)
    assert all(p.joined_on for p in people)
    assert {p.username for p in people if p.leaving_status() == "leaving_soon"} == {"kato", "fujita"}
    assert {"dispatched", "contractor"} <= {p.person_type for p in people}
    assert set(SideJobNotice.objects.values_list("status", flat=True)) == {"approved", "submitted"}

    client.force_login(User.objects.get(username="admin"))
    page = client.get("/people/?status=leaving_soon").content.decode()
    assert ">kato</a>" in page and ">fujita</a>" in page and ">sato</a>" not in page
    client.force_login(User.objects.get(username="kanri"))
    kato = User.objects.get(username="kato")
    page = client.get(f"/people/{kato.pk}/").content.decode()
    assert "株式会社東海焼結工業" in page and 'value="approve"' in page


def test_person_page_shows_access_pledges_and_training(org, login):
    """A person's page answers "what may this person access, what did they pledge, what training is due", within
    the viewer's own need-to-know; the system's recorded reasons are shown in the reader's language."""
    from himitsu.web.grants import services as grants
    from himitsu.web.grants.models import LEAVER_REASON
    from himitsu.web.training.models import Course

    alice, bob = org.users["alice"], org.users["bob"]
    grants.grant(ctx(org, "manager"), org.prices, user=alice, reason="価格改定の作業のため",
                 expires_on=today() + timedelta(days=30))
    grants.sync(ctx(org, "manager"), org.recipe, reason=LEAVER_REASON)  # a grant record for a system-made membership
    Course.objects.create(code="TS-101", title="営業秘密の基礎", title_en="Trade secrets 101", audience="all")

    page = login("manager").get(f"/people/{alice.pk}/").content.decode()
    access_table = page[page.index('id="access"'):page.index('id="pledges"')]
    assert "DEV-001" in access_table and "SAL-001" in access_table and "DEV-002" not in access_table
    assert "価格改定の作業のため" in access_table and (today() + timedelta(days=30)).isoformat() in access_table
    assert "退職に伴うアクセス権の取消し" in access_table  # the recorded English reason, shown in Japanese
    assert "営業秘密の基礎" in page[page.index('id="training"'):]

    page = login("manager").get(f"/people/{bob.pk}/").content.decode()
    access_table = page[page.index('id="access"'):page.index('id="pledges"')]
    assert "DEV-002" in access_table and "DEV-001" not in access_table  # through the group only
    assert "設計チーム" in access_table

    client = login("manager")
    client.cookies["django_language"] = "en"
    page = client.get(f"/people/{alice.pk}/").content.decode()
    assert "access revoked: the person is leaving" in page and "Trade secrets 101" in page


def test_django_blank_choice_is_translated(org, login):
    page = login("manager").get("/workflows/new/").content.decode()
    assert "Select an option" not in page and "選択してください" in page


def test_a_person_past_the_leaving_date_cannot_log_in_or_stay_logged_in(org, client):
    """Until the daily job deactivates the account, the leaving date alone already shuts the person out; on the
    leaving date itself they may still work."""
    from tests.conftest import PASSWORD

    alice = org.users["alice"]
    alice.left_on = today()
    alice.save()
    assert client.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 302
    assert client.get("/register/").status_code == 200

    User.objects.filter(pk=alice.pk).update(left_on=today() - timedelta(days=1))  # the day after leaving
    response = client.get("/register/")
    assert response.status_code == 302 and "/login/" in response["Location"]  # the session no longer counts
    response = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200  # the login form again, with its error
    assert client.get("/register/").status_code == 302
    assert AuditEvent.objects.filter(action=Action.LOGIN_FAILED, details__username="alice").exists()
    assert User.objects.get(pk=alice.pk).is_active  # the account itself is the daily job's to deactivate


def test_person_page_offers_only_cases_not_already_open(org, login):
    from himitsu.web.workflows import services as workflows

    alice = org.users["alice"]
    page = login("manager").get(f"/people/{alice.pk}/").content.decode()
    assert "kind=leaving" in page and "kind=joining" in page
    workflows.open_case(ctx(org, "manager"), alice, "leaving", due_on=today() + timedelta(days=10))
    page = login("manager").get(f"/people/{alice.pk}/").content.decode()
    assert "kind=leaving" not in page and "kind=joining" in page  # one open case of a kind at a time
