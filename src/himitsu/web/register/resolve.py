"""Turn names people write (level 極秘, department code, user names, group names) into form data.

Shared by the import and the API so that both validate exactly like the web form.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.utils import translation
from django.utils.translation import gettext as _

from himitsu.web.accounts.models import AccessGroup, Department, User
from himitsu.web.register.models import Category, ClassificationLevel, LegalType, ProtectionDecision, TriState

# Choice fields accept the stored value, the Japanese label or the English label.
CHOICE_ALIASES: dict[str, dict[str, str]] = {
    "category": {"技術情報": Category.TECHNICAL, "営業情報": Category.BUSINESS, "その他": Category.OTHER},
    "legal_type": {"営業秘密": LegalType.TRADE_SECRET, "限定提供データ": LegalType.LIMITED_DATA,
                   "その他の秘密情報": LegalType.OTHER_CONFIDENTIAL, "その他": LegalType.OTHER_CONFIDENTIAL},
    "protection_decision": {"未定": ProtectionDecision.UNDECIDED, "権利化": ProtectionDecision.PATENT,
                            "秘匿化": ProtectionDecision.SECRECY},
    "tristate": {"はい": TriState.YES, "いいえ": TriState.NO, "不明": TriState.UNKNOWN, "あり": TriState.YES,
                 "なし": TriState.NO, "可能": TriState.YES, "不可能": TriState.NO, "": TriState.UNKNOWN},
}
TRISTATE_FIELDS = ("published", "patented", "reverse_engineerable")


@dataclass
class FormData:
    values: dict[str, Any]
    unresolved: dict[str, str] = field(default_factory=dict)


def _choice(kind: str, raw: Any, enum: Any) -> str:
    if isinstance(raw, bool):
        return "yes" if raw else "no"
    text = str(raw or "").strip()
    aliases = CHOICE_ALIASES[kind]
    if text in aliases:
        return str(aliases[text])
    for member in enum:
        with translation.override("en"):  # the English label works whatever language is active
            english = str(member.label).lower()
        if text.lower() in (str(member.value), english, str(member.label).lower()):
            return str(member.value)
    return text  # left for the form to reject with its own message


class Directory:
    """Names to primary keys. Asks the database each time, unless ``preload`` read everything once
    (an import of thousands of rows uses ``cached_names()``)."""

    def __init__(self, preload: bool = False) -> None:
        self.preloaded = preload
        if preload:
            levels = list(ClassificationLevel.objects.order_by("pk").values_list("pk", "code", "name", "name_en"))
            self._levels = [{c: pk for pk, c, _n, _e in levels}, {n: pk for pk, _c, n, _e in reversed(levels)},
                            {e.lower(): pk for pk, _c, _n, e in reversed(levels) if e}]
            depts = list(Department.objects.order_by("pk").values_list("pk", "code", "name"))
            self._depts = [{c: pk for pk, c, _n in depts}, {n: pk for pk, _c, n in reversed(depts)}]
            self._users = dict(User.objects.filter(is_active=True).values_list("username", "pk"))
            self._groups = dict(AccessGroup.objects.values_list("name", "pk"))

    def level(self, text: str) -> int | None:
        if self.preloaded:
            return self._levels[0].get(text) or self._levels[1].get(text) or self._levels[2].get(text.lower())
        found = _first(ClassificationLevel, [Q(code=text), Q(name=text), Q(name_en__iexact=text)])
        return found.pk if found else None

    def department(self, text: str) -> int | None:
        if self.preloaded:
            return self._depts[0].get(text) or self._depts[1].get(text)
        found = _first(Department, [Q(code=text), Q(name=text)])
        return found.pk if found else None

    def users(self, usernames: list[str]) -> dict[str, int]:
        if self.preloaded:
            return {u: self._users[u] for u in usernames if u in self._users}
        return dict(User.objects.filter(username__in=usernames, is_active=True).values_list("username", "pk"))

    def groups(self, names: list[str]) -> dict[str, int]:
        if self.preloaded:
            return {g: self._groups[g] for g in names if g in self._groups}
        return dict(AccessGroup.objects.filter(name__in=names).values_list("name", "pk"))


_ACTIVE: ContextVar[Directory | None] = ContextVar("himitsu_names", default=None)


@contextmanager
def cached_names() -> Iterator[Directory]:
    """Within the block, ``form_data`` resolves names from one snapshot read at the start."""
    directory = Directory(preload=True)
    token = _ACTIVE.set(directory)
    try:
        yield directory
    finally:
        _ACTIVE.reset(token)


def _first(model: Any, lookups: list[Q]) -> Any:
    """The first lookup that matches wins: a code beats a name, so a name equal to another's code is no trap."""
    for lookup in lookups:
        found = model.objects.filter(lookup).order_by("pk").first()
        if found is not None:
            return found
    return None


def _names(raw: Any) -> list[str]:
    if isinstance(raw, list | tuple):
        items = [str(x) for x in raw]
    else:
        items = str(raw or "").replace("、", ",").replace("\n", ",").replace(";", ",").split(",")
    return [i.strip() for i in items if i.strip()]


def form_data(row: dict[str, Any]) -> FormData:
    """``row`` holds register fields by their model names, with people-readable values."""
    values: dict[str, Any] = {k: ("" if v is None else v) for k, v in row.items()}
    unresolved: dict[str, str] = {}
    values["category"] = _choice("category", row.get("category"), Category)
    values["legal_type"] = _choice("legal_type", row.get("legal_type") or "trade_secret", LegalType)
    values["protection_decision"] = _choice(
        "protection_decision", row.get("protection_decision") or "undecided", ProtectionDecision)
    for name in TRISTATE_FIELDS:
        values[name] = _choice("tristate", row.get(name), TriState)

    names = _ACTIVE.get() or Directory()

    level_text = str(row.get("level") or "").strip()
    level = names.level(level_text) if level_text else None
    values["level"] = level or ""
    if level_text and level is None:
        unresolved["level"] = _("No classification level named %(name)s.") % {"name": level_text}

    dept_text = str(row.get("owner_department") or "").strip()
    dept = names.department(dept_text) if dept_text else None
    values["owner_department"] = dept or ""
    if dept_text and dept is None:
        unresolved["owner_department"] = _("No department with the code or name %(name)s.") % {"name": dept_text}

    person = str(row.get("responsible") or "").strip()
    responsible = names.users([person]).get(person) if person else None
    values["responsible"] = responsible or ""
    if person and responsible is None:
        unresolved["responsible"] = _("No active user named %(name)s.") % {"name": person}

    usernames = _names(row.get("allowed_users"))
    users = names.users(usernames)
    values["allowed_users"] = [users[u] for u in usernames if u in users]
    missing = [u for u in usernames if u not in users]
    if missing:
        unresolved["allowed_users"] = _("No active users named: %(names)s.") % {"names": ", ".join(missing)}

    group_names = _names(row.get("allowed_groups"))
    groups = names.groups(group_names)
    values["allowed_groups"] = [groups[g] for g in group_names if g in groups]
    missing = [g for g in group_names if g not in groups]
    if missing:
        unresolved["allowed_groups"] = _("No access groups named: %(names)s.") % {"names": ", ".join(missing)}

    locations = row.get("locations")
    values["locations"] = "\n".join(str(x) for x in locations) if isinstance(locations, list | tuple) else (
        locations or "")
    return FormData(values, unresolved)
