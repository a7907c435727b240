"""From findings to a decision: allow, warn, redact, hold or block, with the reasons shown to the person.

Pure module (no Django): the web app keeps the policy an organisation edits and turns it into these
objects; the check API, the AI gateway, the mail relay and ``himitsu guard test`` all call :func:`decide`.

A **policy** is an ordered list of :class:`Rule` and a list of :class:`Allowance` (exceptions):

* Each finding is given the action of the *first* rule it matches (rules are kept most specific first);
  a finding no rule matches is allowed. A rule matches on the detector, the classification level (the
  register level of the matched secret, or the level a marking denotes), the channel, the sender's
  department and a minimum score; an empty condition matches anything.
* An allowance lowers the action of the findings it covers when *every* destination is inside its
  domains (a partner under an NDA, say), on its channels, for its detectors and levels, until it expires.
* What could not be inspected (a corrupt file, a limit exceeded, nothing readable) is a finding of the
  pseudo-detector ``uninspectable``, so the policy decides about it like any other (fail closed or not).
* The decision is the most severe action of all findings: allow < warn < redact < hold < block.
  ``redact`` masks the spans of the findings it applies to where the content is text that can be
  rewritten (a prompt, the text of the check API); anywhere else (a file, an attachment) it blocks.

Every reason carries a message in Japanese and in English: the rule's own text when it has one, else
a default per action and kind of finding. Messages never quote the secret's text or the matched value:
they name the detector, the level and, for registered secrets, nothing more than that a registered
secret matched (the title could itself say too much to a person without need-to-know).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from himitsu.engine.model import Finding, Problem

__all__ = ["ACTIONS", "CHANNELS", "LEVELS", "UNINSPECTABLE", "Allowance", "Decision", "Policy", "PolicyError",
           "Reason", "Rule", "Subject", "decide", "default_policy", "finding_level", "policy_from_data", "redact_text",
           "severity"]

#: actions, least severe first
ACTIONS: tuple[str, ...] = ("allow", "warn", "redact", "hold", "block")
_SEVERITY = {a: i for i, a in enumerate(ACTIONS)}
#: where content leaves through
CHANNELS: tuple[str, ...] = ("ai", "mail", "upload", "api")
#: the register's classification levels, highest first
LEVELS: tuple[str, ...] = ("極秘", "秘", "社外秘")
#: the pseudo-detector of content that could not be inspected
UNINSPECTABLE = "uninspectable"
#: problems that mean (part of) the content was not inspected
_UNINSPECTED = frozenset({"corrupt", "unsupported", "encoding", "limit.bytes", "limit.time", "limit.total",
                          "limit.ratio", "limit.depth", "limit.entries", "limit.text"})
# ("encrypted" is not among them: the encrypted-archive detector turns it into a finding of its own)

#: the level a marking denotes, in the register's three levels (handling words such as 取扱注意 have none)
_MARKING_LEVELS = {
    "極秘": "極秘", "厳秘": "極秘", "Strictly Confidential": "極秘",
    "秘": "秘", "機密": "秘", "秘密": "秘",
    "社外秘": "社外秘", "部外秘": "社外秘", "関係者外秘": "社外秘", "社内秘": "社外秘", "社内限り": "社外秘",
    "Confidential": "社外秘", "Internal Use Only": "社外秘", "Proprietary": "社外秘", "Internal": "社外秘",
}


def severity(action: str) -> int:
    return _SEVERITY[action]


@dataclass(frozen=True)
class Rule:
    """``action`` for the findings matching every non-empty condition."""

    id: str
    action: str
    detectors: frozenset[str] = frozenset()
    levels: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    departments: frozenset[str] = frozenset()
    min_score: float = 0.0
    message_ja: str = ""
    message_en: str = ""

    def __post_init__(self) -> None:
        if self.action not in _SEVERITY:
            raise ValueError(f"unknown action {self.action!r}")
        unknown = set(self.channels) - set(CHANNELS)
        if unknown:
            raise ValueError(f"unknown channel {sorted(unknown)[0]!r}")

    def matches(self, detector: str, level: str | None, score: float, subject: Subject) -> bool:
        return ((not self.detectors or detector in self.detectors)
                and (not self.levels or level in self.levels)
                and (not self.channels or subject.channel in self.channels)
                and (not self.departments or subject.department in self.departments)
                and score >= self.min_score)


@dataclass(frozen=True)
class Allowance:
    """An exception: findings it covers get ``action`` (default allow) when every destination lies in
    ``domains`` (``partner.co.jp`` also covers ``mail.partner.co.jp``; ``*`` patterns allowed)."""

    id: str
    domains: tuple[str, ...]
    action: str = "allow"
    channels: frozenset[str] = frozenset({"mail"})
    detectors: frozenset[str] = frozenset()
    levels: frozenset[str] = frozenset()
    until: date | None = None
    message_ja: str = ""
    message_en: str = ""

    def __post_init__(self) -> None:
        if self.action not in _SEVERITY:
            raise ValueError(f"unknown action {self.action!r}")

    def covers(self, detector: str, level: str | None, subject: Subject, today: date) -> bool:
        if self.until is not None and today > self.until:
            return False
        if self.channels and subject.channel not in self.channels:
            return False
        if (self.detectors and detector not in self.detectors) or (self.levels and level not in self.levels):
            return False
        return bool(subject.destinations) and all(self._inside(d) for d in subject.destinations)

    def _inside(self, destination: str) -> bool:
        domain = destination.rsplit("@", 1)[-1].strip().strip(".").lower()
        for pattern in self.domains:
            pattern = pattern.strip().lower().lstrip("@")
            if "*" in pattern or "?" in pattern:
                if fnmatch.fnmatchcase(domain, pattern):
                    return True
            elif domain == pattern or domain.endswith("." + pattern):
                return True
        return False


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...] = ()
    allowances: tuple[Allowance, ...] = ()
    version: str = ""


@dataclass(frozen=True)
class Subject:
    """Who sends what where: the channel, the sender (user name, department code) and the destinations
    (e-mail addresses or domains for mail, the AI service's name, the upload's host)."""

    channel: str
    user: str = ""
    department: str = ""
    destinations: tuple[str, ...] = ()
    #: True when the content is text that may be rewritten (redaction possible)
    redactable: bool = False

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}")


@dataclass(frozen=True)
class Reason:
    """Why one finding (or the uninspected content) got ``action``."""

    action: str
    detector: str
    level: str | None
    rule: str  # id of the rule or allowance that decided, "" for the default (allow)
    message_ja: str
    message_en: str
    finding: Finding | None = None
    problem: Problem | None = None


@dataclass(frozen=True)
class Decision:
    action: str
    reasons: tuple[Reason, ...] = ()
    #: the text with the redacted spans masked, when the decision is ``redact`` (None otherwise)
    redacted: str | None = None
    policy_version: str = ""

    @property
    def shown(self) -> tuple[Reason, ...]:
        """The reasons worth telling the person: those with the decision's action, most severe first."""
        return tuple(r for r in self.reasons if r.action == self.action and r.action != "allow")

    def messages(self, language: str = "ja") -> list[str]:
        """The distinct messages of :attr:`shown`, in ``language`` (``ja`` or ``en``)."""
        pick = (lambda r: r.message_ja) if language.startswith("ja") else (lambda r: r.message_en)
        return list(dict.fromkeys(pick(r) for r in self.shown))


class PolicyError(ValueError):
    """A policy that cannot be used; ``where`` names the rule or allowance."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where, self.reason = where, reason


def policy_from_data(data: dict[str, Any]) -> Policy:
    """A policy from its plain-data form (the catalogue's YAML, or the web app's stored rules): ``rules``
    and ``allowances`` are lists of mappings with the fields of :class:`Rule` / :class:`Allowance`, the
    messages under ``message`` (Japanese) and ``message_en``."""
    if not isinstance(data, dict):
        raise PolicyError("policy", "not a mapping")
    rules, allowances = [], []
    for n, item in enumerate(data.get("rules") or [], start=1):
        where = f"rule {item.get('id', n) if isinstance(item, dict) else n}"
        fields = _fields(item, where)
        try:
            rules.append(Rule(id=str(fields.get("id", n)), action=str(fields.get("action", "")),
                              detectors=_set(fields, "detectors", where), levels=_set(fields, "levels", where),
                              channels=_set(fields, "channels", where), departments=_set(fields, "departments", where),
                              min_score=float(fields.get("min_score", 0.0)), message_ja=str(fields.get("message", "")),
                              message_en=str(fields.get("message_en", ""))))
        except (TypeError, ValueError) as exc:
            raise PolicyError(where, str(exc)) from exc
    for n, item in enumerate(data.get("allowances") or [], start=1):
        where = f"allowance {item.get('id', n) if isinstance(item, dict) else n}"
        fields = _fields(item, where)
        until = fields.get("until")
        try:
            allowances.append(Allowance(
                id=str(fields.get("id", n)), domains=tuple(sorted(_set(fields, "domains", where))),
                action=str(fields.get("action", "allow")),
                channels=_set(fields, "channels", where) if "channels" in fields else frozenset({"mail"}),
                detectors=_set(fields, "detectors", where), levels=_set(fields, "levels", where),
                until=date.fromisoformat(str(until)) if until else None, message_ja=str(fields.get("message", "")),
                message_en=str(fields.get("message_en", ""))))
        except (TypeError, ValueError) as exc:
            raise PolicyError(where, str(exc)) from exc
        if not allowances[-1].domains:
            raise PolicyError(where, "no domains")
    return Policy(rules=tuple(rules), allowances=tuple(allowances), version=str(data.get("version", "")))


def _fields(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise PolicyError(where, "not a mapping")
    return item


def _set(fields: dict[str, Any], key: str, where: str) -> frozenset[str]:
    value = fields.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple | set | frozenset):
        raise PolicyError(where, f"{key} is not a list")
    return frozenset(str(v) for v in value)


def default_policy() -> Policy:
    """The policy a new installation starts from (``himitsu/catalog/guard_policy.yaml``)."""
    from himitsu.catalog import load

    return policy_from_data(load("guard_policy.yaml"))


def finding_level(finding: Finding) -> str | None:
    """The register level of a finding: its matched secret's, or the one its marking denotes."""
    if finding.secret is not None and finding.secret.level:
        return finding.secret.level
    marking = finding.params.get("level") if finding.detector == "marking" else None
    return _MARKING_LEVELS.get(marking) if isinstance(marking, str) else None


def decide(policy: Policy, subject: Subject, findings: Iterable[Finding], problems: Iterable[Problem] = (),
           text: str | None = None, today: date | None = None) -> Decision:
    """The decision for content with these findings and problems sent by ``subject``. ``text`` is the
    inspected text (one part) when the content is text: the ``redact`` spans are masked in it."""
    today = today or date.today()
    can_redact = subject.redactable and text is not None
    reasons: list[Reason] = []
    for f in findings:
        reasons.append(_judge(policy, subject, f.detector, finding_level(f), f.score, today, can_redact, finding=f))
    uninspected = [p for p in problems if p.code in _UNINSPECTED]
    if uninspected:  # one reason for all of them: the policy decides once about uninspected content
        reasons.append(_judge(policy, subject, UNINSPECTABLE, None, 1.0, today, False, problem=uninspected[0]))
    action = max((r.action for r in reasons), key=severity, default="allow")
    redacted = None
    if action == "redact" and text is not None:
        redacted = redact_text(text, [r.finding for r in reasons if r.action == "redact" and r.finding is not None])
    reasons.sort(key=lambda r: -severity(r.action))
    return Decision(action=action, reasons=tuple(reasons), redacted=redacted, policy_version=policy.version)


def _judge(policy: Policy, subject: Subject, detector: str, level: str | None, score: float, today: date,
           can_redact: bool, finding: Finding | None = None, problem: Problem | None = None) -> Reason:
    rule = next((r for r in policy.rules if r.matches(detector, level, score, subject)), None)
    action = rule.action if rule is not None else "allow"
    decided_by, ja, en = (rule.id, rule.message_ja, rule.message_en) if rule is not None else ("", "", "")
    if action != "allow":
        allowance = next((a for a in policy.allowances if a.covers(detector, level, subject, today)), None)
        if allowance is not None and severity(allowance.action) < severity(action):
            action, decided_by, ja, en = allowance.action, allowance.id, allowance.message_ja, allowance.message_en
    escalated = action == "redact" and not can_redact
    if escalated:  # redact where nothing can be rewritten (a file, an attachment): block
        action = "block"
    if not ja or not en:
        default_ja, default_en = default_message(action, detector, level, subject.channel)
        ja, en = ja or default_ja, en or default_en
    if escalated:
        ja += "（この内容は伏せ字にできないため、送信を止めました）"
        en += " (This content cannot be masked, so it was blocked.)"
    return Reason(action, detector, level, decided_by, ja, en, finding=finding, problem=problem)


def redact_text(text: str, findings: Sequence[Finding]) -> str:
    """``text`` with each finding's span replaced by ``[REDACTED:detector]`` (overlapping spans merged)."""
    merged: list[tuple[int, int, str]] = []
    for start, end, detector in sorted((f.start, f.end, f.detector) for f in findings
                                       if 0 <= f.start < f.end <= len(text)):
        if merged and start < merged[-1][1]:  # overlaps the previous span: extend it
            first_start, first_end, first_detector = merged[-1]
            merged[-1] = (first_start, max(first_end, end), first_detector)
        else:
            merged.append((start, end, detector))
    out: list[str] = []
    pos = 0
    for start, end, detector in merged:
        out.append(text[pos:start])
        out.append(f"[REDACTED:{detector}]")
        pos = end
    out.append(text[pos:])
    return "".join(out)


#: what each detector finds, for the default messages (ja, en)
_WHAT = {
    "registered-secret": ("登録された営業秘密と一致する内容", "content matching a registered trade secret"),
    "marking": ("秘密表示（マル秘・社外秘など）", "a confidentiality marking"),
    "my-number": ("マイナンバー（個人番号）", "a My Number (individual number)"),
    "corporate-number": ("法人番号", "a corporate number"),
    "credit-card": ("クレジットカード番号", "a payment card number"),
    "jp-phone": ("電話番号", "a telephone number"),
    "email-address": ("メールアドレス", "an e-mail address"),
    "jp-address": ("住所", "a postal address"),
    "credential": ("パスワード・秘密鍵・アクセストークン", "a password, private key or access token"),
    "customer-list": ("顧客名簿などの個人情報の一覧", "a list of personal data (customer list)"),
    "encrypted-archive": ("中身を確認できない暗号化ファイル（パスワード付きZIPなど）",
                          "an encrypted file whose content cannot be checked (password-protected ZIP, PPAP)"),
    UNINSPECTABLE: ("内容を確認できないファイル（破損・上限超過など）",
                    "content that could not be checked (damaged, or over a limit)"),
}
_CHANNEL = {"ai": ("生成AIへの入力", "This prompt to generative AI"), "mail": ("このメール", "This e-mail"),
            "upload": ("このアップロード", "This upload"), "api": ("この送信", "This content"),
            "": ("この送信", "This content")}


def default_message(action: str, detector: str, level: str | None, channel: str) -> tuple[str, str]:
    """(ja, en) message for a finding without a message of its own."""
    what_ja, what_en = _WHAT.get(detector, (detector, detector))
    if level:
        what_ja, what_en = f"{what_ja}（{level}）", f"{what_en} ({level})"
    where_ja, where_en = _CHANNEL.get(channel, _CHANNEL[""])
    if action == "block":
        return (f"{what_ja}が含まれているため、{where_ja}は止められました。",
                f"{where_en} was blocked: it contains {what_en}.")
    if action == "hold":
        return (f"{what_ja}が含まれているため、{where_ja}は管理者の確認待ちになりました。",
                f"{where_en} is held for review: it contains {what_en}.")
    if action == "redact":
        return (f"{what_ja}を伏せ字にして送信しました。",
                f"{what_en[0].upper()}{what_en[1:]} was masked before sending.")
    if action == "warn":
        return (f"{what_ja}が含まれています。送信先と必要性を確認してください。",
                f"It contains {what_en}: check the recipient and whether it is needed.")
    return ("", "")
