"""The secrecy-evidence checklist: pure scoring (no database) and the YAML it reads."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date

import pytest

from himitsu.catalog import checklist as cl
from himitsu.catalog import load, text

TODAY = date(2025, 4, 1)
ALL_MANUAL_YES = {"pledges": "yes", "rules_known": "yes", "rules_enforced": "yes"}

# Every automatic item in place, manual items as given.
GOOD = cl.Facts(has_summary=True, has_responsible=True, marking="㊙", people_with_access=3, organisation_size=100,
                location_count=1, review_date=date(2025, 12, 31), today=TODAY, answers=dict(ALL_MANUAL_YES))
# Nothing in place.
BARE = cl.Facts(has_summary=False, has_responsible=False, marking="", people_with_access=0, organisation_size=100,
                location_count=0, review_date=None, today=TODAY, answers={})


def _answers(result: cl.Assessment) -> dict[str, str]:
    return {i.key: i.answer for i in result.items}


def _reasons(result: cl.Assessment) -> dict[str, str]:
    return {i.key: i.reason for i in result.items if i.reason}


@pytest.mark.parametrize(("facts", "score", "status", "reasons"), [
    pytest.param(GOOD, 100, cl.QUALIFIES, {}, id="everything-in-place"),
    pytest.param(replace(GOOD, answers={}), 70, cl.QUALIFIES, {}, id="auto-only-reaches-threshold"),
    pytest.param(BARE, 8, cl.NOT_QUALIFIED,  # listed is partial: 15 * 0.5 = 7.5
                 {"listed": "listed.incomplete", "marked": "marked.none", "access_limited": "access.nobody_named",
                  "storage_declared": "storage.none", "review_current": "review.none"}, id="nothing"),
    # critical failures cap the status at at_risk, whatever the score
    pytest.param(replace(GOOD, marking=""), 80, cl.AT_RISK, {"marked": "marked.none"}, id="unmarked-critical"),
    pytest.param(replace(GOOD, marking="   "), 80, cl.AT_RISK, {"marked": "marked.none"}, id="blank-marking"),
    pytest.param(replace(GOOD, people_with_access=0), 80, cl.AT_RISK, {"access_limited": "access.nobody_named"},
                 id="nobody-named-critical"),
    pytest.param(replace(GOOD, marking="", people_with_access=0), 60, cl.AT_RISK,
                 {"marked": "marked.none", "access_limited": "access.nobody_named"}, id="two-criticals"),
    # wide access is only partly limited: partial credit, not a critical failure
    pytest.param(replace(GOOD, people_with_access=51), 90, cl.QUALIFIES, {"access_limited": "access.too_wide"},
                 id="wide-access"),
    pytest.param(replace(GOOD, people_with_access=50), 100, cl.QUALIFIES, {}, id="half-is-not-wide"),
    pytest.param(replace(GOOD, people_with_access=5, organisation_size=0), 100, cl.QUALIFIES, {},
                 id="unknown-organisation-size"),
    pytest.param(replace(GOOD, people_with_access=1, organisation_size=1), 90, cl.QUALIFIES,
                 {"access_limited": "access.too_wide"}, id="one-person-company"),
    # review date
    pytest.param(replace(GOOD, review_date=date(2025, 3, 31)), 90, cl.QUALIFIES,
                 {"review_current": "review.overdue"}, id="overdue-by-a-day"),
    pytest.param(replace(GOOD, review_date=TODAY), 100, cl.QUALIFIES, {}, id="due-today-is-current"),
    pytest.param(replace(GOOD, review_date=None), 90, cl.QUALIFIES, {"review_current": "review.none"},
                 id="no-review-date"),
    # listed needs both a summary and a responsible person
    pytest.param(replace(GOOD, has_summary=False), 92, cl.QUALIFIES, {"listed": "listed.incomplete"},
                 id="no-summary"),  # 92.5 rounds to 92 or 93: checked below as within one point
    pytest.param(replace(GOOD, has_responsible=False, answers={}), 62, cl.AT_RISK,
                 {"listed": "listed.incomplete"}, id="below-qualifies-threshold"),
    pytest.param(replace(GOOD, location_count=0, answers={}), 65, cl.AT_RISK, {"storage_declared": "storage.none"},
                 id="no-storage"),
    # thresholds: 40 is at_risk, below is not_qualified
    pytest.param(replace(BARE, marking="㊙", people_with_access=1), 48, cl.AT_RISK,
                 {"listed": "listed.incomplete", "storage_declared": "storage.none", "review_current": "review.none"},
                 id="at-risk"),
    pytest.param(replace(BARE, has_summary=True, has_responsible=True, marking="㊙", location_count=1), 40,
                 cl.AT_RISK, {"access_limited": "access.nobody_named", "review_current": "review.none"},
                 id="exactly-at-risk-threshold"),
    pytest.param(replace(BARE, has_summary=True, has_responsible=True, marking="㊙"), 35, cl.NOT_QUALIFIED,
                 {"access_limited": "access.nobody_named", "storage_declared": "storage.none",
                  "review_current": "review.none"}, id="just-below-at-risk"),
])
def test_assess(facts, score, status, reasons):
    result = cl.assess(facts)
    assert abs(result.score - score) <= 1  # x.5 totals may round either way
    total = sum(i.points for i in result.items)
    assert result.score in (math.floor(total), math.ceil(total))
    if total == int(total):
        assert result.score == score
    assert result.status == status
    assert _reasons(result) == reasons
    assert result.version == str(cl.checklist()["version"])


@pytest.mark.parametrize(("answers", "score"), [
    ({}, 70),
    ({"pledges": "yes"}, 85),
    ({"pledges": "partial"}, 77.5),
    ({"pledges": "no", "rules_known": "no", "rules_enforced": "no"}, 70),
    ({"pledges": "unknown"}, 70),
    ({"pledges": "partial", "rules_known": "partial", "rules_enforced": "partial"}, 85),
    ({"rules_known": "yes", "rules_enforced": "yes"}, 85),
    ({"pledges": "nonsense-answer"}, 70),
    ({"not_an_item": "yes"}, 70),
])
def test_manual_answers_and_partial_credit(answers, score):
    result = cl.assess(replace(GOOD, answers=answers))
    assert sum(i.points for i in result.items) == score
    for item in result.items:
        if item.source == "manual":
            assert item.answer == answers.get(item.key, cl.UNKNOWN)
            expected = {"yes": item.weight, "partial": item.weight * 0.5}.get(item.answer, 0)
            assert item.points == expected


def test_manual_answers_cannot_override_automatic_items():
    result = cl.assess(replace(BARE, answers={"marked": "yes", "access_limited": "yes", "listed": "yes"}))
    answers = _answers(result)
    assert answers["marked"] == cl.NO and answers["access_limited"] == cl.NO and answers["listed"] == cl.PARTIAL


def test_critical_failure_caps_even_a_high_score():
    facts = replace(GOOD, marking="")
    result = cl.assess(facts)
    assert result.score >= cl.checklist()["thresholds"]["qualifies"]
    assert result.status == cl.AT_RISK
    assert [g.key for g in result.gaps] == ["marked"]
    assert all(g.critical for g in result.gaps)


def test_gaps_are_the_items_not_in_place():
    result = cl.assess(BARE)
    assert {g.key for g in result.gaps} == {i["key"] for i in cl.checklist()["items"]}
    assert cl.assess(GOOD).gaps == ()


def test_items_follow_the_yaml_order_and_weights():
    result = cl.assess(GOOD)
    yaml_items = cl.checklist()["items"]
    assert [i.key for i in result.items] == [i["key"] for i in yaml_items]
    assert [i.weight for i in result.items] == [i["weight"] for i in yaml_items]
    assert [i.critical for i in result.items] == [bool(i.get("critical")) for i in yaml_items]


def test_assess_is_pure_and_repeatable():
    assert cl.assess(GOOD) == cl.assess(GOOD)
    answers = {"pledges": "yes"}
    cl.assess(replace(GOOD, answers=answers))
    assert answers == {"pledges": "yes"}


def test_score_stays_between_0_and_100():
    for facts in (GOOD, BARE, replace(BARE, answers=ALL_MANUAL_YES)):
        assert 0 <= cl.assess(facts).score <= 100


# --- the YAML ---------------------------------------------------------------------------------------

def test_weights_sum_to_100():
    assert sum(int(i["weight"]) for i in cl.checklist()["items"]) == 100


def test_every_item_has_japanese_and_english_text():
    for item in cl.checklist()["items"]:
        for part in ("title", "question", "action"):
            value = item[part]
            assert isinstance(value, dict), (item["key"], part)
            assert value.get("ja", "").strip() and value.get("en", "").strip(), (item["key"], part)
            assert text(value, "ja") == value["ja"] and text(value, "en") == value["en"]
            assert text(value, "en-us") == value["en"] and text(value, None) == value["ja"]


def test_checklist_header():
    data = cl.checklist()
    assert data["version"] and isinstance(data["version"], str)
    for part in ("title", "source"):
        assert data[part]["ja"] and data[part]["en"]
    assert 0 < data["thresholds"]["at_risk"] < data["thresholds"]["qualifies"] <= 100
    assert 0 <= float(data["partial_credit"]) <= 1


def test_items_are_well_formed():
    items = cl.checklist()["items"]
    keys = [i["key"] for i in items]
    assert len(keys) == len(set(keys))
    assert all(i["source"] in ("auto", "manual") for i in items)
    assert all(isinstance(i["weight"], int) and i["weight"] > 0 for i in items)
    assert all(isinstance(i.get("critical", False), bool) for i in items)
    assert [i["key"] for i in cl.manual_items()] == [i["key"] for i in items if i["source"] == "manual"]
    for key in keys:
        assert cl.item_definition(key)["key"] == key
    with pytest.raises(KeyError):
        cl.item_definition("no-such-item")


def test_every_automatic_reason_has_a_label():
    from himitsu.web.register.labels import REASONS

    produced = set()
    for facts in (BARE, replace(GOOD, people_with_access=99), replace(GOOD, review_date=date(2000, 1, 1))):
        produced |= set(_reasons(cl.assess(facts)).values())
    assert produced <= set(REASONS), produced - set(REASONS)
    assert len(produced) == 7


def test_text_picks_language():
    assert text("plain", "en") == "plain"
    assert text({"ja": "日本語"}, "en") == "日本語"
    assert text({"en": "English"}, "ja") == "English"


def test_catalogue_is_cached_and_a_mapping():
    assert load("secrecy_checklist.yaml") is load("secrecy_checklist.yaml")
    levels = load("classification_levels.yaml")
    assert isinstance(levels, dict) and levels["levels"]
