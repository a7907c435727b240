"""The only writer of the outbound guard's rows (issue 6): the policy, API tokens, decision records, quarantine.

Public API (for pages, the check API, the gateways and the CLI); every function that changes something takes a
:class:`~himitsu.web.register.services.Context` (or a bare actor, taken as a web context), checks
``himitsu.web.accounts.access`` and writes an audit record in the same transaction:

* policy: :func:`current_policy` (the engine ``Policy`` of the enabled rows, seeded from the catalogue's default
  the first time), :func:`ensure_seeded`, :func:`policy_data`, :func:`create_rule`, :func:`update_rule`,
  :func:`delete_rule`, :func:`move_rule`, :func:`create_allowance`, :func:`update_allowance`,
  :func:`delete_allowance`, :func:`move_allowance`, :func:`rule_choices`;
* tokens: :func:`create_token` (returns the row and the token, shown once), :func:`verify_token`,
  :func:`revoke_token`, :func:`visible_tokens`;
* the :class:`DatabaseGuard` (the ``Guard`` protocol of ``himitsu.gateways.base`` on this database): ``check``
  records a :class:`GuardDecision`, ``evaluate`` decides without recording (``himitsu guard test``), ``hold``
  keeps the content encrypted, ``identify`` finds the sender behind a token or mail address;
* quarantine: :func:`open_item` (the held bytes, for a reviewer), :func:`release`, :func:`reject`.

Validation errors are :class:`~himitsu.errors.InputError` with stable ``guard.*`` codes and a ``field`` parameter
naming the field at fault (for a form). Audit records carry codes and counts, never content or matched values.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import re
import secrets as random
import time as _time
import uuid
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from himitsu.engine.check import Engine, Result
from himitsu.engine.policy import (
    ACTIONS,
    CHANNELS,
    LEVELS,
    UNINSPECTABLE,
    Allowance,
    Decision,
    Policy,
    PolicyError,
    Rule,
    decide,
    default_policy,
    policy_from_data,
)
from himitsu.errors import InputError, PermissionDeniedError
from himitsu.gateways.base import Identity, Outbound, Verdict, inspect
from himitsu.gateways.smtp_out import DeliveryError, NextHop, deliver
from himitsu.web.accounts import access
from himitsu.web.accounts.models import Department, User
from himitsu.web.audit import chain
from himitsu.web.audit.models import Action, AuditEvent
from himitsu.web.core.db import Recent, serialised_writes
from himitsu.web.guard import crypto, serving
from himitsu.web.guard.models import (
    ApiToken,
    GuardDecision,
    PolicyAllowance,
    PolicyRule,
    PolicySeed,
    QuarantineItem,
    QuarantineStatus,
)
from himitsu.web.register.services import Context

SCOPES = ("check", "ai")
TOKEN_PREFIX = "hmt"
SECRET_BYTES = 32
#: last_used_at is written at most this often per token (seconds)
LAST_USED_EVERY = 60
MESSAGE_LIMIT = 500
#: a release whose process died keeps the item "releasing"; after this long it may be released again
RELEASE_STALE = timedelta(minutes=10)
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,59}$")
_DOMAIN = re.compile(r"^[A-Za-z0-9*?]([A-Za-z0-9*?.-]{0,251}[A-Za-z0-9*?])?$")
_UNSET: Any = object()


def _ctx(ctx_or_actor: Any) -> Context:
    return ctx_or_actor if isinstance(ctx_or_actor, Context) else Context(actor=ctx_or_actor)


def _user(actor: Any) -> User | None:
    return actor if isinstance(actor, User) else None


def _name(actor: Any) -> str:
    return actor.get_username() if actor is not None and getattr(actor, "is_authenticated", False) else ""


# --- policy ------------------------------------------------------------------------------------------------------

def ensure_seeded() -> None:
    """Fill the policy tables from the catalogue's default policy, once per database (one transaction)."""
    if PolicySeed.objects.filter(pk=1).exists():
        return
    policy = default_policy()
    try:
        with transaction.atomic():
            PolicySeed.objects.create(pk=1, version=policy.version[:40], stamp=uuid.uuid4().hex)
            PolicyRule.objects.bulk_create([_rule_row(r, n) for n, r in enumerate(policy.rules)])
            PolicyAllowance.objects.bulk_create([_allowance_row(a, n) for n, a in enumerate(policy.allowances)])
            chain.record(Action.CREATE, actor_name="system", channel="system", object_type="guard_policy",
                         object_repr=policy.version[:250],
                         details={"seeded": policy.version, "rules": len(policy.rules),
                                  "allowances": len(policy.allowances)})
    except IntegrityError:  # another process seeded it at the same moment
        if not PolicySeed.objects.filter(pk=1).exists():
            raise


def _rule_row(rule: Rule, position: int) -> PolicyRule:
    return PolicyRule(position=position, slug=rule.id, action=rule.action, detectors=sorted(rule.detectors),
                      levels=sorted(rule.levels), channels=sorted(rule.channels), departments=sorted(rule.departments),
                      min_score=rule.min_score, message_ja=rule.message_ja, message_en=rule.message_en)


def _allowance_row(a: Allowance, position: int) -> PolicyAllowance:
    return PolicyAllowance(position=position, slug=a.id, domains=list(a.domains), action=a.action,
                           channels=sorted(a.channels), detectors=sorted(a.detectors), levels=sorted(a.levels),
                           until=a.until, message_ja=a.message_ja, message_en=a.message_en)


def _rule_data(r: PolicyRule) -> dict[str, Any]:
    return {"id": r.slug, "action": r.action, "detectors": list(r.detectors), "levels": list(r.levels),
            "channels": list(r.channels), "departments": list(r.departments), "min_score": r.min_score,
            "message": r.message_ja, "message_en": r.message_en}


def _allowance_data(a: PolicyAllowance) -> dict[str, Any]:
    return {"id": a.slug, "domains": list(a.domains), "action": a.action, "channels": list(a.channels),
            "detectors": list(a.detectors), "levels": list(a.levels),
            "until": a.until.isoformat() if a.until else None, "message": a.message_ja, "message_en": a.message_en}


def policy_data(include_disabled: bool = False) -> dict[str, Any]:
    """The stored policy in the plain-data form of ``policy_from_data`` (the catalogue's YAML shape), in order;
    disabled rows only when asked (each then carries ``enabled``)."""
    ensure_seeded()
    rules = PolicyRule.objects.all() if include_disabled else PolicyRule.objects.filter(enabled=True)
    allowances = PolicyAllowance.objects.all() if include_disabled else PolicyAllowance.objects.filter(enabled=True)
    data: dict[str, Any] = {
        "rules": [_rule_data(r) | ({"enabled": r.enabled} if include_disabled else {}) for r in rules],
        "allowances": [_allowance_data(a) | ({"enabled": a.enabled} if include_disabled else {})
                       for a in allowances],
    }
    body = json.dumps({k: data[k] for k in ("rules", "allowances")}, sort_keys=True, ensure_ascii=False,
                      default=str)
    data["version"] = "db-" + hashlib.sha256(body.encode("utf-8")).hexdigest()[:12]
    return data


#: (stamp, policy) as this process last read it; see ``PolicySeed.stamp``
_policy_read: tuple[str, Policy] | None = None
_policy_checked = 0.0  # when this process last read the stamp (serving mode reads it once a second)


def current_policy() -> Policy:
    """The engine policy of the enabled rules and exceptions, in order (version ``db-<hash of the rows>``).
    Read again only when the policy's stamp changed (every change through these services changes it)."""
    global _policy_read, _policy_checked
    read = _policy_read
    if read is not None and serving.enabled() and _time.monotonic() - _policy_checked < serving.POLICY_SECONDS:
        return read[1]
    stamp = PolicySeed.objects.filter(pk=1).values_list("stamp", flat=True).first()
    if stamp is None:
        ensure_seeded()
        stamp = PolicySeed.objects.filter(pk=1).values_list("stamp", flat=True).first()
    _policy_checked = _time.monotonic()
    if read is not None and stamp and read[0] == stamp:
        return read[1]
    data = policy_data()
    try:
        policy = policy_from_data(data)
    except PolicyError as exc:  # rows are validated when saved; a row edited in the database by hand
        raise InputError("guard.rule_invalid", rule=exc.where, reason=exc.reason) from exc
    _policy_read = (stamp or "", policy)
    return policy


def warm_up() -> None:
    """Before a server answers: open the register's fingerprint index and build its lookup tables, build the
    detectors (one check of a short text) and read the policy, so that the first requests do not wait for them
    (with several server processes this runs once, before they are made, and they share what was loaded)."""
    from himitsu.engine.model import Extraction, TextPart
    from himitsu.web.register import documents

    engine = documents.engine()
    engine.inspect(Extraction(parts=[TextPart("", "warm-up ウォームアップ 0312345678", "text")]))
    engine.prepare()
    current_policy()


def _policy_changed() -> None:
    """A rule or exception changed (inside its transaction): a new stamp, so every process reads the policy again."""
    global _policy_read
    PolicySeed.objects.filter(pk=1).update(stamp=uuid.uuid4().hex)
    _policy_read = None


def rule_choices() -> dict[str, list[str]]:
    """What the conditions may name: actions, channels, detectors, levels and department codes (for forms)."""
    from himitsu.engine import registry
    from himitsu.web.register.models import ClassificationLevel

    levels = list(dict.fromkeys([*LEVELS, *ClassificationLevel.objects.values_list("name", flat=True)]))
    return {"actions": list(ACTIONS), "channels": list(CHANNELS),
            "detectors": sorted(registry.detector_classes()) + [UNINSPECTABLE], "levels": levels,
            "departments": list(Department.objects.values_list("code", flat=True))}


def _names(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [v for v in re.split(r"[,\s、]+", value) if v]
    if not isinstance(value, list | tuple | set | frozenset) or not all(isinstance(v, str) for v in value):
        raise InputError("guard.list_invalid", field=field)
    return list(dict.fromkeys(v.strip() for v in value if v.strip()))


def _check_slug(slug: Any, model: type, exclude: int | None = None) -> str:
    text = str(slug or "").strip()
    if not _SLUG.match(text):
        raise InputError("guard.slug_invalid", slug=text[:80], field="slug")
    taken = PolicyRule.objects.filter(slug=text) if model is PolicyRule else PolicyAllowance.objects.filter(slug=text)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise InputError("guard.slug_taken", slug=text, field="slug")
    return text


def _check_common(values: dict[str, Any]) -> None:
    choices = rule_choices()
    if values["action"] not in ACTIONS:
        raise InputError("guard.action_unknown", action=str(values["action"])[:40], field="action")
    for channel in values["channels"]:
        if channel not in CHANNELS:
            raise InputError("guard.channel_unknown", channel=channel[:40], field="channels")
    for detector in values["detectors"]:
        if detector not in choices["detectors"]:
            raise InputError("guard.detector_unknown", detector=detector[:60], field="detectors")
    for level in values["levels"]:
        if level not in choices["levels"]:
            raise InputError("guard.level_unknown", level=level[:40], field="levels")
    for department in values.get("departments", []):
        if department not in choices["departments"]:
            raise InputError("department.not_found", department=department[:40], field="departments")
    for key in ("message_ja", "message_en"):
        values[key] = str(values[key] or "").replace("\x00", "").strip()
        if len(values[key]) > MESSAGE_LIMIT:
            raise InputError("guard.message_too_long", limit=MESSAGE_LIMIT, field=key)


def _validate_with_engine(kind: str, values: dict[str, Any]) -> None:
    """The engine's own check (the same ``policy_from_data`` that builds the policy)."""
    data = dict(values, id=values["slug"], message=values["message_ja"])
    if kind == "rule":
        data = {"rules": [data]}
    else:
        data["until"] = values["until"].isoformat() if values.get("until") else None
        data = {"allowances": [data]}
    try:
        policy_from_data(data)
    except PolicyError as exc:
        raise InputError("guard.rule_invalid", rule=values["slug"], reason=exc.reason) from exc


def _rule_values(rule: PolicyRule) -> dict[str, Any]:
    return {"slug": rule.slug, "action": rule.action, "detectors": list(rule.detectors), "levels": list(rule.levels),
            "channels": list(rule.channels), "departments": list(rule.departments), "min_score": rule.min_score,
            "message_ja": rule.message_ja, "message_en": rule.message_en, "enabled": rule.enabled}


def _allowance_values(a: PolicyAllowance) -> dict[str, Any]:
    return {"slug": a.slug, "domains": list(a.domains), "action": a.action, "channels": list(a.channels),
            "detectors": list(a.detectors), "levels": list(a.levels), "until": a.until, "message_ja": a.message_ja,
            "message_en": a.message_en, "enabled": a.enabled}


def _clean_rule(values: dict[str, Any], exclude: int | None) -> dict[str, Any]:
    values = dict(values)
    values["slug"] = _check_slug(values["slug"], PolicyRule, exclude)
    for key in ("detectors", "levels", "channels", "departments"):
        values[key] = _names(values[key], key)
    try:
        score = float(values["min_score"] if values["min_score"] not in (None, "") else 0.0)
    except (TypeError, ValueError):
        score = -1.0
    if isinstance(values["min_score"], bool) or not 0.0 <= score <= 1.0:
        raise InputError("guard.score_invalid", field="min_score")
    values["min_score"] = score
    values["action"] = str(values["action"] or "")
    values["enabled"] = bool(values["enabled"])
    _check_common(values)
    _validate_with_engine("rule", values)
    return values


def _clean_allowance(values: dict[str, Any], exclude: int | None) -> dict[str, Any]:
    values = dict(values)
    values["slug"] = _check_slug(values["slug"], PolicyAllowance, exclude)
    for key in ("domains", "detectors", "levels", "channels"):
        values[key] = _names(values[key], key)
    values["domains"] = [d.lower().lstrip("@").strip(".") for d in values["domains"]]
    if not values["domains"]:
        raise InputError("guard.domains_required", field="domains")
    for domain in values["domains"]:
        if not _DOMAIN.match(domain) or ".." in domain:
            raise InputError("guard.domain_invalid", domain=domain[:100], field="domains")
    until = values["until"]
    if isinstance(until, str):
        try:
            until = date.fromisoformat(until) if until.strip() else None
        except ValueError:
            raise InputError("hr.bad_date", value=until[:40], field="until") from None
    if until is not None and not isinstance(until, date):
        raise InputError("hr.bad_date", value=str(until)[:40], field="until")
    values["until"] = until
    values["action"] = str(values["action"] or "allow")
    values["enabled"] = bool(values["enabled"])
    _check_common(values)
    _validate_with_engine("allowance", values)
    return values


def _snapshot(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in values.items()}


def _audit(ctx: Context, action: str, object_type: str, obj: Any, details: dict[str, Any]) -> None:
    if object_type in ("guard_rule", "guard_allowance"):
        _policy_changed()
    chain.record(action, actor=ctx.actor, request=ctx.request, channel=ctx.channel, object_type=object_type,
                 object_id=obj.pk, object_repr=str(obj)[:250], details=details)


def _next_position(model: type) -> int:
    top = model.objects.aggregate(top=Max("position"))["top"]
    return 0 if top is None else top + 1


def create_rule(ctx: Any, slug: str, action: str, *, detectors: Any = (), levels: Any = (), channels: Any = (),
                departments: Any = (), min_score: Any = 0.0, message_ja: str = "", message_en: str = "",
                enabled: bool = True, position: int | None = None) -> PolicyRule:
    """Add a rule (at the end, or before the rule now at ``position``)."""
    ctx = _ctx(ctx)
    access.require(access.can_manage_guard(ctx.actor))
    ensure_seeded()
    values = _clean_rule({"slug": slug, "action": action, "detectors": list(detectors), "levels": list(levels),
                          "channels": list(channels), "departments": list(departments), "min_score": min_score,
                          "message_ja": message_ja, "message_en": message_en, "enabled": enabled}, None)
    with transaction.atomic():
        rule = PolicyRule(**values, position=_next_position(PolicyRule), updated_by=_user(ctx.actor))
        rule.save()
        _audit(ctx, Action.CREATE, "guard_rule", rule, _snapshot(values))
        if position is not None:
            _reorder(PolicyRule, rule, position)
    return rule


def update_rule(ctx: Any, rule: PolicyRule, **changes: Any) -> PolicyRule:
    """Change the given fields of a rule (``slug``, ``action``, ``detectors``, ``levels``, ``channels``,
    ``departments``, ``min_score``, ``message_ja``, ``message_en``, ``enabled``); the others stay."""
    return _update(ctx, PolicyRule, rule, changes, _rule_values, _clean_rule, "guard_rule")


def delete_rule(ctx: Any, rule: PolicyRule) -> None:
    _delete(ctx, rule, _rule_values, "guard_rule")


def _update(ctx: Any, model: type, row: Any, changes: dict[str, Any], values: Any, clean: Any,
            object_type: str) -> Any:
    """Change the given fields of a rule or exception, validated as a whole (``clean``), audited with the diff."""
    ctx = _ctx(ctx)
    access.require(access.can_manage_guard(ctx.actor))
    with transaction.atomic():
        row = model.objects.select_for_update().get(pk=row.pk)
        before = values(row)
        unknown = set(changes) - set(before)
        if unknown:
            raise TypeError(f"unknown fields: {sorted(unknown)}")
        after = clean(before | changes, row.pk)
        for key, value in after.items():
            setattr(row, key, value)
        row.updated_by = _user(ctx.actor)
        row.save()
        old, new = _snapshot(before), _snapshot(after)
        diff = {k: [old[k], new[k]] for k in after if before[k] != after[k]}
        if diff:
            _audit(ctx, Action.UPDATE, object_type, row, {"changes": diff})
    return row


def _delete(ctx: Any, row: Any, values: Any, object_type: str) -> None:
    ctx = _ctx(ctx)
    access.require(access.can_manage_guard(ctx.actor))
    with transaction.atomic():
        _audit(ctx, Action.DELETE, object_type, row, _snapshot(values(row)))
        row.delete()


def move_rule(ctx: Any, rule: PolicyRule, position: int) -> None:
    """Put the rule at ``position`` (0: first) and number the rules 0, 1, 2… in their new order."""
    ctx = _ctx(ctx)
    access.require(access.can_manage_guard(ctx.actor))
    with transaction.atomic():
        old = list(PolicyRule.objects.values_list("slug", flat=True))
        _reorder(PolicyRule, rule, position)
        _audit(ctx, Action.UPDATE, "guard_rule", rule,
               {"order": [old, list(PolicyRule.objects.values_list("slug", flat=True))]})


def _reorder(model: type, row: Any, position: int) -> None:
    rows = [r for r in model.objects.select_for_update().order_by("position", "pk") if r.pk != row.pk]
    rows.insert(max(0, min(int(position), len(rows))), row)
    for n, r in enumerate(rows):
        if r.position != n:
            model.objects.filter(pk=r.pk).update(position=n)
    row.position = rows.index(row)


def create_allowance(ctx: Any, slug: str, domains: Any, *, action: str = "allow", channels: Any = ("mail",),
                     detectors: Any = (), levels: Any = (), until: date | str | None = None, message_ja: str = "",
                     message_en: str = "", enabled: bool = True) -> PolicyAllowance:
    """Add an exception (e.g. partners under an NDA): findings it covers get ``action`` when every destination
    lies inside ``domains``."""
    ctx = _ctx(ctx)
    access.require(access.can_manage_guard(ctx.actor))
    ensure_seeded()
    values = _clean_allowance({"slug": slug, "domains": domains, "action": action, "channels": list(channels),
                               "detectors": list(detectors), "levels": list(levels), "until": until,
                               "message_ja": message_ja, "message_en": message_en, "enabled": enabled}, None)
    with transaction.atomic():
        allowance = PolicyAllowance(**values, position=_next_position(PolicyAllowance), updated_by=_user(ctx.actor))
        allowance.save()
        _audit(ctx, Action.CREATE, "guard_allowance", allowance, _snapshot(values))
    return allowance


def update_allowance(ctx: Any, allowance: PolicyAllowance, **changes: Any) -> PolicyAllowance:
    """Change the given fields of an exception; the others stay."""
    return _update(ctx, PolicyAllowance, allowance, changes, _allowance_values, _clean_allowance, "guard_allowance")


def delete_allowance(ctx: Any, allowance: PolicyAllowance) -> None:
    _delete(ctx, allowance, _allowance_values, "guard_allowance")


def move_allowance(ctx: Any, allowance: PolicyAllowance, position: int) -> None:
    ctx = _ctx(ctx)
    access.require(access.can_manage_guard(ctx.actor))
    with transaction.atomic():
        _reorder(PolicyAllowance, allowance, position)
        _audit(ctx, Action.UPDATE, "guard_allowance", allowance, {"position": allowance.position})


# --- API tokens --------------------------------------------------------------------------------------------------

def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _expiry(expires_at: datetime | date | None) -> datetime | None:
    if expires_at is None:
        return None
    if not isinstance(expires_at, datetime):  # a date: valid through that day (local time)
        expires_at = timezone.make_aware(datetime.combine(expires_at + timedelta(days=1), time.min))
    elif timezone.is_naive(expires_at):
        expires_at = timezone.make_aware(expires_at)
    if expires_at <= timezone.now():
        raise InputError("guard.token_expiry_past", field="expires_at")
    return expires_at


def create_token(ctx: Any, name: str, scopes: Iterable[str], user: User | None = None,
                 expires_at: datetime | date | None = None) -> tuple[ApiToken, str]:
    """A new token for an integration: (row, ``hmt_<prefix>_<secret>``). The token is returned once and never
    stored (only the SHA-256 of its 32 random bytes). ``user``: the person the integration acts for (their
    department applies to the policy, their need-to-know to the findings shown)."""
    ctx = _ctx(ctx)
    access.require(access.can_manage_guard(ctx.actor))
    name = " ".join(str(name or "").split())
    if not name or len(name) > 100:
        raise InputError("guard.token_name_invalid", field="name")
    scopes = list(dict.fromkeys(scopes or []))
    bad = [s for s in scopes if s not in SCOPES]
    if not scopes or bad:
        raise InputError("guard.scope_invalid", scope=(bad[0] if bad else "")[:40], field="scopes")
    if user is not None and not user.is_active:
        raise InputError("guard.token_user_inactive", username=user.username, field="user")
    expires = _expiry(expires_at)
    secret = random.token_urlsafe(SECRET_BYTES)
    with transaction.atomic():
        while True:
            prefix = random.token_hex(4)
            if not ApiToken.objects.filter(prefix=prefix).exists():
                break
        token = ApiToken.objects.create(name=name, scopes=scopes, prefix=prefix, secret_sha256=_digest(secret),
                                        user=user, created_by=_user(ctx.actor), created_by_name=_name(ctx.actor),
                                        expires_at=expires)
        _audit(ctx, Action.CREATE, "guard_token", token,
               {"name": name, "scopes": scopes, "user": user.username if user else None, "prefix": prefix,
                "expires_at": expires.isoformat() if expires else None})
    return token, f"{TOKEN_PREFIX}_{prefix}_{secret}"


def _parse(plaintext: str) -> tuple[str, str] | None:
    parts = (plaintext or "").strip().split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2] or len(parts[1]) > 16:
        return None
    return parts[1], parts[2]


_recent_tokens = Recent(serving.TOKEN_SECONDS)  # serving mode: token rows by prefix, read briefly
_recent_users = Recent(serving.TOKEN_SECONDS)  # serving mode: senders by user name


def verify_token(plaintext: str, scope: str) -> ApiToken | None:
    """The live token with ``scope`` behind ``plaintext``, else None (unknown, wrong secret, revoked, expired,
    another scope, or bound to a person who is no longer active). Compares in constant time; notes the use
    (``last_used_at``) at most once a minute."""
    parsed = _parse(plaintext)
    if parsed is None:
        return None
    prefix, secret = parsed
    digest = _digest(secret)
    token = _recent_tokens.get(prefix) if serving.enabled() else None
    if token is None:
        token = ApiToken.objects.select_related("user", "user__department").filter(prefix=prefix).first()
    expected = token.secret_sha256 if token is not None else "0" * 64
    if not hmac.compare_digest(digest, expected) or token is None:
        return None
    if serving.enabled():
        _recent_tokens.put(prefix, token)
    now = timezone.now()
    if token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now):
        return None
    if scope not in (token.scopes or []):
        return None
    if token.user_id is not None and not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at >= timedelta(seconds=LAST_USED_EVERY):
        with serialised_writes():
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def revoke_token(ctx: Any, token: ApiToken) -> ApiToken:
    ctx = _ctx(ctx)
    access.require(access.can_manage_guard(ctx.actor))
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is not None:
            raise InputError("guard.token_revoked")
        token.revoked_at, token.revoked_by, token.revoked_by_name = timezone.now(), _user(ctx.actor), _name(ctx.actor)
        token.save(update_fields=["revoked_at", "revoked_by", "revoked_by_name"])
        _recent_tokens.clear()
        _audit(ctx, Action.REVOKE, "guard_token", token, {"name": token.name, "prefix": token.prefix})
    return token


def visible_tokens(actor: Any) -> QuerySet:
    """The tokens this user may list (managers and auditors): every token, newest first."""
    if not access.can_view_guard_policy(actor):
        return ApiToken.objects.none()
    return ApiToken.objects.select_related("user").order_by("-pk")


def token_status(token: ApiToken) -> str:
    """``active``, ``expired`` or ``revoked``."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= timezone.now():
        return "expired"
    return "active"


def identity_of(user: Any) -> Identity:
    """The guard's view of a person: user name and department code (messages in Japanese first: Himitsu keeps
    no per-person language)."""
    if user is None or getattr(user, "pk", None) is None:
        return Identity(user=user.get_username() if user is not None else "")
    dept = user.department.code if getattr(user, "department_id", None) else ""
    return Identity(user=user.username, department=dept, language="ja")


# --- the guard on this database ----------------------------------------------------------------------------------

def _secret_ids(findings: Iterable[Any]) -> list[int]:
    ids = set()
    for f in findings:
        if f.secret is not None:
            try:
                ids.add(int(f.secret.id))
            except (TypeError, ValueError):
                continue
    return sorted(ids)


def _clean_json(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, ensure_ascii=False, default=str).replace("\\u0000", "\\ufffd"))
    except (TypeError, ValueError):
        return {}


class DatabaseGuard:
    """The ``Guard`` of the web app: the register's engine, the stored policy, decision records and the
    quarantine in the database. ``token``: the API token the content came through (recorded with each
    decision); ``ctx``: who acts (for the audit trail: the token's name when there is no person)."""

    def __init__(self, *, token: ApiToken | None = None, ctx: Context | None = None, engine: Engine | None = None,
                 policy: Policy | None = None) -> None:
        self.token = token
        self.ctx = ctx
        self._engine = engine
        self._policy = policy

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from himitsu.web.register import documents

            self._engine = documents.engine()
        return self._engine

    def policy(self) -> Policy:
        return self._policy if self._policy is not None else current_policy()

    def evaluate(self, item: Outbound) -> tuple[Decision, Result]:
        """Inspect and decide, recording nothing (``himitsu guard test``)."""
        result = inspect(self.engine, item)  # text as it is (offsets into item.text), files through extraction
        decision = decide(self.policy(), item.subject(), result.findings, result.problems, text=item.text,
                          today=timezone.localdate())
        return decision, result

    def check(self, item: Outbound) -> Verdict:
        decision, result = self.evaluate(item)
        record = self.record(item, decision, result)
        return Verdict(decision, tuple(result.findings), tuple(result.problems), record=str(record.pk))

    def record(self, item: Outbound, decision: Decision, result: Result) -> GuardDecision:
        """Store the decision (no content); a decision that found something or did more than allow also goes to
        the audit trail, in the same transaction. Clean content that was let through is kept only here: the
        audit trail records what matters, not every prompt of the day (the decisions list shows them all)."""
        user = _sender(item.identity.user)
        token = self.token
        if token is None and item.identity.credential:  # the token a gateway saw (identify put its prefix there)
            prefix = item.identity.credential[:16]
            token = _recent_tokens.get(prefix) if serving.enabled() else None
            if token is None:
                token = ApiToken.objects.filter(prefix=prefix).first()
        reasons = [r for r in decision.reasons]
        row = GuardDecision(
            at=timezone.now(), channel=item.channel, user=user, username=item.identity.user[:150],
            department=item.identity.department[:20], destinations=_clean_json([d[:320] for d in item.destinations]),
            action=decision.action, detectors=sorted({r.detector for r in reasons}),
            levels=sorted({r.level for r in reasons if r.level}), rules=sorted({r.rule for r in reasons if r.rule}),
            secret_ids=_secret_ids(result.findings), findings=len(result.findings), token=token,
            sha256=item.sha256, size=len(item.data), policy_version=decision.policy_version[:60],
            meta=_clean_json(dict(item.meta)))
        actor = self.ctx.actor if self.ctx is not None else None

        def audit(row: GuardDecision) -> AuditEvent:
            return self._audit(row, actor, item, token)

        audited = bool(decision.action != "allow" or result.findings or result.problems)
        if serving.enabled() and not transaction.get_connection().in_atomic_block:
            # (inside a caller's transaction the writer's connection would wait for this one: written here)
            return serving.writer.write(row, audit if audited else None)
        with serialised_writes(), transaction.atomic():
            row.save()
            if audited:
                chain.append([audit(row)])
        return row

    def _audit(self, row: GuardDecision, actor: Any, item: Outbound, token: ApiToken | None) -> AuditEvent:
        """The audit event of a decision record (appended to the chain by the caller)."""
        return chain.event(Action.CREATE, actor=actor, request=self.ctx.request if self.ctx else None,
                           channel=(self.ctx.channel if self.ctx else "guard")[:10], object_type="guard_decision",
                           object_id=row.pk, object_repr=f"{row.channel} {row.action}",
                           actor_name=None if _name(actor) else self._actor_name(item, token),
                           details={"channel": row.channel, "action": row.action, "findings": row.findings,
                                    "detectors": row.detectors, "rules": row.rules,
                                    "destinations": len(row.destinations), "bytes": row.size})

    def _actor_name(self, item: Outbound, token: ApiToken | None = None) -> str:
        token = token or self.token
        if token is not None:
            return f"token:{token.name}"[:150]
        return item.identity.user or f"guard:{item.channel}"

    def hold(self, item: Outbound, verdict: Verdict) -> str:
        """Keep ``item`` encrypted for review; returns the quarantine id. The envelope comes from
        ``item.meta["mail_from"]`` (else the sender's address in the register of people) and the destinations."""
        decision = GuardDecision.objects.get(pk=int(verdict.record))
        mail_from = str(item.meta.get("mail_from") or "")
        if not mail_from and decision.user is not None:
            mail_from = decision.user.email or ""
        ciphertext, key = crypto.encrypt(item.data, decision.pk)
        with transaction.atomic():
            row = QuarantineItem.objects.create(decision=decision, mail_from=mail_from[:320],
                                                rcpt_tos=_clean_json(list(item.destinations)), name=item.name[:255],
                                                size=len(item.data), key_id=key, ciphertext=ciphertext)
            chain.record(Action.CREATE, actor=self.ctx.actor if self.ctx else None, channel="guard",
                         object_type="guard_quarantine", object_id=row.pk, object_repr=f"decision {decision.pk}",
                         actor_name=None if self.ctx and _name(self.ctx.actor) else self._actor_name(item),
                         details={"decision": decision.pk, "recipients": len(row.rcpt_tos), "bytes": row.size})
        return str(row.pk)

    def identify(self, credential: str, channel: str) -> Identity | None:
        """``ai``: the live token with scope ``ai`` (its bound person, or nobody for an integration acting
        alone); ``mail``: the active person with this e-mail address. None: unknown."""
        if channel == "ai":
            token = verify_token(credential, "ai")
            if token is None:
                return None
            found = identity_of(token.user) if token.user is not None else Identity()
            return dataclasses.replace(found, credential=token.prefix)
        if channel == "mail":
            address = (credential or "").strip().strip("<>").strip()
            if "@" not in address:
                return None
            user = (User.objects.select_related("department").filter(email__iexact=address, is_active=True)
                    .order_by("pk").first())
            return identity_of(user) if user is not None else None
        return None


def forget_recent() -> None:
    """Drop what serving mode keeps for a few seconds (tokens, senders, the policy's last look)."""
    global _policy_read
    _recent_tokens.clear()
    _recent_users.clear()
    _policy_read = None


def _sender(username: str) -> User | None:
    """The person a decision is recorded against (by user name; kept briefly in serving mode)."""
    if not username:
        return None
    if serving.enabled():
        found = _recent_users.get(username)
        if found is not None:
            return found or None
    user = User.objects.filter(username=username).first()
    if serving.enabled():
        _recent_users.put(username, user or False)
    return user


def visible_result(viewer: Any, result: Result) -> Result:
    """``result`` with the register entries ``viewer`` may not see unnamed (level kept): a person's
    need-to-know; nobody (an integration acting alone) sees no title."""
    if viewer is None or getattr(viewer, "pk", None) is None and not isinstance(viewer, access.SystemActor):
        return result.hide_secrets(lambda ref: False)
    visible = set(access.visible_secrets(viewer).values_list("pk", flat=True))
    return result.hide_secrets(lambda ref: ref.id in visible)


# --- quarantine --------------------------------------------------------------------------------------------------

def _item(item: QuarantineItem | int) -> QuarantineItem:
    pk = item.pk if isinstance(item, QuarantineItem) else item
    found = QuarantineItem.objects.select_related("decision").filter(pk=pk).first()
    if found is None:
        raise InputError("guard.quarantine_not_found", id=pk)
    return found


def _require_review(ctx: Context, item: QuarantineItem) -> None:
    if not access.can_review_quarantine(ctx.actor, item):
        if not access.visible_quarantine(ctx.actor).filter(pk=item.pk).exists():
            raise InputError("guard.quarantine_not_found", id=item.pk)
        raise PermissionDeniedError()


def open_item(ctx: Any, item: QuarantineItem | int) -> bytes:
    """The held content, decrypted, for a reviewer to read (audited)."""
    ctx = _ctx(ctx)
    item = _item(item)
    _require_review(ctx, item)
    if item.erased or item.status in (QuarantineStatus.RELEASED, QuarantineStatus.REJECTED):
        raise InputError("guard.quarantine_decided")
    data = crypto.decrypt(item.ciphertext, item.decision_id)
    _audit(ctx, Action.VIEW, "guard_quarantine", item, {"decision": item.decision_id, "bytes": len(data)})
    return data


def release(ctx: Any, item: QuarantineItem | int, next_hop: NextHop, comment: str = "") -> QuarantineItem:
    """Deliver the held mail to ``next_hop`` as it is, then mark it released and erase the stored content. If the
    next hop does not take it, the item stays held with the error (``delivery_error``) and
    ``InputError("guard.delivery_failed")`` is raised."""
    ctx = _ctx(ctx)
    item = _item(item)
    _require_review(ctx, item)
    if item.decision.channel != "mail":
        raise InputError("guard.quarantine_not_mail")
    now = timezone.now()
    claimable = QuarantineItem.objects.filter(pk=item.pk, status=QuarantineStatus.HELD) | QuarantineItem.objects.filter(
        pk=item.pk, status=QuarantineStatus.RELEASING, decided_at__lt=now - RELEASE_STALE)
    if not claimable.update(status=QuarantineStatus.RELEASING, decided_at=now):  # one reviewer at a time
        raise InputError("guard.quarantine_decided")
    try:
        data = crypto.decrypt(item.ciphertext, item.decision_id)
        deliver(next_hop, item.mail_from, list(item.rcpt_tos), data)
    except Exception as exc:  # DeliveryError, or the key cannot decrypt it
        reason = exc.reason if isinstance(exc, DeliveryError) else (getattr(exc, "code", "") or type(exc).__name__)
        with transaction.atomic():
            QuarantineItem.objects.filter(pk=item.pk).update(status=QuarantineStatus.HELD, decided_at=None,
                                                             delivery_error=str(reason)[:1000])
            _audit(ctx, Action.UPDATE, "guard_quarantine", item,
                   {"decision": item.decision_id, "release": "failed", "temporary": getattr(exc, "temporary", None),
                    "code": getattr(exc, "code", None) if isinstance(exc, DeliveryError) else None})
        if isinstance(exc, DeliveryError):
            raise InputError("guard.delivery_failed", reason=str(reason)[:300]) from exc
        raise
    with transaction.atomic():
        QuarantineItem.objects.filter(pk=item.pk).update(
            status=QuarantineStatus.RELEASED, ciphertext=b"", erased=True, reviewer=_user(ctx.actor),
            reviewer_name=_name(ctx.actor), comment=str(comment or "").strip()[:2000], decided_at=timezone.now(),
            delivery_error="")
        _audit(ctx, Action.UPDATE, "guard_quarantine", item,
               {"decision": item.decision_id, "status": "released", "recipients": len(item.rcpt_tos),
                "next_hop": f"{next_hop.host}:{next_hop.port}"})
    return _item(item)


def reject(ctx: Any, item: QuarantineItem | int, comment: str) -> QuarantineItem:
    """Refuse the held item for good (the reason is required) and erase its content."""
    ctx = _ctx(ctx)
    item = _item(item)
    _require_review(ctx, item)
    comment = str(comment or "").replace("\x00", "").strip()
    if not comment:
        raise InputError("guard.comment_required", field="comment")
    with transaction.atomic():
        done = QuarantineItem.objects.filter(pk=item.pk, status=QuarantineStatus.HELD).update(
            status=QuarantineStatus.REJECTED, ciphertext=b"", erased=True, reviewer=_user(ctx.actor),
            reviewer_name=_name(ctx.actor), comment=comment[:2000], decided_at=timezone.now())
        if not done:
            raise InputError("guard.quarantine_decided")
        _audit(ctx, Action.UPDATE, "guard_quarantine", item, {"decision": item.decision_id, "status": "rejected"})
    return _item(item)
