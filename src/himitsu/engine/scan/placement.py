"""Placement rules: from a file's detections to what a manager acts on.

- ``misplaced``: a registered secret found outside the storage locations its register entry allows
  (``placement.outside_allowed``), or its entry names no storage location a scan can compare with
  (``placement.no_locations``); a document marked at the top level (極秘 and its equivalents) that no
  entry matched, outside every location allowed for top-level entries (``placement.marked_outside``).
- ``overexposed``: secret content (a registered secret, a confidentiality marking, or personal data and
  credentials) in a file everyone can read: ``exposure.<code>`` with the source's exposure code
  (``posix.world_readable``, ``smb.everyone``, ``s3.public_bucket``, ``s3.public_object``).
- ``unregistered``: a confidentiality marking but no register entry matched (``marking.unregistered``):
  the register and reality should agree.

Locations are compared as prefixes after folding their spellings together: ``\\\\fs01\\開発部\\`` and
``smb://fs01/開発部/`` are the same place; case and Unicode width do not matter; a location given as a
bare ``fs01/share`` is not compared with anything (only paths and URLs are).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

from himitsu.engine.model import SecretRef
from himitsu.engine.scan.model import FileResult, RuleHit


def gettext_noop(message: str) -> str:
    """Marks a msgid for the translation catalogue (the engine imports no Django)."""
    return message


#: stable reason code -> English text (msgid; translated at the edge with gettext, then ``.format(**params)``)
REASONS: dict[str, str] = {
    "placement.outside_allowed": gettext_noop(
        "Found outside the storage locations its register entry allows ({allowed})."),
    "placement.no_locations": gettext_noop(
        "Its register entry names no folder, share or bucket to compare with: add the allowed storage "
        "locations to the entry."),
    "placement.marked_outside": gettext_noop(
        "A document marked at the top level, outside every location allowed for top-level register entries."),
    "exposure.posix.world_readable": gettext_noop(
        "Everyone on the server can read this file (world-readable permissions); it holds {detectors}."),
    "exposure.smb.everyone": gettext_noop("The share is open to Everyone; the file holds {detectors}."),
    "exposure.s3.public_bucket": gettext_noop("The bucket is publicly readable; the object holds {detectors}."),
    "exposure.s3.public_object": gettext_noop("The object is publicly readable (ACL); it holds {detectors}."),
    "marking.unregistered": gettext_noop(
        "Marked {levels}, but no register entry matched: register it, or remove the marking if it is wrong."),
}


def explain(reason: str, params: Mapping[str, object], translate: Callable[[str], str] = lambda s: s) -> str:
    """The text of a rule's reason in the caller's language (``translate`` is gettext at the edge)."""
    template = REASONS.get(reason)
    if template is None:
        return reason
    values = {"allowed": "", "levels": "", "level": "", "detectors": "", **params}
    try:
        return translate(template).format(**values)
    except (KeyError, IndexError, ValueError):
        return template.format(**values)


#: marking levels that count as the top level (the register's 極秘)
TOP_LEVELS = frozenset({"極秘", "厳秘", "Strictly Confidential"})
#: detectors whose findings are secret content for the overexposure rule
SENSITIVE = frozenset({"registered-secret", "marking", "my-number", "customer-list", "credential"})


def location_key(location: str) -> str | None:
    """A comparable form of a storage location or scanned path, or None when it is not a path or URL
    (a cabinet, "Box: 営業フォルダ")."""
    text = unicodedata.normalize("NFKC", location.strip()).casefold()
    if not text:
        return None
    if text.startswith("\\\\"):  # UNC
        text = "smb://" + text[2:].replace("\\", "/")
    elif text.startswith("file://"):
        text = unquote(text[7:])
    elif len(text) > 2 and text[1] == ":" and text[2] in "\\/":  # Z:\folder
        text = text[:2] + "/" + text[3:].replace("\\", "/")
    elif "://" in text:
        scheme, rest = text.split("://", 1)
        if scheme not in ("smb", "s3", "http", "https", "sftp", "ftp"):
            return None
        text = f"{scheme}://{unquote(rest)}"
    elif not text.startswith("/"):
        return None
    head, sep, rest = text.partition("://")
    body = rest if sep else head
    if head == "smb" and sep:  # the server, not its port: a UNC path names none
        host, slash, tail = body.partition("/")
        body = host.rsplit(":", 1)[0] + slash + tail if ":" in host else body
    while "//" in body:
        body = body.replace("//", "/")
    body = body.rstrip("/")
    return f"{head}://{body}" if sep else (body or "/")


def _under(path_key: str, allowed_key: str) -> bool:
    return path_key == allowed_key or path_key.startswith(allowed_key + "/")


@dataclass(frozen=True)
class Rules:
    """The register's view of where secrets may be: allowed storage locations per entry id, and each
    entry's classification level name."""

    allowed: Mapping[int | str, tuple[str, ...]] = field(default_factory=dict)
    levels: Mapping[int | str, str] = field(default_factory=dict)

    def allowed_keys(self, secret_id: int | str) -> list[str]:
        return [k for k in (location_key(loc) for loc in self.allowed.get(secret_id, ())) if k]

    def top_level_keys(self) -> list[str]:
        return [k for sid, level in self.levels.items() if level in TOP_LEVELS for k in self.allowed_keys(sid)]


def _secrets(result: FileResult) -> list[SecretRef]:
    seen: dict[int | str, SecretRef] = {}
    for f in result.findings:
        if f.detector == "registered-secret" and f.secret is not None and f.secret.id not in seen:
            seen[f.secret.id] = f.secret
    return list(seen.values())


def _marking_levels(result: FileResult) -> list[str]:
    out: list[str] = []
    for f in result.findings:
        level = str(f.params.get("level", "")) if f.detector == "marking" else ""
        if level and level not in out:
            out.append(level)
    return out


def evaluate(result: FileResult, rules: Rules) -> list[RuleHit]:
    if result.error is not None:
        return []
    hits: list[RuleHit] = []
    path_key = location_key(result.path) or result.path
    secrets = _secrets(result)
    for secret in secrets:
        allowed = rules.allowed_keys(secret.id)
        level = rules.levels.get(secret.id, secret.level)
        if not allowed:
            hits.append(RuleHit("misplaced", result.path, "placement.no_locations", secret, level))
        elif not any(_under(path_key, a) for a in allowed):
            shown = [loc for loc in rules.allowed.get(secret.id, ()) if location_key(loc)]
            hits.append(RuleHit("misplaced", result.path, "placement.outside_allowed", secret, level,
                                {"allowed": " ; ".join(shown)}))
    markings = _marking_levels(result)
    if markings and not secrets:
        top = [m for m in markings if m in TOP_LEVELS]
        level = top[0] if top else markings[0]
        hits.append(RuleHit("unregistered", result.path, "marking.unregistered", None, level,
                            {"levels": " / ".join(markings)}))
        if top and not any(_under(path_key, a) for a in rules.top_level_keys()):
            hits.append(RuleHit("misplaced", result.path, "placement.marked_outside", None, top[0], {"level": top[0]}))
    if result.exposure:
        sensitive = sorted({f.detector for f in result.findings if f.detector in SENSITIVE})
        reason = f"exposure.{result.exposure}"
        if secrets:
            hits.extend(RuleHit("overexposed", result.path, reason, s, rules.levels.get(s.id, s.level),
                                {"detectors": ", ".join(sensitive)}) for s in secrets)
        elif sensitive:
            hits.append(RuleHit("overexposed", result.path, reason, None, markings[0] if markings else "",
                                {"detectors": ", ".join(sensitive)}))
    return hits


def evaluate_all(results: Iterable[FileResult], rules: Rules) -> list[RuleHit]:
    return [hit for r in results for hit in evaluate(r, rules)]
