"""Import people from the HR system (.xlsx / .csv with Japanese headers), all or nothing.

The file is read with the register import's readers (``himitsu.web.register.io``: size and row limits,
CP932 / UTF-8, zip-bomb and sheet-size checks, title rows above the header, removal of the apostrophe that
protects cells from running as formulas). Every row is then checked and every error is collected with its
row, column and a stable code. If there is any error nothing is written.

A person is found by 社員番号 (or, when nobody has that number yet, by a login ID that has no number: the
first import links the accounts that already exist). Existing people are updated; new ones are created
with an unusable password (they log in after an administrator sets one) and the role 従業員. The import
never changes a role. A leaving date that has passed deactivates the account; a row that would make
someone who has left active again is an error (it is reported, never done silently). A column that is
absent from the file leaves that field of an existing person as it is.

The web page, the CLI and the tests all call ``import_people``.
"""

from __future__ import annotations

import csv
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from io import BytesIO, StringIO
from typing import Any

from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from himitsu import jpdate
from himitsu.errors import InputError
from himitsu.web.accounts import access
from himitsu.web.accounts.models import PERSON_TYPE_JA, Department, PersonType, Role, User
from himitsu.web.audit import chain
from himitsu.web.audit.models import Action
from himitsu.web.register import io
from himitsu.web.register.io import NON_FIELD, ImportResult, RowError
from himitsu.web.register.services import Context

SHEET_NAME = "社員名簿"


@dataclass(frozen=True)
class HrColumn:
    header: str
    field: str
    required: bool
    help: Any
    kind: str = "text"  # text | date
    max_length: int = 0


COLUMNS: list[HrColumn] = [
    HrColumn("社員番号", "employee_number", True,
             gettext_lazy("Employee number in the HR system; it identifies the person. A number that exists "
                          "updates that person."), max_length=30),
    HrColumn("氏名", "display_name", True, gettext_lazy("Full name, as shown in Himitsu."), max_length=100),
    HrColumn("ログインID", "username", False,
             gettext_lazy("Login name. Empty: the employee number for a new person; unchanged for an existing "
                          "one."), max_length=150),
    HrColumn("メール", "email", False, gettext_lazy("E-mail address."), max_length=254),
    HrColumn("部署コード", "department", False, gettext_lazy("Department code, e.g. DEV. Empty: no department.")),
    HrColumn("区分", "person_type", False,
             gettext_lazy("正社員, 役員, 派遣社員, 業務委託 or 取引先従業員 (empty: 正社員).")),
    HrColumn("入社日", "joined_on", False, gettext_lazy("Date such as 2026-04-01, 2026/4/1 or 令和8年4月1日."),
             kind="date"),
    HrColumn("退職日", "left_on", False,
             gettext_lazy("Leaving date; empty if the person has not left. A date that has passed deactivates "
                          "the account."), kind="date"),
]
HEADER = {c.field: c.header for c in COLUMNS}
HEADER_INDEX = {io._header_key(c.header): c for c in COLUMNS}
REQUIRED = [c for c in COLUMNS if c.required]
TYPE_INDEX = {unicodedata.normalize("NFKC", word): value for value, words in PERSON_TYPE_JA.items()
              for word in words} | {value: value for value in PersonType.values}
# What an import may change on a person, in the order reported.
FIELDS = ["employee_number", "display_name", "username", "email", "department_id", "person_type", "joined_on",
          "left_on", "is_active"]


@dataclass
class PeopleImportResult(ImportResult):
    deactivated: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "dry_run": self.dry_run, "created": self.created, "updated": self.updated,
                "unchanged": self.unchanged, "deactivated": self.deactivated,
                "errors": [{"row": e.row, "column": e.column, "code": e.code, "message": e.message}
                           for e in self.errors]}


# ---------------------------------------------------------------------------------------------------------
# Reading (the register import's readers, with the HR columns)


@dataclass
class HrTable:
    present: set[str]
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


def _fits(cells: list[Any]) -> bool:
    keys = {io._header_key(v) for v in cells}
    return all(io._header_key(c.header) in keys for c in REQUIRED)


def _headers(cells: list[Any]) -> list[tuple[int, HrColumn]]:
    result: list[tuple[int, HrColumn]] = []
    unknown: list[str] = []
    duplicate: list[str] = []
    seen: set[str] = set()
    for index, raw in enumerate(cells):
        key = io._header_key(raw)
        if not key:
            continue
        column = HEADER_INDEX.get(key)
        if column is None:
            unknown.append(io._text(raw)[:60])
        elif column.header in seen:
            duplicate.append(column.header)
        else:
            seen.add(column.header)
            result.append((index, column))
    if duplicate:
        raise InputError("io.columns_duplicate", columns=", ".join(dict.fromkeys(duplicate)))
    missing = [c.header for c in REQUIRED if c.header not in seen]
    if missing:
        raise InputError("io.columns_missing", columns=", ".join(missing))
    if unknown:
        raise InputError("io.columns_unknown", columns=", ".join(unknown[:20]))
    return result


def _cell(value: Any, column: HrColumn) -> Any:
    if column.kind == "date" and isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    if isinstance(value, str):
        return io._unescape(io._text(value))
    return io._text(value)


def _table(header: list[Any], rows: Iterator[tuple[int, list[Any]]]) -> HrTable:
    columns = _headers(header)
    limit = io.max_rows()
    width = max(i for i, _c in columns) + 1
    table = HrTable(present={c.field for _i, c in columns})
    for number, cells in rows:
        cells = list(cells[:width]) + [""] * max(0, width - len(cells))
        if all(io._text(cells[i]) == "" for i, _c in columns):
            continue
        if len(table.rows) >= limit:
            raise InputError("io.too_many_rows", limit=limit)
        table.rows.append((number, {c.field: _cell(cells[i], c) for i, c in columns}))
    return table


def _read_csv(data: bytes) -> HrTable:
    text = io._decode(data)
    rows = ((number, cells) for number, cells in enumerate(csv.reader(StringIO(text, newline="")), start=1))
    try:
        header = io._find_header(rows, _fits)
        if header is None:
            raise InputError("io.empty")
        return _table(header, rows)
    except csv.Error as exc:
        raise io._corrupt("CSV") from exc


def _read_xlsx(data: bytes) -> HrTable:
    from python_calamine import CalamineWorkbook

    if not data.startswith(b"PK\x03\x04") or not zipfile.is_zipfile(BytesIO(data)):
        raise io._corrupt("xlsx")
    try:
        io._check_zip(data)
        book = CalamineWorkbook.from_filelike(BytesIO(data))
        names = list(book.sheet_names)
        names.sort(key=lambda n: n.strip() != SHEET_NAME)  # the named sheet first, then in order
        partial: tuple[list[Any], Iterator[tuple[int, list[Any]]]] | None = None
        any_header = False
        for name in names:
            try:
                sheet = book.get_sheet_by_name(name)
            except Exception:
                continue  # a chart sheet or similar
            rows = io._sheet_rows(sheet)
            header = io._find_header(rows, _fits)
            if header is None:
                continue
            any_header = True
            if _fits(header):
                return _table(header, rows)
            if partial is None and any(io._header_key(v) in HEADER_INDEX for v in header):
                partial = (header, rows)
        if partial is not None:
            return _table(*partial)  # reports the missing columns
        if not any_header:
            raise InputError("io.empty")
        raise InputError("hr.sheet_missing", columns=", ".join(c.header for c in REQUIRED))
    except InputError:
        raise
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # the reader is native code: a panic is a BaseException
        raise io._corrupt("xlsx") from exc


def read_hr_table(filename: str, data: bytes) -> HrTable:
    """Check the file as a whole and return its data rows (raises ``InputError``)."""
    return _read_xlsx(data) if io.file_format(filename, data) == ".xlsx" else _read_csv(data)


# ---------------------------------------------------------------------------------------------------------
# Checking


@dataclass
class _Plan:
    row: int
    person: User | None  # None: a new person
    values: dict[str, Any]
    changed: list[str]


class _Checker:
    """Checks the rows one after the other against each other and against the people who exist."""

    def __init__(self, present: set[str]) -> None:
        self.present = present
        self.today = timezone.localdate()
        self.errors: list[RowError] = []
        self.departments = {d.code: d.pk for d in Department.objects.all()}
        people = list(User.objects.all())
        self.by_number = {p.employee_number: p for p in people if p.employee_number}
        self.by_username = {p.username: p for p in people}
        self.by_email: dict[str, User] = {}
        for p in people:
            if p.email:
                self.by_email.setdefault(p.email.lower(), p)
        self.number_rows: dict[str, int] = {}
        self.login_rows: dict[str, tuple[int, str]] = {}
        self.email_rows: dict[str, tuple[int, str]] = {}
        self.validate_username = UnicodeUsernameValidator()

    def error(self, at: int, name: str | None, code: str, /, **params: Any) -> None:
        from himitsu.web.core.errors import message

        column = HEADER.get(name, NON_FIELD) if name else NON_FIELD
        self.errors.append(RowError(at, column, code, message(InputError(code, **params))))

    def text(self, row: int, values: dict[str, Any], name: str) -> str | None:
        value = values.get(name)
        text = io._text(value) if not isinstance(value, str) else value.strip()
        column = next(c for c in COLUMNS if c.field == name)
        if column.max_length and len(text) > column.max_length:
            self.error(row, name, "hr.too_long", column=column.header, limit=column.max_length)
            return None
        return text

    def date(self, row: int, values: dict[str, Any], name: str, current: date | None) -> tuple[bool, date | None]:
        if name not in self.present:
            return True, current
        value = values.get(name)
        if isinstance(value, date):
            return True, value
        text = io._text(value)
        if not text:
            return True, None
        try:
            return True, jpdate.parse(text)
        except jpdate.DateFormatError:
            self.error(row, name, "hr.bad_date", value=text[:40])
            return False, None

    def check(self, row: int, values: dict[str, Any]) -> _Plan | None:
        before = len(self.errors)
        number = self.text(row, values, "employee_number")
        name = self.text(row, values, "display_name")
        if number == "":
            self.error(row, "employee_number", "hr.required", column=HEADER["employee_number"])
        elif number is not None:
            if number in self.number_rows:
                self.error(row, "employee_number", "hr.duplicate_number", number=number,
                           row=self.number_rows[number])
                return None
            self.number_rows[number] = row
        if name == "":
            self.error(row, "display_name", "hr.required", column=HEADER["display_name"])
        if not number:
            return None

        person = self.by_number.get(number)
        login = (self.text(row, values, "username") if "username" in self.present else "") or ""
        if person is None:
            candidate = self.by_username.get(login or number)
            if candidate is not None and not candidate.employee_number:
                person = candidate  # an account made before the HR import: link it to its number
        login = login or (person.username if person is not None else number)
        self._check_login(row, login, number, person)

        email = person.email if person is not None else ""
        if "email" in self.present:
            email = self.text(row, values, "email") or ""
            if email:
                self._check_email(row, email, number, person)

        department = person.department_id if person is not None else None
        if "department" in self.present:
            code = self.text(row, values, "department") or ""
            department = self.departments.get(code) if code else None
            if code and department is None:
                self.error(row, "department", "hr.unknown_department", department=code[:40])

        kind = person.person_type if person is not None else PersonType.EMPLOYEE
        if "person_type" in self.present:
            word = unicodedata.normalize("NFKC", self.text(row, values, "person_type") or "")
            kind = TYPE_INDEX.get(word) if word else PersonType.EMPLOYEE
            if kind is None:
                self.error(row, "person_type", "hr.unknown_type", value=word[:40])

        ok_joined, joined = self.date(row, values, "joined_on", person.joined_on if person is not None else None)
        ok_left, left = self.date(row, values, "left_on", person.left_on if person is not None else None)
        if ok_joined and ok_left and joined and left and left < joined:
            self.error(row, "left_on", "person.left_before_joined")
        if ok_left and person is not None and person.left_on and person.left_on < self.today and (
                left is None or left >= self.today):
            self.error(row, "left_on", "hr.reactivation", name=str(person)[:100], left=person.left_on.isoformat())

        if len(self.errors) > before:
            return None
        active = person.is_active if person is not None else True
        if left is not None and left < self.today:
            active = False  # a leaver's account is closed; the import never opens one again
        new = {"employee_number": number, "display_name": name, "username": login, "email": email,
               "department_id": department, "person_type": kind, "joined_on": joined, "left_on": left,
               "is_active": active}
        changed = FIELDS if person is None else [f for f in FIELDS if getattr(person, f) != new[f]]
        return _Plan(row, person, new, list(changed))

    def _check_login(self, row: int, login: str, number: str, person: User | None) -> None:
        try:
            if len(login) > 150:
                raise ValidationError("too long")
            self.validate_username(login)
        except ValidationError:
            self.error(row, "username", "hr.invalid_login", login=login[:60])
            return
        owner = self.by_username.get(login)
        if owner is not None and (person is None or owner.pk != person.pk):
            self.error(row, "username", "hr.login_taken", login=login, name=str(owner)[:100])
            return
        seen = self.login_rows.get(login)
        if seen is not None and seen[1] != number:
            self.error(row, "username", "hr.duplicate_login", login=login, row=seen[0])
            return
        self.login_rows[login] = (row, number)

    def _check_email(self, row: int, email: str, number: str, person: User | None) -> None:
        try:
            validate_email(email)
        except ValidationError:
            self.error(row, "email", "hr.invalid_email", email=email[:100])
            return
        key = email.lower()
        owner = self.by_email.get(key)
        if owner is not None and (person is None or owner.pk != person.pk):
            self.error(row, "email", "hr.email_taken", email=email, name=str(owner)[:100])
            return
        seen = self.email_rows.get(key)
        if seen is not None and seen[1] != number:
            self.error(row, "email", "hr.duplicate_email", email=email, row=seen[0])
            return
        self.email_rows[key] = (row, number)


# ---------------------------------------------------------------------------------------------------------
# Import


def import_people(ctx: Context, filename: str, data: bytes, *, dry_run: bool = False) -> PeopleImportResult:
    """Check every row; if all are valid (and not ``dry_run``) write them all in one transaction.

    Audited: one record per person created or updated and one IMPORT record for a written file; one IMPORT
    record with ``rejected`` when rows have errors (also on a dry run). Files refused as a whole raise
    ``InputError``; an actor who may not import raises ``PermissionDeniedError``.
    """
    access.require(access.can_import_people(ctx.actor))
    table = read_hr_table(filename, data)
    result = PeopleImportResult(created=0, updated=0, unchanged=0, errors=[], dry_run=dry_run)
    with transaction.atomic():
        checker = _Checker(table.present)
        plans = [plan for number, values in table.rows if (plan := checker.check(number, values)) is not None]
        result.errors = checker.errors
        if result.errors:
            _record(ctx, filename, len(table.rows), result, rejected=True)
            return result
        for plan in plans:
            if plan.person is None:
                result.created += 1
            elif plan.changed:
                result.updated += 1
            else:
                result.unchanged += 1
            if "is_active" in plan.changed and not plan.values["is_active"]:
                result.deactivated += 1
        if dry_run:
            return result
        for plan in plans:
            _write(ctx, filename, plan)
        _record(ctx, filename, len(table.rows), result, rejected=False)
        if result.created or result.updated:
            from himitsu.web.register.services import reassess_all

            reassess_all()  # who is active feeds every entry's score
    return result


def _write(ctx: Context, filename: str, plan: _Plan) -> None:
    source = {"import": filename[:200], "row": plan.row}
    person = plan.person
    if plan.person is None:
        person = User(role=Role.EMPLOYEE, **plan.values)
        person.set_unusable_password()
        person.save()
        chain.record(Action.CREATE, actor=ctx.actor, request=ctx.request, channel=ctx.channel, object_type="user",
                     object_id=person.pk, object_repr=person.username,
                     details={**source, "employee_number": person.employee_number})
    elif plan.changed:
        person = plan.person
        for name in plan.changed:
            setattr(person, name, plan.values[name])
        person.save(update_fields=[f.removesuffix("_id") for f in plan.changed])
        chain.record(Action.UPDATE, actor=ctx.actor, request=ctx.request, channel=ctx.channel, object_type="user",
                     object_id=person.pk, object_repr=person.username,
                     details={**source, "fields": [f.removesuffix("_id") for f in plan.changed]})
    if person is not None and person.left_on and (plan.person is None or "left_on" in plan.changed):
        from himitsu.web.workflows.services import open_leaving_case

        open_leaving_case(ctx, person)  # a leaving date opens the leaving case (退職手続き)


def _record(ctx: Context, filename: str, rows: int, result: PeopleImportResult, *, rejected: bool) -> None:
    details: dict[str, Any] = {"file": filename[:200], "rows": rows}
    if rejected:
        details.update(rejected=True, errors=len(result.errors))
        if result.dry_run:
            details["dry_run"] = True
    else:
        details.update(created=result.created, updated=result.updated, unchanged=result.unchanged,
                       deactivated=result.deactivated)
    chain.record(Action.IMPORT, actor=ctx.actor, request=ctx.request, channel=ctx.channel, object_type="people",
                 details=details)
