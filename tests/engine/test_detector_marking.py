"""marking: confidentiality markings, their level and position; words that only look like one are not."""

from __future__ import annotations

import time

import pytest

from himitsu.engine.detectors.marking import MarkingDetector
from himitsu.engine.model import TextPart

BODY = "本文の段落です。設計の考え方を説明します。\n" * 12  # enough lines for a header and a footer band


def run(text: str, **meta) -> list:
    return list(MarkingDetector().detect(TextPart("", text, "text", meta)))


def in_body(line: str) -> list:
    return run(BODY + line + "\n" + BODY)


@pytest.mark.parametrize(("line", "snippet", "level"), [
    ("社外秘", "社外秘", "社外秘"),
    ("この資料は社外秘です。", "社外秘", "社外秘"),
    ("【社外秘】", "【社外秘】", "社外秘"),
    ("社 外 秘", "社外秘", "社外秘"),
    ("社　外　秘", "社外秘", "社外秘"),
    ("部外秘", "部外秘", "部外秘"),
    ("関係者外秘", "関係者外秘", "関係者外秘"),
    ("社内秘", "社内秘", "社内秘"),
    ("極秘", "極秘", "極秘"),
    ("厳秘", "厳秘", "厳秘"),
    ("㊙", "㊙", "秘"),
    ("(秘)", "(秘)", "秘"),
    ("（秘）", "（秘）", "秘"),
    ("⦅秘⦆", "⦅秘⦆", "秘"),
    ("【秘】 設計資料", "【秘】", "秘"),
    ("○秘", "○秘", "秘"),
    ("マル秘資料", "マル秘", "秘"),
    ("秘", "秘", "秘"),
    ("秘 2024年4月1日", "秘", "秘"),
    ("区分：秘", "秘", "秘"),
    ("秘文書として保管する", "秘", "秘"),
    ("取扱注意", "取扱注意", "取扱注意"),
    ("取り扱い注意", "取り扱い注意", "取扱注意"),
    ("持ち出し禁止", "持ち出し禁止", "持出禁止"),
    ("複製禁止", "複製禁止", "複製禁止"),
    ("【機密】", "【機密】", "機密"),
    ("Confidential", "Confidential", "Confidential"),
    ("CONFIDENTIAL", "CONFIDENTIAL", "Confidential"),
    ("ＣＯＮＦＩＤＥＮＴＩＡＬ", "CONFIDENTIAL", "Confidential"),
    ("C O N F I D E N T I A L", "CONFIDENTIAL", "Confidential"),
    ("[Confidential]", "[Confidential]", "Confidential"),
    ("Confidential: do not forward", "Confidential", "Confidential"),
    ("Acme Corp. — Confidential", "Confidential", "Confidential"),
    ("Classification: Confidential", "Confidential", "Confidential"),
    ("This report is CONFIDENTIAL.", "CONFIDENTIAL", "Confidential"),
    ("Strictly Confidential", "Strictly Confidential", "Strictly Confidential"),
    ("Internal Use Only", "Internal Use Only", "Internal Use Only"),
    ("For Internal Use Only", "For Internal Use Only", "Internal Use Only"),
    ("Proprietary", "Proprietary", "Proprietary"),
    ("Do not distribute", "Do not distribute", "Do Not Distribute"),
])
def test_markings(line, snippet, level):
    [f] = in_body(line)
    assert (f.detector, f.snippet, f.params["level"], f.params["position"]) == ("marking", snippet, level, "body")
    assert f.reason == "marking.body"


@pytest.mark.parametrize("line", [
    "秘書が会議室を予約した。",
    "神秘的な景色だった。",
    "便秘に効く食事。",
    "秘密保持契約を締結する。",
    "秘密の扉を開ける。",
    "機密情報の取扱いについて定める。",
    "黙秘権を行使した。",
    "秘訣を教える。",
    "神秘文書の謎",
    "極めて秘匿性が高い",
    "keep it confidential, please",
    "The confidential information shall be protected.",
    "Confidential information shall be protected.",
    "Confidentiality agreement",
    "This module is for internal use only.",
    "a proprietary file format",
    "nonproprietary",
    "Please do not distribute it further",
])
def test_not_markings(line):
    assert in_body(line) == []


def test_position_header_and_footer_from_text():
    text = "社外秘\n" + BODY + "CONFIDENTIAL\n"
    header, footer = run(text)
    assert (header.params["position"], header.reason, header.score) == ("header", "marking.header", 0.95)
    assert (footer.params["position"], footer.reason, footer.score) == ("footer", "marking.footer", 0.9)
    [body] = run(BODY + "社外秘\n" + BODY)
    assert body.score == 0.85 < header.score


def test_position_on_each_page():
    page = "㊙\n" + BODY + "1 / 3\n"
    findings = run("\f".join([page, page, page]))
    assert [f.params["position"] for f in findings] == ["header"] * 3


def test_position_from_regions():
    text = "極秘 設計書\n" + BODY + "極秘\n"
    regions = [(0, 6, "footer"), (6, len(text) - 3, "body")]
    first, last = run(text, regions=regions)
    assert first.params["position"] == "footer"
    assert last.params["position"] == "body"  # outside every given region


def test_handling_instruction_scores_lower_in_body():
    [f] = in_body("USBメモリの持ち出し禁止を徹底する。")
    assert f.score == 0.6
    [g] = run("持出禁止\n" + BODY)
    assert g.score == 0.85


def test_several_markings_on_one_line():
    findings = run("社外秘 / Confidential\n" + BODY)
    assert [f.params["level"] for f in findings] == ["社外秘", "Confidential"]
    findings = in_body("Confidential 社外秘")
    assert [f.params["level"] for f in findings] == ["Confidential", "社外秘"]


def test_long_lines_and_many_matches_stay_linear():
    start = time.perf_counter()
    assert run("秘書 " * 100_000) == []
    assert len(run(("社外秘 " + "あ" * 50) * 10_000)) == 10_000
    assert time.perf_counter() - start < 5


def test_explanation_names_marking_and_position():
    [f] = run("【極秘】\n" + BODY)
    assert "極秘" in f.explanation and "header" in f.explanation


@pytest.mark.parametrize(("text", "marking"), [
    ("confidential\n本文です。", "confidential"),
    ("週報\n[internal use only]\n本文", "internal use only"),
    ("本文\n\n   strictly confidential   \n", "strictly confidential"),
])
def test_lower_case_english_marking_alone_on_its_line(text: str, marking: str) -> None:
    found = [f for f in MarkingDetector().detect(TextPart(path="", text=text, format="text"))]
    assert [f.params["marking"] for f in found] == [marking]
    assert found[0].snippet == marking and text[found[0].start:found[0].end] == marking


@pytest.mark.parametrize("text", ["this is confidential\n", "confidential information follows\n",
                                  "the proprietary format\n", "do not distribute it\n"])
def test_lower_case_english_in_a_sentence_is_not_a_marking(text: str) -> None:
    assert list(MarkingDetector().detect(TextPart(path="", text=text, format="text"))) == []
