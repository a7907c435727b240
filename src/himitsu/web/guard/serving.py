"""How a serving process (``himitsu serve``, ``himitsu guard serve`` and its check workers) keeps the guard's
database work off the hot path.

A check costs about a millisecond of the engine; what it costs on top is the database: reading the token and
the policy, writing the decision record. Many threads of one process doing that at 200 requests a second meet
two walls: SQLite lets one writer in at a time and puts the others to sleep (1 … 100 ms) in its busy handler,
and every query lets go of the interpreter lock, which a thread busy with a check then holds for up to its
switch interval (5 ms) — a convoy that turned 3 ms requests into seconds. In serving mode:

* **one writer thread** per process stores the decision records, many at once: records alone in one INSERT
  statement, records with audit events in one transaction (one insert for the records, one for the events, linked
  into the chain in order; two round trips on PostgreSQL); the thread that asked waits for its record's id, so
  nothing is answered before it is stored;
* **short-lived reads**: a verified API token, a sender's user row and a register entry's title and level are
  reused for :data:`TOKEN_SECONDS` seconds and the policy's stamp is looked at once a :data:`POLICY_SECONDS`,
  so a revocation, a policy change or an entry's new level made elsewhere takes effect in every serving process
  within those seconds (a revocation or policy change at once in the process that made it); which entry each
  registered document belongs to is read for all documents once, when serving starts
  (``documents.keep_refs``).

Outside serving mode (the CLI, the gateways' tests, the test suite) everything is read and written when asked.
The web pages served by ``himitsu serve`` run in serving mode too: a token revoked on a page is dropped at once in
that process and within seconds in the others.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TOKEN_SECONDS = 5.0
POLICY_SECONDS = 1.0
MAX_BATCH = 500

_serving = False


def enable() -> None:
    """This process serves requests: from now on records go through the writer and reads are kept briefly. What
    was loaded so far (Django, the engine, the index) lives as long as the process: it is moved out of the
    garbage collector's way, so that full collections during requests do not walk it again and again."""
    import gc

    from himitsu.web.register import documents

    global _serving
    _serving = True
    documents.keep_refs(TOKEN_SECONDS)
    gc.collect()
    gc.freeze()


def disable() -> None:
    """Back to reading and writing when asked (tests): the writer thread finishes what it was given and stops,
    closing its database connection."""
    import gc

    from himitsu.web.register import documents

    global _serving
    _serving = False
    documents.keep_refs(0)
    writer.stop()
    _forget()
    gc.unfreeze()


def enabled() -> bool:
    return _serving


def _forget() -> None:
    from himitsu.web.guard import services

    services.forget_recent()


@dataclass
class _Job:
    row: Any
    audit: Callable[[Any], Any] | None
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class RecordWriter:
    """The writer thread of this process (started on first use, again in a forked child)."""

    def __init__(self) -> None:
        self._pid = 0
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def write(self, row: Any, audit: Callable[[Any], Any] | None) -> Any:
        """Store ``row`` (a GuardDecision; ``audit(row)`` gives its audit event, appended to the chain in the same
        transaction) and return it with its id, or raise what storing it raised."""
        self._ensure()
        job = _Job(row, audit)
        self._queue.put(job)
        job.done.wait()
        if job.error is not None:
            raise job.error
        return row

    def stop(self) -> None:
        if self._pid != os.getpid() or self._thread is None:
            return
        job = _Job(row=None, audit=None)
        self._queue.put(job)
        self._thread.join(30)
        self._thread, self._pid = None, 0

    def _ensure(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                self._queue = queue.SimpleQueue()
                self._thread = threading.Thread(target=self._run, name="himitsu-records", daemon=True)
                self._thread.start()
                self._pid = os.getpid()

    def _run(self) -> None:
        from django.db import connections

        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stopping = any(job.row is None for job in batch)
            batch = [job for job in batch if job.row is not None]
            if not batch:
                continue
            try:
                _store(batch)
            except Exception:  # noqa: BLE001 - one bad record must not fail the others: each on its own
                for job in batch:
                    try:
                        _store([job])
                    except Exception as exc:  # noqa: BLE001 - handed to the thread that waits for it
                        job.error = exc
            for job in batch:
                job.done.set()
        connections.close_all()


def _store(batch: list[_Job]) -> None:
    """One batch in as few statements as it takes: the records alone (nothing for the audit trail, the usual
    case) in one INSERT, which is atomic by itself; with audit events, the records and the events in one
    transaction (the chain's head is locked, read and moved there). Every statement is a round trip on which
    this thread lets go of the interpreter lock and must win it back from the threads busy with checks, while
    the requests of the batch wait: four statements a batch (BEGIN, SET, INSERT, COMMIT) were one."""
    from django.db import DEFAULT_DB_ALIAS, close_old_connections, connections, transaction

    from himitsu.web.audit import chain
    from himitsu.web.core.db import serialised_writes

    global _checked_at
    connection = connections[DEFAULT_DB_ALIAS]  # (not the proxy ``django.db.connection``: it costs a lookup a use)
    now = time.monotonic()
    if connection.errors_occurred or now - _checked_at >= HEALTH_SECONDS:
        # as a request would: a broken or old connection is replaced (its health checked by a query of its own,
        # so not for every batch)
        close_old_connections()
        _checked_at = now
    rows = [job.row for job in batch]
    audited = [job for job in batch if job.audit is not None]
    with serialised_writes():
        _no_flush_wait(connection)
        per_statement = _rows_per_statement(rows, connection)
        if not audited and len(rows) <= per_statement:
            insert(rows, connection, per_statement)
            return
        if len(rows) <= per_statement and _store_linked(rows, audited, connection):
            return
        with transaction.atomic():
            insert(rows, connection, per_statement)
            chain.append([job.audit(job.row) for job in audited], savepoint=False)  # a failure fails the batch


def _store_linked(rows: list[Any], audited: list[_Job], connection: Any) -> bool:
    """Records and their audit events in one transaction in plain statements: the records inserted, the chain's
    head locked and read, the events linked after it (:func:`~himitsu.web.audit.chain.link`) and inserted, the head
    moved. The ORM's way (``chain.append``: get_or_create, bulk_create, save) cost this thread ~3 ms a batch. On
    PostgreSQL the statements travel in two round trips (``BEGIN; INSERT …; SELECT … FOR UPDATE``, then ``INSERT …;
    UPDATE …; COMMIT``) instead of six — each a wait for the database server's process on the same cores, during
    which the batch's requests wait too. False, with nothing written, where this is not done: no chain head yet
    (``chain.append`` makes it), a transaction of a caller open, more events than one statement holds."""
    from django.db import transaction

    from himitsu.web.audit import chain
    from himitsu.web.audit.models import AuditEvent, AuditHead

    if connection.in_atomic_block or len(audited) > _rows_per_statement(audited, connection, AuditEvent):
        return False
    head = connection.ops.quote_name(AuditHead._meta.db_table)
    postgres = connection.vendor == "postgresql"
    read_head = f"SELECT seq, hash FROM {head} WHERE id = 1" + (" FOR UPDATE" if postgres else "")
    move_head = f"UPDATE {head} SET seq = %s, hash = %s WHERE id = 1"
    rows_sql, rows_params = insert_statement(rows, connection)
    if not postgres:  # in-process: statement by statement in Django's transaction
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(rows_sql, rows_params)
                _set_ids(rows, cursor.fetchall(), connection)
                cursor.execute(read_head)
                found = cursor.fetchone()
                if found is None:
                    transaction.set_rollback(True)
                    _forget_ids(rows)
                    return False
                events = [job.audit(job.row) for job in audited]  # they name the records' ids
                seq, prev = chain.link(events, *found)
                cursor.execute(*insert_statement(events, connection, returning=False))
                cursor.execute(move_head, [seq, prev])
        except BaseException:
            _forget_ids(rows)
            raise
        return True
    from psycopg.pq import TransactionStatus

    with connection.cursor() as cursor:
        raw = connection.connection  # (opening the cursor may have replaced a connection that failed its check)
        try:
            cursor.execute(f"BEGIN; {rows_sql}; {read_head}", rows_params)
            cursor.nextset()  # past BEGIN's empty result
            ids = cursor.fetchall()
            cursor.nextset()
            found = cursor.fetchone()
            if found is None:
                cursor.execute("ROLLBACK")
                return False
            _set_ids(rows, ids, connection)
            events = [job.audit(job.row) for job in audited]  # they name the records' ids
            seq, prev = chain.link(events, *found)
            events_sql, events_params = insert_statement(events, connection, returning=False)
            cursor.execute(f"{events_sql}; {move_head}; COMMIT", [*events_params, seq, prev])
        except BaseException:
            _forget_ids(rows)
            if not raw.closed and raw.info.transaction_status != TransactionStatus.IDLE:
                with contextlib.suppress(Exception):  # a broken connection is replaced before the next batch
                    raw.execute("ROLLBACK")
            raise
    return True


def _forget_ids(rows: list[Any]) -> None:
    """The rows were not stored after all (their transaction was rolled back)."""
    for obj in rows:
        setattr(obj, type(obj)._meta.pk.attname, None)
        obj._state.adding = True


#: seconds between two checks of the writer's database connection (Django's ``close_old_connections``: a health
#: query when errors occurred, the connection's age); after a failed batch it is checked at once
HEALTH_SECONDS = 1.0
_checked_at = float("-inf")


def _no_flush_wait(connection: Any) -> None:
    """PostgreSQL: commits of the writer's connection do not wait for the WAL flush (``synchronous_commit =
    off`` for its session, set once per connection): the durability SQLite's WAL with synchronous=NORMAL already
    has — a crash of the machine may lose the last moment's records, a crash of the process loses none that were
    answered (docs/guard.md)."""
    if connection.vendor != "postgresql":
        return
    connection.ensure_connection()
    raw = connection.connection
    if getattr(connection, "_himitsu_flush_off", None) is raw:  # this session is set already
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    connection._himitsu_flush_off = raw


def _rows_per_statement(rows: list[Any], connection: Any, model: Any = None) -> int:
    """How many of ``rows`` (of ``model``: the first row's when not given) one INSERT may hold."""
    meta = (model or type(rows[0]))._meta
    return max(1, connection.ops.bulk_batch_size([f for f in meta.concrete_fields if f is not meta.pk], rows))


def insert(rows: list[Any], connection: Any, per_statement: int | None = None) -> None:
    """``rows`` (new objects of one model with an automatic primary key) inserted with as few statements as the
    database allows (``per_statement`` rows each: :func:`_rows_per_statement` when not given), their ids set in
    order, as ``bulk_create`` sets them; unlike it, without a transaction of its own (one statement is atomic; more
    need the caller's transaction). On PostgreSQL the values travel apart from the statement (server-side binding,
    psycopg's own cursor on Django's connection): Django's cursor writes them into the statement's text, which cost
    this thread 0.24 ms of CPU a one-row statement against 0.14–0.19 ms. (Such a statement is not in Django's query
    log: ``connection.queries``, the ``django.db.backends`` logger.)"""
    size = per_statement or _rows_per_statement(rows, connection)
    with _binding_cursor(connection) as cursor:
        for start in range(0, len(rows), size):
            part = rows[start:start + size]
            cursor.execute(*insert_statement(part, connection))
            _set_ids(part, cursor.fetchall(), connection)


@contextlib.contextmanager
def _binding_cursor(connection: Any) -> Any:
    """PostgreSQL: psycopg's own cursor on Django's connection (values bound by the server), inside Django's error
    wrapping; elsewhere Django's cursor."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    import psycopg

    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor


def insert_statement(rows: list[Any], connection: Any, returning: bool = True) -> tuple[str, list[Any]]:
    """One INSERT of ``rows`` (new objects of one model with an automatic primary key, no more than one statement
    holds) and its parameters, ``RETURNING`` the ids unless told not to. Each field's value goes through the
    field's own conversion (``pre_save``, ``get_db_prep_save``), as in ``bulk_create``."""
    fields, head, one, tail = _statement_parts(type(rows[0]), connection)
    sql = head + ", ".join([one] * len(rows)) + (tail if returning else "")
    return sql, [f.get_db_prep_save(f.pre_save(obj, True), connection=connection) for obj in rows for f in fields]


_parts: dict[tuple[Any, str], tuple[list[Any], str, str, str]] = {}


def _statement_parts(model: Any, connection: Any) -> tuple[list[Any], str, str, str]:
    """(the fields an INSERT of ``model`` sets, ``INSERT INTO … VALUES ``, one row's placeholders, `` RETURNING
    id``), made once per model and database kind."""
    key = (model, connection.vendor)
    found = _parts.get(key)
    if found is None:
        meta = model._meta
        pk = meta.pk
        fields = [f for f in meta.concrete_fields if f is not pk]
        qn = connection.ops.quote_name
        found = _parts[key] = (fields, f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "
                                       "VALUES ", "(" + ", ".join(["%s"] * len(fields)) + ")",
                               f" RETURNING {qn(pk.column)}")
    return found


def _set_ids(rows: list[Any], ids: list[tuple[Any, ...]], connection: Any) -> None:
    attname = type(rows[0])._meta.pk.attname
    for obj, (ident,) in zip(rows, ids, strict=True):
        setattr(obj, attname, ident)
        obj._state.adding = False
        obj._state.db = connection.alias


writer = RecordWriter()
