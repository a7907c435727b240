"""Import and export of the register (.xlsx / .csv with Japanese headers)."""

from __future__ import annotations

import csv
import io as stdio
import os
import zipfile
from datetime import date, datetime

import openpyxl
import pytest

from himitsu.errors import InputError, PermissionDeniedError
from himitsu.web.audit import chain
from himitsu.web.audit.models import AuditEvent
from himitsu.web.register import io, resolve, services
from himitsu.web.register.forms import SecretForm
from himitsu.web.register.models import Secret, SecretRevision

REQUIRED = ["管理番号", "名称", "分類", "機密区分", "管理部署"]



def ctx(org, name: str) -> services.Context:
    return services.Context(actor=org.users[name], channel="cli")


def csv_file(rows: list[list[object]], encoding: str = "utf-8-sig") -> bytes:
    out = stdio.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_file(rows: list[list[object]], title: str = io.SHEET_NAME, start_row: int = 1,
              extra_sheets: tuple[str, ...] = ()) -> bytes:
    book = openpyxl.Workbook()
    for name in extra_sheets:
        book.create_sheet(name).append(["メモ"])
    sheet = book.active
    sheet.title = title
    for r, values in enumerate(rows, start=start_row):
        for c, value in enumerate(values, start=1):
            sheet.cell(row=r, column=c, value=value)
    out = stdio.BytesIO()
    book.save(out)
    return out.getvalue()


def new_row(number: str, **extra: object) -> dict[str, object]:
    row: dict[str, object] = {"管理番号": number, "名称": f"名称 {number}", "分類": "技術情報", "機密区分": "秘",
                              "管理部署": "DEV"}
    row.update(extra)
    return row


def table(*rows: dict[str, object]) -> list[list[object]]:
    headers: list[str] = []
    for row in rows:
        headers += [h for h in row if h not in headers]
    return [headers] + [[row.get(h, "") for h in headers] for row in rows]


def errors_of(result: io.ImportResult) -> set[tuple[int, str, str]]:
    return {(e.row, e.column, e.code) for e in result.errors}


def enrich(org) -> None:
    """Give the fixture entries the kinds of values that are hard to round-trip."""
    for secret, changes in [
        (org.recipe, {"summary": "焼結温度と時間\r\n（2行目）", "locations": "パス: \\\\fs01\\開発\\焼結\nhttps://wiki.example/x",
                      "review_date": "令和8年3月31日", "allowed_groups": ["設計チーム"], "marking": "-㊙- スタンプ",
                      "title": '=HYPERLINK("http://evil.example","焼結条件")', "published": "いいえ"}),
        (org.prices, {"protection_decision": "秘匿化", "decision_date": "2025/4/1", "usefulness_notes": "@利益率"}),
    ]:
        row = {c.field: c.get(secret) for c in io.COLUMNS if c.field}
        row.update(changes)
        data = resolve.form_data(row)
        form = SecretForm(data.values, instance=secret, actor=org.users["manager"], unresolved=data.unresolved)
        assert form.is_valid(), form.errors
        services.save(ctx(org, "manager"), form)


# ---------------------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_round_trip_is_unchanged(org, fmt):
    enrich(org)
    revisions = SecretRevision.objects.count()
    data = io.export_register(ctx(org, "manager"), fmt)
    result = io.import_register(ctx(org, "manager"), f"register.{fmt}", data)
    assert result.errors == []
    assert (result.created, result.updated, result.unchanged) == (0, 0, 3)
    assert SecretRevision.objects.count() == revisions
    recipe = Secret.objects.get(management_number="DEV-001")
    assert recipe.title == '=HYPERLINK("http://evil.example","焼結条件")'
    assert recipe.summary == "焼結温度と時間\r\n（2行目）"


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_round_trip_through_the_form_path_is_unchanged(org, fmt):
    """Values written differently from the export (codes, names, other date forms) mean the same entry."""
    enrich(org)
    rows = table(
        new_row("DEV-001", 名称='\'=HYPERLINK("http://evil.example","焼結条件")', 分類="technical", 機密区分="gokuhi",
                管理部署="開発部", 管理責任者="devlead", アクセス可能者="alice", アクセス可能グループ="設計チーム",
                概要="焼結温度と時間\n（2行目）", 保管場所="\\\\fs01\\開発\\焼結\nURL: https://wiki.example/x",
                見直し期限="2026/3/31", 秘密表示の方法="-㊙- スタンプ", 公開の有無="no"),
    )
    data = xlsx_file(rows) if fmt == "xlsx" else csv_file(rows)
    result = io.import_register(ctx(org, "manager"), f"x.{fmt}", data)
    assert result.errors == []
    assert (result.created, result.updated, result.unchanged) == (0, 0, 1)


def test_export_formats(org):
    enrich(org)
    data = io.export_register(ctx(org, "manager"), "csv")
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert text.split("\r\n", 1)[0].split(",") == [c.header for c in io.COLUMNS]
    assert text.endswith("\r\n")
    rows = list(csv.reader(stdio.StringIO(text, newline="")))
    by_number = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    recipe = by_number["DEV-001"]
    assert recipe["機密区分"] == "極秘" and recipe["分類"] == "技術情報" and recipe["管理部署"] == "DEV"
    assert recipe["管理責任者"] == "devlead" and recipe["アクセス可能者"] == "alice"
    assert recipe["見直し期限"] == "2026-03-31" and recipe["公開の有無"] == "いいえ"
    assert recipe["保管場所"] == "パス: \\\\fs01\\開発\\焼結\nURL: https://wiki.example/x"
    assert recipe["判定"] in io.STATUS_JA.values()
    assert by_number["SAL-001"]["権利化・秘匿化"] == "秘匿化"

    book = openpyxl.load_workbook(stdio.BytesIO(io.export_register(ctx(org, "manager"), "xlsx")))
    sheet = book[io.SHEET_NAME]
    assert sheet.freeze_panes == "A2"
    assert [c.value for c in sheet[1]] == [c.header for c in io.COLUMNS]
    assert all(c.font.b for c in sheet[1])
    assert sheet.column_dimensions["B"].width >= 20
    assert sheet.max_row == 4


def test_formula_injection(org):
    enrich(org)
    text = io.export_register(ctx(org, "manager"), "csv").decode("utf-8-sig")
    assert "\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"焼結条件\"\")\"" in text
    assert ",'-㊙- スタンプ," in text and ",'@利益率," in text

    book = openpyxl.load_workbook(stdio.BytesIO(io.export_register(ctx(org, "manager"), "xlsx")))
    cells = [cell for row in book[io.SHEET_NAME].iter_rows() for cell in row]
    assert all(cell.data_type != "f" for cell in cells)
    title = next(cell for cell in cells if isinstance(cell.value, str) and "HYPERLINK" in cell.value)
    assert title.value.startswith("'=HYPERLINK")

    # An apostrophe the export added is removed on import; one the user typed before plain text stays.
    rows = table(new_row("NEW-1", 名称="'=SUM(A1:A9)"), new_row("NEW-2", 名称="'引用"),
                 new_row("NEW-3", 名称="''=1+1"))
    result = io.import_register(ctx(org, "manager"), "x.csv", csv_file(rows))
    assert result.ok, result.errors
    titles = dict(Secret.objects.filter(management_number__startswith="NEW").values_list("management_number", "title"))
    assert titles == {"NEW-1": "=SUM(A1:A9)", "NEW-2": "'引用", "NEW-3": "'=1+1"}
    again = io.import_register(ctx(org, "manager"), "x.csv", io.export_register(ctx(org, "manager"), "csv"))
    assert again.ok and again.unchanged == 6


# ---------------------------------------------------------------------------------------------------------
# Creating and updating


def test_create_from_cp932_csv(org):
    rows = table(
        new_row("DEV-101", 名称="新しい配合", 概要="粉末の配合比", 機密区分="極秘", 管理部署="開発部",
                管理責任者="devlead", アクセス可能者="alice、bob", アクセス可能グループ="設計チーム",
                保管場所="キャビネット: 本社3F 書庫A\n\\\\fs01\\dev", 見直し期限="令和7年4月1日",
                **{"権利化・秘匿化": "秘匿化"}, 判断日="2025年4月1日", 公開の有無="いいえ"),
        new_row("SAL-101", 分類="営業情報", 管理部署="SALES"),
    )
    result = io.import_register(ctx(org, "manager"), "台帳.CSV", csv_file(rows, "cp932"))
    assert result.ok, result.errors
    assert (result.created, result.updated, result.unchanged) == (2, 0, 0)
    secret = Secret.objects.get(management_number="DEV-101")
    assert secret.title == "新しい配合" and secret.level.code == "gokuhi" and secret.owner_department.code == "DEV"
    assert secret.responsible.username == "devlead"
    assert sorted(secret.allowed_users.values_list("username", flat=True)) == ["alice", "bob"]
    assert list(secret.allowed_groups.values_list("name", flat=True)) == ["設計チーム"]
    assert list(secret.locations.values_list("kind", "location")) == [("cabinet", "本社3F 書庫A"),
                                                                      ("path", "\\\\fs01\\dev")]
    assert secret.review_date == date(2025, 4, 1) and secret.decision_date == date(2025, 4, 1)
    assert secret.protection_decision == "secrecy" and secret.published == "no"
    assert secret.secrecy_score > 0  # assessed like any other save
    assert SecretRevision.objects.filter(management_number="DEV-101", action="create", channel="cli").count() == 1
    assert Secret.objects.get(management_number="SAL-101").legal_type == "trade_secret"


def test_update_keeps_absent_columns(org):
    org.recipe.summary = "概要\r\n2行目"
    org.recipe.save()
    rows = table(new_row("DEV-001", 名称="焼結条件（改訂）", 機密区分="極秘"), new_row("DEV-002", 名称="金型図面"))
    result = io.import_register(ctx(org, "manager"), "x.csv", csv_file(rows))
    assert result.ok, result.errors
    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    recipe = Secret.objects.get(pk=org.recipe.pk)
    assert recipe.title == "焼結条件（改訂）"
    assert recipe.summary == "概要\r\n2行目"
    assert recipe.responsible.username == "devlead"
    assert list(recipe.allowed_users.values_list("username", flat=True)) == ["alice"]
    revision = SecretRevision.objects.get(management_number="DEV-001")
    assert revision.action == "update" and revision.changes["title"] == ["焼結条件", "焼結条件（改訂）"]


def test_clearing_a_list_is_a_change(org):
    rows = table(new_row("DEV-001", 名称="焼結条件", 機密区分="極秘", 管理責任者="devlead", アクセス可能者=""))
    result = io.import_register(ctx(org, "manager"), "x.csv", csv_file(rows))
    assert (result.updated, result.unchanged) == (1, 0)
    assert not Secret.objects.get(pk=org.recipe.pk).allowed_users.exists()


def test_excel_cell_types(org):
    """Numbers, dates and booleans from Excel cells become the values people meant."""
    rows = table(new_row(1001.0, 名称=123.0, 見直し期限=datetime(2025, 4, 1, 0, 0), 判断日=20250401.0,
                         **{"権利化・秘匿化": "権利化"}, 公開の有無=True, 特許での開示=False),
                 new_row("1002", 見直し期限=date(2026, 1, 31)))
    result = io.import_register(ctx(org, "manager"), "x.xlsx", xlsx_file(rows))
    assert result.ok, result.errors
    secret = Secret.objects.get(management_number="1001")
    assert secret.title == "123"
    assert secret.review_date == date(2025, 4, 1) and secret.decision_date == date(2025, 4, 1)
    assert (secret.published, secret.patented) == ("yes", "no")
    assert Secret.objects.get(management_number="1002").review_date == date(2026, 1, 31)


def test_sheet_choice_and_row_numbers(org):
    """The register sheet is found by name or by its columns; rows are numbered as Excel shows them."""
    rows = table(new_row("X-1"), new_row("X-2", 機密区分="無い区分"))
    data = xlsx_file(rows, title="台帳2025", start_row=3, extra_sheets=("表紙",))
    result = io.import_register(ctx(org, "manager"), "x.xlsx", data)
    assert errors_of(result) == {(5, "機密区分", "unknown_name")}


def test_title_rows_above_the_header(org):
    rows = [["営業秘密管理台帳（2025年度）"], ["作成: 知財部"], []] + table(new_row("T-1"), new_row("T-2", 分類="?"))
    for name, data in [("x.xlsx", xlsx_file(rows)), ("x.csv", csv_file(rows))]:
        result = io.import_register(ctx(org, "manager"), name, data)
        assert errors_of(result) == {(6, "分類", "invalid_choice")}, name


def test_dry_run_writes_nothing(org):
    rows = table(new_row("DEV-201"), new_row("DEV-001", 名称="改訂", 機密区分="極秘"))
    before = AuditEvent.objects.count()
    result = io.import_register(ctx(org, "manager"), "x.csv", csv_file(rows), dry_run=True)
    assert result.ok and (result.created, result.updated) == (1, 1)
    assert not Secret.objects.filter(management_number="DEV-201").exists()
    assert Secret.objects.get(pk=org.recipe.pk).title == "焼結条件"
    assert AuditEvent.objects.count() == before
    bad = io.import_register(ctx(org, "manager"), "x.csv", csv_file(table(new_row("DEV-202", 機密区分="無"))),
                             dry_run=True)
    assert not bad.ok
    event = AuditEvent.objects.latest("seq")
    assert event.details["rejected"] is True and event.details["dry_run"] is True


def test_inactive_people_do_not_block_a_round_trip(org):
    org.users["alice"].is_active = False
    org.users["alice"].save()
    org.users["devlead"].is_active = False
    org.users["devlead"].save()
    data = io.export_register(ctx(org, "manager"), "csv")
    result = io.import_register(ctx(org, "manager"), "x.csv", data)
    assert result.ok and result.unchanged == 3
    # Editing such a row asks for active people, like the web form does.
    text = data.decode("utf-8-sig").replace("焼結条件", "焼結条件2")
    result = io.import_register(ctx(org, "manager"), "x.csv", text.encode("utf-8-sig"))
    assert errors_of(result) == {(2, "管理責任者", "unknown_name"), (2, "アクセス可能者", "unknown_name")}


# ---------------------------------------------------------------------------------------------------------
# Row errors


def test_era_dates(org):
    good = io.import_register(ctx(org, "manager"), "x.csv", csv_file(table(new_row("E-1", 見直し期限="令和7年4月1日"))))
    assert good.ok and Secret.objects.get(management_number="E-1").review_date == date(2025, 4, 1)
    bad = io.import_register(ctx(org, "manager"), "x.csv", csv_file(table(new_row("E-2", 見直し期限="令和1年4月30日"))))
    assert errors_of(bad) == {(2, "見直し期限", "invalid")}
    assert "令和7年4月1日" in bad.errors[0].message
    assert not Secret.objects.filter(management_number="E-2").exists()


def test_every_error_is_reported_and_nothing_written(org):
    rows = table(
        new_row("OK-1"),
        new_row("BAD-1", 機密区分="超極秘"),
        new_row("BAD-2", 管理部署="XYZ", 管理責任者="nobody", アクセス可能者="alice, ghost",
                アクセス可能グループ="幽霊班"),
        new_row("BAD-3", 分類="料理", **{"権利化・秘匿化": "権利化"}, 判断日=""),
        new_row("BAD 4", 名称=""),
        new_row("OK-2"),
    )
    result = io.import_register(ctx(org, "manager"), "x.csv", csv_file(rows))
    assert not result.ok
    assert errors_of(result) == {
        (3, "機密区分", "unknown_name"),
        (4, "管理部署", "unknown_name"), (4, "管理責任者", "unknown_name"), (4, "アクセス可能者", "unknown_name"),
        (4, "アクセス可能グループ", "unknown_name"),
        (5, "分類", "invalid_choice"), (5, "判断日", "required"),
        (6, "管理番号", "format"), (6, "名称", "required"),
    }
    assert [e.row for e in result.errors] == sorted(e.row for e in result.errors)
    messages = {(e.row, e.column): e.message for e in result.errors}
    assert "超極秘" in messages[(3, "機密区分")] and "ghost" in messages[(4, "アクセス可能者")]
    assert "alice" not in messages[(4, "アクセス可能者")]
    assert result.created == result.updated == 0
    assert not Secret.objects.filter(management_number__in=["OK-1", "OK-2"]).exists()
    event = AuditEvent.objects.filter(action="import").latest("seq")
    assert event.details["rejected"] is True and event.details["errors"] == len(result.errors)


def test_duplicate_management_numbers(org):
    rows = table(new_row("D-1"), new_row("D-2"), new_row("D-1", 名称="二重"))
    result = io.import_register(ctx(org, "manager"), "x.csv", csv_file(rows))
    assert errors_of(result) == {(4, "管理番号", "duplicate")}
    assert "2" in result.errors[0].message and "D-1" in result.errors[0].message
    assert not Secret.objects.filter(management_number__startswith="D-").exists()


def test_messages_follow_the_language(org):
    from django.utils import translation

    with translation.override("en"):
        result = io.import_register(ctx(org, "manager"), "x.csv", csv_file(table(new_row("L-1", 機密区分="無"))))
    assert result.errors[0].message == "No classification level named 無."


def test_html_is_kept_as_text(org, login):
    title = '<script>alert("x")</script><b>太字</b>'
    result = io.import_register(ctx(org, "manager"), "x.csv", csv_file(table(new_row("H-1", 名称=title))))
    assert result.ok, result.errors
    assert Secret.objects.get(management_number="H-1").title == title
    page = login("manager").get("/register/").content.decode()
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_control_characters_are_refused(org):
    result = io.import_register(ctx(org, "manager"), "x.csv", csv_file(table(new_row("C-1", 概要="a\x07b"))))
    assert errors_of(result) == {(2, "概要", "control_chars")}


# ---------------------------------------------------------------------------------------------------------
# Need-to-know


def test_export_honours_need_to_know(org):
    def numbers(user: str, queryset=None) -> list[str]:
        text = io.export_register(ctx(org, user), "csv", queryset).decode("utf-8-sig")
        return [row[0] for row in csv.reader(stdio.StringIO(text, newline=""))][1:]

    assert numbers("alice") == ["DEV-001"]
    assert numbers("alice", Secret.objects.all()) == ["DEV-001"]
    assert numbers("bob") == ["DEV-002"]
    assert numbers("devlead") == ["DEV-001", "DEV-002"]
    assert numbers("auditor") == ["DEV-001", "DEV-002", "SAL-001"]
    assert numbers("manager", Secret.objects.filter(owner_department__code="SALES")) == ["SAL-001"]


def test_department_manager_cannot_touch_other_departments(org):
    rows = table(new_row("SAL-001", 名称="書換え", 分類="営業情報", 管理部署="SALES"),
                 new_row("SAL-900", 管理部署="SALES"), new_row("DEV-300"))
    result = io.import_register(ctx(org, "devlead"), "x.csv", csv_file(rows))
    assert errors_of(result) == {(2, "管理番号", "access.denied"), (3, "管理部署", "invalid_choice")}
    assert Secret.objects.get(pk=org.prices.pk).title == "顧客別価格表"
    assert not Secret.objects.filter(management_number__in=["SAL-900", "DEV-300"]).exists()

    # Only the own department: fine.
    result = io.import_register(ctx(org, "devlead"), "x.csv", csv_file(table(new_row("DEV-300"))))
    assert result.ok and result.created == 1


def test_department_manager_reimports_own_export(org):
    """Entries granted to a department manager come back unchanged even though they may not edit them."""
    org.prices.allowed_users.add(org.users["devlead"])
    data = io.export_register(ctx(org, "devlead"), "xlsx")
    result = io.import_register(ctx(org, "devlead"), "x.xlsx", data)
    assert result.ok, result.errors
    assert result.unchanged == 3
    changed = table(new_row("SAL-001", 名称="書換え", 分類="営業情報", 管理部署="SALES"))
    assert errors_of(io.import_register(ctx(org, "devlead"), "x.csv", csv_file(changed))) == {
        (2, "管理番号", "access.denied")}


def test_employees_cannot_import(org):
    with pytest.raises(PermissionDeniedError):
        io.import_register(ctx(org, "alice"), "x.csv", csv_file(table(new_row("A-1"))))


# ---------------------------------------------------------------------------------------------------------
# Audit


def test_audit_records(org):
    io.export_register(ctx(org, "manager"), "xlsx")
    event = AuditEvent.objects.filter(action="export").latest("seq")
    assert event.actor_name == "manager" and event.object_type == "register"
    assert event.details == {"format": "xlsx", "rows": 3}

    rows = table(new_row("AU-1"), new_row("DEV-001", 名称="改名", 機密区分="極秘"), new_row("DEV-002", 名称="金型図面"))
    result = io.import_register(ctx(org, "manager"), "台帳.csv", csv_file(rows))
    assert result.ok
    event = AuditEvent.objects.filter(action="import").latest("seq")
    assert event.actor_name == "manager" and event.channel == "cli"
    assert event.details["file"] == "台帳.csv" and event.details["rows"] == 3
    assert (event.details["created"], event.details["updated"]) == (1, 1)
    # One record for the import, none per entry; each entry still has its revision.
    assert not AuditEvent.objects.filter(action__in=["create", "update"]).exists()
    assert SecretRevision.objects.filter(management_number__in=["AU-1", "DEV-001"]).count() == 2
    assert chain.verify().ok


# ---------------------------------------------------------------------------------------------------------
# File-level problems


def _zip(members: dict[str, bytes]) -> bytes:
    out = stdio.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return out.getvalue()


def _broken_xlsx() -> bytes:
    good = xlsx_file(table(new_row("Z-1")))
    with zipfile.ZipFile(stdio.BytesIO(good)) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    members["xl/worksheets/sheet1.xml"] = b"<worksheet><sheetData><row r='1'><c r='A1' t='inlineStr'><is><t>x"
    return _zip(members)


@pytest.mark.parametrize("name,data,code", [
    ("x.csv", csv_file([["管理番号", "名称", "分類"], ["A", "B", "技術情報"]]), "io.columns_missing"),
    ("x.csv", csv_file([REQUIRED + ["備考"], ["A-1", "B", "技術情報", "秘", "DEV", "x"]]), "io.columns_unknown"),
    ("x.csv", csv_file([REQUIRED + ["名称 "], ["A-1", "B", "技術情報", "秘", "DEV", "x"]]), "io.columns_duplicate"),
    ("x.xlsx", xlsx_file([["品名", "単価"], ["りんご", 100]], title="Sheet1"), "io.sheet_missing"),
    ("x.xlsx", xlsx_file([REQUIRED[:3], ["A", "B", "技術情報"]], title="Sheet1"), "io.columns_missing"),
    ("x.xlsx", xlsx_file([REQUIRED + ["品名"]], title=io.SHEET_NAME), "io.columns_unknown"),
    ("x.xlsx", os.urandom(4096), "io.corrupt"),
    ("x.xlsx", b"PK\x03\x04" + os.urandom(4096), "io.corrupt"),
    ("x.xlsx", _zip({"word/document.xml": b"<w/>"}), "io.corrupt"),
    ("x.xlsx", _broken_xlsx(), "io.corrupt"),
    ("x.xlsx", csv_file([REQUIRED]), "io.corrupt"),
    ("x.csv", xlsx_file(table(new_row("Z-1"))), "io.corrupt"),
    ("x.xlsx", b"", "io.empty"),
    ("x.csv", b"", "io.empty"),
    ("x.csv", b"\xef\xbb\xbf\r\n,,\r\n", "io.empty"),
    ("x.xlsx", xlsx_file([]), "io.empty"),
    ("x.csv", "管理番号,名称".encode("utf-16"), "io.encoding"),
    ("x.csv", b"\x85\x85\x85,\xff\xfe", "io.encoding"),
    ("x.xls", b"\xd0\xcf\x11\xe0", "io.unknown_format"),
    ("register", b"a,b", "io.unknown_format"),
])
def test_bad_files(org, name, data, code):
    with pytest.raises(InputError) as exc:
        io.import_register(ctx(org, "manager"), name, data)
    assert exc.value.code == code


def test_random_files_only_raise_input_errors(org):
    for size in (1, 10, 100, 1000, 20000):
        for name in ("x.xlsx", "x.csv"):
            try:
                io.import_register(ctx(org, "manager"), name, os.urandom(size))
            except InputError:
                pass


def test_size_limit(org, settings):
    settings.HIMITSU_IMPORT_MAX_BYTES = 100
    data = csv_file(table(*(new_row(f"S-{i}") for i in range(10))))
    with pytest.raises(InputError) as exc:
        io.import_register(ctx(org, "manager"), "x.csv", data)
    assert exc.value.code == "io.too_large" and exc.value.params["limit"] == 100
    assert io.max_bytes() == 100


def test_row_limit(org, settings):
    settings.HIMITSU_IMPORT_MAX_ROWS = 3
    assert io.max_rows() == 3
    rows = table(*(new_row(f"R-{i}") for i in range(4)))
    for name, data in [("x.csv", csv_file(rows)), ("x.xlsx", xlsx_file(rows))]:
        with pytest.raises(InputError) as exc:
            io.import_register(ctx(org, "manager"), name, data)
        assert exc.value.code == "io.too_many_rows"
    blank_lines = csv_file(rows[:4] + [[""] * len(rows[0])] * 5)  # blank rows do not count
    assert io.import_register(ctx(org, "manager"), "x.csv", blank_lines).created == 3


def test_far_away_cell_is_refused_before_reading(org):
    """A 5 KB file with a value in XFD1048576 would make the reader allocate billions of cells."""
    book = openpyxl.Workbook()
    book.active.title = io.SHEET_NAME
    for c, header in enumerate(REQUIRED, start=1):
        book.active.cell(row=1, column=c, value=header)
    book.active["XFD1048576"] = "x"
    out = stdio.BytesIO()
    book.save(out)
    with pytest.raises(InputError) as exc:
        io.import_register(ctx(org, "manager"), "x.xlsx", out.getvalue())
    assert exc.value.code == "io.too_many_rows"


def test_zip_bomb_is_refused(org, settings):
    settings.HIMITSU_IMPORT_MAX_BYTES = 1024 * 1024
    data = _zip({"xl/workbook.xml": b"<workbook/>", "xl/sharedStrings.xml": b" " * (70 * 1024 * 1024)})
    assert len(data) < 1024 * 1024
    with pytest.raises(InputError) as exc:
        io.import_register(ctx(org, "manager"), "x.xlsx", data)
    assert exc.value.code == "io.unzipped_too_large"


def test_export_refuses_unknown_format(org):
    with pytest.raises(InputError):
        io.export_register(ctx(org, "manager"), "pdf")


# ---------------------------------------------------------------------------------------------------------
# Web pages


def test_import_page(org, login):
    client = login("manager")
    page = client.get("/register/import/")
    assert page.status_code == 200 and "機密区分" in page.content.decode()

    bad = csv_file(table(new_row("W-1"), new_row("W-2", 機密区分="無い区分")))
    response = client.post("/register/import/", {"file": _upload("bad.csv", bad)})
    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="import-errors"' in body and "無い区分" in body and "機密区分" in body
    assert not Secret.objects.filter(management_number="W-1").exists()

    response = client.post("/register/import/", {"file": _upload("x.xlsx", b"not a zip")})
    assert response.status_code == 400 and 'id="file-error"' in response.content.decode()

    good = csv_file(table(new_row("W-1")))
    response = client.post("/register/import/", {"file": _upload("good.csv", good)})
    assert response.status_code == 302
    assert Secret.objects.filter(management_number="W-1").exists()


def test_import_page_is_for_writers_only(org, login):
    response = login("alice").post("/register/import/", {"file": _upload("x.csv", csv_file(table(new_row("A-1"))))})
    assert response.status_code == 403
    assert not Secret.objects.filter(management_number="A-1").exists()


def test_export_page(org, login):
    response = login("alice").get("/register/export/?format=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(stdio.StringIO(response.content.decode("utf-8-sig"), newline="")))
    assert [r[0] for r in rows[1:]] == ["DEV-001"]

    response = login("manager").get("/register/export/?format=xlsx&department=SALES")
    book = openpyxl.load_workbook(stdio.BytesIO(response.content))
    assert [r[0] for r in book[io.SHEET_NAME].iter_rows(min_row=2, values_only=True)] == ["SAL-001"]


def _upload(name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data)
