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



def test_serving_processes_know_every_documents_entry_without_a_query(serving_mode, django_assert_num_queries):
    """In serving mode every document's entry id is read once (``keep_refs``): a checked text costs no query for
    its documents, one for entries not read within TOKEN_SECONDS; a document added later costs one query once; an
    id that is no document is None (and not asked again for a while); a removed entry's documents are None."""
    import time

    from himitsu.web.register import documents
    from himitsu.web.register.models import ClassificationLevel, Secret, SecretDocument

    recipe = SecretDocument.objects.get(secret=serving_mode.recipe).pk
    prices = SecretDocument.objects.get(secret=serving_mode.prices).pk
    with django_assert_num_queries(1):  # every document at once
        documents.keep_refs(0.5)
    with django_assert_num_queries(1):  # the two entries
        refs = documents.resolve_documents([recipe, prices])
    assert (refs[recipe].id, refs[recipe].level, refs[recipe].title) == (
        serving_mode.recipe.pk, "極秘", serving_mode.recipe.title)
    assert (refs[prices].id, refs[prices].level) == (serving_mode.prices.pk, "秘")
    with django_assert_num_queries(0):
        assert documents.resolve_documents([prices, recipe])[recipe].id == serving_mode.recipe.pk
    Secret.objects.filter(pk=serving_mode.recipe.pk).update(level=ClassificationLevel.objects.get(code="hi"))
    assert documents.resolve_documents([recipe])[recipe].level == "極秘"  # read a moment ago
    time.sleep(0.6)  # ... until the entry is older than the seconds kept
    assert documents.resolve_documents([recipe])[recipe].level == "秘"

    added = SecretDocument.objects.create(secret=serving_mode.prices, filename="追加.txt", size=1, sha256="0" * 64)
    documents.resolve_documents([prices])
    with django_assert_num_queries(1):  # the new document (its entry is kept)
        assert documents.resolve_documents([added.pk, prices])[added.pk].id == serving_mode.prices.pk
    with django_assert_num_queries(0):
        assert documents.resolve_documents([added.pk])[added.pk].id == serving_mode.prices.pk
    with django_assert_num_queries(1):
        assert documents.resolve_documents([10_000_000]) == {10_000_000: None}
    with django_assert_num_queries(0):
        assert documents.resolve_documents([10_000_000]) == {10_000_000: None}
    Secret.objects.filter(pk=serving_mode.prices.pk).delete()
    time.sleep(0.6)
    assert documents.resolve_documents([prices, added.pk, recipe]) == {
        prices: None, added.pk: None, recipe: documents.resolve_documents([recipe])[recipe]}
    documents.keep_refs(0)  # out of serving mode: read each time
    with django_assert_num_queries(1):
        assert documents.resolve_documents([recipe])[recipe].level == "秘"


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


def test_a_refused_insert_raises_djangos_error(guarded):
    """The database's refusal reaches the writer as Django's error (PostgreSQL: psycopg's own cursor, inside
    Django's error wrapping); no id is set, and the connection goes on."""
    from django.db import IntegrityError, connection, transaction

    rows = [_decision(1), _decision(2, action=None)]  # NOT NULL
    with pytest.raises(IntegrityError), transaction.atomic():
        serving.insert(rows, connection)
    assert all(r.pk is None and r._state.adding for r in rows)
    again = [_decision(3)]
    serving.insert(again, connection)
    assert _stored(again[0])["size"] == 1003


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


def _audit_triggers(make: bool) -> None:
    """The triggers that keep the audit trail append-only (its migrations' statements), made or dropped."""
    import importlib

    from django.db import connection

    postgres = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        for name in ("0002_append_only", "0003_head_not_deletable"):
            migration = importlib.import_module(f"himitsu.web.audit.migrations.{name}")
            for sql in getattr(migration, ("POSTGRES" if postgres else "SQLITE") + ("" if make else "_DROP")):
                cursor.execute(sql)


@pytest.fixture
def audit_triggers_back(django_db_blocker):
    """Put the audit trail's triggers back once the test's database has been flushed (see ``committed``)."""
    yield
    with django_db_blocker.unblock():
        _audit_triggers(make=True)


@pytest.fixture
def committed(audit_triggers_back, transactional_db):
    """A database whose transactions really commit (``transactional_db``), for the writer's own BEGIN … COMMIT.
    The audit trail refuses DELETE and TRUNCATE (its triggers), which the flush after such a test does: its rows are
    removed here with the triggers set aside, which ``audit_triggers_back`` (torn down after the flush) restores."""
    yield
    from django.db import connection

    from himitsu.web.audit.models import AuditEvent, AuditHead

    _audit_triggers(make=False)
    with connection.cursor() as cursor:
        for model in (AuditEvent, AuditHead):
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")

def _jobs(first: int, n: int, audited: set[int], details: object = None) -> list:
    """``n`` writer jobs for records ``first``…; those in ``audited`` with an audit event naming their record's id."""
    from himitsu.web.audit import chain

    def audit(row):
        return chain.event("guard", object_type="guard_decision", object_id=row.pk, channel="api",
                           details=details if details is not None else {"decision": row.pk, "件名": "見積"})

    return [serving._Job(_decision(i), audit if i in audited else None) for i in range(first, first + n)]


def _executed(connection, work) -> list[str]:
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        work()
    return [q["sql"] for q in queries.captured_queries]


def test_a_batch_with_audit_events_is_stored_in_plain_statements(committed):
    """Records with audit events, as the writer stores them: records and events in one transaction, the events
    linked after the chain's head in order — on PostgreSQL in two round trips (BEGIN, the records, the head locked;
    then the events, the head moved, COMMIT), on SQLite statement by statement; the chain verifies."""
    from django.db import connection

    from himitsu.web.audit import chain
    from himitsu.web.audit.models import AuditEvent, AuditHead
    from himitsu.web.guard.models import GuardDecision

    chain.record("create", object_type="t", object_id=0)  # the head exists from here on
    serving._store(_jobs(100, 1, audited=set()))  # the writer's connection checked and set (SET synchronous_commit)
    jobs = _jobs(1, 5, audited={2, 4, 5})
    sent = _executed(connection, lambda: serving._store(jobs))
    if connection.vendor == "postgresql":
        assert len(sent) == 2 and sent[0].startswith("BEGIN; INSERT") and "FOR UPDATE" in sent[0]
        assert sent[1].rstrip().endswith("COMMIT")
    else:
        assert [s.split()[0] for s in sent] == ["BEGIN", "INSERT", "SELECT", "INSERT", "UPDATE", "COMMIT"]
    rows = [job.row for job in jobs]
    assert all(row.pk for row in rows) and GuardDecision.objects.filter(pk__in=[r.pk for r in rows]).count() == 5
    events = list(AuditEvent.objects.filter(object_type="guard_decision").order_by("seq"))
    assert [e.seq for e in events] == [2, 3, 4]
    assert [e.details["decision"] for e in events] == [rows[1].pk, rows[3].pk, rows[4].pk]
    assert events[0].details["件名"] == "見積" and events[0].prev_hash == AuditEvent.objects.get(seq=1).hash
    head = AuditHead.objects.get(pk=1)
    assert (head.seq, head.hash) == (4, events[-1].hash)
    assert chain.verify().ok
    if connection.vendor == "postgresql":
        from psycopg.pq import TransactionStatus

        assert connection.connection.info.transaction_status == TransactionStatus.IDLE


@pytest.mark.parametrize("failure", ["before the events are sent", "in the database"])
def test_a_batch_that_fails_half_way_leaves_nothing_and_the_connection_usable(committed, failure):
    """A batch whose events cannot be linked (a value JSON cannot hold) or stored (a sequence number taken behind
    the head's back): no record, no event, the head unmoved, the records without ids; the next batch is stored."""
    from django.db import DatabaseError, connection
    from django.utils import timezone

    from himitsu.web.audit import chain
    from himitsu.web.audit.models import AuditEvent, AuditHead
    from himitsu.web.guard.models import GuardDecision

    chain.record("create", object_type="t", object_id=0)
    if failure == "in the database":
        AuditEvent.objects.create(seq=2, at=timezone.now(), action="create", object_type="squatter", prev_hash="",
                                  hash="x")
        jobs, error = _jobs(1, 3, audited={2}), DatabaseError
    else:
        jobs, error = _jobs(1, 3, audited={2}, details={"not json": {1, 2}}), TypeError
    with pytest.raises(error):
        serving._store(jobs)
    assert not GuardDecision.objects.exists() and all(job.row.pk is None for job in jobs)
    assert AuditHead.objects.get(pk=1).seq == 1
    assert AuditEvent.objects.filter(object_type="guard_decision").count() == 0
    if connection.vendor == "postgresql":
        from psycopg.pq import TransactionStatus

        assert connection.connection.info.transaction_status == TransactionStatus.IDLE
    if failure == "in the database":
        return
    again = _jobs(1, 3, audited={2})
    serving._store(again)
    assert GuardDecision.objects.count() == 3 and AuditHead.objects.get(pk=1).seq == 2 and chain.verify().ok


def test_the_first_audit_event_ever_makes_the_head_through_the_orm(committed):
    """No chain head yet (a new installation): the plain-statement path writes nothing and steps aside; the ORM's
    path makes the head and links the events."""
    from himitsu.web.audit import chain
    from himitsu.web.audit.models import AuditHead
    from himitsu.web.guard.models import GuardDecision

    assert not AuditHead.objects.exists()
    jobs = _jobs(1, 2, audited={1, 2})
    serving._store(jobs)
    assert GuardDecision.objects.count() == 2 and AuditHead.objects.get(pk=1).seq == 2 and chain.verify().ok
    assert chain.count() == 2


def test_inside_a_callers_transaction_the_plain_statements_step_aside(db):
    """The plain statements open and close their own transaction: inside a caller's (a test's) they write nothing
    and leave the batch to the ORM's way (``chain.append`` in that transaction)."""
    from django.db import connection

    from himitsu.web.audit import chain
    from himitsu.web.guard.models import GuardDecision

    chain.record("create", object_type="t", object_id=0)
    jobs = _jobs(1, 2, audited={2})
    assert serving._store_linked([j.row for j in jobs], [jobs[1]], connection) is False
    assert not GuardDecision.objects.exists() and chain.count() == 1 and all(j.row.pk is None for j in jobs)
