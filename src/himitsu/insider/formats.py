"""The log formats Himitsu reads, each turned into SQL that DuckDB runs over the raw columns of a file.

A :class:`Plan` says how to read a file (CSV with or without header, or one JSON object per line) and gives the
SQL that turns its raw text columns (all ``VARCHAR``) into the columns of the ``events`` table, plus a rejection
code for rows that cannot be used. Everything per row happens in DuckDB; Python only looks at the header.

* CERT Insider Threat Test Dataset (r4.2 and r6.2 layouts of logon, device, file, email, http); dates are local
  time of the zone given to the ingest (Asia/Tokyo by default).
* Microsoft 365 unified audit log CSV export (old ``CreationDate,UserIds,Operations,AuditData`` and new
  ``RecordId,CreationDate,RecordType,Operation,UserId,AuditData,...``); times are UTC.
* A generic mapping (YAML) for other CSV or JSON-lines logs; see ``docs/insider_mapping.md``.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from himitsu.insider.errors import InsiderError
from himitsu.insider.schema import ACTIONS, KINDS

__all__ = ["CERT_LAYOUTS", "M365_OPERATIONS", "Mapping", "Plan", "cert_plan", "load_mapping", "m365_plan",
           "mapping_plan", "utc_sql"]

# Columns every plan's last step produces (besides rn, the row's position in the file).
PARSED = ("key", "ts", "user", "pc", "kind", "action", "target", "removable", "bytes", "attachments",
          "code", "detail", "ignored", "note")

ACTION_KIND = {
    "logon": "logon", "logoff": "logon", "connect": "device", "disconnect": "device",
    "file_open": "file", "file_write": "file", "file_copy": "file", "file_delete": "file",
    "email_send": "email", "email_view": "email",
    "http_visit": "http", "http_upload": "http", "http_download": "http",
}
assert set(ACTION_KIND) == set(ACTIONS) and set(ACTION_KIND.values()) == set(KINDS)


@dataclass(frozen=True)
class Plan:
    """How to read one file and turn its rows into events.

    ``reader`` is ``"csv"`` (``columns`` are the file's columns in order, read as ``"c1"``, ``"c2"``...) or
    ``"lines"`` (one column ``"c1"`` per line: JSON lines). ``steps`` are SELECT lists applied in turn over the
    previous step (the first over the raw columns); the last yields :data:`PARSED`.
    """

    format: str
    source: str
    kind: str | None
    reader: str
    columns: tuple[str, ...]
    header: bool
    delimiter: str
    steps: tuple[str, ...]
    encodings: tuple[str, ...] = ("utf-8", "cp932")
    max_line_size: int = 2_097_152
    notes: dict[str, Any] = field(default_factory=dict)


def sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def col(index: int) -> str:
    """The raw column of position ``index`` (0-based) as read by DuckDB."""
    return f'"c{index + 1}"'


_OFFSET = re.compile(r"^([+-])(\d{1,2}):?(\d{2})$")


def utc_sql(expr: str, tz: str) -> str:
    """SQL turning a naive local TIMESTAMP ``expr`` of zone ``tz`` into a naive UTC TIMESTAMP."""
    name = normalize_tz(tz)
    if name == "UTC":
        return expr
    if m := _OFFSET.match(name):
        minutes = (int(m[2]) * 60 + int(m[3])) * (1 if m[1] == "+" else -1)
    elif (fixed := _fixed_offset(name)) is not None:
        minutes = fixed  # e.g. Asia/Tokyo: no daylight saving since 1951, a subtraction is exact and fast
    else:
        return f"timezone('UTC', timezone({sql_str(name)}, {expr}))"
    if minutes == 0:
        return expr
    return f"(({expr}) - INTERVAL {minutes} MINUTE)"


@functools.cache
def _fixed_offset(name: str) -> int | None:
    """The zone's offset from UTC in minutes if it did not change from 1970 to 2099, else None."""
    zone = ZoneInfo(name)
    offsets = {datetime(y, m, 1, 12, tzinfo=zone).utcoffset() for y in range(1970, 2100) for m in (1, 4, 7, 10)}
    if len(offsets) != 1:
        return None
    (offset,) = offsets
    return int(offset.total_seconds() // 60) if offset is not None else None


def normalize_tz(tz: str) -> str:
    """``UTC``, an offset ``+HH:MM`` or an IANA zone name; JST means Asia/Tokyo. Raises for anything else."""
    value = str(tz).strip()
    upper = value.upper()
    if upper in ("UTC", "Z", "GMT", "+00:00", "+0000", "ETC/UTC"):
        return "UTC"
    if upper == "JST":
        return "Asia/Tokyo"
    if m := _OFFSET.match(value):
        if int(m[2]) > 14 or int(m[3]) >= 60:
            raise InsiderError("insider.timezone.unknown", tz=value)
        return f"{m[1]}{int(m[2]):02d}:{m[3]}"
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_+\-/]{0,63}", value):
        raise InsiderError("insider.timezone.unknown", tz=value)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InsiderError("insider.timezone.unknown", tz=value) from exc
    return value


def _finish(checks: list[tuple[str, str, str]], key: str, ignored: str = "false", note: str = "NULL") -> str:
    """The last step: the key, the rejection code and the column at fault (first failing check wins)."""
    code = " ".join(f"WHEN {cond} THEN {sql_str(c)}" for cond, c, _ in checks)
    detail = " ".join(f"WHEN {cond} THEN {sql_str(d)}" for cond, _, d in checks)
    keep = "ts, \"user\", pc, kind, action, target, removable, bytes, attachments"
    return (f"{key} AS key, {keep}, CASE {code} END AS code, CASE {detail} END AS detail, "
            f"{ignored} AS ignored, {note}::VARCHAR AS note")


def _trim(expr: str) -> str:
    """NULL for empty, else without surrounding spaces (trim only when needed: it copies every string)."""
    return (f"nullif(CASE WHEN prefix({expr}, ' ') OR suffix({expr}, ' ') THEN trim({expr}) ELSE {expr} END, '')")


def _count_list(expr: str) -> str:
    """A number of attachments: the number itself, or the count of ``;``-separated names."""
    e = f"trim(coalesce({expr}, ''))"
    return (f"CASE WHEN {e} = '' THEN 0 WHEN regexp_full_match({e}, '[0-9]{{1,9}}') THEN CAST({e} AS INTEGER) "
            f"ELSE len(list_filter(string_split({e}, ';'), lambda x: trim(x) <> '')) END")


def _recipients(*exprs: str) -> str:
    joined = "concat_ws(';', " + ", ".join(exprs) + ")"
    return f"nullif(array_to_string(list_filter(list_transform(string_split({joined}, ';'), lambda x: trim(x)), " \
           f"lambda x: x <> ''), ';'), '')"


# --------------------------------------------------------------------------------------------------- CERT

@dataclass(frozen=True)
class CertLayout:
    kind: str
    release: str
    columns: tuple[str, ...]


CERT_LAYOUTS: tuple[CertLayout, ...] = (
    CertLayout("logon", "r4.2", ("id", "date", "user", "pc", "activity")),
    CertLayout("device", "r4.2", ("id", "date", "user", "pc", "activity")),
    CertLayout("device", "r6.2", ("id", "date", "user", "pc", "file_tree", "activity")),
    CertLayout("file", "r4.2", ("id", "date", "user", "pc", "filename", "content")),
    CertLayout("file", "r6.2", ("id", "date", "user", "pc", "filename", "activity", "to_removable_media",
                                "from_removable_media", "content")),
    CertLayout("email", "r4.2", ("id", "date", "user", "pc", "to", "cc", "bcc", "from", "size", "attachments",
                                 "content")),
    CertLayout("email", "r6.2", ("id", "date", "user", "pc", "to", "cc", "bcc", "from", "activity", "size",
                                 "attachments", "content")),
    CertLayout("http", "r4.2", ("id", "date", "user", "pc", "url", "content")),
    CertLayout("http", "r6.2", ("id", "date", "user", "pc", "url", "activity", "content")),
)

# activity value as the dataset spells it -> action, per kind (matched in any case and spacing too)
CERT_ACTIVITIES: dict[str, dict[str, str]] = {
    "logon": {"Logon": "logon", "Logoff": "logoff"},
    "device": {"Connect": "connect", "Disconnect": "disconnect"},
    "file": {"File Open": "file_open", "File Write": "file_write", "File Copy": "file_copy",
             "File Delete": "file_delete"},
    "email": {"Send": "email_send", "View": "email_view"},
    "http": {"WWW Visit": "http_visit", "WWW Upload": "http_upload", "WWW Download": "http_download"},
}

CERT_DATE_FORMAT = "%m/%d/%Y %H:%M:%S"
_CERT_ID = re.compile(r"^\{[^{}]*\}$")


def _norm(name: str) -> str:
    return name.strip().strip("\ufeff").strip().lower()


def _guess_ambiguous(layouts: list[CertLayout], rows: list[list[str]], name: str) -> CertLayout | None:
    """Tell apart layouts with the same columns (r4.2 logon and device; headerless files) by their values."""
    if len(layouts) == 1:
        return layouts[0]
    votes: dict[int, float] = {}
    for row in rows:
        for i, layout in enumerate(layouts):
            if len(row) != len(layout.columns):
                continue
            values = dict(zip(layout.columns, (v.strip().lower() for v in row), strict=True))
            activity = values.get("activity")
            if activity is not None and activity in {a.lower() for a in CERT_ACTIVITIES[layout.kind]}:
                votes[i] = votes.get(i, 0) + 2
            elif "url" in values and re.match(r"^[a-z][a-z0-9+.-]*://", values["url"]):
                votes[i] = votes.get(i, 0) + 1
            elif "filename" in values and layout.kind == "file" and "activity" not in values:
                votes[i] = votes.get(i, 0) + 0.5
    if votes:
        return layouts[max(votes, key=lambda i: votes[i])]
    stem = name.lower()
    for layout in layouts:
        if stem.startswith(layout.kind):
            return layout
    return layouts[0] if not rows else None  # no data rows: any layout (the file is refused as empty)


def detect_cert(header: list[str], sample: list[list[str]], name: str) -> tuple[CertLayout, bool] | None:
    """The CERT layout of a file from its first line (a header, or the first row of a headerless file) and a
    sample of rows; returns (layout, has_header) or None."""
    names = tuple(_norm(h) for h in header)
    matches = [layout for layout in CERT_LAYOUTS if layout.columns == names]
    if matches:
        layout = _guess_ambiguous(matches, sample, name)
        return (layout, True) if layout else None
    if header and _CERT_ID.match(header[0].strip().strip("\ufeff")):
        matches = [layout for layout in CERT_LAYOUTS if len(layout.columns) == len(header)]
        layout = _guess_ambiguous(matches, [header, *sample], name) if matches else None
        return (layout, False) if layout else None
    return None


def cert_plan(layout: CertLayout, has_header: bool, tz: str) -> Plan:
    c = {name: col(i) for i, name in enumerate(layout.columns)}
    kind = layout.kind
    ts = utc_sql(f"try_strptime(trim({c['date']}), {sql_str(CERT_DATE_FORMAT)})", tz)
    if "activity" in c:
        values = CERT_ACTIVITIES[kind].items()
        exact = " ".join(f"WHEN {sql_str(k)} THEN {sql_str(v)}" for k, v in values)
        cases = " ".join(f"WHEN {sql_str(k.lower())} THEN {sql_str(v)}" for k, v in values)
        # the spelling of the dataset first (cheap), then any case and spacing
        action = f"CASE {c['activity']} {exact} ELSE CASE lower(trim({c['activity']})) {cases} END END"
    else:
        action = sql_str({"file": "file_copy", "email": "email_send", "http": "http_visit"}[kind])
    removable = "false"
    target = c["pc"]
    bytes_, attachments, number_bad = "NULL::BIGINT", "NULL::INTEGER", "false"
    if kind == "file":
        target = c["filename"]
        removable = ("coalesce(lower(trim(" + c["to_removable_media"] + ")) IN ('true', '1', 'yes'), false)"
                     if "to_removable_media" in c else "true")
    elif kind == "email":
        target = _recipients(c["to"], c["cc"], c["bcc"])
        bytes_ = f"TRY_CAST(trim({c['size']}) AS BIGINT)"
        attachments = _count_list(c["attachments"])
        number_bad = f"(nullif(trim({c['size']}), '') IS NOT NULL AND {bytes_} IS NULL)"
    elif kind == "http":
        target = c["url"]
    first = (f"{_trim(c['id'])} AS id, {ts} AS ts, {_trim(c['user'])} AS \"user\", {_trim(c['pc'])} AS pc, "
             f"{sql_str(kind)} AS kind, {action} AS action, {_trim(target)} AS target, {removable} AS removable, "
             f"{bytes_} AS bytes, {attachments} AS attachments, {number_bad} AS number_bad")
    checks = [
        ("id IS NULL", "insider.row.id", "id"),
        ("ts IS NULL", "insider.row.date", "date"),
        ('"user" IS NULL', "insider.row.user", "user"),
        ("action IS NULL", "insider.row.activity", "activity"),
        ("number_bad", "insider.row.number", "size"),
    ]
    return Plan(format="cert", source="cert", kind=kind, reader="csv", columns=layout.columns,
                header=has_header, delimiter=",", steps=(first, _finish(checks, "'cert:' || id")),
                notes={"release": layout.release})


# --------------------------------------------------------------------------------------------------- M365

# Operation -> action. FileUploaded is a write to the organisation's own storage (SharePoint, OneDrive) and an
# upload (http_upload) from any other workload. Operations not listed are skipped by design (counted).
M365_OPERATIONS: dict[str, str] = {
    "UserLoggedIn": "logon",
    "UserLoginFailed": "logon",
    "FileAccessed": "file_open",
    "FileAccessedExtended": "file_open",
    "FilePreviewed": "file_open",
    "FileRead": "file_open",
    "FileModified": "file_write",
    "FileModifiedExtended": "file_write",
    "FileCreated": "file_write",
    "FileUploaded": "file_write",
    "FileSyncUploadedFull": "file_write",
    "FileCreatedOnRemovableMedia": "file_write",
    "FileDownloaded": "http_download",
    "FileSyncDownloadedFull": "http_download",
    "FileCopied": "file_copy",
    "FileCopiedToNetworkShare": "file_copy",
    "FileCopiedToRemovableMedia": "file_copy",
    "FileDeleted": "file_delete",
    "FileRecycled": "file_delete",
    "FileDeletedFirstStageRecycleBin": "file_delete",
    "FileDeletedSecondStageRecycleBin": "file_delete",
    "Send": "email_send",
    "SendAs": "email_send",
    "SendOnBehalf": "email_send",
    "FileUploadedToCloud": "http_upload",
}
M365_REMOVABLE = ("FileCopiedToRemovableMedia", "FileCreatedOnRemovableMedia")
M365_OWN_STORAGE = ("sharepoint", "onedrive")

_M365_PATHS = ("Id", "CreationTime", "UserId", "Operation", "Workload", "ObjectId", "SourceFileName", "SiteUrl",
               "ClientIP", "DeviceName", "TargetDomain", "TargetUrl", "FileSize", "FileSizeBytes",
               "Item.SizeInBytes", "Item.Attachments", "ClientIPAddress", "DestinationFileName")


def _m365_time(expr: str) -> str:
    """CreationTime / CreationDate as UTC: ISO 8601 (with or without Z, up to 7 decimals) or M/D/YYYY h:mm:ss AM."""
    e = f"trim({expr})"
    iso = f"TRY_CAST(regexp_replace({e}, '^(.*T[0-9:]+)(\\.[0-9]{{1,6}})?[0-9]*(Z)?$', '\\1\\2') AS TIMESTAMP)"
    return (f"coalesce({iso}, try_strptime({e}, ['%m/%d/%Y %I:%M:%S %p', '%m/%d/%Y %H:%M:%S', "
            f"'%Y-%m-%d %H:%M:%S', '%Y/%m/%d %H:%M:%S']))")


def m365_plan(header: list[str]) -> Plan:
    names = [_norm(h) for h in header]

    def find(*candidates: str) -> str:
        for cand in candidates:
            if cand in names:
                return col(names.index(cand))
        return "NULL::VARCHAR"

    if "auditdata" not in names:
        raise InsiderError("insider.file.m365_header", name="", columns=", ".join(header))
    audit = find("auditdata")
    paths = ", ".join(sql_str("$." + p) for p in _M365_PATHS)
    first = (f"json_valid({audit}) AS ok, CASE WHEN json_valid({audit}) THEN json_extract_string({audit}, "
             f"[{paths}]) END AS v, CASE WHEN json_valid({audit}) THEN {audit} END AS j, "
             f"{find('creationdate', 'creationtime')} AS created, {find('userids', 'userid')} AS user_col, "
             f"{find('operations', 'operation')} AS op_col, {find('recordid')} AS record_id")
    v = {p: f"v[{i + 1}]" for i, p in enumerate(_M365_PATHS)}
    op = f"coalesce({_trim(v['Operation'])}, {_trim('op_col')})"
    ops = " ".join(f"WHEN {sql_str(k.lower())} THEN {sql_str(a)}" for k, a in M365_OPERATIONS.items())
    action = (f"CASE WHEN lower({op}) = 'fileuploaded' AND lower(coalesce({v['Workload']}, '')) NOT IN "
              f"({', '.join(sql_str(w) for w in M365_OWN_STORAGE)}) THEN 'http_upload' "
              f"ELSE CASE lower({op}) {ops} END END")

    def arr(path: str) -> str:
        return (f"coalesce(array_to_string(TRY_CAST(json_extract(j, {sql_str(path)}) AS VARCHAR[]), ';'), "
                f"json_extract_string(j, {sql_str(path)}))")

    recipients = _recipients(arr("$.ExchangeMetaData.To"), arr("$.ExchangeMetaData.CC"),
                             arr("$.ExchangeMetaData.BCC"), arr("$.Recipients"))
    pc = f"coalesce({_trim(v['DeviceName'])}, {_trim(v['ClientIP'])}, {_trim(v['ClientIPAddress'])})"
    file_target = (f"coalesce({_trim(v['ObjectId'])}, {_trim(v['SiteUrl'])} || coalesce({v['SourceFileName']}, ''),"
                   f" {_trim(v['SourceFileName'])})")
    second = (f"ok, record_id, {_trim(v['Id'])} AS id, coalesce({_m365_time(v['CreationTime'])}, "
              f"{_m365_time('created')}) AS ts, coalesce({_trim(v['UserId'])}, {_trim('user_col')}) AS \"user\", "
              f"{pc} AS pc, {action} AS action, {op} AS operation, j, v")
    kind_cases = " ".join(f"WHEN {sql_str(a)} THEN {sql_str(k)}" for a, k in ACTION_KIND.items())
    removable = f"lower(coalesce(operation, '')) IN ({', '.join(sql_str(o.lower()) for o in M365_REMOVABLE)})"
    target = (f"CASE WHEN action IN ('logon', 'logoff') THEN pc WHEN action = 'email_send' THEN {recipients} "
              f"WHEN action = 'http_upload' THEN coalesce({_trim(v['TargetUrl'])}, {_trim(v['TargetDomain'])}, "
              f"{file_target}) ELSE {file_target} END")
    size = (f"coalesce(TRY_CAST({v['FileSizeBytes']} AS BIGINT), TRY_CAST({v['FileSize']} AS BIGINT), "
            f"TRY_CAST({v['Item.SizeInBytes']} AS BIGINT))")
    third = (f"ok, id, record_id, ts, \"user\", pc, CASE action {kind_cases} END AS kind, action, {target} AS target,"
             f" {removable} AS removable, {size} AS bytes, CASE WHEN action = 'email_send' THEN "
             f"{_count_list(v['Item.Attachments'])} END AS attachments, operation")
    checks = [
        ("NOT coalesce(ok, false)", "insider.row.json", "AuditData"),
        ("ts IS NULL", "insider.row.date", "CreationTime"),
        ('"user" IS NULL AND action IS NOT NULL', "insider.row.user", "UserId"),
        ("operation IS NULL", "insider.row.activity", "Operation"),
    ]
    key = ("'m365:' || coalesce(id, record_id, 'h:' || md5(concat_ws('|', ts, \"user\", pc, action, target, "
           "bytes)))")
    return Plan(format="m365", source="m365", kind=None, reader="csv", columns=tuple(header), header=True,
                delimiter=",", steps=(first, second, third, _finish(checks, key, "action IS NULL", "operation")),
                max_line_size=16 * 2**20)


# ------------------------------------------------------------------------------------------------ mapping

MAPPED_FIELDS = ("ts", "user", "pc", "target", "bytes", "id", "removable", "attachments")


@dataclass(frozen=True)
class ValueMap:
    """A constant (``column`` is None) or a column whose values map to constants."""

    constant: str | None = None
    column: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    default: str | None = None
    ignore: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mapping:
    """A generic log format, read from a YAML file (see docs/insider_mapping.md)."""

    name: str
    path: str
    format: str = "csv"
    delimiter: str = ","
    encoding: str = "auto"
    columns: dict[str, str] = field(default_factory=dict)
    ts_format: str = "iso"
    timezone: str | None = None
    kind: ValueMap | None = None
    action: ValueMap = field(default_factory=ValueMap)
    removable_values: tuple[str, ...] = ("true", "1", "yes", "y")


def _bad(path: Path, reason: str) -> InsiderError:
    return InsiderError("insider.mapping.invalid", mapping=path.name, reason=reason)


def _value_map(path: Path, what: str, raw: Any, allowed: tuple[str, ...]) -> ValueMap:
    if isinstance(raw, str):
        if raw not in allowed:
            raise _bad(path, f"{what}: {raw} is not one of {', '.join(allowed)}")
        return ValueMap(constant=raw)
    if not isinstance(raw, dict) or not isinstance(raw.get("column"), str) or not isinstance(raw.get("values"), dict):
        raise _bad(path, f"{what} must be a constant or {{column: NAME, values: {{VALUE: {what.upper()}}}}}")
    values = {str(k).strip().lower(): str(v) for k, v in raw["values"].items()}
    default = raw.get("default")
    for v in [*values.values(), *([default] if default is not None else [])]:
        if v not in allowed:
            raise _bad(path, f"{what}: {v} is not one of {', '.join(allowed)}")
    ignore = raw.get("ignore") or []
    if not isinstance(ignore, list):
        raise _bad(path, f"{what}.ignore must be a list of values")
    extra = set(raw) - {"column", "values", "default", "ignore"}
    if extra:
        raise _bad(path, f"unknown keys in {what}: {', '.join(sorted(map(str, extra)))}")
    return ValueMap(column=raw["column"], values=values, default=default,
                    ignore=tuple(str(x).strip().lower() for x in ignore))


def load_mapping(path: str | Path) -> Mapping:
    """Read and check a mapping YAML file; raises InsiderError (insider.mapping.invalid) with the reason."""
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InsiderError("insider.file.missing", path=str(p)) from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise _bad(p, f"not valid YAML ({exc.__class__.__name__})") from exc
    if not isinstance(raw, dict):
        raise _bad(p, "the file must hold a YAML mapping of settings")
    known = {"name", "format", "delimiter", "encoding", "columns", "ts_format", "timezone", "kind", "action",
             "removable_values"}
    if extra := set(raw) - known:
        raise _bad(p, f"unknown keys: {', '.join(sorted(map(str, extra)))}")
    name = str(raw.get("name") or p.stem)
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", name) or name.lower() in ("cert", "m365"):
        raise _bad(p, f"name {name} must be 1-40 letters, digits, _ . - (and not cert or m365)")
    fmt = str(raw.get("format", "csv")).lower()
    if fmt not in ("csv", "jsonl"):
        raise _bad(p, "format must be csv or jsonl")
    delimiter = str(raw.get("delimiter", ","))
    if delimiter in ("\\t", "tab"):
        delimiter = "\t"
    if len(delimiter) != 1 or delimiter in "\"\r\n":
        raise _bad(p, "delimiter must be one character (not a quote or a newline)")
    encoding = str(raw.get("encoding", "auto")).lower().replace("_", "-")
    encoding = {"shift-jis": "cp932", "sjis": "cp932", "utf8": "utf-8"}.get(encoding, encoding)
    if encoding not in ("auto", "utf-8", "cp932") or (fmt == "jsonl" and encoding == "cp932"):
        raise _bad(p, "encoding must be auto, utf-8 or cp932 (JSON lines: utf-8)")
    columns = raw.get("columns")
    if not isinstance(columns, dict) or not all(isinstance(v, str) and v for v in columns.values()):
        raise _bad(p, "columns must map fields (ts, user, ...) to column names")
    if extra := set(columns) - set(MAPPED_FIELDS):
        raise _bad(p, f"unknown fields in columns: {', '.join(sorted(map(str, extra)))}")
    if missing := {"ts", "user"} - set(columns):
        raise _bad(p, f"columns must name {' and '.join(sorted(missing))}")
    tz = raw.get("timezone")
    if tz is not None:
        normalize_tz(str(tz))
    ts_format = str(raw.get("ts_format", "iso"))
    if ts_format not in ("iso", "epoch", "epoch_ms") and "%" not in ts_format:
        raise _bad(p, "ts_format must be iso, epoch, epoch_ms or a strptime format such as %Y-%m-%d %H:%M:%S")
    if "action" not in raw:
        raise _bad(p, "action is required (a constant or a column's values)")
    action = _value_map(p, "action", raw["action"], ACTIONS)
    kind = _value_map(p, "kind", raw["kind"], KINDS) if "kind" in raw else None
    if kind and kind.constant and action.constant and ACTION_KIND[action.constant] != kind.constant:
        raise _bad(p, f"action {action.constant} is not of kind {kind.constant}")
    removable_values = tuple(str(v).strip().lower() for v in raw.get("removable_values") or ("true", "1", "yes", "y"))
    return Mapping(name=name, path=str(p), format=fmt, delimiter=delimiter, encoding=encoding,
                   columns={str(k): str(v) for k, v in columns.items()}, ts_format=ts_format,
                   timezone=str(tz) if tz is not None else None, kind=kind, action=action,
                   removable_values=removable_values)


def _mapped_value(vm: ValueMap, ref: Any) -> tuple[str, str]:
    """SQL of (value, ignored) for a constant or a mapped column."""
    if vm.constant is not None:
        return sql_str(vm.constant), "false"
    raw = f"lower(trim({ref(vm.column)}))"
    cases = " ".join(f"WHEN {sql_str(k)} THEN {sql_str(v)}" for k, v in vm.values.items())
    default = sql_str(vm.default) if vm.default is not None else "NULL"
    ignored = f"coalesce({raw} IN ({', '.join(sql_str(i) for i in vm.ignore)}), false)" if vm.ignore else "false"
    return f"CASE {raw} {cases} ELSE {default} END", ignored


def _mapped_ts(value: str, fmt: str, tz: str) -> str:
    v = f"trim({value})"
    if fmt == "epoch":
        return f"CAST(to_timestamp(TRY_CAST({v} AS DOUBLE)) AT TIME ZONE 'UTC' AS TIMESTAMP)"
    if fmt == "epoch_ms":
        return f"CAST(to_timestamp(TRY_CAST({v} AS DOUBLE) / 1000) AT TIME ZONE 'UTC' AS TIMESTAMP)"
    if fmt == "iso":
        explicit = f"regexp_matches({v}, '(Z|[+-][0-9]{{2}}:?[0-9]{{2}})$')"
        return (f"CASE WHEN {explicit} THEN timezone('UTC', TRY_CAST({v} AS TIMESTAMPTZ)) "
                f"ELSE {utc_sql(f'TRY_CAST({v} AS TIMESTAMP)', tz)} END")
    if "%z" in fmt or "%Z" in fmt:
        return f"timezone('UTC', try_strptime({v}, {sql_str(fmt)}))"
    return utc_sql(f"try_strptime({v}, {sql_str(fmt)})", tz)


def mapping_plan(mapping: Mapping, header: list[str], tz: str, name: str) -> Plan:
    """The plan of a file described by ``mapping``; ``header`` is the CSV header (ignored for JSON lines)."""
    needed = [mapping.columns[f] for f in MAPPED_FIELDS if f in mapping.columns]
    for vm in (mapping.kind, mapping.action):
        if vm is not None and vm.column:
            needed.append(vm.column)
    if mapping.format == "csv":
        names = [h.strip().strip("\ufeff").strip() for h in header]
        if missing := [n for n in dict.fromkeys(needed) if n not in names]:
            raise InsiderError("insider.file.mapping_columns", name=name, columns=", ".join(missing),
                               mapping=Path(mapping.path).name)

        def ref(column: str) -> str:
            return col(names.index(column))
        pre: tuple[str, ...] = ()
        columns = tuple(header)
        reader = "csv"
    else:
        unique = list(dict.fromkeys(needed))
        paths = ", ".join(sql_str(n if n.startswith("$") else "$." + '"' + n.replace('"', '\\"') + '"')
                          for n in unique)
        pre = (f"json_valid(\"c1\") AS ok, CASE WHEN json_valid(\"c1\") THEN json_extract_string(\"c1\", [{paths}])"
               f" END AS v",)

        def ref(column: str) -> str:
            return f"v[{unique.index(column) + 1}]"
        columns = ("line",)
        reader = "lines"
    ok = "ok" if pre else "true"
    cols = mapping.columns
    zone = mapping.timezone or tz
    action, ignored_a = _mapped_value(mapping.action, ref)
    kind_cases = " ".join(f"WHEN {sql_str(a)} THEN {sql_str(k)}" for a, k in ACTION_KIND.items())
    if mapping.kind is not None:
        kind, ignored_k = _mapped_value(mapping.kind, ref)
    else:
        kind, ignored_k = "NULL", "false"

    columns_named = [vm.column for vm in (mapping.action, mapping.kind) if vm is not None and vm.column]
    note = f"lower(trim({ref(columns_named[0])}))" if columns_named else "NULL::VARCHAR"

    def opt(f: str) -> str:
        return _trim(ref(cols[f])) if f in cols else "NULL::VARCHAR"
    bytes_raw = opt("bytes")
    att_raw = opt("attachments")
    removable = (f"coalesce(lower({opt('removable')}) IN ({', '.join(sql_str(v) for v in mapping.removable_values)}),"
                 f" false)")
    first = (f"{ok} AS ok, {opt('id')} AS id, {_mapped_ts(ref(cols['ts']), mapping.ts_format, zone)} AS ts, "
             f"{opt('user')} AS \"user\", {opt('pc')} AS pc, {action} AS action, {kind} AS kind_given, "
             f"{opt('target')} AS target, {removable} AS removable, TRY_CAST({bytes_raw} AS BIGINT) AS bytes, "
             f"({bytes_raw} IS NOT NULL AND TRY_CAST({bytes_raw} AS BIGINT) IS NULL) AS bytes_bad, "
             f"TRY_CAST({att_raw} AS INTEGER) AS attachments, "
             f"({att_raw} IS NOT NULL AND TRY_CAST({att_raw} AS INTEGER) IS NULL) AS att_bad, "
             f"({ignored_a} OR {ignored_k}) AS ignored, {note} AS ignored_value")
    second = (f"ok, id, ts, \"user\", pc, action, CASE action {kind_cases} END AS kind, kind_given, target, "
              f"removable, bytes, bytes_bad, attachments, att_bad, ignored, ignored_value")
    checks = [
        ("NOT coalesce(ok, false)", "insider.row.json", "line"),
        ("ignored", "", ""),
        ("ts IS NULL", "insider.row.date", cols["ts"]),
        ('"user" IS NULL', "insider.row.user", cols["user"]),
        ("action IS NULL", "insider.row.activity", mapping.action.column or "action"),
        ("kind_given IS NOT NULL AND kind_given <> kind", "insider.row.activity",
         (mapping.kind.column if mapping.kind else None) or "kind"),
        ("bytes_bad", "insider.row.number", cols.get("bytes", "bytes")),
        ("att_bad", "insider.row.number", cols.get("attachments", "attachments")),
    ]
    code_checks = [c for c in checks if c[1]]
    # an ignored row is not rejected (its other columns are not checked)
    code_checks = [(f"NOT ignored AND {cond}", c, d) if c != "insider.row.json" else (cond, c, d)
                   for cond, c, d in code_checks]
    src = mapping.name
    key = (f"{sql_str(src + ':')} || coalesce(id, 'h:' || md5(concat_ws('|', ts, \"user\", pc, action, target, "
           f"bytes, removable, attachments)))")
    steps = (*pre, first, second, _finish(code_checks, key, "ignored AND coalesce(ok, false)", "ignored_value"))
    return Plan(format=mapping.name, source=src, kind=None, reader=reader, columns=columns, header=reader == "csv",
                delimiter=mapping.delimiter, steps=steps,
                encodings=("utf-8",) if mapping.format == "jsonl" or mapping.encoding == "utf-8" else
                ("cp932",) if mapping.encoding == "cp932" else ("utf-8", "cp932"),
                max_line_size=16 * 2**20)


def parse_header(text: str, delimiter: str = ",", rows: int = 200) -> tuple[list[str], list[list[str]]]:
    """The first row of a decoded text and up to ``rows`` following rows (for telling layouts apart)."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    out: list[list[str]] = []
    try:
        for row in reader:
            if row:
                out.append(row)
            if len(out) > rows:
                break
    except csv.Error:
        pass
    if not out:
        return [], []
    first = out[0]
    if first:
        first[0] = first[0].lstrip("\ufeff")
    return first, out[1:-1] if len(out) > rows else out[1:]
