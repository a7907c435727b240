"""Dates as Japanese organisations write them (pure module, no Django)."""

from __future__ import annotations

from datetime import date

import pytest

from himitsu import jpdate


@pytest.mark.parametrize(("text", "expected"), [
    # western
    ("2025-04-01", date(2025, 4, 1)),
    ("2025-4-1", date(2025, 4, 1)),
    ("2025/04/01", date(2025, 4, 1)),
    ("2025/4/1", date(2025, 4, 1)),
    ("2025.4.1", date(2025, 4, 1)),
    ("20250401", date(2025, 4, 1)),
    ("2025年4月1日", date(2025, 4, 1)),
    ("2025年04月01日", date(2025, 4, 1)),
    ("2025 年 4 月 1 日", date(2025, 4, 1)),
    ("2025年4月1", date(2025, 4, 1)),
    ("2024-02-29", date(2024, 2, 29)),
    ("  2025-04-01  ", date(2025, 4, 1)),
    # full-width digits and punctuation (NFKC)
    ("２０２５－０４－０１", date(2025, 4, 1)),
    ("２０２５／４／１", date(2025, 4, 1)),
    ("２０２５年４月１日", date(2025, 4, 1)),
    ("\u30002025/4/1\u3000", date(2025, 4, 1)),
    # eras
    ("令和7年4月1日", date(2025, 4, 1)),
    ("令和７年４月１日", date(2025, 4, 1)),
    ("令和07年04月01日", date(2025, 4, 1)),
    ("令和元年5月1日", date(2019, 5, 1)),
    ("令和1年5月1日", date(2019, 5, 1)),
    ("令和 7 年 4 月 1 日", date(2025, 4, 1)),
    ("令和7.4.1", date(2025, 4, 1)),
    ("R7.4.1", date(2025, 4, 1)),
    ("r7.4.1", date(2025, 4, 1)),
    ("R07/04/01", date(2025, 4, 1)),
    ("R7-4-1", date(2025, 4, 1)),
    ("Ｒ７．４．１", date(2025, 4, 1)),
    ("R1.5.1", date(2019, 5, 1)),
    ("平成31年4月30日", date(2019, 4, 30)),
    ("平成元年1月8日", date(1989, 1, 8)),
    ("H1.1.8", date(1989, 1, 8)),
    ("h30.12.31", date(2018, 12, 31)),
    ("昭和64年1月7日", date(1989, 1, 7)),
    ("S64.1.7", date(1989, 1, 7)),
    ("昭和元年12月25日", date(1926, 12, 25)),
    ("昭和50年1月1日", date(1975, 1, 1)),
    # era ligatures (one character) as some fonts and IMEs produce them
    ("㋿7年4月1日", date(2025, 4, 1)),
    ("㍻31年4月30日", date(2019, 4, 30)),
    ("㍼50年1月1日", date(1975, 1, 1)),
])
def test_valid(text, expected):
    assert jpdate.parse(text) == expected


@pytest.mark.parametrize("text", [
    "令和1年4月30日",    # before Reiwa began (2019-05-01)
    "令和元年4月30日",
    "R1.4.30",
    "平成31年5月1日",    # after Heisei ended
    "H31.5.1",
    "平成元年1月7日",    # before Heisei began
    "昭和64年1月8日",    # Heisei's first day
    "昭和元年12月24日",  # before Showa began
    "令和0年5月1日",
    "令和100年1月1日",
    "大正15年1月1日",    # unknown era
    "T15.1.1",
    "2025-02-30",
    "2023-02-29",
    "2025-13-01",
    "2025-00-10",
    "2025-04-00",
    "2025-04-31",
    "20251301",
    "abc",
    "",
    "   ",
    "2025",
    "2025/4",
    "2025-4-1-1",
    "1/4/2025",
    "01-04-2025",
    "令和七年四月一日",
    "2025年4月1日朝",
    "R7",
    "0000-01-01",
    "2025-04-01T00:00",
    "99999-01-01",
])
def test_invalid(text):
    with pytest.raises(jpdate.DateFormatError):
        jpdate.parse(text)


def test_error_is_a_value_error():
    assert issubclass(jpdate.DateFormatError, ValueError)
    with pytest.raises(ValueError):
        jpdate.parse("令和1年4月30日")


@pytest.mark.parametrize(("last_day", "first_day"), [("平成31年4月30日", "令和元年5月1日"),
                                                  ("昭和64年1月7日", "平成元年1月8日")])
def test_eras_meet_on_consecutive_days(last_day, first_day):
    assert (jpdate.parse(first_day) - jpdate.parse(last_day)).days == 1
