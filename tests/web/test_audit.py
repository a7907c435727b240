"""The audit trail: what is recorded, the hash chain and its verification, append-only storage, browsing."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from himitsu.web.audit import chain
from himitsu.web.audit.models import Action, AuditEvent, AuditHead
from tests.conftest import PASSWORD

TABLE = AuditEvent._meta.db_table



def _events(**filters):
    return list(AuditEvent.objects.filter(**filters).order_by("seq"))


def _drop_triggers() -> None:
    """Play the attacker with database access. Schema changes roll back with the test transaction."""
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(f"DROP TRIGGER audit_no_change ON {TABLE}")
        else:
            cur.execute("DROP TRIGGER audit_no_update")
            cur.execute("DROP TRIGGER audit_no_delete")


def _sql(statement: str, params: list | None = None) -> None:
    with connection.cursor() as cur:
        cur.execute(statement, params or [])


def _chain_of(n: int) -> list[AuditEvent]:
    for i in range(n):
        chain.record(Action.VIEW, actor_name=f"tester{i}", object_type="secret", object_id=i,
                     object_repr=f"T-{i:03d}", details={"i": i})
    return _events()


def _codes(result: chain.Verification) -> set[tuple[int, str]]:
    return {(p.seq, p.code) for p in result.problems}


# --- what is recorded ------------------------------------------------------------------------------

def test_login_is_recorded_with_ip(org, client):
    r = client.post("/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="192.0.2.10",
                    HTTP_USER_AGENT="pytest-agent/1.0")
    assert r.status_code == 302
    (event,) = _events(action=Action.LOGIN)
    assert event.actor_name == "alice" and event.actor_id == org.users["alice"].pk
    assert event.ip == "192.0.2.10"
    assert event.user_agent == "pytest-agent/1.0"
    assert event.object_type == "user" and event.object_repr == "alice"


@pytest.mark.parametrize("username", ["alice", "nobody", "ＡＬＩＣＥ", "<script>alert(1)</script>"])
def test_failed_login_is_recorded_with_ip(org, client, username):
    r = client.post("/login/", {"username": username, "password": "wrong-password-123"},
                    REMOTE_ADDR="198.51.100.7")
    assert r.status_code == 200
    assert not _events(action=Action.LOGIN)
    (event,) = _events(action=Action.LOGIN_FAILED)
    assert event.ip == "198.51.100.7"
    assert event.actor_id is None and event.actor_name == ""
    assert event.details["username"] == unicodedata.normalize("NFKC", username)  # as Django's form reads it
    assert "_auth_user_id" not in client.session


def test_logout_is_recorded(org, client):
    client.post("/login/", {"username": "bob", "password": PASSWORD})
    client.post("/logout/")
    (event,) = _events(action=Action.LOGOUT)
    assert event.actor_name == "bob"


def test_register_changes_and_views_are_recorded(org, login):
    client = login("admin")
    r = client.post("/register/new/", {
        "management_number": "AUD-001", "title": "監査対象", "category": "technical",
        "level": org.levels["hi"].pk, "legal_type": "trade_secret", "owner_department": org.dev.pk,
        "protection_decision": "undecided", "published": "unknown", "patented": "unknown",
        "reverse_engineerable": "unknown",
    })
    assert r.status_code == 302, r.content.decode()[:2000]
    from himitsu.web.register.models import Secret

    secret = Secret.objects.get(management_number="AUD-001")
    client.get(f"/register/{secret.pk}/")
    client.get(f"/register/{secret.pk}/history/")
    client.post(f"/register/{secret.pk}/edit/", {
        "management_number": "AUD-001", "title": "監査対象（改）", "category": "technical",
        "level": org.levels["hi"].pk, "legal_type": "trade_secret", "owner_department": org.dev.pk,
        "protection_decision": "undecided", "published": "unknown", "patented": "unknown",
        "reverse_engineerable": "unknown",
    })
    client.get("/register/?q=監査")
    client.post(f"/register/{secret.pk}/delete/")

    events = _events(object_type__in=["secret", "secret_history"], actor_name="admin")
    actions = [(e.action, e.object_type) for e in events]
    assert actions == [
        ("create", "secret"), ("view", "secret"), ("view", "secret_history"), ("update", "secret"),
        ("list", "secret"), ("delete", "secret"),
    ]
    for e in events:
        assert e.ip == "127.0.0.1" and e.channel == "web" and e.actor_id == org.users["admin"].pk
        if e.action != "list":
            assert e.object_id == str(secret.pk) and e.object_repr == "AUD-001"
    update = next(e for e in events if e.action == "update")
    assert update.details == {"fields": ["title"]}
    listing = next(e for e in events if e.action == "list")
    assert listing.details == {"q": "監査", "count": 1}
    assert chain.verify().ok


def test_api_events_are_marked_api(org, login):
    client = login("manager")
    client.get(f"/api/v1/secrets/{org.recipe.pk}")
    client.get("/api/v1/secrets")
    events = _events(actor_name="manager", action__in=["view", "list"])
    assert [(e.action, e.channel) for e in events] == [("view", "api"), ("list", "api")]


def test_audit_browsing_and_verification_are_recorded(org, login):
    client = login("auditor")
    client.get("/audit/?actor=alice")
    client.post("/audit/verify/")
    lst, ver = _events(actor_name="auditor", object_type="audit")
    assert lst.action == "list" and lst.details == {"actor": "alice"}
    assert ver.action == "verify" and ver.details["ok"] is True and ver.details["problems"] == 0


# --- the chain --------------------------------------------------------------------------------------

def test_chain_links_and_head(db):
    events = _chain_of(5)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == chain.GENESIS
    for before, after in zip(events, events[1:], strict=False):
        assert after.prev_hash == before.hash
    head = AuditHead.objects.get(pk=1)
    assert (head.seq, head.hash) == (5, events[-1].hash)


def test_verify_ok_on_untouched_chain(org, login):
    login("alice").get(f"/register/{org.recipe.pk}/")
    login("alice").get(f"/register/{org.prices.pk}/")
    _chain_of(3)
    result = chain.verify()
    assert result.ok, result.as_dict()
    assert result.checked == AuditEvent.objects.count() == result.last_seq
    assert result.last_hash == AuditHead.objects.get(pk=1).hash
    assert result.as_dict()["problems"] == []


def test_verify_ok_on_empty_chain(db):
    result = chain.verify()
    assert result.ok and result.checked == 0 and result.last_hash == chain.GENESIS


def test_verify_survives_database_round_trip_of_odd_values(db):
    """JSON details, non-ASCII, microseconds: the stored record must hash like the appended one."""
    chain.record(Action.VIEW, actor_name="検査員", object_repr="㊙ 顧客別価格表 <b>", details={
        "q": "価格\u3000表", "n": 1.5, "tiny": 0.1 + 0.2, "big": 2**62, "neg": -1, "none": None, "yes": True,
        "nested": {"b": [1, "二", {"c": []}], "a": {}}, "emoji": "🔒", "quote": "\"'\\",
    })
    chain.record(Action.VIEW, actor_name="x" * 200, object_repr="y" * 300, object_type="z" * 50)
    result = chain.verify()
    assert result.ok, result.as_dict()
    event = _events()[1]
    assert len(event.actor_name) == 150 and len(event.object_repr) == 250 and len(event.object_type) == 40


def test_hash_depends_on_the_key(db, monkeypatch):
    _chain_of(2)
    assert chain.verify().ok
    monkeypatch.setenv("HIMITSU_AUDIT_KEY", "a-different-key")
    assert _codes(chain.verify()) >= {(1, "audit.edited"), (2, "audit.edited")}


@pytest.mark.parametrize(("column", "value"), [
    ("actor_name", "someone-else"),
    ("action", "login"),
    ("object_repr", "SAL-999"),
    ("ip", "10.0.0.1"),
    ("details", '{"i": 99}'),
    ("at", "2020-01-01 00:00:00+00:00"),
])
def test_verify_detects_an_edited_record(db, column, value):
    _chain_of(5)
    _drop_triggers()
    _sql(f"UPDATE {TABLE} SET {column} = %s WHERE seq = 3", [value])
    result = chain.verify()
    assert not result.ok
    assert (3, "audit.edited") in _codes(result)
    assert all(p.seq == 3 for p in result.problems)


def test_verify_detects_a_forged_record_rehashed_with_the_key(db):
    """Even with the key, rewriting one record breaks the link of the next one."""
    events = _chain_of(5)
    _drop_triggers()
    forged = events[2]
    forged.actor_name = "forger"
    new_hash = chain.compute_hash(chain.config.audit_key(), forged.prev_hash, chain._values(forged))
    _sql(f"UPDATE {TABLE} SET actor_name = %s, hash = %s WHERE seq = 3", ["forger", new_hash])
    result = chain.verify()
    assert _codes(result) == {(4, "audit.reordered")}


def test_verify_detects_a_deleted_record(db):
    _chain_of(6)
    _drop_triggers()
    _sql(f"DELETE FROM {TABLE} WHERE seq = 3")
    result = chain.verify()
    assert (3, "audit.deleted") in _codes(result)
    assert result.checked == 5


def test_verify_detects_the_first_record_deleted(db):
    _chain_of(3)
    _drop_triggers()
    _sql(f"DELETE FROM {TABLE} WHERE seq = 1")
    assert (1, "audit.deleted") in _codes(chain.verify())


def test_verify_detects_two_swapped_records(db):
    _chain_of(6)
    _drop_triggers()
    _sql(f"UPDATE {TABLE} SET seq = -1 WHERE seq = 3")
    _sql(f"UPDATE {TABLE} SET seq = 3 WHERE seq = 4")
    _sql(f"UPDATE {TABLE} SET seq = 4 WHERE seq = -1")
    result = chain.verify()
    codes = _codes(result)
    assert {(3, "audit.reordered"), (4, "audit.reordered")} <= codes
    assert not result.ok


def test_verify_detects_swapped_contents(db):
    """Swap every hashed column except seq (rows keep their place, contents move)."""
    events = _chain_of(5)
    _drop_triggers()
    a, b = events[1], events[2]
    for target, source in ((a, b), (b, a)):
        _sql(f"UPDATE {TABLE} SET actor_name = %s, object_id = %s, object_repr = %s, prev_hash = %s, hash = %s "
             f"WHERE seq = %s", [source.actor_name, source.object_id, source.object_repr, source.prev_hash,
                                 source.hash, target.seq])
    codes = _codes(chain.verify())
    assert (2, "audit.edited") in codes and (3, "audit.edited") in codes


@pytest.mark.parametrize("cut", [1, 2, 5])
def test_verify_detects_a_truncated_tail(db, cut):
    _chain_of(5)
    _drop_triggers()
    _sql(f"DELETE FROM {TABLE} WHERE seq > %s", [5 - cut])
    result = chain.verify()
    assert _codes(result) == {(5, "audit.truncated")}
    assert result.checked == 5 - cut


def test_verify_page_reports_tampering(org, login):
    _chain_of(3)
    _drop_triggers()
    _sql(f"UPDATE {TABLE} SET actor_name = 'x' WHERE seq = 2")
    client = login("auditor")
    r = client.post("/audit/verify/", follow=True)
    assert r.status_code == 200
    event = _events(action=Action.VERIFY)[-1]
    assert event.details["ok"] is False and event.details["problems"] >= 1
    messages = [str(m) for m in r.context["messages"]]
    assert messages and "2" in messages[0]


# --- append-only storage ----------------------------------------------------------------------------

@pytest.mark.parametrize("statement", [
    f"UPDATE {TABLE} SET actor_name = 'x' WHERE seq = 1",
    f"UPDATE {TABLE} SET details = '{{}}'",
    f"DELETE FROM {TABLE} WHERE seq = 2",
    f"DELETE FROM {TABLE}",
])
def test_database_refuses_raw_update_and_delete(db, statement):
    _chain_of(3)
    with pytest.raises(DatabaseError), transaction.atomic():
        _sql(statement)
    assert chain.verify().ok
    assert AuditEvent.objects.count() == 3


def test_database_refuses_truncate_on_postgresql(db):
    if connection.vendor != "postgresql":
        pytest.skip("TRUNCATE exists only on PostgreSQL")
    _chain_of(2)
    with pytest.raises(DatabaseError), transaction.atomic():
        _sql(f"TRUNCATE {TABLE}")
    assert AuditEvent.objects.count() == 2


def test_orm_refuses_update_and_delete(db):
    (first, second) = _chain_of(2)
    with pytest.raises(PermissionError):
        AuditEvent.objects.update(actor_name="x")
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(seq=1).update(actor_name="x")
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(seq=2).delete()
    first.actor_name = "x"
    with pytest.raises(PermissionError):
        first.save()
    with pytest.raises(PermissionError):
        second.delete()
    with pytest.raises(PermissionError), transaction.atomic():
        AuditEvent.objects.bulk_update([first], ["actor_name"])
    fresh = AuditEvent.objects.get(seq=1)
    fresh.pk = None  # still a loaded record: refused like any other save
    with pytest.raises(PermissionError):
        fresh.save()
    impostor = AuditEvent(seq=1, at=timezone.now(), action=Action.VIEW, prev_hash=chain.GENESIS, hash="0" * 64)
    with pytest.raises(DatabaseError), transaction.atomic():  # seq is unique: no second record 1
        impostor.save()
    assert chain.verify().ok
    assert [e.actor_name for e in _events()] == ["tester0", "tester1"]


# --- browsing ---------------------------------------------------------------------------------------

def _record_at(monkeypatch, when: datetime, marker: str, actor: str = "someone", action: str = Action.VIEW) -> None:
    monkeypatch.setattr(chain.timezone, "now", lambda: when)
    chain.record(action, actor_name=actor, object_type="secret", object_repr=marker)
    monkeypatch.undo()


@pytest.fixture
def dated(org, monkeypatch):
    """Records on known days (JST): 2025-03-31 23:59, 2025-04-01 00:00, 2025-04-30 23:30, 2025-05-01 00:30."""
    jst = timezone.get_fixed_timezone(9 * 60)
    _record_at(monkeypatch, datetime(2025, 3, 31, 23, 59, tzinfo=jst), "MARK-MAR31", actor="alice")
    _record_at(monkeypatch, datetime(2025, 4, 1, 0, 0, tzinfo=jst), "MARK-APR01", actor="bob",
               action=Action.UPDATE)
    _record_at(monkeypatch, datetime(2025, 4, 30, 23, 30, tzinfo=jst), "MARK-APR30", actor="alice")
    _record_at(monkeypatch, datetime(2025, 4, 30, 15, 30, tzinfo=UTC), "MARK-MAY01", actor="devlead",
               action=Action.DENIED)
    return ["MARK-MAR31", "MARK-APR01", "MARK-APR30", "MARK-MAY01"]


@pytest.mark.parametrize(("params", "shown"), [
    ({}, {"MARK-MAR31", "MARK-APR01", "MARK-APR30", "MARK-MAY01"}),
    ({"actor": "alice"}, {"MARK-MAR31", "MARK-APR30"}),
    ({"actor": "ALI"}, {"MARK-MAR31", "MARK-APR30"}),
    ({"action": "denied"}, {"MARK-MAY01"}),
    ({"action": "update", "actor": "bob"}, {"MARK-APR01"}),
    ({"action": "update", "actor": "alice"}, set()),
    ({"object": "APR"}, {"MARK-APR01", "MARK-APR30"}),
    ({"from": "2025-04-01", "to": "2025-04-30"}, {"MARK-APR01", "MARK-APR30"}),
    ({"from": "令和7年4月1日", "to": "令和7年4月30日"}, {"MARK-APR01", "MARK-APR30"}),
    ({"from": "R7.4.1", "to": "R7.4.1"}, {"MARK-APR01"}),
    ({"from": "２０２５年５月１日"}, {"MARK-MAY01"}),
    ({"to": "平成31年4月30日"}, set()),
    ({"to": "2025/3/31"}, {"MARK-MAR31"}),
    ({"from": "令和7年4月1日", "actor": "alice"}, {"MARK-APR30"}),
])
def test_auditor_filters_the_trail(dated, login, params, shown):
    client = login("auditor")
    r = client.get("/audit/", params)
    assert r.status_code == 200
    body = r.content.decode()
    for marker in dated:
        assert (marker in body) is (marker in shown), (params, marker)


@pytest.mark.parametrize("bad", ["令和1年4月30日", "2025-02-30", "someday", "\x00"])
def test_bad_filter_dates_are_reported_not_500(dated, login, bad):
    r = login("auditor").get("/audit/", {"from": bad})
    assert r.status_code == 200
    if bad.strip("\x00"):
        assert r.context["bad_dates"] == ["from"]


@pytest.mark.parametrize("params", [{"actor": "a\x00b"}, {"object": "\x00"}, {"ip": "1\x00"},
                                    {"action": "x" * 500}, {"page": "-1"}, {"page": "abc"}])
def test_odd_filters_are_not_500(dated, login, params):
    assert login("auditor").get("/audit/", params).status_code == 200
    assert chain.verify().ok


def test_audit_list_shows_ip_and_escapes(org, login):
    chain.record(Action.VIEW, actor_name="<b>evil</b>", object_repr="<script>alert(1)</script>")
    login("alice").get(f"/register/{org.prices.pk}/")
    body = login("admin").get("/audit/").content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;" in body
    assert "127.0.0.1" in body


def test_audit_page_shows_the_trail_as_it_was_when_asked(db, login, org):
    """The visit's own 'list' record must not push the oldest record off the page."""
    total = AuditEvent.objects.count()
    client = login("auditor")
    total += 1  # the login
    r = client.get("/audit/")
    seqs = [e.seq for e in r.context["page"]]
    assert seqs == list(range(total, 0, -1))
    assert r.context["page"].paginator.count == total


def test_audit_api_pages_are_stable(org, login):
    _chain_of(5)
    client = login("auditor")
    latest = AuditEvent.objects.order_by("-seq").first().seq
    first = client.get("/api/v1/audit?limit=2").json()
    assert [e["seq"] for e in first] == [latest, latest - 1]
    everything = client.get("/api/v1/audit?limit=500").json()
    assert [e["seq"] for e in everything] == list(range(latest + 1, 0, -1))  # + the first call's record


@pytest.mark.parametrize("role", ["manager", "devlead", "alice"])
def test_only_auditors_and_admins_browse_the_trail(org, login, role):
    client = login(role)
    assert client.get("/audit/").status_code == 403
    assert client.post("/audit/verify/").status_code == 403
    assert client.get("/api/v1/audit").status_code == 403


def test_verify_needs_post(org, login):
    assert login("auditor").get("/audit/verify/").status_code == 405


def test_chain_head_cannot_be_deleted_or_moved_back(org):
    from django.db import DatabaseError, connection, transaction

    from himitsu.web.audit.models import AuditHead

    chain.record(Action.VIEW, actor_name="t", object_type="secret", object_id=1)
    for sql in (f"DELETE FROM {AuditHead._meta.db_table}", f"UPDATE {AuditHead._meta.db_table} SET seq = 0"):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql)


def test_missing_head_is_reported(org):
    from django.db import connection

    from himitsu.web.audit.models import AuditHead

    chain.record(Action.VIEW, actor_name="t", object_type="secret", object_id=1)
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("DROP TRIGGER audit_head_guard ON audit_audithead")
        else:
            cur.execute("DROP TRIGGER audit_head_no_delete")
        cur.execute(f"DELETE FROM {AuditHead._meta.db_table}")
    assert "audit.truncated" in {p.code for p in chain.verify().problems}


def test_every_recorded_object_type_has_a_label():
    """The audit page names what an event is about: every object_type the code records has a label."""
    import re
    from pathlib import Path

    from himitsu.web.audit.views import OBJECT_TYPES

    src = Path(__file__).resolve().parents[2] / "src" / "himitsu"
    recorded = set()
    for path in src.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        recorded |= set(re.findall(r'object_type="([a-z_]+)"', text))
        recorded |= set(re.findall(r'_audit\(ctx, [^,]+, "([a-z_]+)"', text))
    assert recorded and recorded <= set(OBJECT_TYPES), sorted(recorded - set(OBJECT_TYPES))


def test_append_without_a_savepoint_inside_a_callers_transaction(db):
    """The guard's record writer appends inside its own transaction with ``savepoint=False``: no SAVEPOINT round
    trips, the events linked as with one, and a failure there rolls back the caller's whole transaction."""
    from django.test.utils import CaptureQueriesContext

    def savepoints(savepoint: bool, first: int) -> int:
        with CaptureQueriesContext(connection) as queries, transaction.atomic():  # (a savepoint of the test's own)
            chain.append([chain.event(Action.CREATE, object_type="t", object_id=i) for i in range(first, first + 3)],
                         savepoint=savepoint)
        return sum(q["sql"].upper().startswith("SAVEPOINT") for q in queries.captured_queries)

    chain.append([chain.event(Action.CREATE, object_type="t", object_id=0)])  # the head exists from here on
    assert savepoints(False, 1) == savepoints(True, 4) - 1
    assert [e.seq for e in AuditEvent.objects.order_by("seq")] == [1, 2, 3, 4, 5, 6, 7]
    assert chain.verify().ok

    with pytest.raises(DatabaseError), transaction.atomic():
        chain.append([chain.event(Action.CREATE, object_type="t", object_id=9)], savepoint=False)
        AuditEvent.objects.create(seq=1, action=Action.CREATE, object_type="dup", prev_hash="", hash="x")  # taken
    assert chain.count() == 7 and AuditHead.objects.get(pk=1).seq == 7
