"""The plugin mechanism: detectors and extractors are found through Python entry points.

Built-in parts are declared in Himitsu's own pyproject.toml under the same entry-point groups a third
party would use (``himitsu.detectors``, ``himitsu.extractors``), so nothing is hard-wired.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from typing import Any

DETECTORS = "himitsu.detectors"
EXTRACTORS = "himitsu.extractors"


class PluginError(Exception):
    """An entry point could not be loaded or does not describe a valid plugin."""


def _load(group: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plugin must not take the engine down silently
            raise PluginError(f"{group}:{ep.name} cannot be loaded: {exc}") from exc
        ident = getattr(obj, "id", None)
        if ident != ep.name:
            raise PluginError(f"{group}:{ep.name} declares id {ident!r}")
        found[ep.name] = obj
    return found


@cache
def detector_classes() -> dict[str, Any]:
    return _load(DETECTORS)


@cache
def extractor_classes() -> dict[str, Any]:
    return _load(EXTRACTORS)
