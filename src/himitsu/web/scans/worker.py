"""The background worker of scans (``himitsu scans worker``): runs what is queued from the web app and what the
schedule says is due, through the same :func:`himitsu.web.scans.services.run_target` as the CLI.

Claiming is a conditional UPDATE (compare and set), so two workers — on SQLite or PostgreSQL, on one machine
or several sharing the database — never take the same work: a queued run is taken by changing its status from
``queued`` to ``running`` only if it is still queued; a scheduled target by moving its ``next_run_at`` from the
value the worker read to the next slot only if nobody moved it first. Whoever's UPDATE changes one row owns
the work. Runs that are ``running`` with a heartbeat older than :data:`STALE_MINUTES` lost their process (killed,
machine restarted): they are marked ``interrupted``; the next run of the target resumes where the engine's
catalogue says it stopped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import close_old_connections, connection
from django.db.models import Q
from django.utils import timezone

from himitsu.errors import HimitsuError
from himitsu.web.accounts.access import system_actor
from himitsu.web.register.services import Context
from himitsu.web.scans import services
from himitsu.web.scans.models import RunStatus, ScanRun, ScanTarget, Trigger

log = logging.getLogger("himitsu.scans.worker")

#: a running run whose heartbeat is older than this lost its process
STALE_MINUTES = services.STALE_MINUTES


def _context() -> Context:
    return Context(actor=system_actor(), channel="worker")


def _busy(target_id: int, now: datetime) -> bool:
    """Another run of the target is going on (running with a fresh heartbeat)."""
    fresh = now - timedelta(minutes=STALE_MINUTES)
    return ScanRun.objects.filter(target_id=target_id, status=RunStatus.RUNNING, heartbeat_at__gte=fresh).exists()


def mark_stale(now: datetime | None = None) -> int:
    """Mark running runs without a heartbeat for STALE_MINUTES as interrupted. Returns how many."""
    now = now or timezone.now()
    cut = now - timedelta(minutes=STALE_MINUTES)
    stale = ScanRun.objects.filter(status=RunStatus.RUNNING).filter(
        Q(heartbeat_at__lt=cut) | Q(heartbeat_at__isnull=True, started_at__lt=cut)
        | Q(heartbeat_at__isnull=True, started_at__isnull=True, queued_at__lt=cut))
    return stale.update(status=RunStatus.INTERRUPTED, finished_at=now, error_code="scan.heartbeat_lost",
                        error_params={"minutes": STALE_MINUTES})


def _claim_queued(now: datetime) -> ScanRun | None:
    for run in ScanRun.objects.filter(status=RunStatus.QUEUED).select_related("target").order_by("pk"):
        if _busy(run.target_id, now):
            continue  # stays queued until the running scan of its target ends
        if ScanRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
                status=RunStatus.RUNNING, started_at=now, heartbeat_at=now) == 1:
            run.status, run.started_at, run.heartbeat_at = RunStatus.RUNNING, now, now
            return run
    return None


def _claim_due(now: datetime) -> tuple[ScanTarget, ScanRun] | None:
    due = (ScanTarget.objects.filter(enabled=True, interval_hours__gt=0)
           .filter(Q(next_run_at__lte=now) | Q(next_run_at__isnull=True)).order_by("next_run_at", "pk"))
    for target in due:
        following = now + timedelta(hours=target.interval_hours)
        same = ScanTarget.objects.filter(pk=target.pk, enabled=True)
        same = (same.filter(next_run_at__isnull=True) if target.next_run_at is None
                else same.filter(next_run_at=target.next_run_at))
        if same.update(next_run_at=following) != 1:
            continue  # another worker took it
        target.next_run_at = following
        if _busy(target.pk, now):
            continue  # still scanning since the last slot: this slot is skipped
        run = ScanRun.objects.create(target=target, status=RunStatus.RUNNING, trigger=Trigger.SCHEDULE,
                                     started_at=now, heartbeat_at=now)
        return target, run
    return None


def run_due(now: datetime | None = None, *, stop: threading.Event | None = None,
            on_progress: Callable[[Any], None] | None = None) -> list[ScanRun]:
    """Mark stale runs interrupted, then run every queued run (oldest first) and every due scheduled target,
    one after the other, until nothing is left or ``stop`` is set. Returns the runs it ran."""
    fixed = now
    mark_stale(fixed)
    done: list[ScanRun] = []
    should_stop = stop.is_set if stop is not None else None
    ctx = _context()
    while not (stop is not None and stop.is_set()):
        moment = fixed or timezone.now()
        run = _claim_queued(moment)
        if run is not None:
            target, trigger = run.target, Trigger.WEB
        else:
            claimed = _claim_due(moment)
            if claimed is None:
                break
            target, run = claimed
            trigger = Trigger.SCHEDULE
        try:
            done.append(services.run_target(ctx, target, trigger=trigger, run=run, should_stop=should_stop,
                                            on_progress=on_progress))
        except HimitsuError as exc:  # e.g. scan.running from a CLI scan of the same target: the run records it
            log.warning("scan of target %s: %s", target.pk, exc)
            run.refresh_from_db()
            done.append(run)
    return done


def serve(poll_seconds: float = 30, stop_event: threading.Event | None = None) -> None:
    """Run due work every ``poll_seconds`` until ``stop_event`` is set (``himitsu scans worker``)."""
    stop = stop_event or threading.Event()
    while not stop.is_set():
        _fresh_connection()
        try:
            for run in run_due(stop=stop):
                log.info("scan run %s of target %s: %s", run.pk, run.target_id, run.status)
        except Exception:  # a database outage must not end the worker: log and try again at the next poll
            log.exception("scan worker: run_due failed")
        finally:
            _fresh_connection()
        stop.wait(poll_seconds)


def _fresh_connection() -> None:
    """Drop a broken or too old database connection between polls (never inside a transaction)."""
    if not connection.in_atomic_block:
        close_old_connections()
