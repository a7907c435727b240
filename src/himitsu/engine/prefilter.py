"""One shared pass per text part that finds where the pattern detectors could match.

Each pattern detector registers a *group* of trigger patterns: byte regexes over the part's UTF-8 text
that together match at every place where one of its own regexes can start a match (a superset: every
start its exact regex can have is a trigger start). One Hyperscan scan of the part reports the starts
of all groups at once; a detector then runs its exact regex only at those places (:func:`finditer`),
which gives exactly the matches of ``pattern.finditer(text)``: a match of ``pattern.match(text, c)``
is what a left-to-right search finds at ``c``, and trying the candidate starts in order while skipping
those inside the previous match is what the search does between them.

Without the ``hyperscan`` wheel, or with ``ENABLED = False`` (the old path, kept for the tests that
compare both), :func:`starts` returns None and every detector scans its whole text, with the same
findings, slower.

:func:`findings` keeps each detector's findings for a part in the per-inspection cache
(``Context.cache``), so a detector that builds on others (customer-list on jp-phone, e-mail and
address) reuses their results instead of running them again.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from himitsu.engine.model import Finding, TextPart

try:
    import hyperscan as _hs
except ImportError:  # optional dependency: the detectors then scan their whole text
    _hs = None
try:
    from himitsu.engine._text import group_hits as _group_hits
except ImportError:  # the C extension not built: the same in Python
    _group_hits = None

__all__ = ["AVAILABLE", "ENABLED", "char_class", "findings", "finditer", "groups", "literal", "register", "shared",
           "starts"]

AVAILABLE: bool = _hs is not None
#: False: no prefilter and no shared cache, every detector scans every part alone (the old path)
ENABLED: bool = True
#: False: the hits are sorted and grouped in Python (the reference of the C pass, for the tests)
COMPILED: bool = True

_GROUPS: dict[str, tuple[bytes, ...]] = {}
_LOCK = threading.Lock()
#: (database, group per id, groups, number of groups, group number per id)
_compiled: tuple[Any, tuple[str, ...], tuple[str, ...], int, bytes] | None = None
_local = threading.local()
_MISSING = object()
_PARTS = "prefilter.parts"  # the key of the per-part states in Context.cache
#: why Hyperscan could not be used, when it is installed but failed to compile the groups
_broken: str | None = None


def literal(text: str) -> bytes:
    """A Hyperscan expression matching ``text`` (its UTF-8 bytes, every byte escaped)."""
    return "".join(f"\\x{b:02x}" for b in text.encode("utf-8", "surrogatepass")).encode()


def char_class(chars: Iterable[str]) -> bytes:
    """A Hyperscan expression matching any one of ``chars`` (as UTF-8)."""
    ascii_chars = sorted({c for c in chars if c < "\x80"})
    others = sorted({c for c in chars if c >= "\x80"})
    alternatives = [literal(c) for c in others]
    if ascii_chars:
        alternatives.insert(0, b"[" + b"".join(f"\\x{ord(c):02x}".encode() for c in ascii_chars) + b"]")
    return b"(?:" + b"|".join(alternatives) + b")"


def register(group: str, expressions: Iterable[bytes]) -> str:
    """Declare the trigger expressions of ``group`` (a detector's name for them); returns ``group``."""
    global _compiled
    with _LOCK:
        _GROUPS[group] = tuple(expressions)
        _compiled = None
    return group


def _database() -> tuple[Any, tuple[str, ...], tuple[str, ...], bytes] | None:
    """The compiled groups (compiled again when a group was registered since) with the group of each
    expression id, the group names and the group number of each id (bytes; empty past 255 groups), or None
    when Hyperscan cannot compile them here (a CPU without the instructions it needs, say): then there is no
    prefilter."""
    global _compiled, _broken
    with _LOCK:
        if _compiled is None or _compiled[3] != len(_GROUPS):
            expressions, owners = [], []
            for name, exprs in _GROUPS.items():
                expressions += exprs
                owners += [name] * len(exprs)
            try:
                db = _hs.Database()
                db.compile(expressions=expressions, ids=list(range(len(expressions))), elements=len(expressions),
                           flags=[_hs.HS_FLAG_SOM_LEFTMOST] * len(expressions))
            except Exception as exc:  # hyperscan.error and friends: fall back to whole-text scans
                _broken = f"{type(exc).__name__}: {exc}"
                db = None
            names = tuple(_GROUPS)
            numbers = bytes(names.index(o) for o in owners) if len(names) < 256 else b""
            _compiled = (db, tuple(owners), names, len(_GROUPS), numbers)
        return None if _compiled[0] is None else (*_compiled[:3], _compiled[4])


def _scan(text: str) -> dict[str, list[int]] | None:
    """Sorted candidate starts (offsets into ``text``) of every group; None without a database."""
    compiled = _database()
    if compiled is None:
        return None
    db, owners, names, numbers = compiled
    data = text.encode("utf-8", "surrogatepass")
    hits: list[tuple[int, int]] = []

    def on_match(ident: int, start: int, end: int, flags: int, context: object) -> None:
        hits.append((start, ident))

    scratch = getattr(_local, "scratch", None)
    if scratch is None or getattr(_local, "db", None) is not db:
        scratch = _local.scratch = _hs.Scratch(db)
        _local.db = db
    db.scan(data, match_event_handler=on_match, scratch=scratch)
    if _group_hits is not None and COMPILED and numbers:
        return dict(zip(names, _group_hits(data, hits, numbers, len(names)), strict=True))
    out: dict[str, list[int]] = {name: [] for name in names}
    if not hits:
        return out
    hits.sort()
    ascii_text = len(data) == len(text)
    prev_byte = prev_char = 0
    for start, ident in hits:
        if ascii_text:
            prev_char = start
        elif start != prev_byte:
            prev_char += len(data[prev_byte:start].decode("utf-8", "surrogatepass"))
            prev_byte = start
        found = out[owners[ident]]
        if not found or found[-1] != prev_char:  # one start reported for several ends
            found.append(prev_char)
    return out


class _PartState:
    """What the detectors share about one part during one inspection."""

    __slots__ = ("hits", "part", "values")

    def __init__(self, part: TextPart) -> None:
        self.part = part
        self.hits: Any = _MISSING  # dict[str, list[int]] | None once scanned
        self.values: dict[Any, Any] = {}


def _state(part: TextPart, context: Any) -> _PartState | None:
    cache = getattr(context, "cache", None) if ENABLED else None
    if cache is None:
        return None
    parts = cache.get(_PARTS)
    if parts is None:
        parts = cache[_PARTS] = {}
    state = parts.get(id(part))
    if state is None or state.part is not part:  # a part that had this id before is gone
        state = parts[id(part)] = _PartState(part)
    return state


def shared(context: Any, part: TextPart, key: Any, compute: Callable[[], Any]) -> Any:
    """``compute()``, kept under ``key`` for ``part`` in the per-inspection cache of ``context`` when it
    has one (``Context.cache``)."""
    state = _state(part, context)
    if state is None:
        return compute()
    value = state.values.get(key, _MISSING)
    if value is _MISSING:
        value = state.values[key] = compute()
    return value


def groups(part: TextPart, context: Any = None) -> dict[str, list[int]] | None:
    """The candidate starts of every group in ``part`` (scanned once per inspection when ``context`` has a
    cache, else now), or None when there is no prefilter."""
    if not ENABLED or _hs is None:
        return None
    state = _state(part, context)
    if state is None:
        return _scan(part.text)
    if state.hits is _MISSING:
        state.hits = _scan(part.text)
    hits: dict[str, list[int]] | None = state.hits
    return hits


def starts(part: TextPart, group: str, context: Any = None) -> list[int] | None:
    """Sorted offsets into ``part.text`` where a match of ``group``'s detector may start, or None when
    there is no prefilter (the detector then scans the whole text)."""
    if group not in _GROUPS:
        return None
    found = groups(part, context)
    return None if found is None else found.get(group)


def finditer(pattern: re.Pattern[str], text: str, candidates: list[int] | None) -> Iterator[re.Match[str]]:
    """``pattern.finditer(text)`` when ``candidates`` (sorted) holds every offset where a match can start;
    the whole-text search when ``candidates`` is None. ``pattern`` must not match the empty string."""
    if candidates is None:
        yield from pattern.finditer(text)
        return
    pos = 0
    match = pattern.match
    for c in candidates:
        if c < pos:
            continue
        m = match(text, c)
        if m is not None:
            yield m
            pos = m.end()


def _config(detector: Any) -> Any:
    settings = getattr(detector, "__dict__", None)
    if not settings:
        return type(detector)
    try:
        key = (type(detector), tuple(sorted(settings.items())))
        hash(key)
        return key
    except TypeError:
        return (type(detector), id(detector))


def findings(detector: Any, part: TextPart, context: Any = None) -> list[Finding] | Iterable[Finding]:
    """``detector.detect(part, context)``, computed once per inspection and part for detectors of the same
    class and settings (the per-part shared cache)."""
    if getattr(context, "cache", None) is None or not ENABLED:
        return detector.detect(part, context)
    return shared(context, part, _config(detector), lambda: list(detector.detect(part, context)))
