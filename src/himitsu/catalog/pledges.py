"""Pledge and NDA templates (pledge_templates.yaml): validated at load, rendered with variables (no Django).

A template's texts may use only the variables in ``VARIABLES``; both languages must be present and use
the same variables. Anything else is a ``ConfigError`` (``pledge.catalog_invalid``) naming the file, the
template and the problem, raised when the catalogue is first loaded.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from himitsu.catalog import load
from himitsu.errors import ConfigError, InputError

FILE = "pledge_templates.yaml"
LANGUAGES = ("ja", "en")
VARIABLES = frozenset({
    "company", "person", "department", "secrets", "categories", "duration", "issued_on", "partner", "project",
})
# Variables a template may list under `requires` (the others are always known when a pledge is issued).
SUPPLIED = frozenset({"secrets", "categories", "duration", "partner", "project"})
MAX_DURATION_YEARS = 10


@dataclass(frozen=True)
class Category:
    code: str
    ja: str
    en: str

    def text(self, language: str) -> str:
        return self.en if language == "en" else self.ja


@dataclass(frozen=True)
class Template:
    code: str
    title: dict[str, str]
    text: dict[str, str]
    requires: frozenset[str]
    variables: frozenset[str]

    def title_in(self, language: str) -> str:
        return self.title["en" if language == "en" else "ja"]


@dataclass(frozen=True)
class Catalog:
    version: str
    templates: dict[str, Template]
    categories: dict[str, Category]

    def template(self, code: str) -> Template:
        try:
            return self.templates[code]
        except KeyError:
            raise InputError("pledge.template_unknown", template=code) from None


@dataclass(frozen=True)
class Values:
    """What a pledge is rendered with. ``secrets``: (management number, title) pairs; ``categories``: codes."""

    company: str
    person: str
    department: str
    issued_on: date
    secrets: Sequence[tuple[str, str]] = ()
    categories: Sequence[str] = ()
    duration_years: int | None = None
    partner: str = ""
    project: str = ""
    department_en: str = ""


@dataclass(frozen=True)
class Rendered:
    language: str
    title: str
    text: str


@dataclass
class _Checker:
    source: str

    def fail(self, reason: str) -> ConfigError:
        return ConfigError("pledge.catalog_invalid", file=self.source, reason=reason)


def _fields(text: str, where: str, check: _Checker) -> frozenset[str]:
    names: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise check.fail(f"{where}: malformed braces ({exc})") from None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in VARIABLES:
            raise check.fail(f"{where}: unknown variable {{{name}}} (allowed: {', '.join(sorted(VARIABLES))})")
        if spec or conversion:
            raise check.fail(f"{where}: variable {{{name}}} must not carry a format or conversion")
        names.add(name)
    return frozenset(names)


def _texts(value: Any, where: str, check: _Checker) -> dict[str, str]:
    if not isinstance(value, dict):
        raise check.fail(f"{where}: expected a mapping with the languages {', '.join(LANGUAGES)}")
    for lang in LANGUAGES:
        if not isinstance(value.get(lang), str) or not value[lang].strip():
            raise check.fail(f"{where}: the {lang} text is missing")
    extra = set(value) - set(LANGUAGES)
    if extra:
        raise check.fail(f"{where}: unknown languages {', '.join(sorted(extra))}")
    return {lang: value[lang] for lang in LANGUAGES}


def validate(data: Any, source: str = FILE) -> Catalog:
    """Check a loaded catalogue and return it as typed values (``ConfigError`` on the first problem)."""
    check = _Checker(source)
    if not isinstance(data, dict):
        raise check.fail("the file is not a mapping")
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise check.fail("`version` must be a non-empty string (quote it: \"2026.1\")")
    categories: dict[str, Category] = {}
    for i, item in enumerate(data.get("categories") or []):
        code = item.get("code") if isinstance(item, dict) else None
        if not isinstance(code, str) or not code:
            raise check.fail(f"categories[{i}]: `code` is missing")
        texts = _texts({k: v for k, v in item.items() if k != "code"}, f"category {code}", check)
        if code in categories:
            raise check.fail(f"category {code} appears twice")
        categories[code] = Category(code, texts["ja"], texts["en"])
    templates: dict[str, Template] = {}
    raw = data.get("templates")
    if not isinstance(raw, list) or not raw:
        raise check.fail("`templates` must be a non-empty list")
    for i, item in enumerate(raw):
        code = item.get("code") if isinstance(item, dict) else None
        if not isinstance(code, str) or not code:
            raise check.fail(f"templates[{i}]: `code` is missing")
        if code in templates:
            raise check.fail(f"template {code} appears twice")
        title = _texts(item.get("title"), f"template {code} title", check)
        text = _texts(item.get("text"), f"template {code} text", check)
        used = {lang: _fields(text[lang], f"template {code} ({lang})", check) for lang in LANGUAGES}
        if used["ja"] != used["en"]:
            diff = sorted(used["ja"] ^ used["en"])
            raise check.fail(f"template {code}: the ja and en texts use different variables ({', '.join(diff)})")
        requires = item.get("requires") or []
        if not isinstance(requires, list) or not set(requires) <= SUPPLIED:
            raise check.fail(f"template {code}: `requires` may list only {', '.join(sorted(SUPPLIED))}")
        missing = set(requires) - used["ja"]
        if missing:
            raise check.fail(f"template {code}: requires {', '.join(sorted(missing))} but its text does not use it")
        templates[code] = Template(code, title, text, frozenset(requires), used["ja"])
    return Catalog(version.strip(), templates, categories)


@cache
def catalog() -> Catalog:
    """The bundled catalogue, validated once per process."""
    return validate(load(FILE), FILE)


def _list(lines: Sequence[str], language: str) -> str:
    bullet = "  - " if language == "en" else "　・"
    return "\n".join(f"{bullet}{line}" for line in lines)


def _duration(years: int | None, language: str) -> str:
    if years is None:
        return ""
    if language == "en":
        return f"{years} year" if years == 1 else f"{years} years"
    return f"{years}年間"


def _date(day: date, language: str) -> str:
    if language == "en":
        return f"{day.day} {day.strftime('%B')} {day.year}"
    return f"{day.year}年{day.month}月{day.day}日"


def variables(cat: Catalog, values: Values, language: str) -> dict[str, str]:
    unknown = [c for c in values.categories if c not in cat.categories]
    if unknown:
        raise InputError("pledge.category_unknown", category=", ".join(unknown))
    secrets = [f"{number}　{title}" if language == "ja" else f"{number} {title}" for number, title in values.secrets]
    return {
        "company": values.company,
        "person": values.person,
        "department": (values.department_en or values.department) if language == "en" else values.department,
        "issued_on": _date(values.issued_on, language),
        "secrets": _list(secrets, language),
        "categories": _list([cat.categories[c].text(language) for c in values.categories], language),
        "duration": _duration(values.duration_years, language),
        "partner": values.partner,
        "project": values.project,
    }


def render(template: Template, values: Values, language: str, cat: Catalog | None = None) -> Rendered:
    """The exact text of ``template`` in ``language`` ("ja" or "en"). A variable that renders empty on a
    line of its own (an optional list) removes that line."""
    cat = cat or catalog()
    lang = "en" if language == "en" else "ja"
    filled = variables(cat, values, lang)
    lines = [line for line in template.text[lang].splitlines()
             if not (line.strip().startswith("{") and line.strip().endswith("}")
                     and line.strip()[1:-1] in filled and not filled[line.strip()[1:-1]])]
    text = "\n".join(lines).format_map(filled).rstrip() + "\n"
    return Rendered(lang, template.title[lang], text)
