"""Errors of the insider-risk store and its ingest, with stable codes and English message templates.

``insider.file.*`` / ``insider.format.*`` / ``insider.mapping.*`` / ``insider.store.*``: a whole file (or the
store) cannot be used; :class:`InsiderError` is raised and nothing is added. ``insider.row.*``: one row of a file
cannot be read; it is recorded in the ``rejected`` table (line number and the column at fault, never the row's
content), counted in the report, and the rest of the file is ingested.
"""

from __future__ import annotations

from himitsu.errors import MESSAGES, InputError, gettext_noop

__all__ = ["ROW_MESSAGES", "InsiderError", "row_message"]

FILE_MESSAGES: dict[str, str] = {
    "insider.file.missing": gettext_noop("File {path} does not exist or cannot be read."),
    "insider.file.empty": gettext_noop("{name} is empty: there is nothing to ingest."),
    "insider.file.no_rows": gettext_noop("{name} has a header but no data rows: there is nothing to ingest."),
    "insider.file.too_large": gettext_noop("{name} is {size} bytes; the limit is {limit} bytes."),
    "insider.file.binary": gettext_noop("{name} is not a text file: it contains binary data."),
    "insider.file.encoding": gettext_noop("{name} is not {encodings} text (first bad byte at offset {offset})."),
    "insider.file.cert_header": gettext_noop(
        "{name}: the header is not one of the CERT logon, device, file, email or http layouts (r4.2 or r6.2). "
        "Columns found: {columns}"),
    "insider.file.m365_header": gettext_noop(
        "{name}: this is not a Microsoft 365 audit log export (it needs an AuditData column). Columns found: "
        "{columns}"),
    "insider.file.mapping_columns": gettext_noop(
        "{name}: the columns {columns} named in the mapping {mapping} are not in the file's header."),
    "insider.file.all_rejected": gettext_noop(
        "None of the {rows} rows of {name} could be read (first problem: {problem} at line {line}); nothing was "
        "ingested. Is it the right format, time format and time zone?"),
    "insider.file.unreadable": gettext_noop("{name} cannot be read: {reason}"),
    "insider.format.unknown": gettext_noop(
        "Unknown format {format}: use cert, m365 or the path of a mapping file (.yml)."),
    "insider.mapping.invalid": gettext_noop("The mapping {mapping} cannot be used: {reason}"),
    "insider.timezone.unknown": gettext_noop(
        "Unknown time zone {tz}: use UTC, JST, a zone name such as Asia/Tokyo or an offset such as +09:00."),
    "insider.store.unavailable": gettext_noop("The insider store {path} cannot be opened: {reason}"),
}

ROW_MESSAGES: dict[str, str] = {
    "insider.row.columns": gettext_noop("Line {line}: wrong number of columns."),
    "insider.row.quoting": gettext_noop("Line {line}: badly quoted field ({column})."),
    "insider.row.too_long": gettext_noop("Line {line}: the line is too long."),
    "insider.row.id": gettext_noop("Line {line}: the id ({column}) is empty."),
    "insider.row.date": gettext_noop("Line {line}: the date in {column} cannot be read."),
    "insider.row.user": gettext_noop("Line {line}: the user ({column}) is empty."),
    "insider.row.activity": gettext_noop("Line {line}: unknown value in {column}."),
    "insider.row.number": gettext_noop("Line {line}: {column} is not a whole number."),
    "insider.row.json": gettext_noop("Line {line}: {column} is not valid JSON."),
    "insider.row.unreadable": gettext_noop("Line {line}: the row cannot be read ({column})."),
}

MESSAGES.update(FILE_MESSAGES)
MESSAGES.update(ROW_MESSAGES)


class InsiderError(InputError):
    """A file (or the store) cannot be used at all; nothing was added. ``code`` is one of ``insider.*``."""


def row_message(code: str, line: int, column: str | None) -> str:
    """The English text of a rejected row (the CLI and web translate the template themselves)."""
    template = ROW_MESSAGES.get(code, code)
    try:
        return template.format(line=line, column=column or "-")
    except (KeyError, IndexError):
        return template
