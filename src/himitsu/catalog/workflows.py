"""Joining and leaving steps (workflows.yaml): validated at load, no Django.

Anything wrong in the file is a ``ConfigError`` (``workflow.catalog_invalid``) naming the file and the
problem, raised when the catalogue is first loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from himitsu.catalog import load
from himitsu.errors import ConfigError, InputError

FILE = "workflows.yaml"
LANGUAGES = ("ja", "en")
KINDS = ("joining", "leaving")
OWNERS = frozenset({"department_manager", "secret_manager"})
ACTIONS = frozenset({"revoke_access"})
CONDITIONS = frozenset({"other_company"})
MAX_DUE_DAYS = 365
STEP_KEYS = frozenset({"code", "title", "help", "owner", "due_days", "pledge", "action", "when"})


@dataclass(frozen=True)
class StepDef:
    code: str
    title: dict[str, str]
    help: dict[str, str]
    owner: str
    due_days: int
    pledge: str = ""
    action: str = ""
    when: str = ""

    def applies(self, other_company: bool) -> bool:
        return self.when != "other_company" or other_company


@dataclass(frozen=True)
class KindDef:
    code: str
    title: dict[str, str]
    steps: tuple[StepDef, ...]

    def steps_for(self, other_company: bool = False) -> list[StepDef]:
        return [s for s in self.steps if s.applies(other_company)]


@dataclass(frozen=True)
class Catalog:
    version: str
    kinds: dict[str, KindDef]

    def kind(self, code: str) -> KindDef:
        try:
            return self.kinds[code]
        except KeyError:
            raise InputError("workflow.kind_unknown", kind=code) from None


def _fail(source: str, reason: str) -> ConfigError:
    return ConfigError("workflow.catalog_invalid", file=source, reason=reason)


def _texts(value: Any, where: str, source: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _fail(source, f"{where}: expected a mapping with the languages {', '.join(LANGUAGES)}")
    for lang in LANGUAGES:
        if not isinstance(value.get(lang), str) or not value[lang].strip():
            raise _fail(source, f"{where}: the {lang} text is missing")
    extra = set(value) - set(LANGUAGES)
    if extra:
        raise _fail(source, f"{where}: unknown languages {', '.join(sorted(map(str, extra)))}")
    return {lang: value[lang].strip() for lang in LANGUAGES}


def _step(item: Any, i: int, kind: str, source: str, pledge_codes: frozenset[str] | None) -> StepDef:
    code = item.get("code") if isinstance(item, dict) else None
    if not isinstance(code, str) or not code.strip():
        raise _fail(source, f"{kind}.steps[{i}]: `code` is missing")
    where = f"{kind} step {code}"
    unknown = set(item) - STEP_KEYS
    if unknown:
        raise _fail(source, f"{where}: unknown keys {', '.join(sorted(map(str, unknown)))}")
    owner = item.get("owner")
    if owner not in OWNERS:
        raise _fail(source, f"{where}: `owner` must be one of {', '.join(sorted(OWNERS))}")
    due = item.get("due_days", 0)
    if not isinstance(due, int) or isinstance(due, bool) or abs(due) > MAX_DUE_DAYS:
        raise _fail(source, f"{where}: `due_days` must be a whole number between -{MAX_DUE_DAYS} and {MAX_DUE_DAYS}")
    pledge = item.get("pledge") or ""
    if not isinstance(pledge, str) or (pledge and pledge_codes is not None and pledge not in pledge_codes):
        raise _fail(source, f"{where}: `pledge` {pledge!r} is not a pledge template code")
    action = item.get("action") or ""
    if action and action not in ACTIONS:
        raise _fail(source, f"{where}: `action` must be one of {', '.join(sorted(ACTIONS))}")
    when = item.get("when") or ""
    if when and when not in CONDITIONS:
        raise _fail(source, f"{where}: `when` must be one of {', '.join(sorted(CONDITIONS))}")
    return StepDef(code=code.strip(), title=_texts(item.get("title"), f"{where} title", source),
                   help=_texts(item.get("help"), f"{where} help", source), owner=owner, due_days=due,
                   pledge=pledge, action=action, when=when)


def validate(data: Any, source: str = FILE, pledge_codes: frozenset[str] | None = None) -> Catalog:
    """Check a loaded catalogue and return it as typed values (``ConfigError`` on the first problem).
    ``pledge_codes``: the pledge template codes a step may link to (None: not checked)."""
    if not isinstance(data, dict):
        raise _fail(source, "the file is not a mapping")
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise _fail(source, "`version` must be a non-empty string (quote it: \"2026.1\")")
    raw = data.get("kinds")
    if not isinstance(raw, dict) or set(raw) != set(KINDS):
        raise _fail(source, f"`kinds` must be a mapping with exactly {', '.join(KINDS)}")
    kinds: dict[str, KindDef] = {}
    for kind in KINDS:
        body = raw[kind]
        if not isinstance(body, dict):
            raise _fail(source, f"{kind}: expected a mapping with title and steps")
        title = _texts(body.get("title"), f"{kind} title", source)
        items = body.get("steps")
        if not isinstance(items, list) or not items:
            raise _fail(source, f"{kind}: `steps` must be a non-empty list")
        steps: list[StepDef] = []
        for i, item in enumerate(items):
            step = _step(item, i, kind, source, pledge_codes)
            if any(s.code == step.code for s in steps):
                raise _fail(source, f"{kind} step {step.code} appears twice")
            steps.append(step)
        kinds[kind] = KindDef(kind, title, tuple(steps))
    return Catalog(version.strip(), kinds)


@cache
def catalog() -> Catalog:
    """The bundled catalogue, validated once per process (pledge links checked against the pledge templates)."""
    from himitsu.catalog import pledges

    return validate(load(FILE), FILE, frozenset(pledges.catalog().templates))
