"""The outbound guard's services (issue 6): the stored policy and its editing, API tokens, the database guard's
decision records (never content), the encrypted quarantine with release to a real SMTP server and rejection, and
who may do what, for every role — on the real database with documents registered in a real fingerprint index."""

from __future__ import annotations

import json
import os
import stat
from datetime import date, timedelta

import pytest
from django.utils import timezone

from himitsu.engine.policy import default_policy
from himitsu.errors import InputError, PermissionDeniedError
from himitsu.gateways.base import Identity, Outbound
from himitsu.gateways.smtp_out import NextHop
from himitsu.web.accounts import access
from himitsu.web.audit import chain
from himitsu.web.audit.models import AuditEvent
from himitsu.web.guard import crypto, services
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
from tests.guard_env import EXCERPT, HARMLESS, PERSONAL, PRICES_EXCERPT, RECIPE, guarded_fixture  # noqa: F401
from tests.smtp import free_port

ROLES = ["admin", "manager", "devlead", "saleslead", "alice", "bob", "auditor"]
MANAGERS = {"admin", "manager"}


def ctx(org, name: str = "manager") -> Context:
    return Context(actor=org.users[name], channel="test")


def outbound(text: str, channel: str = "mail", user: str = "alice", department: str = "DEV",
             to: tuple[str, ...] = ("someone@outside.example.com",), as_text: bool = False) -> Outbound:
    return Outbound(channel=channel, data=text.encode("utf-8"), name="message.txt",
                    identity=Identity(user=user, department=department), destinations=to,
                    text=text if as_text else None, meta={"mail_from": f"{user}@example.co.jp"})


def decide(text: str, **kw) -> str:
    decision, _result = services.DatabaseGuard().evaluate(outbound(text, **kw))
    return decision.action


# --- policy ------------------------------------------------------------------------------------------------------

def test_policy_is_seeded_once_from_the_default(guarded):
    policy = services.current_policy()
    default = default_policy()
    assert [r.id for r in policy.rules] == [r.id for r in default.rules]
    assert [a.id for a in policy.allowances] == [a.id for a in default.allowances]
    assert policy.rules[0].message_ja == default.rules[0].message_ja
    assert policy.version.startswith("db-")
    assert PolicySeed.objects.count() == 1
    count = PolicyRule.objects.count()
    services.current_policy()
    assert PolicyRule.objects.count() == count
    assert AuditEvent.objects.filter(object_type="guard_policy").count() == 1
    # an organisation that deletes every rule does not get the defaults back
    for rule in list(PolicyRule.objects.all()):
        services.delete_rule(ctx(guarded), rule)
    assert services.current_policy().rules == ()
    assert decide(EXCERPT) == "allow"


def test_default_policy_decisions(guarded):
    assert decide(EXCERPT) == "block"  # 極秘
    assert decide(PRICES_EXCERPT) == "hold"  # 秘 by mail
    assert decide(PRICES_EXCERPT, channel="ai", as_text=True) == "block"
    assert decide(PERSONAL, channel="api", as_text=True) == "redact"
    assert decide(PERSONAL, channel="mail") == "block"
    assert decide(HARMLESS) == "allow"


def test_editing_rules_changes_decisions_and_is_audited(guarded):
    rule = services.create_rule(ctx(guarded), "dev-my-number", "warn", detectors=["my-number"], channels=["api"],
                                departments=["DEV"], message_ja="開発部はマイナンバーを扱わないでください。",
                                message_en="Development must not handle My Numbers.", position=0)
    assert list(PolicyRule.objects.values_list("slug", flat=True))[0] == "dev-my-number"
    assert decide(PERSONAL, channel="api", as_text=True) == "warn"
    assert decide(PERSONAL, channel="api", department="SALES", as_text=True) == "redact"  # another department
    version = services.current_policy().version
    services.update_rule(ctx(guarded), rule, action="block")
    assert services.current_policy().version != version
    assert decide(PERSONAL, channel="api", as_text=True) == "block"
    services.update_rule(ctx(guarded), rule, enabled=False)
    assert decide(PERSONAL, channel="api", as_text=True) == "redact"
    events = AuditEvent.objects.filter(object_type="guard_rule", object_id=str(rule.pk)).order_by("seq")
    assert [e.action for e in events] == ["create", "update", "update"]
    assert events[1].details["changes"]["action"] == ["warn", "block"]
    assert chain.verify().ok
    services.move_rule(ctx(guarded), rule, 3)
    assert list(PolicyRule.objects.values_list("slug", flat=True))[3] == "dev-my-number"
    assert list(PolicyRule.objects.values_list("position", flat=True)) == list(range(PolicyRule.objects.count()))


@pytest.mark.parametrize("fields, code", [
    ({"slug": "bad id!", "action": "block"}, "guard.slug_invalid"),
    ({"slug": "top-secret", "action": "block"}, "guard.slug_taken"),
    ({"slug": "x", "action": "delete"}, "guard.action_unknown"),
    ({"slug": "x", "action": "block", "channels": ["fax"]}, "guard.channel_unknown"),
    ({"slug": "x", "action": "block", "detectors": ["telepathy"]}, "guard.detector_unknown"),
    ({"slug": "x", "action": "block", "levels": ["超極秘"]}, "guard.level_unknown"),
    ({"slug": "x", "action": "block", "departments": ["NOPE"]}, "department.not_found"),
    ({"slug": "x", "action": "block", "min_score": 1.5}, "guard.score_invalid"),
    ({"slug": "x", "action": "block", "min_score": "high"}, "guard.score_invalid"),
    ({"slug": "x", "action": "block", "message_ja": "長" * 501}, "guard.message_too_long"),
    ({"slug": "x", "action": "block", "detectors": [1, 2]}, "guard.list_invalid"),
])
def test_a_bad_rule_is_refused_with_a_stable_code(guarded, fields, code):
    from django.utils import translation

    from himitsu.web.core.errors import message

    services.ensure_seeded()
    before = PolicyRule.objects.count()
    with pytest.raises(InputError) as caught:
        services.create_rule(ctx(guarded), **fields)
    assert caught.value.code == code and caught.value.params.get("field")
    for language in ("ja", "en"):
        with translation.override(language):
            assert message(caught.value)
    assert PolicyRule.objects.count() == before
    rule = PolicyRule.objects.get(slug="credentials")
    with pytest.raises(InputError):
        services.update_rule(ctx(guarded), rule, action="explode")
    assert PolicyRule.objects.get(slug="credentials").action == "block"


def test_a_hand_edited_row_is_reported_not_crashed(guarded):
    services.ensure_seeded()
    PolicyRule.objects.filter(slug="credentials").update(action="explode")
    with pytest.raises(InputError) as caught:
        services.current_policy()
    assert caught.value.code == "guard.rule_invalid"


def test_allowance_for_partners(guarded):
    assert decide(PRICES_EXCERPT, to=("buyer@mail.kitakanto.co.jp",)) == "hold"
    allowance = services.create_allowance(ctx(guarded), "kitakanto", ["@Kitakanto.co.jp"], levels=["秘"],
                                          detectors=["registered-secret"], until=date.today() + timedelta(days=30),
                                          message_ja="北関東精機とはNDA締結済みです。",
                                          message_en="NDA with Kitakanto.")
    assert allowance.domains == ["kitakanto.co.jp"]
    assert decide(PRICES_EXCERPT, to=("buyer@mail.kitakanto.co.jp",)) == "allow"
    assert decide(PRICES_EXCERPT, to=("buyer@kitakanto.co.jp", "x@other.example")) == "hold"  # every destination
    assert decide(PRICES_EXCERPT, channel="ai", to=("kitakanto.co.jp",), as_text=True) == "block"  # mail only
    services.update_allowance(ctx(guarded), allowance, until=date.today() - timedelta(days=1))
    assert decide(PRICES_EXCERPT, to=("buyer@kitakanto.co.jp",)) == "hold"  # expired
    with pytest.raises(InputError) as caught:
        services.create_allowance(ctx(guarded), "empty", [])
    assert caught.value.code == "guard.domains_required"
    with pytest.raises(InputError) as caught:
        services.create_allowance(ctx(guarded), "bad", ["not a domain"])
    assert caught.value.code == "guard.domain_invalid"
    services.delete_allowance(ctx(guarded), allowance)
    assert not PolicyAllowance.objects.filter(slug="kitakanto").exists()


@pytest.mark.parametrize("role", ROLES)
def test_only_managers_edit_the_policy_and_tokens(guarded, role):
    services.ensure_seeded()
    rule = PolicyRule.objects.get(slug="credentials")
    allowance = PolicyAllowance.objects.first()
    calls = [
        lambda: services.create_rule(ctx(guarded, role), f"r-{role}", "warn"),
        lambda: services.update_rule(ctx(guarded, role), rule, action="hold"),
        lambda: services.move_rule(ctx(guarded, role), rule, 0),
        lambda: services.create_allowance(ctx(guarded, role), f"a-{role}", ["x.example"]),
        lambda: services.update_allowance(ctx(guarded, role), allowance, enabled=False),
        lambda: services.create_token(ctx(guarded, role), "bot", ["check"]),
    ]
    for call in calls:
        if role in MANAGERS:
            call()
        else:
            with pytest.raises(PermissionDeniedError):
                call()
    if role not in MANAGERS:
        assert PolicyRule.objects.get(slug="credentials").action == "block"
        with pytest.raises(PermissionDeniedError):
            services.delete_rule(ctx(guarded, role), rule)
    user = guarded.users[role]
    assert access.can_manage_guard(user) is (role in MANAGERS)
    assert access.can_view_guard_policy(user) is (role in MANAGERS | {"auditor"})
    assert access.can_test_guard(user) is True


# --- tokens ------------------------------------------------------------------------------------------------------

def test_token_lifecycle(guarded):
    token, plaintext = services.create_token(ctx(guarded), "チャットボット", ["check"], user=guarded.users["alice"],
                                             expires_at=date.today() + timedelta(days=30))
    assert plaintext.startswith(f"hmt_{token.prefix}_")
    secret = plaintext.split("_", 2)[2]
    assert len(secret) >= 43
    stored = json.dumps(list(ApiToken.objects.values()), default=str)
    assert secret not in stored and plaintext not in stored
    assert json.dumps([e.details for e in AuditEvent.objects.all()], ensure_ascii=False).find(secret) == -1
    found = services.verify_token(plaintext, "check")
    assert found is not None and found.pk == token.pk and found.last_used_at is not None
    assert services.verify_token(plaintext, "ai") is None  # wrong scope
    assert services.verify_token(plaintext[:-2] + "xx", "check") is None  # wrong secret
    assert services.verify_token("hmt_nope_" + secret, "check") is None  # unknown prefix
    for garbage in ("", "Bearer", "hmt__", "x" * 500, "hmt_" + "a" * 40 + "_b"):
        assert services.verify_token(garbage, "check") is None
    # last_used_at is written at most once a minute
    first_use = ApiToken.objects.get(pk=token.pk).last_used_at
    services.verify_token(plaintext, "check")
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first_use
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(minutes=5))
    services.verify_token(plaintext, "check")
    assert ApiToken.objects.get(pk=token.pk).last_used_at > first_use - timedelta(seconds=1)
    # a person who left: the token acting for them stops working
    guarded.users["alice"].is_active = False
    guarded.users["alice"].save()
    assert services.verify_token(plaintext, "check") is None
    guarded.users["alice"].is_active = True
    guarded.users["alice"].save()
    # expired
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.verify_token(plaintext, "check") is None
    assert services.token_status(ApiToken.objects.get(pk=token.pk)) == "expired"
    ApiToken.objects.filter(pk=token.pk).update(expires_at=None)
    assert services.verify_token(plaintext, "check") is not None
    # revoked
    services.revoke_token(ctx(guarded, "admin"), token)
    assert services.verify_token(plaintext, "check") is None
    assert services.token_status(ApiToken.objects.get(pk=token.pk)) == "revoked"
    with pytest.raises(InputError) as caught:
        services.revoke_token(ctx(guarded), token)
    assert caught.value.code == "guard.token_revoked"
    actions = list(AuditEvent.objects.filter(object_type="guard_token").order_by("seq").values_list("action",
                                                                                                   flat=True))
    assert actions == ["create", "revoke"]


@pytest.mark.parametrize("kwargs, code", [
    ({"name": "", "scopes": ["check"]}, "guard.token_name_invalid"),
    ({"name": "x" * 101, "scopes": ["check"]}, "guard.token_name_invalid"),
    ({"name": "bot", "scopes": []}, "guard.scope_invalid"),
    ({"name": "bot", "scopes": ["admin"]}, "guard.scope_invalid"),
    ({"name": "bot", "scopes": ["check"], "expires_at": date(2020, 1, 1)}, "guard.token_expiry_past"),
])
def test_bad_tokens_are_refused(guarded, kwargs, code):
    with pytest.raises(InputError) as caught:
        services.create_token(ctx(guarded), **kwargs)
    assert caught.value.code == code
    assert not ApiToken.objects.exists()


def test_identify(guarded):
    guard = services.DatabaseGuard()
    assert guard.identify("Alice@Example.co.jp", "mail") == Identity(user="alice", department="DEV")
    assert guard.identify("<saleslead@example.co.jp>", "mail") == Identity(user="saleslead", department="SALES")
    assert guard.identify("stranger@example.com", "mail") is None
    assert guard.identify("not an address", "mail") is None
    bound, ai = services.create_token(ctx(guarded), "AI gateway", ["ai"], user=guarded.users["bob"])
    _t, check_only = services.create_token(ctx(guarded), "check", ["check"])
    shared, alone = services.create_token(ctx(guarded), "shared", ["ai"])
    assert guard.identify(ai, "ai") == Identity(user="bob", department="DEV", credential=bound.prefix)
    assert guard.identify(alone, "ai") == Identity(credential=shared.prefix)
    assert guard.identify(check_only, "ai") is None
    assert guard.identify("hmt_x_y", "ai") is None
    assert guard.identify(ai, "upload") is None


# --- decision records --------------------------------------------------------------------------------------------

def _stored_text() -> str:
    """Every stored row of the guard and of the audit trail, as one string."""
    rows = [list(GuardDecision.objects.values()), list(QuarantineItem.objects.values("pk", "status", "mail_from",
                                                                                      "rcpt_tos", "name", "comment",
                                                                                      "delivery_error")),
            [e.details | {"repr": e.object_repr} for e in AuditEvent.objects.all()]]
    return json.dumps(rows, ensure_ascii=False, default=str)


def test_check_records_the_decision_never_the_content(guarded):
    guard = services.DatabaseGuard(ctx=ctx(guarded, "alice"))
    verdict = guard.check(outbound(EXCERPT, to=("Buyer@Outside.example.com",)))
    assert verdict.action == "block" and verdict.record
    row = GuardDecision.objects.get(pk=int(verdict.record))
    assert (row.channel, row.username, row.user, row.department) == ("mail", "alice", guarded.users["alice"], "DEV")
    assert row.destinations == ["Buyer@Outside.example.com"]
    assert row.action == "block" and row.detectors == ["registered-secret"] and row.levels == ["極秘"]
    assert row.rules == ["top-secret"] and row.secret_ids == [guarded.recipe.pk] and row.findings == 1
    assert row.size == len(EXCERPT.encode()) and len(row.sha256) == 64 and row.policy_version.startswith("db-")
    guard.check(outbound(PERSONAL, channel="api", as_text=True))
    stored = _stored_text()
    for piece in (RECIPE[:20], RECIPE[40:60], "八百五十度", "山田太郎", PERSONAL[-20:], "12345678901",
                  guarded.recipe.title):
        assert piece not in stored, piece
    event = AuditEvent.objects.filter(object_type="guard_decision", object_id=str(row.pk)).get()
    assert event.actor_name == "alice" and event.details["action"] == "block" and event.details["findings"] == 1
    assert chain.verify().ok


@pytest.mark.parametrize("role", ROLES)
def test_who_sees_decision_records(guarded, role):
    guard = services.DatabaseGuard()
    dev = guard.check(outbound(HARMLESS, user="alice", department="DEV"))
    sales = guard.check(outbound(HARMLESS, user="saleslead", department="SALES"))
    seen = set(access.visible_guard_decisions(guarded.users[role]).values_list("pk", flat=True))
    expected = {"admin": {dev, sales}, "manager": {dev, sales}, "auditor": {dev, sales}, "devlead": {dev},
                "saleslead": {sales}, "alice": set(), "bob": set()}[role]
    assert seen == {int(v.record) for v in expected}
    assert access.can_list_guard_decisions(guarded.users[role]) is (role not in {"alice", "bob"})


# --- quarantine --------------------------------------------------------------------------------------------------

def _hold(org, text: str, user: str, department: str, to=("buyer@outside.example.com",)) -> QuarantineItem:
    guard = services.DatabaseGuard()
    item = outbound(text, user=user, department=department, to=to)
    verdict = guard.check(item)
    return QuarantineItem.objects.get(pk=int(guard.hold(item, verdict)))


def _mail(text: str, sender: str = "bob@example.co.jp") -> str:
    return (f"From: {sender}\r\nTo: buyer@outside.example.com\r\nSubject: =?utf-8?b?6KaL56mN?=\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n")


def test_held_mail_is_encrypted_at_rest_and_released_to_the_next_hop(guarded, settings, smtp):
    mail = _mail(PRICES_EXCERPT)
    item = _hold(guarded, mail, "bob", "DEV")
    assert item.status == "held" and item.mail_from == "bob@example.co.jp"
    assert item.rcpt_tos == ["buyer@outside.example.com"] and item.decision.action == "hold"
    blob = bytes(QuarantineItem.objects.get(pk=item.pk).ciphertext)
    assert len(blob) > len(mail.encode()) and mail.encode() not in blob
    for piece in ("北関東精機", "八十二パーセント", "buyer@outside"):
        assert piece.encode() not in blob
    key = guarded.tmp / "home" / "keys" / "quarantine.key"
    assert key.exists() and stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert services.open_item(ctx(guarded), item) == mail.encode()
    hop = NextHop(host="127.0.0.1", port=settings.MAIL.port, starttls="off", timeout=5)
    released = services.release(ctx(guarded), item, hop, comment="取引先への見積送付として承認")
    assert released.status == QuarantineStatus.RELEASED and released.erased and not bytes(released.ciphertext)
    assert released.reviewer == guarded.users["manager"] and released.decided_at is not None
    assert smtp.recipients == [["buyer@outside.example.com"]]
    assert "北関東精機" in smtp.messages[0].get_payload(decode=True).decode("utf-8")
    with pytest.raises(InputError) as caught:
        services.release(ctx(guarded), item, hop)
    assert caught.value.code == "guard.quarantine_decided"
    assert "北関東精機" not in _stored_text()
    assert chain.verify().ok


def test_a_failed_delivery_leaves_the_item_held_with_the_error(guarded):
    item = _hold(guarded, _mail(PRICES_EXCERPT), "bob", "DEV")
    hop = NextHop(host="127.0.0.1", port=free_port(), starttls="off", timeout=2)
    with pytest.raises(InputError) as caught:
        services.release(ctx(guarded, "admin"), item, hop)
    assert caught.value.code == "guard.delivery_failed"
    item.refresh_from_db()
    assert item.status == "held" and item.delivery_error and not item.erased
    assert services.open_item(ctx(guarded), item)  # still readable, can be tried again


def test_reject_needs_a_comment_and_erases_the_content(guarded):
    item = _hold(guarded, _mail(PRICES_EXCERPT), "bob", "DEV")
    with pytest.raises(InputError) as caught:
        services.reject(ctx(guarded), item, "  ")
    assert caught.value.code == "guard.comment_required"
    rejected = services.reject(ctx(guarded), item, "価格表の社外送付は認められません")
    assert rejected.status == "rejected" and rejected.erased and bytes(rejected.ciphertext) == b""
    assert rejected.comment == "価格表の社外送付は認められません"
    with pytest.raises(InputError):
        services.reject(ctx(guarded), item, "again")
    with pytest.raises(InputError):
        services.open_item(ctx(guarded), item)


def test_a_tampered_or_moved_ciphertext_does_not_decrypt(guarded):
    first = _hold(guarded, _mail(PRICES_EXCERPT), "bob", "DEV")
    second = _hold(guarded, _mail(HARMLESS), "bob", "DEV")
    QuarantineItem.objects.filter(pk=second.pk).update(ciphertext=bytes(first.ciphertext))
    with pytest.raises(Exception) as caught:
        services.open_item(ctx(guarded), second.pk)
    assert getattr(caught.value, "code", "") == "guard.quarantine_unreadable"
    assert crypto.decrypt(bytes(first.ciphertext), first.decision_id) == _mail(PRICES_EXCERPT).encode()


@pytest.mark.parametrize("role", ROLES)
def test_who_reviews_the_quarantine(guarded, role):
    own = _hold(guarded, _mail(EXCERPT, "alice@example.co.jp"), "alice", "DEV")  # DEV's 極秘 entry, DEV sender
    foreign = _hold(guarded, _mail(PRICES_EXCERPT), "bob", "DEV")  # SALES's entry, DEV sender
    plain = _hold(guarded, _mail(HARMLESS, "saleslead@example.co.jp"), "saleslead", "SALES")  # no entry
    user = guarded.users[role]
    reviews = {"admin": {own, foreign, plain}, "manager": {own, foreign, plain}, "devlead": {own},
               "saleslead": {plain}, "alice": set(), "bob": set(), "auditor": set()}[role]
    lists = {"admin": {own, foreign, plain}, "manager": {own, foreign, plain}, "auditor": {own, foreign, plain},
             "devlead": {own, foreign}, "saleslead": {plain}, "alice": set(), "bob": set()}[role]
    assert set(access.visible_quarantine(user)) == lists
    for item in (own, foreign, plain):
        assert access.can_review_quarantine(user, item) is (item in reviews)
        if item in reviews:
            assert services.open_item(Context(actor=user), item)
        elif item in lists:
            with pytest.raises(PermissionDeniedError):
                services.open_item(Context(actor=user), item)
            with pytest.raises(PermissionDeniedError):
                services.reject(Context(actor=user), item, "no")
        else:  # an item the user may not even see looks like a missing one
            with pytest.raises(InputError) as caught:
                services.reject(Context(actor=user), item, "no")
            assert caught.value.code == "guard.quarantine_not_found"
    assert QuarantineItem.objects.filter(status="held").count() == 3


def test_a_gateway_names_the_token_it_saw(guarded):
    row, plaintext = services.create_token(ctx(guarded), "AI gateway", ["ai"], user=guarded.users["bob"])
    guard = services.DatabaseGuard()
    identity = guard.identify(plaintext, "ai")
    assert identity is not None and identity.credential == row.prefix and plaintext.count(identity.credential) == 1
    secret = plaintext.split("_", 2)[2]  # (hmt_<prefix>_<secret>; the secret itself may hold "_")
    assert secret not in repr(identity)  # the public prefix only, never the secret part
    item = Outbound(channel="ai", data=PERSONAL.encode(), name="prompt.txt", identity=identity, text=PERSONAL,
                    destinations=("a-model",), meta={"model": "gpt"})
    record = GuardDecision.objects.get(pk=int(guard.check(item).record))
    assert record.token == row and record.username == "bob" and record.meta["model"] == "gpt"
    event = AuditEvent.objects.get(object_type="guard_decision", object_id=str(record.pk))
    assert event.actor_name == "token:AI gateway" and event.channel == "guard"
