"""customer-list: many rows of a person's name with a phone, e-mail or address make one finding."""

from __future__ import annotations

import pytest

from himitsu.engine.detectors.customer_list import CustomerListDetector, is_name
from himitsu.engine.model import TextPart

NAMES = ["山田 太郎", "佐藤花子", "鈴木 一郎様", "Taro Yamada", "高橋 健", "田中 美咲", "伊藤 翔", "渡辺 陽子",
         "ヤマモト ケン", "中村 さくら", "小林 大輔", "加藤 愛", "吉田 拓也", "山口 結衣", "松本 蓮", "井上 陽菜"]


def rows(n: int, sep: str = ",", kind: str = "phone") -> list[str]:
    cell = {
        "phone": lambda i: f"090-1234-{5600 + i}",
        "email": lambda i: f"user{i}@acme.co.jp",
        "address": lambda i: f"東京都千代田区霞が関1-3-{i + 1}",
    }[kind]
    return [f"{NAMES[i % len(NAMES)]}{sep}{cell(i)}{sep}備考{i}" for i in range(n)]


def run(text: str, **kwargs) -> list:
    return list(CustomerListDetector(**kwargs).detect(TextPart("list.csv", text, "text")))


@pytest.mark.parametrize(("sep", "kind"), [
    (",", "phone"), ("\t", "email"), ("\t", "address"), (" | ", "phone"), ("，", "email"), ("  ", "phone"),
])
def test_table_of_five_rows(sep, kind):
    text = "\n".join(rows(5, sep, kind))
    [f] = run(text)
    assert (f.detector, f.reason, f.params["rows"], f.params["kinds"]) == ("customer-list", "customer_list.table", 5,
                                                                             [kind])
    assert (f.start, f.end) == (0, len(text)) and f.score == 0.5


def test_score_grows_with_rows_and_header():
    scores = [run("\n".join(rows(n)))[0].score for n in (5, 10, 20, 40, 80)]
    assert scores == sorted(scores) and scores[0] == 0.5 and scores[-1] == 0.95
    text = "顧客一覧\n氏名,電話,備考\n" + "\n".join(rows(10))
    [f] = run(text)
    assert f.params["header"] is True and f.start == text.index("氏名") and round(f.score, 2) == 0.7


def test_mixed_kinds_and_explanation():
    text = "\n".join(f"{NAMES[i]}\t090-1234-{5600 + i}\tuser{i}@acme.co.jp" for i in range(6))
    [f] = run(text)
    assert f.params["kinds"] == ["email", "phone"]
    assert "6 rows" in f.explanation and "e-mail" in f.explanation
    assert f.snippet == "[6 rows: name, e-mail, phone]"


def test_rows_may_skip_one_line_but_not_more():
    lines = rows(6)
    assert run("\n".join(lines[:3] + [""] + lines[3:]))[0].params["rows"] == 6
    assert run("\n".join(lines[:3] + ["", "", "", ""] + lines[3:])) == []


@pytest.mark.parametrize("text", [
    "\n".join(rows(4)),  # below the threshold
    "\n".join(f"問い合わせは 090-1234-{5600 + i} まで" for i in range(8)),  # prose lines, no cells
    "\n".join(f"営業部,090-1234-{5600 + i}" for i in range(8)),  # a department is no person
    "\n".join(f"{NAMES[i]},090-1234-567" for i in range(8)),  # invalid phone numbers
    "\n".join(f"{NAMES[i]},{i},{i * 2}" for i in range(8)),  # names without contact data
])
def test_near_misses(text):
    assert run(text) == []


def test_threshold_is_configurable():
    assert len(run("\n".join(rows(3)), min_rows=3)) == 1


@pytest.mark.parametrize(("cell", "expected"), [
    ("山田 太郎", True), ("佐藤花子", True), ("鈴木一郎様", True), ("ヤマダ タロウ", True), ("Taro Yamada", True),
    ("YAMADA Taro", True), ("営業部", False), ("東京都", False), ("株式会社アクメ", False), ("090-1234-5678", False),
    ("備考", True),  # two kanji look like a name: the phone, e-mail or address on the row decides
])
def test_is_name(cell, expected):
    assert is_name(cell) is expected


def test_snippet_holds_no_cell():
    text = "\n".join(rows(8, "\t", "email"))
    [f] = run(text)
    assert "@" not in f.snippet and "山田" not in f.snippet and "user" not in f.snippet
