"""Versioned reference data (YAML with ja/en text) and the pure logic that reads it."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml


@cache
def load(name: str) -> dict[str, Any]:
    """Load a bundled catalogue file (e.g. ``secrecy_checklist.yaml``)."""
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"catalogue {name} is not a mapping")
    return data


def text(value: dict[str, str] | str, language: str | None) -> str:
    """Pick the ja/en text of a catalogue entry (Japanese unless English is asked for)."""
    if isinstance(value, str):
        return value
    if language and language.startswith("en"):
        return value.get("en") or value.get("ja", "")
    return value.get("ja") or value.get("en", "")
