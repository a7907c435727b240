"""Form fields shared by the web forms, the API and the import."""

from __future__ import annotations

import re
from datetime import date

from django import forms
from django.utils.translation import gettext_lazy as _

from himitsu import jpdate
from himitsu.web.register.models import LocationKind

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_LOCATIONS = 50

_KIND_NAMES = {
    "path": LocationKind.PATH, "パス": LocationKind.PATH, "ファイルサーバ": LocationKind.PATH,
    "フォルダ": LocationKind.PATH, "url": LocationKind.URL, "cloud": LocationKind.CLOUD,
    "クラウド": LocationKind.CLOUD, "cabinet": LocationKind.CABINET, "キャビネット": LocationKind.CABINET,
    "書庫": LocationKind.CABINET, "other": LocationKind.OTHER, "その他": LocationKind.OTHER,
}
_CLOUD_PREFIXES = ("s3://", "gs://", "az://", "box://", "onedrive:", "sharepoint:", "gdrive:")


class JapaneseDateField(forms.DateField):
    """Accepts 2025-04-01, 2025/4/1, 2025年4月1日, 令和7年4月1日, R7.4.1 (full-width digits too)."""

    default_error_messages = {
        "invalid": _("Enter a date such as 2025-04-01, 2025/4/1 or 令和7年4月1日."),
    }

    def to_python(self, value: object) -> date | None:
        if value in self.empty_values:
            return None
        if isinstance(value, date):
            return value
        try:
            return jpdate.parse(str(value))
        except jpdate.DateFormatError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


def clean_text(value: str) -> str:
    """Reject control characters; HTML stays as text and is escaped wherever it is shown."""
    if _CONTROL.search(value):
        raise forms.ValidationError(_("Control characters are not allowed."), code="control_chars")
    return value.strip()


def guess_kind(location: str) -> str:
    lowered = location.lower()
    if lowered.startswith(("http://", "https://")):
        return LocationKind.URL
    if lowered.startswith(_CLOUD_PREFIXES):
        return LocationKind.CLOUD
    if location.startswith(("\\\\", "/", "smb://", "~")) or re.match(r"^[A-Za-z]:[\\/]", location):
        return LocationKind.PATH
    return LocationKind.OTHER


def parse_locations(text: str) -> list[tuple[str, str]]:
    """One location a line, optionally prefixed by its kind: ``クラウド: https://…``."""
    result: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        kind = None
        head, sep, rest = line.partition(":")
        if sep and head.strip().lower() in _KIND_NAMES and not rest.startswith("//"):
            kind, line = _KIND_NAMES[head.strip().lower()], rest.strip()
        if not line:
            continue
        if len(line) > 500:
            raise forms.ValidationError(_("A storage location is longer than 500 characters."), code="too_long")
        result.append((kind or guess_kind(line), line))
    if len(result) > MAX_LOCATIONS:
        raise forms.ValidationError(
            _("At most %(limit)d storage locations."), code="too_many", params={"limit": MAX_LOCATIONS}
        )
    return result


KIND_PREFIX = {
    LocationKind.PATH: "パス", LocationKind.URL: "URL", LocationKind.CLOUD: "クラウド",
    LocationKind.CABINET: "キャビネット", LocationKind.OTHER: "その他",
}


def format_locations(pairs: list[tuple[str, str]]) -> str:
    """The text form read back by ``parse_locations`` (used in forms and exports)."""
    return "\n".join(f"{KIND_PREFIX[LocationKind(kind)]}: {loc}" for kind, loc in pairs)
