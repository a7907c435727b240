"""Parse dates as Japanese organisations write them: ISO, slashes, 年月日 and era names (令和…)."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

# (names, first day of the era)
ERAS: tuple[tuple[tuple[str, ...], date], ...] = (
    (("令和", "R"), date(2019, 5, 1)),
    (("平成", "H"), date(1989, 1, 8)),
    (("昭和", "S"), date(1926, 12, 25)),
)

_WESTERN = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_ERA = re.compile(r"^(令和|平成|昭和|[RHS])\s*(元|\d{1,2})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$", re.I)


class DateFormatError(ValueError):
    """The text is not a date in any accepted form, or names a day that does not exist."""


def parse(text: str) -> date:
    value = unicodedata.normalize("NFKC", text).strip()
    for pattern in (_WESTERN, _COMPACT):
        m = pattern.match(value)
        if m:
            return _make(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    m = _ERA.match(value)
    if m:
        return _from_era(m.group(1).upper() if len(m.group(1)) == 1 else m.group(1), m.group(2),
                         int(m.group(3)), int(m.group(4)))
    raise DateFormatError(text)


def _make(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise DateFormatError(f"{year}-{month}-{day}") from exc


def _from_era(era: str, year_text: str, month: int, day: int) -> date:
    era_year = 1 if year_text == "元" else int(year_text)
    for index, (names, start) in enumerate(ERAS):
        if era in names:
            result = _make(start.year + era_year - 1, month, day)
            end = ERAS[index - 1][1] if index > 0 else None
            if era_year < 1 or result < start or (end is not None and result >= end):
                raise DateFormatError(f"{era}{year_text}年{month}月{day}日")
            return result
    raise DateFormatError(era)
