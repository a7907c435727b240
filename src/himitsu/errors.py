"""Typed errors with stable codes; messages are translated at the edge (web, API, CLI).

Pure module: no Django import. Each code maps to an English message template; the web and
CLI pass it through gettext so that the user sees it in Japanese or English.
"""

from __future__ import annotations

from typing import Any


def gettext_noop(message: str) -> str:
    """Marks a msgid for the translation catalogue without importing Django."""
    return message


# Stable code -> English message template (msgid). Translations live in the locale catalogue.
MESSAGES: dict[str, str] = {
    "config.home_unwritable": gettext_noop("HIMITSU_HOME {path} cannot be created or written: {reason}"),
    "config.key_unreadable": gettext_noop("Key file {path} cannot be read: {reason}"),
    "config.database_url_invalid": gettext_noop("HIMITSU_DATABASE_URL is not a valid database URL: {url}"),
    "database.unavailable": gettext_noop("The database cannot be reached: {reason}"),
    "user.exists": gettext_noop("A user named {username} already exists."),
    "user.not_found": gettext_noop("No user named {username}."),
    "user.password_missing": gettext_noop("No password given: set HIMITSU_PASSWORD or type it when asked."),
    "user.password_weak": gettext_noop("The password is not acceptable: {reason}"),
    "user.invalid": gettext_noop("The user cannot be created: {reason}"),
    "department.not_found": gettext_noop("No department with the code {code}."),
    "io.file_missing": gettext_noop("File {path} does not exist or cannot be read."),
    "io.too_large": gettext_noop("The file is {size} bytes; the limit is {limit} bytes."),
    "io.unzipped_too_large": gettext_noop(
        "The workbook unpacks to {size} bytes; the limit is {limit} bytes (a compressed-file bomb?)."),
    "io.sheet_too_large": gettext_noop("The sheet's used area spans {cells} cells; the limit is {limit}."),
    "io.binary_to_terminal": gettext_noop("An .xlsx file cannot be written to a terminal: use --output FILE."),
    "io.too_many_rows": gettext_noop("The file has more than {limit} data rows."),
    "io.unknown_format": gettext_noop("Unsupported file format: use .xlsx or .csv."),
    "io.corrupt": gettext_noop("The file cannot be read as {format}: it is damaged or not of that format."),
    "io.encoding": gettext_noop("The CSV file is neither UTF-8 nor Shift_JIS (CP932)."),
    "io.empty": gettext_noop("The file has no header row."),
    "io.sheet_missing": gettext_noop("No sheet with the register's columns was found (expected sheet: {sheet})."),
    "io.columns_missing": gettext_noop("Required columns are missing: {columns}"),
    "io.columns_unknown": gettext_noop("Unknown columns: {columns}"),
    "io.columns_duplicate": gettext_noop("Columns appear more than once: {columns}"),
    "io.invalid_rows": gettext_noop("{count} errors were found; nothing was imported."),
    "secret.level_unknown": gettext_noop("Unknown classification level {level}: use 極秘, 秘 or 社外秘."),
    "secret.invalid": gettext_noop("The register entry cannot be created: {reason}"),
    "secret.not_found": gettext_noop("No register entry with the id {id}."),
    "secret.no_text": gettext_noop("No text could be read from {path}; nothing was registered."),
    "document.not_found": gettext_noop("No registered document with the id {id}."),
    "access.denied": gettext_noop("You do not have permission for this action."),
    "internal.error": gettext_noop("Unexpected error ({kind}): {reason}. Set HIMITSU_DEBUG=1 for details."),
    "audit.broken": gettext_noop("The audit trail failed verification."),
    "index.unusable": gettext_noop(
        "The fingerprint index in {path} cannot be used ({reason}). It was built by another version of "
        "Himitsu or with another key: move the folder away and register the documents again."),
}


class HimitsuError(Exception):
    """Base of every error Himitsu reports to a user. ``code`` is stable; ``params`` fill the text."""

    exit_code = 2

    def __init__(self, code: str, **params: Any) -> None:
        self.code = code
        self.params = params
        super().__init__(self.english())

    @property
    def template(self) -> str:
        return MESSAGES.get(self.code, self.code)

    def english(self) -> str:
        return self.render(self.template)

    def render(self, template: str) -> str:
        try:
            return template.format(**self.params)
        except (KeyError, IndexError):
            return template


class ConfigError(HimitsuError):
    """A setting is missing or wrong; raised before any work starts."""


class InputError(HimitsuError):
    """The user's input (file, argument, form) is not acceptable."""


class PermissionDeniedError(HimitsuError):
    """The acting user may not do this (need-to-know)."""

    def __init__(self, code: str = "access.denied", **params: Any) -> None:
        super().__init__(code, **params)
