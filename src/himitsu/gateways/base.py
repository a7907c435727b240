"""What a gateway needs from the rest of Himitsu: the :class:`Guard` protocol, and a pure implementation.

A gateway turns what it receives into an :class:`Outbound` (the channel, the bytes as they would leave,
who sends them and to whom), asks the guard for a :class:`Verdict` and acts on its decision:

* ``allow`` / ``warn``: pass it on (a warning is recorded and shown where the channel can show it);
* ``redact``: pass on ``verdict.decision.redacted`` instead of the text (only for text that may be rewritten);
* ``hold``: :meth:`Guard.hold` keeps the content (encrypted) until a reviewer releases or rejects it;
* ``block``: refuse, with the decision's reasons in the sender's language.

Guard methods are synchronous (the engine is CPU-bound; the web app's implementation uses the ORM):
asynchronous gateways call them in a worker thread.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from himitsu.engine.check import Engine, Result
from himitsu.engine.model import Extraction, Finding, Problem, TextPart
from himitsu.engine.policy import Decision, Policy, Subject, decide

__all__ = ["EngineGuard", "Guard", "Identity", "Outbound", "Verdict", "inspect"]


@dataclass(frozen=True)
class Identity:
    """Who is sending: the user name (may be empty for an integration acting alone), the department code, the
    language messages are shown in, and the public id of the credential used (an API token's prefix; never
    the secret part), which the records keep."""

    user: str = ""
    department: str = ""
    language: str = "ja"
    credential: str = ""


@dataclass(frozen=True)
class Outbound:
    """Content about to leave. ``data`` is what is inspected (a prompt's text in UTF-8, a whole RFC 822
    message); ``name`` gives its format to extraction (``prompt.txt``, ``message.eml``). ``text`` is set
    when the content is text that may be rewritten (then ``redact`` can apply)."""

    channel: str
    data: bytes
    name: str
    identity: Identity = field(default_factory=Identity)
    destinations: tuple[str, ...] = ()
    text: str | None = None
    #: what the records may keep besides the decision: model name, client address, message id (no content)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def subject(self) -> Subject:
        return Subject(self.channel, user=self.identity.user, department=self.identity.department,
                       destinations=self.destinations, redactable=self.text is not None)


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    findings: tuple[Finding, ...] = ()
    problems: tuple[Problem, ...] = ()
    #: id of the stored record of this decision ("" when nothing was recorded)
    record: str = ""

    @property
    def action(self) -> str:
        return self.decision.action


def inspect(engine: Engine, item: Outbound) -> Result:
    """What every guard inspects. Text (``item.text`` set: a prompt, the check API's text) is one plain-text
    part exactly as given, whatever it looks like (a prompt that begins like HTML, a mail header or a PDF is
    still the text the person typed, and the findings' offsets are offsets into it, so a redaction lands where
    it should); anything else goes through extraction by its name. Text over the engine's byte or character
    limit goes through extraction too, which reports the limit as a problem."""
    text = item.text
    if text is None or len(item.data) > engine.limits.max_bytes or len(text) > engine.limits.max_text_chars:
        return engine.check(item.data, item.name)
    return engine.inspect(Extraction(parts=[TextPart("", text, "text")]))


class Guard(Protocol):
    def check(self, item: Outbound) -> Verdict:
        """Inspect ``item``, decide by the policy, record the decision (never the content)."""
        ...

    def hold(self, item: Outbound, verdict: Verdict) -> str:
        """Keep ``item`` (encrypted) for review; returns the quarantine id."""
        ...

    def identify(self, credential: str, channel: str) -> Identity | None:
        """The sender behind an API token (AI gateway) or a mail sender address (relay); None: unknown."""
        ...


class EngineGuard:
    """A :class:`Guard` on a bare engine and policy: records and holds are kept in memory (``records``,
    ``held``) and handed to ``on_record`` when given. For tests, benchmarks and ``himitsu guard test``; the
    web app's guard keeps them in its database."""

    def __init__(self, engine: Engine, policy: Policy, identities: dict[str, Identity] | None = None,
                 on_record: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.engine, self.policy = engine, policy
        self.identities = dict(identities or {})
        self.on_record = on_record
        self.records: list[dict[str, Any]] = []
        self.held: dict[str, Outbound] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def check(self, item: Outbound) -> Verdict:
        result = inspect(self.engine, item)
        decision = decide(self.policy, item.subject(), result.findings, result.problems, text=item.text)
        record = {
            "at": datetime.now(UTC).isoformat(), "channel": item.channel, "user": item.identity.user,
            "department": item.identity.department, "destinations": list(item.destinations),
            "action": decision.action, "detectors": sorted({r.detector for r in decision.reasons}),
            "rules": sorted({r.rule for r in decision.reasons if r.rule}), "sha256": item.sha256,
            "bytes": len(item.data), "meta": dict(item.meta),
        }
        with self._lock:
            record["id"] = str(next(self._ids))
            self.records.append(record)
        if self.on_record is not None:
            self.on_record(record)
        return Verdict(decision, tuple(result.findings), tuple(result.problems), record=record["id"])

    def hold(self, item: Outbound, verdict: Verdict) -> str:
        with self._lock:
            ident = f"q{len(self.held) + 1}"
            self.held[ident] = item
        return ident

    def identify(self, credential: str, channel: str) -> Identity | None:
        return self.identities.get(credential)
