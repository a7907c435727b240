"""`himitsu scan TARGET... [--json] [--workers N] [--full]` and `himitsu scans worker|targets`.

The CLI, the web app's "run now" and the scheduled worker share one code path: ``scans.services.run_target``
(which drives ``himitsu.engine.scan.Scanner``). Exit 0: nothing to act on; 1: findings present; 2: usage
error, or a target that could not be scanned at all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from django.utils.translation import gettext as _

from himitsu.cli import runtime
from himitsu.cli.register_cmd import AS_HELP, actor
from himitsu.cli.runtime import console, emit_json, err_console, guarded

app = typer.Typer(no_args_is_help=True)


@contextmanager
def _progress_display() -> Iterator[Callable[[Any], None]]:
    """A Rich progress bar (files, bytes, rate, errors, ETA) fed with the engine's Progress counters."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TextColumn("{task.fields[files]}"), TextColumn("[yellow]{task.fields[errors]}"), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=False, disable=not err_console.is_terminal) as bar:
        task = bar.add_task(_("Scanning"), total=None, files="", errors="")

        def update(p: Any) -> None:
            files = _("{done}/{seen} files ({unchanged} unchanged)").format(
                done=p.files_done, seen=p.files_total if p.files_total is not None else f"{p.files_seen}+",
                unchanged=p.unchanged)
            errors = _("{n} errors").format(n=p.errors) if p.errors else ""
            bar.update(task, completed=p.bytes_read, total=max(p.bytes_total, 1) if p.bytes_total else None,
                       files=files, errors=errors)

        yield update


def _finding_row(f: Any, run: Any) -> dict[str, Any]:
    """One finding of the target; ``new``: first found by this run (an unchanged file is not read again, so the
    finding's last run may be an earlier one)."""
    from himitsu.web.scans import services

    secret = None
    if f.secret_id is not None:
        secret = {"id": f.secret_id, "number": f.secret.management_number, "title": f.secret.title,
                  "level": f.level}
    return {"target": f.target.url, "path": f.path, "kind": f.kind, "detector": f.detector, "reason": f.reason,
            "explanation": services.explanation(f, _), "secret": secret, "level": f.level, "score": round(f.score, 4),
            "hits": f.hits, "part": f.part, "start": f.start, "end": f.end, "snippet": f.snippet,
            "matched_chars": f.matched_chars, "exposure": f.exposure, "status": f.status,
            "new": f.first_run_id == run.pk}


def _run_row(run: Any) -> dict[str, Any]:
    return {"id": run.pk, "target": run.target.url, "status": run.status, "files_seen": run.files_seen,
            "files_read": run.files_read, "bytes_read": run.bytes_read, "unchanged": run.unchanged,
            "resumed": run.resumed, "errors": run.errors, "vanished": run.vanished, "findings_new": run.findings_new,
            "seconds": round(run.seconds, 3), "error_code": run.error_code or None}


@guarded
def scan(
    targets: Annotated[list[str], typer.Argument(
        help="Folders, smb://server/share/path or s3://bucket/prefix (credentials from the environment).")],
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, max=16,
                                         help="Worker processes that read and inspect files.")] = 1,
    full: Annotated[bool, typer.Option("--full", help="Read every file again, changed or not.")] = False,
    as_user: Annotated[str, typer.Option("--as", help=AS_HELP)] = "",
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per finding and error, then the run.")]
    = False,
) -> None:
    runtime.setup()
    from himitsu.web.accounts.access import visible_scan_findings
    from himitsu.web.register.services import Context
    from himitsu.web.scans import services
    from himitsu.web.scans.models import ScanError, ScanFinding

    ctx = Context(actor=actor(as_user), channel="cli")
    with _progress_display() as update:
        runs = services.scan_urls(ctx, targets, workers=workers, full=full, on_progress=update)
    worst = 0
    for run in runs:
        findings = (visible_scan_findings(ctx.actor, ScanFinding.objects.filter(target=run.target, present=True))
                    .select_related("target", "secret").order_by("path", "kind", "detector", "pk"))
        errors = ScanError.objects.filter(run=run).order_by("pk")
        if run.status == "failed":
            worst = 2
        elif findings.exists() and worst < 1:
            worst = 1
        if json_out:
            for f in findings:
                emit_json(_finding_row(f, run))
            for e in errors:
                emit_json({"target": run.target.url, "path": e.path,
                           "error": {"code": e.code, "message": services.error_message(e.code, e.detail, _)}})
            emit_json({"run": _run_row(run)})
        else:
            _print(run, list(findings[:200]), findings.count(), list(errors[:50]), errors.count())
    raise typer.Exit(worst)


def _print(run: Any, findings: list[Any], total: int, errors: list[Any], error_total: int) -> None:
    from rich.table import Table

    from himitsu.web.scans import services

    status = {"finished": _("finished"), "failed": _("failed"), "interrupted": _("interrupted")}.get(
        run.status, run.status)
    console.print(f"[bold]{run.target.url}[/]: {status}", highlight=False)
    console.print(_("{seen} files, {read} read ({mb:.1f} MB), {unchanged} unchanged, {resumed} resumed, "
                    "{errors} errors, {vanished} gone, {new} new findings, {seconds:.1f} s").format(
        seen=run.files_seen, read=run.files_read, mb=run.bytes_read / 1e6, unchanged=run.unchanged,
        resumed=run.resumed, errors=run.errors, vanished=run.vanished, new=run.findings_new, seconds=run.seconds),
        highlight=False)
    if findings:
        table = Table()
        # paths and explanations wrap onto further lines rather than being cut short with "…" (the location
        # is what the reader acts on, and Japanese text has no spaces to wrap at)
        for header in (_("location"), _("kind"), _("register entry"), _("status"), _("explanation")):
            table.add_column(header, overflow="fold")
        kinds = dict(services.kind_labels())
        for f in findings:
            entry = f"[{f.level}] {f.secret.management_number} {f.secret.title}" if f.secret_id else f.level
            table.add_row(f.path, kinds.get(f.kind, f.kind), entry, f.get_status_display(),
                          services.explanation(f, _))
        console.print(table)
        if total > len(findings):
            console.print(_("… and {n} more: see the web app or use --json.").format(n=total - len(findings)))
    for e in errors:
        console.print(f"  [yellow]{e.code}[/] {e.path} {services.error_message(e.code, e.detail, _)}",
                      highlight=False)
    if error_total > len(errors):
        console.print(_("… and {n} more errors.").format(n=error_total - len(errors)))


@app.command("worker", help="スケジュールされたスキャンを実行する / Run scheduled and queued scans.")
@guarded
def worker(
    once: Annotated[bool, typer.Option("--once", help="Run what is due now, then exit.")] = False,
    poll: Annotated[int, typer.Option("--poll", min=1, max=3600, help="Seconds between checks.")] = 30,
) -> None:
    runtime.setup()
    from himitsu.web.scans import worker as scan_worker

    if once:
        runs = scan_worker.run_due()
        for run in runs:
            emit_json({"run": _run_row(run)})
        return
    stop = threading.Event()
    console.print(_("Waiting for scans (every {n} s); stop with Ctrl+C.").format(n=poll))
    try:
        scan_worker.serve(poll_seconds=poll, stop_event=stop)
    except KeyboardInterrupt:
        stop.set()
        time.sleep(0)


@app.command("targets", help="スキャン対象 / Scan targets with their last run.")
@guarded
def targets(json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False) -> None:
    runtime.setup()
    from himitsu.web.scans.models import ScanTarget

    rows = []
    for t in ScanTarget.objects.order_by("name", "pk"):
        last = t.runs.order_by("-pk").first()
        rows.append({"id": t.pk, "name": t.name, "url": t.url, "interval_hours": t.interval_hours,
                     "enabled": t.enabled, "next_run_at": t.next_run_at.isoformat() if t.next_run_at else None,
                     "last_run": _run_row(last) if last else None})
    if json_out:
        emit_json({"targets": rows})
        return
    from rich.table import Table

    table = Table("id", _("name"), _("target"), _("interval (hours)"), _("last run"))
    for r in rows:
        last = r["last_run"]
        table.add_row(str(r["id"]), r["name"], r["url"], str(r["interval_hours"] or "–"),
                      f"{last['status']} ({last['files_seen']})" if last else "–")
    console.print(table)
