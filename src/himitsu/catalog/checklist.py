"""Scoring a register entry against the secrecy-evidence checklist (pure, no Django)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from himitsu.catalog import load

YES, PARTIAL, NO, UNKNOWN = "yes", "partial", "no", "unknown"
QUALIFIES, AT_RISK, NOT_QUALIFIED = "qualifies", "at_risk", "not_qualified"

# Access open to more than this share of the organisation counts only as partly limited.
WIDE_ACCESS_SHARE = 0.5


@dataclass(frozen=True)
class Facts:
    """What the register knows about one entry, as the checklist needs it."""

    has_summary: bool
    has_responsible: bool
    marking: str
    people_with_access: int
    organisation_size: int
    location_count: int
    review_date: date | None
    today: date
    answers: dict[str, str] = field(default_factory=dict)
    # People with access who hold a done (acknowledged or signed), current pledge naming the entry or its
    # category; None when not counted (then only the manual answer is used).
    pledged_people: int | None = None


@dataclass(frozen=True)
class ItemResult:
    key: str
    source: str
    weight: int
    critical: bool
    answer: str
    points: float
    reason: str  # a stable code explaining an automatic answer ("" for manual answers)
    params: tuple[tuple[str, int], ...] = ()  # numbers for the reason text, e.g. (("pledged", 3), ("total", 5))


@dataclass(frozen=True)
class Assessment:
    version: str
    score: int
    status: str
    items: tuple[ItemResult, ...]

    @property
    def gaps(self) -> tuple[ItemResult, ...]:
        return tuple(i for i in self.items if i.answer != YES)


def checklist() -> dict[str, Any]:
    return load("secrecy_checklist.yaml")


def _auto(key: str, facts: Facts) -> tuple[str, str]:
    if key == "listed":
        if facts.has_summary and facts.has_responsible:
            return YES, ""
        return PARTIAL, "listed.incomplete"
    if key == "marked":
        return (YES, "") if facts.marking.strip() else (NO, "marked.none")
    if key == "access_limited":
        if facts.people_with_access == 0:
            return NO, "access.nobody_named"
        if facts.organisation_size and facts.people_with_access > WIDE_ACCESS_SHARE * facts.organisation_size:
            return PARTIAL, "access.too_wide"
        return YES, ""
    if key == "storage_declared":
        return (YES, "") if facts.location_count else (NO, "storage.none")
    if key == "review_current":
        if facts.review_date is None:
            return NO, "review.none"
        if facts.review_date < facts.today:
            return NO, "review.overdue"
        return YES, ""
    raise KeyError(key)


_RANK = {YES: 3, PARTIAL: 2, NO: 1, UNKNOWN: 0}


def _derived(key: str, facts: Facts) -> tuple[str, str, tuple[tuple[str, int], ...]] | None:
    """The automatic answer of a manual item that Himitsu can also count (None: nothing counted)."""
    if key == "pledges":
        if facts.pledged_people is None or facts.people_with_access == 0:
            return None
        params = (("pledged", facts.pledged_people), ("total", facts.people_with_access))
        if facts.pledged_people >= facts.people_with_access:
            return YES, "", params
        if facts.pledged_people == 0:
            return NO, "pledges.none", params
        return PARTIAL, "pledges.some", params
    return None


def _manual(item: dict[str, Any], facts: Facts) -> tuple[str, str, str, tuple[tuple[str, int], ...]]:
    """(source, answer, reason, params) of a manual item; an item marked ``derived`` is also counted from
    the records, and the better of the counted and the recorded answers is kept (paper NDAs with partners
    outside Himitsu can only be recorded by hand). The counted reason stays so that the gap shows."""
    manual = facts.answers.get(item["key"], UNKNOWN)
    derived = _derived(item["key"], facts) if item.get("derived") else None
    if derived is None:
        return "manual", manual, "", ()
    answer, reason, params = derived
    if _RANK.get(manual, 0) > _RANK[answer]:
        return "manual", manual, reason, params
    return "auto", answer, reason, params


def assess(facts: Facts) -> Assessment:
    data = checklist()
    partial = float(data.get("partial_credit", 0.5))
    results: list[ItemResult] = []
    total = 0.0
    for item in data["items"]:
        key, weight = item["key"], int(item["weight"])
        params: tuple[tuple[str, int], ...] = ()
        source = item["source"]
        if source == "auto":
            answer, reason = _auto(key, facts)
        else:
            source, answer, reason, params = _manual(item, facts)
        points = weight if answer == YES else weight * partial if answer == PARTIAL else 0.0
        total += points
        results.append(ItemResult(key, source, weight, bool(item.get("critical")), answer, points, reason, params))
    score = int(total + 0.5)  # 四捨五入 (round half up), not banker's rounding
    critical_failed = any(r.critical and r.answer == NO for r in results)
    thresholds = data["thresholds"]
    if score >= thresholds["qualifies"] and not critical_failed:
        status = QUALIFIES
    elif score >= thresholds["at_risk"]:
        status = AT_RISK
    else:
        status = NOT_QUALIFIED
    return Assessment(str(data["version"]), score, status, tuple(results))


def item_definition(key: str) -> dict[str, Any]:
    for item in checklist()["items"]:
        if item["key"] == key:
            return item
    raise KeyError(key)


def manual_items() -> list[dict[str, Any]]:
    return [i for i in checklist()["items"] if i["source"] == "manual"]
