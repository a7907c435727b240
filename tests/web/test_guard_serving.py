"""Serving mode of the guard (``himitsu.web.guard.serving``): tokens and the policy read briefly, and changes made
in this process seen at once. The writer thread that stores decision records in batches needs a database several
connections can write at once (the tests' in-memory SQLite locks whole tables between connections): it is tested
through real server processes on their own database in tests/cli/test_serve_processes.py."""

from __future__ import annotations

import os  # noqa: F401 - read by the skip condition

import pytest

from himitsu.gateways.base import Identity, Outbound
from himitsu.web.guard import services, serving
from himitsu.web.guard.models import ApiToken
from himitsu.web.register.services import Context
from tests.guard_env import EXCERPT, HARMLESS, PERSONAL, guarded_fixture  # noqa: F401


@pytest.fixture
def serving_mode(guarded):
    serving.enable()
    yield guarded
    serving.disable()


def mail(text: str, user: str = "alice") -> Outbound:
    return Outbound(channel="mail", data=text.encode(), name="message.txt",
                    identity=Identity(user=user, department="DEV"), destinations=("x@outside.example.com",))


def test_a_revocation_here_applies_at_once_one_elsewhere_within_seconds(serving_mode):
    manager = Context(actor=serving_mode.users["manager"], channel="test")
    token, plaintext = services.create_token(manager, "bot", ["check"])
    assert services.verify_token(plaintext, "check") is not None
    services.revoke_token(manager, token)  # this process: the kept token is dropped
    assert services.verify_token(plaintext, "check") is None

    other, other_plain = services.create_token(manager, "bot2", ["check"])
    assert services.verify_token(other_plain, "check") is not None
    ApiToken.objects.filter(pk=other.pk).update(revoked_at=other.created_at)  # as another process would
    assert services.verify_token(other_plain, "check") is not None  # still the token read a moment ago
    services._recent_tokens.seconds = 0  # ... until TOKEN_SECONDS have passed
    try:
        assert services.verify_token(other_plain, "check") is None
    finally:
        services._recent_tokens.seconds = serving.TOKEN_SECONDS


def test_a_policy_change_here_applies_at_once(serving_mode):
    guard = services.DatabaseGuard()
    assert guard.evaluate(mail(HARMLESS))[0].action == "allow"
    assert guard.evaluate(mail(EXCERPT))[0].action == "block"
    manager = Context(actor=serving_mode.users["manager"], channel="test")
    services.create_allowance(manager, "nda-outside", ["outside.example.com"], action="allow", channels=["mail"])
    assert guard.evaluate(mail(EXCERPT))[0].action == "allow"


def test_the_entry_of_a_matched_document_is_reused_for_seconds(serving_mode):
    from himitsu.web.register import documents
    from himitsu.web.register.models import ClassificationLevel, Secret

    guard = services.DatabaseGuard()
    assert guard.evaluate(mail(EXCERPT))[0].action == "block"  # 極秘
    Secret.objects.filter(pk=serving_mode.recipe.pk).update(  # as another process would
        level=ClassificationLevel.objects.get(code="hi"))
    assert guard.evaluate(mail(EXCERPT))[0].action == "block"  # the entry read a moment ago
    documents.keep_refs(0)  # ... until TOKEN_SECONDS have passed
    decision, result = guard.evaluate(mail(EXCERPT))
    assert {f.secret.level for f in result.findings if f.secret} == {"秘"}
    assert decision.action == "hold"  # 秘 by mail
