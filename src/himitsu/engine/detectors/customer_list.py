"""Customer lists: tabular personal data, many rows each holding a person's name together with a phone
number, an e-mail address or a postal address.

The validated matches of the jp-phone, email-address and jp-address detectors are collected first
(taken from the per-inspection cache when the engine ran those detectors already, see
``himitsu.engine.prefilter``); only lines holding one of them are looked at. Such a line is a row
when it splits into cells (tab, comma, "|", or runs of spaces: CSV/TSV and spreadsheet text) and one
cell looks like a person's name (山田 太郎, ヤマダ タロウ, 山田様, Taro Yamada). Rows that follow each
other (at most ``max_gap`` other lines between two rows) form a table; a table of at least
``min_rows`` rows (default 5) is one finding spanning it, with ``rows`` and the ``kinds`` of data.

Score: 0.5 at five rows, +0.15 each time the row count doubles, up to 0.95; +0.05 when a header line
(氏名, 名前, 電話, メール, 住所, Name, Email, ...) precedes the table. The snippet names the shape of
the table, never a cell: ``[12 rows: name, phone, e-mail]``.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterator
from typing import Any, ClassVar

from himitsu.engine import prefilter
from himitsu.engine.detectors.base import Detector
from himitsu.engine.detectors.email_address import EmailAddressDetector
from himitsu.engine.detectors.jp_address import JpAddressDetector
from himitsu.engine.detectors.jp_phone import JpPhoneDetector
from himitsu.engine.model import Finding, TextPart
from himitsu.errors import gettext_noop

_KANA_KANJI = "\u3005\u3040-\u309f\u30a0-\u30ff\u4e00-\u9fff"
_JP_NAME = re.compile(f"[{_KANA_KANJI}]{{1,6}}[ \u3000]?[{_KANA_KANJI}]{{1,6}}")
_LATIN_NAME = re.compile(r"[A-Z][a-z]+(?:[ .'-]{1,2}[A-Z][a-z]+){1,2}|[A-Z]{2,}[ ,]{1,2}[A-Z][a-z]+")
_HONORIFICS = ("様", "さん", "殿", "氏", "さま")
#: endings of cells that are places, organisations or roles, not people
_NOT_A_NAME = ("都", "道", "府", "県", "市", "区", "町", "村", "郡", "部", "課", "係", "社", "店", "所", "室", "局",
               "会", "院", "校", "課長", "部長", "番号", "住所", "電話", "氏名", "名前", "様式")
_HEADER = re.compile("氏名|名前|お名前|顧客名|会員名|担当者|フリガナ|ふりがな|電話|TEL|携帯|メール|住所|所在地|"
                     "name|e-?mail|phone|address", re.IGNORECASE)
_CELL_SPLIT = {"\t": re.compile("\t"), ",": re.compile("[,，]"), "|": re.compile("[|｜]"),
               " ": re.compile("[ ]{2,}|\u3000+")}
_NEWLINE = re.compile("\n")
_KIND_NAMES = {"phone": "phone", "email": "e-mail", "address": "address"}


def is_name(cell: str) -> bool:
    cell = cell.strip().strip("\"'")
    if cell.endswith(_HONORIFICS):
        for suffix in _HONORIFICS:
            if cell.endswith(suffix) and len(cell) > len(suffix) + 1:
                cell = cell[: -len(suffix)].rstrip()
                break
    if _JP_NAME.fullmatch(cell):
        return not cell.endswith(_NOT_A_NAME) and "株式会社" not in cell
    return _LATIN_NAME.fullmatch(cell) is not None


def cells(line: str) -> list[str]:
    for sep, wide in _SEPARATORS:
        has_sep = sep in line
        has_wide = wide is not None and wide in line
        if has_sep or has_wide:
            # str.split when only the one-character separator occurs: what the regex split gives, faster
            pieces = line.split(sep) if sep != " " and not has_wide else _CELL_SPLIT[sep].split(line)
            parts = [c for c in map(str.strip, pieces) if c]
            if len(parts) >= 2:
                return parts
    return []


#: each separator of cells with its full-width form (tab has none; a run of ideographic spaces for spaces)
_SEPARATORS = (("\t", None), (",", "，"), ("|", "｜"), (" ", "\u3000"))


class CustomerListDetector(Detector):
    id: ClassVar[str] = "customer-list"
    translated_params: ClassVar[tuple[str, ...]] = ("data",)
    reasons: ClassVar[dict[str, str]] = {
        "customer_list.table": gettext_noop("Table of {rows} rows, each with a person's name and {data}: personal data of "
                               "customers or staff"),
    }
    score_min: ClassVar[float] = 0.5
    score_per_doubling: ClassVar[float] = 0.15
    score_max: ClassVar[float] = 0.95
    header_bonus: ClassVar[float] = 0.05

    def __init__(self, min_rows: int = 5, max_gap: int = 1) -> None:
        self.min_rows = min_rows
        self.max_gap = max_gap
        self._sources = (("phone", JpPhoneDetector()), ("email", EmailAddressDetector()),
                         ("address", JpAddressDetector()))

    def detect(self, part: TextPart, context: Any = None) -> Iterator[Finding]:
        lines = self._lines_with_data(part, context)
        if len(lines) < self.min_rows:
            return
        text = part.text
        rows = [(start, end, kinds) for start, (end, kinds) in sorted(lines.items())
                if is_name_row(text[start:end])]
        for table in self._tables(text, rows):
            yield self._finding(part, table)

    def _lines_with_data(self, part: TextPart, context: Any = None) -> dict[int, tuple[int, set[str]]]:
        """Start of each line holding a validated phone, e-mail or address -> (end of line, kinds); the
        source detectors' findings come from the per-inspection cache when they ran already."""
        text = part.text
        found = [(kind, [f.start for f in prefilter.findings(detector, part, context)])
                 for kind, detector in self._sources]
        if sum(len(offsets) for _, offsets in found) < self.min_rows:
            return {}
        breaks = [m.start() for m in _NEWLINE.finditer(text)]
        breaks.append(len(text))  # the end of the last line
        lines: dict[int, tuple[int, set[str]]] = {}
        bisect_left = bisect.bisect_left
        for kind, offsets in found:
            line_start, line_end = -1, -1
            kinds: set[str] = set()
            for offset in offsets:
                if line_start <= offset <= line_end:
                    kinds.add(kind)  # the same line as the previous offset
                    continue
                i = bisect_left(breaks, offset)  # the line break ending this line
                if i == len(breaks):  # past the end of the text: as if it ended there
                    i -= 1
                line_start = breaks[i - 1] + 1 if i else 0
                line_end = breaks[i]
                entry = lines.get(line_start)
                if entry is None:
                    kinds = {kind}
                    lines[line_start] = (line_end, kinds)
                else:
                    kinds = entry[1]
                    kinds.add(kind)
        return lines

    def _tables(self, text: str, rows: list[tuple[int, int, set[str]]]) -> Iterator[list[tuple[int, int, set[str]]]]:
        table: list[tuple[int, int, set[str]]] = []
        for row in rows:
            if table and text.count("\n", table[-1][1], row[0]) > self.max_gap + 1:
                if len(table) >= self.min_rows:
                    yield table
                table = []
            table.append(row)
        if len(table) >= self.min_rows:
            yield table

    def _finding(self, part: TextPart, table: list[tuple[int, int, set[str]]]) -> Finding:
        text = part.text
        start, end = table[0][0], table[-1][1]
        header_start = text.rfind("\n", 0, max(0, start - 1)) + 1
        header = start > 0 and _HEADER.search(text, header_start, start - 1) is not None
        if header:
            start = header_start
        kinds = sorted(set().union(*(k for _, _, k in table)))
        n = len(table)
        score = min(self.score_max, self.score_min + self.score_per_doubling * math.log2(n / self.min_rows))
        score = round(min(1.0, score + (self.header_bonus if header else 0.0)), 2)
        data = ", ".join(_KIND_NAMES[k] for k in kinds)
        snippet = f"[{n} rows: name, {data}]"
        return self.finding(part, start, end, score, "customer_list.table", snippet, rows=n, kinds=kinds,
                            data=_data_words(kinds), header=header)


def is_name_row(line: str) -> bool:
    return any(is_name(c) for c in cells(line))


def _data_words(kinds: list[str]) -> str:
    words = {"phone": gettext_noop("a phone number"), "email": gettext_noop("an e-mail address"),
             "address": gettext_noop("a postal address")}
    listed = [words[k] for k in kinds]
    return " / ".join(listed)  # each part is a msgid, translated one by one at the edge
