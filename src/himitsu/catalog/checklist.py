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


@dataclass(frozen=True)
class ItemResult:
    key: str
    source: str
    weight: int
    critical: bool
    answer: str
    points: float
    reason: str  # a stable code explaining an automatic answer ("" for manual answers)


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


def assess(facts: Facts) -> Assessment:
    data = checklist()
    partial = float(data.get("partial_credit", 0.5))
    results: list[ItemResult] = []
    total = 0.0
    for item in data["items"]:
        key, weight = item["key"], int(item["weight"])
        if item["source"] == "auto":
            answer, reason = _auto(key, facts)
        else:
            answer, reason = facts.answers.get(key, UNKNOWN), ""
        points = weight if answer == YES else weight * partial if answer == PARTIAL else 0.0
        total += points
        results.append(ItemResult(key, item["source"], weight, bool(item.get("critical")), answer, points, reason))
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
