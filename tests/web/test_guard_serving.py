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


def test_the_entries_of_every_matched_document_are_read_in_one_query(serving_mode, django_assert_num_queries):
    """A text carrying excerpts of two registered documents: their entries come from one query (the engine asks
    for all of them at once), an unknown document is None, and entries read a moment ago cost no query."""
    from himitsu.web.register import documents
    from himitsu.web.register.models import SecretDocument
    from tests.guard_env import PRICES_EXCERPT

    recipe = SecretDocument.objects.get(secret=serving_mode.recipe).pk
    prices = SecretDocument.objects.get(secret=serving_mode.prices).pk
    documents.keep_refs(0)  # nothing kept: every entry read
    with django_assert_num_queries(1):
        refs = documents.resolve_documents([recipe, prices, 10_000_000])
    assert refs[recipe].id == serving_mode.recipe.pk and refs[recipe].level == "極秘"
    assert refs[recipe].title == serving_mode.recipe.title
    assert refs[prices].id == serving_mode.prices.pk and refs[prices].level == "秘"
    assert refs[10_000_000] is None
    with django_assert_num_queries(3):  # a long list: bounded IN lists, one query per _IN_CHUNK ids
        many = documents.resolve_documents([recipe, *range(10_000_000, 10_000_000 + 2 * documents._IN_CHUNK)])
    assert many[recipe].id == serving_mode.recipe.pk
    assert sum(v is None for v in many.values()) == 2 * documents._IN_CHUNK
    documents.keep_refs(serving.TOKEN_SECONDS)
    documents.resolve_documents([recipe, prices])
    with django_assert_num_queries(0):  # kept from the read before
        assert documents.resolve_documents([prices, recipe])[prices].id == serving_mode.prices.pk
    documents.keep_refs(0)
    with django_assert_num_queries(1):
        result = documents.engine().check_text(EXCERPT + "\n" + PRICES_EXCERPT)
    assert {f.secret.id for f in result.findings if f.secret} == {serving_mode.recipe.pk, serving_mode.prices.pk}


def test_warm_up_builds_the_index_lookup_tables(guarded):
    """Before a server answers, warm_up leaves every segment of the register's index with its prefix table (no
    request pays for building it)."""
    from himitsu.engine import _fast
    from himitsu.web.register import documents

    if not _fast.MATCH_AVAILABLE:
        pytest.skip("C extension not built")
    documents._engine.cache_clear()
    segments = documents.engine().index._current().segments
    assert segments and all(s.key_table.built is None for s in segments)
    services.warm_up()
    assert all(s.key_table.built is not None for s in documents.engine().index._current().segments
               if len(s.hashes))


def _decision(i: int, **fields):
    from datetime import UTC, datetime

    from himitsu.web.guard.models import GuardDecision

    values = dict(at=datetime(2026, 11, 26, 9, 0, i % 60, tzinfo=UTC), channel="mail", username=f"user{i}",
                  department="DEV", destinations=["x@outside.example.com"], action="block",
                  detectors=["registered-secret"], levels=["極秘"], rules=["default-gokuhi"], secret_ids=[i],
                  findings=i, sha256=f"{i:064x}", size=1000 + i, policy_version="v1", meta={"件名": "見積", "n": i})
    return GuardDecision(**(values | fields))


def _stored(row) -> dict:
    from django.forms.models import model_to_dict

    from himitsu.web.guard.models import GuardDecision

    return model_to_dict(GuardDecision.objects.get(pk=row.pk))


def test_the_writers_insert_stores_what_the_orm_stores(guarded):
    """The writer thread's INSERT (one statement for a batch, no transaction of its own) against a row saved by the
    ORM with the same values: every field reads back the same, the ids come back in the batch's order."""
    from django.db import connection

    user = guarded.users["alice"]
    token, _plain = services.create_token(Context(actor=guarded.users["manager"], channel="test"), "bot", ["check"])
    rows = [_decision(i, user=user if i % 2 else None, token=token if i % 3 else None) for i in range(1, 8)]
    serving.insert(rows, connection)
    assert [r.pk for r in rows] == sorted(r.pk for r in rows) and all(r.pk for r in rows)
    assert all(not r._state.adding for r in rows)
    for i, row in enumerate(rows, start=1):
        saved = _decision(i, user=row.user, token=row.token)
        saved.save()
        mine, orms = _stored(row), _stored(saved)
        mine.pop("id"), orms.pop("id")
        assert mine == orms


def test_the_writers_insert_splits_a_batch_larger_than_one_statement_allows(guarded):
    """More rows than one statement's parameters allow (SQLite's limit; PostgreSQL has none here): several
    statements, every row stored once with its own id (the writer runs these in a transaction)."""
    from django.db import connection, transaction

    from himitsu.web.guard.models import GuardDecision

    fields = [f for f in GuardDecision._meta.concrete_fields if not f.primary_key]
    per_statement = connection.ops.bulk_batch_size(fields, range(10_000))
    n = min(per_statement + 5, 3_000)
    rows = [_decision(i) for i in range(n)]
    with transaction.atomic():
        serving.insert(rows, connection)
    assert len({r.pk for r in rows}) == n
    assert GuardDecision.objects.filter(pk__in=[r.pk for r in rows]).count() == n
    assert _stored(rows[-1])["size"] == 1000 + n - 1
