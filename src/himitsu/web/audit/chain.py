"""Appending to and verifying the hash-chained audit trail.

Each record's hash is HMAC-SHA256 (keyed with the installation's audit key) over the previous
record's hash and the record's canonical JSON. Editing a record breaks its hash, deleting one
leaves a gap in the sequence and breaks the next record's link, reordering breaks the links, and
cutting records off the end disagrees with the chain head.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from himitsu import config
from himitsu.web.audit.models import AuditEvent, AuditHead

GENESIS = "0" * 64
HASHED_FIELDS = (
    "seq", "at", "actor_id", "actor_name", "action", "object_type", "object_id", "object_repr",
    "channel", "ip", "user_agent", "details",
)


def _canonical(values: dict[str, Any]) -> bytes:
    out = dict(values)
    at = out["at"]
    if isinstance(at, datetime):
        out["at"] = at.astimezone(UTC).isoformat(timespec="microseconds")
    return json.dumps(out, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def compute_hash(key: bytes, prev_hash: str, values: dict[str, Any]) -> str:
    mac = hmac.new(key, prev_hash.encode("ascii"), hashlib.sha256)
    mac.update(b"\n")
    mac.update(_canonical(values))
    return mac.hexdigest()


def _values(event: AuditEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in HASHED_FIELDS}


def client_ip(request: Any) -> str:
    if request is None:
        return ""
    return str(request.META.get("REMOTE_ADDR", ""))[:64]


def event(
    action: str,
    *,
    actor: Any = None,
    request: Any = None,
    channel: str = "web",
    object_type: str = "",
    object_id: str | int = "",
    object_repr: str = "",
    details: dict[str, Any] | None = None,
    actor_name: str | None = None,
) -> AuditEvent:
    """A record not yet in the chain (see :func:`append`)."""
    user = actor if actor is not None else getattr(request, "user", None)
    authenticated = bool(user is not None and getattr(user, "is_authenticated", False))
    name = actor_name if actor_name is not None else (user.get_username() if authenticated else "")
    return AuditEvent(
        at=timezone.now(),
        actor_id=user.pk if authenticated else None,
        actor_name=name[:150],
        action=action,
        object_type=object_type[:40],
        object_id=str(object_id)[:64],
        object_repr=object_repr[:250],
        channel=channel[:10],
        ip=client_ip(request),
        user_agent=str(request.META.get("HTTP_USER_AGENT", ""))[:300] if request is not None else "",
        details=details or {},
    )


def append(events: list[AuditEvent], savepoint: bool = True) -> list[AuditEvent]:
    """Append records to the chain in this order, in one statement and inside the caller's transaction, if any
    (the head is locked while they are linked). ``savepoint=False``: inside a caller's transaction, no savepoint of
    its own (two round trips fewer; a failure here then fails the caller's whole transaction)."""
    if not events:
        return events
    with transaction.atomic(savepoint=savepoint):
        head, _ = AuditHead.objects.select_for_update().get_or_create(pk=1)
        seq, prev = link(events, head.seq, head.hash)
        AuditEvent.objects.bulk_create(events)
        head.seq, head.hash = seq, prev
        head.save(update_fields=["seq", "hash"])
    return events


def link(events: list[AuditEvent], seq: int, prev: str) -> tuple[int, str]:
    """Number and hash ``events`` in this order after a chain head at (``seq``, ``prev``): the new head. The
    caller holds the head locked and stores the events and the new head in the same transaction."""
    key = config.audit_key()
    for item in events:
        seq += 1
        item.seq, item.prev_hash = seq, prev
        item.hash = prev = compute_hash(key, prev, _values(item))
    return seq, prev


def record(action: str, **fields: Any) -> AuditEvent:
    """Append one record to the chain (inside the caller's transaction, if any); ``fields`` as for
    :func:`event`."""
    return append([event(action, **fields)])[0]


@dataclass
class Problem:
    seq: int
    code: str  # audit.edited | audit.deleted | audit.reordered | audit.truncated

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "code": self.code}


@dataclass
class Verification:
    checked: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "last_seq": self.last_seq,
            "last_hash": self.last_hash,
            "problems": [p.as_dict() for p in self.problems],
        }


def _in_order() -> Iterator[AuditEvent]:
    return AuditEvent.objects.order_by("seq").iterator(chunk_size=5000)


def verify(progress: Any = None) -> Verification:
    """Walk the whole chain; report every edited, deleted, reordered or truncated record."""
    key = config.audit_key()
    result = Verification()
    expected_seq, prev_hash = 1, GENESIS
    for event in _in_order():
        result.checked += 1
        if event.seq != expected_seq:
            result.problems.append(Problem(expected_seq, "audit.deleted"))
        if event.prev_hash != prev_hash:
            if event.seq == expected_seq:
                result.problems.append(Problem(event.seq, "audit.reordered"))
        if compute_hash(key, event.prev_hash, _values(event)) != event.hash:
            result.problems.append(Problem(event.seq, "audit.edited"))
        expected_seq, prev_hash = event.seq + 1, event.hash
        if progress is not None:
            progress(1)
    result.last_seq, result.last_hash = expected_seq - 1, prev_hash
    head = AuditHead.objects.filter(pk=1).first()
    if head is None:
        if result.checked:
            result.problems.append(Problem(result.last_seq, "audit.truncated"))
    elif head.seq != result.last_seq or head.hash != result.last_hash:
        result.problems.append(Problem(head.seq, "audit.truncated"))
    return result


def count() -> int:
    return AuditEvent.objects.count()
