"""Import and export of the register (営業秘密管理台帳) as .xlsx and .csv with Japanese headers.

Organisations keep the register in Excel; these two functions move it in and out of Himitsu.

Import
    The file is checked as a whole first (size, format, encoding, sheet, columns); problems there raise
    ``InputError``. Then every row goes through the same validation as the web form (``resolve.form_data``
    + ``SecretForm``) and need-to-know; every error is collected with its row and column. If there is any
    error nothing is written. Otherwise every row is written in one transaction through
    ``services.save`` (so each entry keeps its history), and one audit record is appended.

    A row whose values are exactly what the export shows for an entry the actor can see is "unchanged"
    and is not written (so re-importing an export never fails on rows the actor may see but not edit).
    A column that is absent from the file leaves that field of an existing entry as it is.

Export
    Rows are the given queryset (the list filters) intersected with what the actor may see. Text cells
    that a spreadsheet could run as a formula get a leading apostrophe, which the import removes again.
"""

from __future__ import annotations

import csv
import os
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from io import BytesIO, StringIO
from typing import Any

from django import forms
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from himitsu import jpdate
from himitsu.errors import InputError, PermissionDeniedError
from himitsu.web.accounts import access
from himitsu.web.audit import chain
from himitsu.web.audit.models import Action
from himitsu.web.register import resolve, services
from himitsu.web.register.fields import format_locations, parse_locations
from himitsu.web.register.forms import SecretForm
from himitsu.web.register.models import Secret

SHEET_NAME = "営業秘密管理台帳"
NON_FIELD = "—"  # the column shown for errors that concern the whole row
HEADER_SEARCH_ROWS = 10  # title rows above the header that are skipped

CATEGORY_JA = {"technical": "技術情報", "business": "営業情報", "other": "その他"}
LEGAL_TYPE_JA = {"trade_secret": "営業秘密", "limited_data": "限定提供データ", "other_confidential": "その他の秘密情報"}
PROTECTION_JA = {"undecided": "未定", "patent": "権利化", "secrecy": "秘匿化"}
TRISTATE_JA = {"yes": "はい", "no": "いいえ", "unknown": "不明"}
STATUS_JA = {"qualifies": "要件を満たす", "at_risk": "リスクあり", "not_qualified": "満たさない"}

# A spreadsheet runs a cell starting with these as a formula (CSV injection); full-width forms included.
_FORMULA_START = "=+-@\t\r＝＋－＠"
_ESCAPED = re.compile("^'+[" + re.escape(_FORMULA_START) + "]")
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _join(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))


def _local(value: datetime | None) -> datetime | None:
    return timezone.localtime(value).replace(tzinfo=None, second=0, microsecond=0) if value else None


@dataclass(frozen=True)
class Column:
    """One column of the register file. ``field`` is None for columns that are only exported."""

    header: str
    field: str | None
    required: bool
    help: Any
    get: Callable[[Secret], Any]
    kind: str = "text"  # text | date | tristate | number | datetime
    width: int = 16


COLUMNS: list[Column] = [
    Column("管理番号", "management_number", True,
           gettext_lazy("Unique number of the entry, e.g. DEV-001. A number that exists updates that entry."),
           lambda s: s.management_number, width=14),
    Column("名称", "title", True, gettext_lazy("Name of the information (not the secret itself)."),
           lambda s: s.title, width=30),
    Column("概要", "summary", False, gettext_lazy("Short description, without writing the secret itself."),
           lambda s: s.summary, width=40),
    Column("分類", "category", True, gettext_lazy("技術情報, 営業情報 or その他."),
           lambda s: CATEGORY_JA.get(s.category, s.category), width=10),
    Column("機密区分", "level", True, gettext_lazy("Classification level, e.g. 極秘, 秘 or 社外秘."),
           lambda s: s.level.name, width=10),
    Column("法的区分", "legal_type", False,
           gettext_lazy("営業秘密, 限定提供データ or その他の秘密情報 (empty: 営業秘密)."),
           lambda s: LEGAL_TYPE_JA.get(s.legal_type, s.legal_type), width=14),
    Column("管理部署", "owner_department", True, gettext_lazy("Department code or name."),
           lambda s: s.owner_department.code, width=12),
    Column("管理責任者", "responsible", False, gettext_lazy("User name of the responsible person."),
           lambda s: s.responsible.username if s.responsible_id else "", width=14),
    Column("アクセス可能者", "allowed_users", False,
           gettext_lazy("User names of the people with access, separated by commas, 、 or line breaks."),
           lambda s: _join(u.username for u in s.allowed_users.all()), width=24),
    Column("アクセス可能グループ", "allowed_groups", False,
           gettext_lazy("Names of the access groups, separated by commas, 、 or line breaks."),
           lambda s: _join(g.name for g in s.allowed_groups.all()), width=24),
    Column("保管場所", "locations", False,
           gettext_lazy("One storage location a line, optionally prefixed by its kind, e.g. "
                        "キャビネット: 本社3F 書庫A."),
           lambda s: format_locations([(loc.kind, loc.location) for loc in s.locations.all()]), width=40),
    Column("秘密表示の方法", "marking", False, gettext_lazy("How the information is marked as secret."),
           lambda s: s.marking, width=24),
    Column("見直し期限", "review_date", False,
           gettext_lazy("Date such as 2025-04-01, 2025/4/1 or 令和7年4月1日."),
           lambda s: s.review_date, kind="date", width=12),
    Column("権利化・秘匿化", "protection_decision", False, gettext_lazy("未定, 権利化 or 秘匿化 (empty: 未定)."),
           lambda s: PROTECTION_JA.get(s.protection_decision, s.protection_decision), width=12),
    Column("判断日", "decision_date", False,
           gettext_lazy("Date of the patent-or-secrecy decision; required for 権利化 and 秘匿化."),
           lambda s: s.decision_date, kind="date", width=12),
    Column("判断理由", "decision_reasons", False, gettext_lazy("Reasons for the patent-or-secrecy decision."),
           lambda s: s.decision_reasons, width=30),
    Column("有用性", "usefulness_notes", False, gettext_lazy("Why the information is useful to the business."),
           lambda s: s.usefulness_notes, width=30),
    Column("公開の有無", "published", False, gettext_lazy("Published: はい, いいえ or 不明."),
           lambda s: TRISTATE_JA.get(s.published, s.published), kind="tristate", width=10),
    Column("特許での開示", "patented", False, gettext_lazy("Disclosed in a patent: はい, いいえ or 不明."),
           lambda s: TRISTATE_JA.get(s.patented, s.patented), kind="tristate", width=10),
    Column("リバースエンジニアリング可能性", "reverse_engineerable", False,
           gettext_lazy("Can be found out by reverse engineering: はい, いいえ or 不明."),
           lambda s: TRISTATE_JA.get(s.reverse_engineerable, s.reverse_engineerable), kind="tristate", width=12),
    Column("非公知性メモ", "non_public_notes", False,
           gettext_lazy("Notes on why the information is not publicly known."),
           lambda s: s.non_public_notes, width=30),
    Column("秘密管理性スコア", None, False,
           gettext_lazy("Export only: secrecy evidence score (0-100); ignored on import."),
           lambda s: s.secrecy_score, kind="number", width=10),
    Column("判定", None, False, gettext_lazy("Export only: secrecy status; ignored on import."),
           lambda s: STATUS_JA.get(s.secrecy_status, s.secrecy_status), width=14),
    Column("更新日時", None, False, gettext_lazy("Export only: time of the last change; ignored on import."),
           lambda s: _local(s.updated_at), kind="datetime", width=17),
]
FIELD_COLUMNS = {c.field: c for c in COLUMNS if c.field}
FIELD_HEADER = {name: c.header for name, c in FIELD_COLUMNS.items()}
REQUIRED = [c for c in COLUMNS if c.required]


def max_bytes() -> int:
    return int(getattr(settings, "HIMITSU_IMPORT_MAX_BYTES", 10 * 1024 * 1024))


def max_rows() -> int:
    return int(getattr(settings, "HIMITSU_IMPORT_MAX_ROWS", 10000))


@dataclass
class RowError:
    row: int  # the row number the user sees in the spreadsheet (header = 1)
    column: str  # the Japanese header, or "—" for the whole row
    code: str
    message: str


@dataclass
class ImportResult:
    created: int
    updated: int
    unchanged: int
    errors: list[RowError]

    @property
    def ok(self) -> bool:
        return not self.errors


# ---------------------------------------------------------------------------------------------------------
# Cells


def _text(value: Any) -> str:
    """A cell as text: integer-valued floats lose their ``.0``, dates become ISO dates."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        if value.time() == time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds" if value.second else "minutes")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value).replace("\r\n", "\n").replace("\r", "\n").strip()


def _header_key(value: Any) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", _text(value)))


HEADER_INDEX = {_header_key(c.header): c for c in COLUMNS}


def _escape(text: str) -> str:
    """Export: a leading apostrophe stops a spreadsheet from running the text as a formula."""
    if text and (text[0] in _FORMULA_START or _ESCAPED.match(text)):
        return "'" + text
    return text


def _unescape(text: str) -> str:
    """Import: remove the apostrophe that ``_escape`` added."""
    return text[1:] if _ESCAPED.match(text) else text


def _cell(value: Any, column: Column) -> Any:
    """A cell's value as the form wants it for this column."""
    if column.kind == "date":
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
    if column.kind == "tristate" and isinstance(value, bool):
        return TRISTATE_JA["yes" if value else "no"]
    if isinstance(value, str):
        return _unescape(_text(value))
    return _text(value)


# ---------------------------------------------------------------------------------------------------------
# Reading files


@dataclass
class _Table:
    columns: list[tuple[int, Column]]  # (cell index, column) for every column with a header
    rows: list[tuple[int, dict[str, Any]]]  # (row number, field -> value) for every non-blank data row

    @property
    def present(self) -> set[str]:
        return {c.field for _i, c in self.columns if c.field}


def _corrupt(fmt: str) -> InputError:
    return InputError("io.corrupt", format=fmt)


def _is_blank(cells: list[Any]) -> bool:
    return all(_text(v) == "" for v in cells)


def _headers(cells: list[Any]) -> list[tuple[int, Column]]:
    """Map header cells to columns; unknown and repeated headers are file errors."""
    result: list[tuple[int, Column]] = []
    seen: dict[str, int] = {}
    unknown: list[str] = []
    duplicate: list[str] = []
    for index, raw in enumerate(cells):
        key = _header_key(raw)
        if not key:
            continue
        column = HEADER_INDEX.get(key)
        if column is None:
            unknown.append(_text(raw)[:60])
            continue
        seen[column.header] = seen.get(column.header, 0) + 1
        if seen[column.header] == 2:
            duplicate.append(column.header)
        result.append((index, column))
    if duplicate:
        raise InputError("io.columns_duplicate", columns=", ".join(duplicate))
    headers = {c.header for _i, c in result}
    missing = [c.header for c in REQUIRED if c.header not in headers]
    if missing:
        raise InputError("io.columns_missing", columns=", ".join(missing))
    if unknown:
        raise InputError("io.columns_unknown", columns=", ".join(unknown[:20]))
    return result


def _fits(cells: list[Any]) -> bool:
    keys = {_header_key(v) for v in cells}
    return all(_header_key(c.header) in keys for c in REQUIRED)


def _table(header: list[Any], rows: Iterator[tuple[int, list[Any]]]) -> _Table:
    """Data rows as field dicts; refuses more than ``max_rows()`` non-blank rows before any validation."""
    columns = _headers(header)
    limit = max_rows()
    width = max(i for i, _c in columns) + 1
    result: list[tuple[int, dict[str, Any]]] = []
    for number, cells in rows:
        cells = list(cells[:width])
        cells += [""] * (width - len(cells))
        if all(_text(cells[i]) == "" for i, _c in columns):
            continue
        if len(result) >= limit:
            raise InputError("io.too_many_rows", limit=limit)
        result.append((number, {c.field: _cell(cells[i], c) for i, c in columns if c.field}))
    return _Table(columns, result)


def _find_header(rows: Iterator[tuple[int, list[Any]]],
                 fits: Callable[[list[Any]], bool] | None = None) -> list[Any] | None:
    """The header row: the first non-blank row, or a later one with the required columns when the sheet
    starts with a title (「営業秘密管理台帳 2025年度」). ``rows`` is left just after a fitting header.
    ``fits`` tells whether a row has the required columns (default: the register's)."""
    first: list[Any] | None = None
    for seen, (_number, cells) in enumerate((r for r in rows if not _is_blank(r[1])), start=1):
        if (fits or _fits)(cells):
            return cells
        if first is None:
            first = cells
        if seen >= HEADER_SEARCH_ROWS:
            break
    return first  # does not fit: the caller reports its missing columns


# CSV ----------------------------------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    if data.startswith(b"PK\x03\x04"):
        raise _corrupt("CSV")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data:
        raise InputError("io.encoding")  # UTF-16 ("Unicode text") or binary
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputError("io.encoding")


def _read_csv(data: bytes) -> _Table:
    text = _decode(data)
    rows = ((number, cells) for number, cells in enumerate(csv.reader(StringIO(text, newline="")), start=1))
    try:
        header = _find_header(rows)
        if header is None:
            raise InputError("io.empty")
        return _table(header, rows)
    except csv.Error as exc:
        raise _corrupt("CSV") from exc


# XLSX ---------------------------------------------------------------------------------------------------

_TAG = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?(row|c)(?=[\s/>])([^>]*)>")
_REF = re.compile(rb"""\sr\s*=\s*["']([A-Za-z]{0,3})(\d{1,7})["']""")
_RELS = re.compile(rb"<(?:\w+:)?Relationship\b[^>]*>")
_ATTR = re.compile(rb"""\b(Type|Target)\s*=\s*["']([^"']*)["']""")


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ch - 64
    return n


class _SheetScan:
    """Finds the extent of the cells that hold values, so that a tiny file cannot make the reader
    allocate a huge grid (a value in XFD1048576 makes the grid 17 billion cells)."""

    def __init__(self) -> None:
        self.carry = b""
        self.row = 0
        self.col = 0
        self.max_row = 0
        self.max_col = 0

    def feed(self, chunk: bytes) -> None:
        buf = self.carry + chunk
        cut = buf.rfind(b"<")
        if cut == -1:
            self.carry = b""
            return
        head, tail = buf[:cut], buf[cut:]
        self._scan(head)
        if b">" in tail or len(tail) > 65536:
            self._scan(tail)
            self.carry = b""
        else:
            self.carry = tail

    def _scan(self, data: bytes) -> None:
        for m in _TAG.finditer(data):
            attrs = m.group(2)
            ref = _REF.search(attrs)
            if m.group(1) == b"row":
                self.row = int(ref.group(2)) if ref else self.row + 1
                self.col = 0
                continue
            if ref:
                if ref.group(1):
                    self.col = _column_number(ref.group(1))
                else:
                    self.col += 1
                self.row = int(ref.group(2))
            else:
                self.col += 1
            if not attrs.rstrip().endswith(b"/"):  # <c r="A1" s="1"/> is an empty, styled cell
                self.max_row = max(self.max_row, self.row)
                self.max_col = max(self.max_col, self.col)


def _unzipped_limit() -> int:
    return max(64 * 1024 * 1024, 20 * max_bytes())


def _worksheet_parts(zf: zipfile.ZipFile) -> set[str]:
    parts = {n for n in zf.namelist() if n.startswith("xl/worksheets/")}
    try:
        rels = zf.read("xl/_rels/workbook.xml.rels")
    except KeyError:
        return parts
    for m in _RELS.finditer(rels):
        attrs = dict(_ATTR.findall(m.group(0)))
        if attrs.get(b"Type", b"").endswith(b"/worksheet") and attrs.get(b"Target"):
            target = attrs[b"Target"].decode("utf-8", "replace")
            parts.add(target.lstrip("/") if target.startswith("/") else os.path.normpath("xl/" + target))
    return parts


def _check_zip(data: bytes) -> None:
    """Refuse zip bombs and sheets whose used area would not fit in memory, before the reader sees them."""
    limit = _unzipped_limit()
    row_limit = max_rows() + 1 + max(1000, max_rows())
    cell_limit = max(4_000_000, (max_rows() + 1) * 64)
    with zipfile.ZipFile(BytesIO(data)) as zf:
        infos = zf.infolist()
        if "xl/workbook.xml" not in {i.filename for i in infos}:
            raise _corrupt("xlsx")
        declared = sum(i.file_size for i in infos)
        if declared > limit:
            raise InputError("io.unzipped_too_large", size=declared, limit=limit)
        sheets = _worksheet_parts(zf)
        total = 0
        for info in infos:
            if info.is_dir():
                continue
            scan = _SheetScan() if info.filename in sheets else None
            with zf.open(info) as fh:
                while chunk := fh.read(1 << 20):
                    total += len(chunk)
                    if total > limit:
                        raise InputError("io.unzipped_too_large", size=total, limit=limit)
                    if scan is not None:
                        scan.feed(chunk)
                        if scan.max_row > row_limit:
                            raise InputError("io.too_many_rows", limit=max_rows())
                        if scan.max_row * scan.max_col > cell_limit:
                            raise InputError("io.sheet_too_large", cells=scan.max_row * scan.max_col,
                                             limit=cell_limit)


def _sheet_rows(sheet: Any) -> Iterator[tuple[int, list[Any]]]:
    """Rows with the row numbers Excel shows, whether or not the reader starts at the first used row."""
    start = sheet.start
    offset: int | None = None
    for index, cells in enumerate(sheet.iter_rows()):
        if offset is None:
            if all(v == "" or v is None for v in cells):
                yield index + 1, cells
                continue
            offset = (start[0] - index) if start else 0
        yield index + 1 + offset, cells


def _read_xlsx(data: bytes) -> _Table:
    from python_calamine import CalamineWorkbook

    if not data.startswith(b"PK\x03\x04") or not zipfile.is_zipfile(BytesIO(data)):
        raise _corrupt("xlsx")
    try:
        _check_zip(data)
        book = CalamineWorkbook.from_filelike(BytesIO(data))
        names = list(book.sheet_names)
        preferred = [n for n in names if n.strip() == SHEET_NAME]
        fallback: tuple[list[Any], Iterator[tuple[int, list[Any]]]] | None = None
        any_header = False
        for name in preferred[:1] or names:
            try:
                sheet = book.get_sheet_by_name(name)
            except Exception:
                if preferred:
                    raise
                continue  # a chart sheet or similar
            rows = _sheet_rows(sheet)
            header = _find_header(rows)
            if header is None:
                continue
            any_header = True
            if preferred or _fits(header):
                return _table(header, rows)
            if fallback is None and any(_header_key(v) in HEADER_INDEX for v in header):
                fallback = (header, rows)
        if fallback is not None:
            return _table(*fallback)  # reports the missing columns
        if preferred or (names and not any_header):
            raise InputError("io.empty")
        raise InputError("io.sheet_missing", sheet=SHEET_NAME)
    except InputError:
        raise
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # the reader is native code: a panic is a BaseException
        raise _corrupt("xlsx") from exc


def file_format(filename: str, data: bytes) -> str:
    """Check an uploaded file's size, name and emptiness; return ``.xlsx`` or ``.csv`` (raises ``InputError``).

    Shared with the other imports (people from the HR system)."""
    limit = max_bytes()
    if len(data) > limit:
        raise InputError("io.too_large", size=len(data), limit=limit)
    extension = os.path.splitext(filename.replace("\\", "/").rsplit("/", 1)[-1])[1].lower()
    if extension not in (".xlsx", ".csv"):
        raise InputError("io.unknown_format")
    if not data:
        raise InputError("io.empty")
    return extension


def read_table(filename: str, data: bytes) -> _Table:
    """Check the file as a whole and return its data rows (raises ``InputError``)."""
    return _read_xlsx(data) if file_format(filename, data) == ".xlsx" else _read_csv(data)


# ---------------------------------------------------------------------------------------------------------
# Import

FORM_FIELDS: list[str] = list(SecretForm._meta.fields or [])
DATE_FIELDS = {c.field for c in COLUMNS if c.kind == "date"}


def _instance_state(secret: Secret) -> dict[str, Any]:
    """What the import can change on an entry (taken before the form touches the instance)."""
    state: dict[str, Any] = {}
    for name in FORM_FIELDS:
        field = Secret._meta.get_field(name)
        if field.many_to_many:
            state[name] = sorted(getattr(secret, name).values_list("pk", flat=True))
        elif field.is_relation:
            state[name] = getattr(secret, field.attname)
        else:
            state[name] = getattr(secret, name)
    state["locations"] = [(str(k), v) for k, v in secret.locations.values_list("kind", "location")]
    return state


def _form_state(form: SecretForm) -> dict[str, Any]:
    data = form.cleaned_data
    state: dict[str, Any] = {}
    for name in FORM_FIELDS:
        field = Secret._meta.get_field(name)
        value = data.get(name)
        if field.many_to_many:
            state[name] = sorted(obj.pk for obj in (value or []))
        elif field.is_relation:
            state[name] = value.pk if value is not None else None
        else:
            state[name] = value
    state["locations"] = [(str(k), v) for k, v in data.get("locations") or []]
    return state


def _same(name: str, value: Any) -> Any:
    """A value reduced to what matters for comparing a row with an entry's export."""
    if name in ("allowed_users", "allowed_groups"):
        return sorted(resolve._names(value))
    if name == "locations":
        try:
            return parse_locations(_text(value))
        except forms.ValidationError:
            return object()  # never equal
    if name in DATE_FIELDS:
        if isinstance(value, date):
            return value.isoformat()
        text = _text(value)
        try:
            return jpdate.parse(text).isoformat() if text else ""
        except jpdate.DateFormatError:
            return text
    return _text(value)


def _identical(row: dict[str, Any], secret: Secret) -> bool:
    """Does the row say exactly what the export of this entry says (for the columns it has)?"""
    return all(_same(name, value) == _same(name, FIELD_COLUMNS[name].get(secret)) for name, value in row.items())


def _complete(row: dict[str, Any], present: set[str], existing: Secret | None) -> dict[str, Any]:
    """Fill the columns the file does not have: an existing entry keeps its values, a new one gets defaults."""
    full = dict(row)
    for name, column in FIELD_COLUMNS.items():
        if name in present:
            continue
        if existing is None:
            full[name] = ""
        elif name == "allowed_users":  # like the web form, which offers active people only
            full[name] = _join(u.username for u in existing.allowed_users.all() if u.is_active)
        else:
            full[name] = column.get(existing)
    if existing is not None:
        for name in FIELD_COLUMNS:  # keep stored line breaks (\r\n from the web form) when the text is the same
            old, new = getattr(existing, name, None), full.get(name)
            if isinstance(old, str) and isinstance(new, str) and old != new and _text(old) == _text(new):
                full[name] = old
    return full


def _denied() -> str:
    from himitsu.web.core.errors import message

    return message(PermissionDeniedError())


@dataclass
class _Checked:
    form: SecretForm | None = None
    changed: bool = False
    errors: list[RowError] | None = None


def _check(ctx: services.Context, number: int, row: dict[str, Any], present: set[str],
           existing: Secret | None) -> _Checked:
    """Validate one row exactly like the web form would, for the entry it names (if any)."""
    if existing is not None and not access.can_edit(ctx.actor, existing):
        return _Checked(errors=[RowError(number, FIELD_HEADER["management_number"], "access.denied", _denied())])
    data = resolve.form_data(_complete(row, present, existing))
    before = _instance_state(existing) if existing is not None else None
    form = SecretForm(data.values, instance=existing, actor=ctx.actor, unresolved=data.unresolved)
    if not form.is_valid():
        errors = []
        for name, items in form.errors.as_data().items():
            column = FIELD_HEADER.get(name, NON_FIELD)
            for error in items:
                for text in error.messages:
                    errors.append(RowError(number, column, error.code or "invalid", str(text)))
        return _Checked(errors=errors)
    return _Checked(form=form, changed=before is None or _form_state(form) != before)


def _number(row: dict[str, Any]) -> str:
    return _text(row.get("management_number"))


def import_register(ctx: services.Context, filename: str, data: bytes, *, dry_run: bool = False) -> ImportResult:
    """Validate every row; if all are valid (and not ``dry_run``) write them all in one transaction.

    Audited: one IMPORT record for a written file, one with ``rejected`` when rows have errors (also on a
    dry run, which otherwise leaves no trace). Files refused as a whole raise ``InputError``.
    """
    access.require(access.can_import(ctx.actor))
    table = read_table(filename, data)
    with resolve.cached_names():  # levels, departments, users and groups read once, not per row
        return _import_rows(ctx, filename, table, dry_run)


def _import_rows(ctx: services.Context, filename: str, table: _Table, dry_run: bool) -> ImportResult:
    present = table.present
    result = ImportResult(created=0, updated=0, unchanged=0, errors=[])
    pending: list[tuple[int, dict[str, Any], bool]] = []
    first_row: dict[str, int] = {}

    for number, row in table.rows:
        key = _number(row)
        if key:
            if key in first_row:
                result.errors.append(RowError(
                    number, FIELD_HEADER["management_number"], "duplicate",
                    _("The management number %(number)s already appears in row %(row)d.")
                    % {"number": key, "row": first_row[key]}))
                continue
            first_row[key] = number
        existing = (Secret.objects.select_related("level", "owner_department", "responsible")
                    .filter(management_number=key).first() if key else None)
        if existing is not None and access.can_view(ctx.actor, existing) and _identical(row, existing):
            result.unchanged += 1
            continue
        checked = _check(ctx, number, row, present, existing)
        if checked.errors:
            result.errors.extend(checked.errors)
        elif not checked.changed:
            result.unchanged += 1
        else:
            pending.append((number, row, existing is not None))

    if result.errors:
        _record_rejected(ctx, filename, len(table.rows), result, dry_run)
        return result
    if dry_run:
        result.created = sum(1 for _n, _r, exists in pending if not exists)
        result.updated = len(pending) - result.created
        return result

    try:
        with transaction.atomic():
            for number, row, _exists in pending:
                existing = Secret.objects.select_for_update().filter(management_number=_number(row)).first()
                checked = _check(ctx, number, row, present, existing)
                if checked.errors:
                    result.errors.extend(checked.errors)
                    continue
                if not checked.changed:
                    result.unchanged += 1
                    continue
                services.save(ctx, checked.form, audit=False, grant_source="import")
                if existing is None:
                    result.created += 1
                else:
                    result.updated += 1
            if result.errors:
                raise _Rollback
            chain.record(Action.IMPORT, actor=ctx.actor, request=ctx.request, channel=ctx.channel,
                         object_type="register",
                         details={"file": filename[:200], "rows": len(table.rows), "created": result.created,
                                  "updated": result.updated, "unchanged": result.unchanged})
    except _Rollback:
        result.created = result.updated = 0
        _record_rejected(ctx, filename, len(table.rows), result, dry_run)
    return result


class _Rollback(Exception):
    """Something changed between the check and the write: undo every row."""


def _record_rejected(ctx: services.Context, filename: str, rows: int, result: ImportResult, dry_run: bool) -> None:
    """Rejected files are audited too (also on a dry run): who tried to change which entries."""
    details: dict[str, Any] = {"file": filename[:200], "rows": rows, "rejected": True, "errors": len(result.errors)}
    if dry_run:
        details["dry_run"] = True
    chain.record(Action.IMPORT, actor=ctx.actor, request=ctx.request, channel=ctx.channel, object_type="register",
                 details=details)


# ---------------------------------------------------------------------------------------------------------
# Export


def _rows(ctx: services.Context, queryset: Any) -> Iterator[list[Any]]:
    base = queryset if queryset is not None else Secret.objects.all()
    qs = access.visible_secrets(ctx.actor, base)
    if not qs.ordered:
        qs = qs.order_by("management_number", "pk")
    qs = qs.select_related("level", "owner_department", "responsible").prefetch_related(
        "allowed_users", "allowed_groups", "locations")
    for secret in qs.iterator(chunk_size=500):
        yield [c.get(secret) for c in COLUMNS]


def _csv_text(value: Any) -> str:
    if isinstance(value, str):
        return _escape(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return _text(value)


def _csv_bytes(rows: Iterator[list[Any]]) -> tuple[bytes, int]:
    out = StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.header for c in COLUMNS])
    n = 0
    for values in rows:
        writer.writerow([_csv_text(v) for v in values])
        n += 1
    return out.getvalue().encode("utf-8-sig"), n


def _xlsx_bytes(rows: Iterator[list[Any]]) -> tuple[bytes, int]:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet(SHEET_NAME)
    sheet.freeze_panes = "A2"
    for index, column in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    bold, wrap = Font(bold=True), Alignment(wrap_text=True, vertical="top")

    def text_cell(text: str) -> Any:
        cell = WriteOnlyCell(sheet, value=_ILLEGAL_XML.sub("", text))
        cell.data_type = "s"  # never a formula, whatever the text
        return cell

    header = []
    for column in COLUMNS:
        cell = text_cell(column.header)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    n = 0
    for values in rows:
        cells = []
        for value in values:
            if isinstance(value, str):
                cell = text_cell(_escape(value))
                if "\n" in value:
                    cell.alignment = wrap
            elif isinstance(value, datetime):
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = "yyyy-mm-dd hh:mm"
            elif isinstance(value, date):
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = "yyyy-mm-dd"
            elif value is None:
                cell = WriteOnlyCell(sheet, value=None)
            else:
                cell = WriteOnlyCell(sheet, value=value)
            cells.append(cell)
        sheet.append(cells)
        n += 1
    out = BytesIO()
    book.save(out)
    return out.getvalue(), n


def export_register(ctx: services.Context, fmt: str, queryset: Any = None) -> bytes:
    """The visible register (narrowed by ``queryset``) as .xlsx or .csv bytes; audited."""
    fmt = (fmt or "").lower().lstrip(".")
    if fmt not in ("xlsx", "csv"):
        raise InputError("io.unknown_format")
    access.require(access.can_export(ctx.actor))
    rows = _rows(ctx, queryset)
    data, n = _xlsx_bytes(rows) if fmt == "xlsx" else _csv_bytes(rows)
    chain.record(Action.EXPORT, actor=ctx.actor, request=ctx.request, channel=ctx.channel, object_type="register",
                 details={"format": fmt, "rows": n})
    return data
