"""`himitsu insider ingest|people|score`: insider-risk analytics from the server's shell (issue 7).

The CLI, the web app's "score now" and any scheduled run share one code path: ``himitsu.web.insider.services``.
The analytics store is ``HIMITSU_HOME/insider.duckdb`` (or ``HIMITSU_INSIDER_DB``).

* ``insider ingest FILE... --format cert|m365|MAPPING.yml [--tz ZONE] [--as USER] [--json]``: each file whole or
  not at all; a progress bar per file, then a table of the reports with the rejected rows (line and code).
* ``insider people FILE``: load a people CSV (user, name, department, role, supervisor, joined, leaves, email)
  into the analytics store, for installations that do not keep their people in Himitsu. People Himitsu knows
  (their username is their log user id) win over the CSV's rows when a day is scored.
* ``insider score [--date D] [--top N] [--json] [--as USER] [--reveal --reason TEXT]``: scores the day (default:
  the last day with activity), keeps its list for the web app, prints the top N (default: the acting user's
  budget, else 5) with the reasons. People appear under their pseudonym; ``--reveal`` (with ``--as`` a
  trade-secret manager and a ``--reason``) adds their user id and name, each reveal audited.

Exit codes (as ``himitsu scan``): 0 every file ingested without rejected rows (or already ingested), and every
other command that succeeded; 1 some rows were rejected (the rest of their file was ingested); 2 usage or input
error, or a file that could not be ingested at all (the other files are still ingested).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from django.utils.translation import gettext as _

from himitsu.cli import runtime
from himitsu.cli.register_cmd import AS_HELP, actor
from himitsu.cli.runtime import console, emit_json, err_console, guarded
from himitsu.errors import InputError

app = typer.Typer(no_args_is_help=True)

FORMAT_HELP = "cert (CERT Insider Threat CSV), m365 (Microsoft 365 unified audit log CSV) or a mapping .yml file."
EXIT_HELP = ("Exit 0: every file ingested without rejected rows; 1: rows rejected; 2: usage error or a file that "
             "could not be ingested at all.")


@contextmanager
def _progress() -> Iterator[Callable[[str, int, int], None]]:
    """A Rich progress bar per file (bytes read), fed by the ingest's progress callback."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                  console=err_console, transient=False, disable=not err_console.is_terminal) as bar:
        tasks: dict[str, Any] = {}

        def update(path: str, done: int, total: int) -> None:
            if path not in tasks:
                tasks[path] = bar.add_task(Path(path).name, total=total or None)
            bar.update(tasks[path], completed=done, total=total or None)

        yield update


def _outcome_json(o: Any) -> dict[str, Any]:
    if o.error is not None:
        return {"path": o.path, "ok": False, "code": o.error.code, "message": runtime.error_text(o.error)}
    r = o.report
    return {"path": o.path, "ok": True, "name": r.name, "sha256": r.sha256, "format": r.format, "kind": r.kind,
            "rows": r.rows, "added": r.added, "duplicates": r.duplicates, "rejected": r.rejected,
            "skipped": r.skipped, "first_ts": r.first_ts.isoformat() if r.first_ts else None,
            "last_ts": r.last_ts.isoformat() if r.last_ts else None, "rejected_by_code": o.codes,
            "samples": [{"line": line, "code": code, "detail": detail} for line, code, detail in r.samples]}


def _exit_code(outcomes: list[Any]) -> int:
    if any(o.error is not None for o in outcomes):
        return 2
    return 1 if any(o.report.rejected for o in outcomes) else 0


def _print_reports(outcomes: list[Any]) -> None:
    from rich.table import Table

    table = Table(_("file"), _("kind"), _("rows"), _("added"), _("duplicates"), _("rejected"), _("outcome"),
                  title=_("Activity logs"))
    for o in outcomes:
        if o.error is not None:
            table.add_row(Path(o.path).name, "", "", "", "", "",
                          f"[red]{runtime.error_text(o.error)}[/] ({o.error.code})")
            continue
        r = o.report
        outcome = _("already ingested") if r.skipped else _("ingested")
        table.add_row(r.name, r.kind or r.format, str(r.rows), str(r.added), str(r.duplicates), str(r.rejected),
                      outcome)
    console.print(table)
    for o in outcomes:
        if o.report is None or not o.report.rejected:
            continue
        rejected = Table(_("line"), _("code"), _("column"),
                         title=_("{name}: {n} rows rejected (first {shown})").format(
                             name=o.report.name, n=o.report.rejected, shown=len(o.report.samples)))
        for line, code, detail in o.report.samples:
            rejected.add_row(str(line), code, detail)
        err_console.print(rejected)


@app.command("ingest", help="活動ログを取り込む / Ingest activity logs into the analytics store. " + EXIT_HELP)
@guarded
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Log files (CSV or JSON lines).")],
    fmt: Annotated[str, typer.Option("--format", help=FORMAT_HELP)],
    tz: Annotated[str, typer.Option("--tz", help="Time zone of timestamps without one (default Asia/Tokyo).")]
    = "Asia/Tokyo",
    as_user: Annotated[str, typer.Option("--as", help=AS_HELP)] = "",
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    runtime.setup()
    from himitsu.web.insider import services

    who = actor(as_user)
    with _progress() as update:
        outcomes = services.ingest(paths, fmt, who, tz=tz, channel="cli", progress=update)
    if json_out:
        emit_json({"files": [_outcome_json(o) for o in outcomes]})
    else:
        _print_reports(outcomes)
    raise typer.Exit(_exit_code(outcomes))


@app.command("people", help="人の一覧（CSV）を分析ストアへ / Load a people CSV into the analytics store.")
@guarded
def people(
    path: Annotated[Path, typer.Argument(help="CSV: user, name, department, role, supervisor, joined, leaves, "
                                              "email (only user is required).")],
    as_user: Annotated[str, typer.Option("--as", help=AS_HELP)] = "",
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    runtime.setup()
    from himitsu.web.insider import services

    count = services.load_people(path, actor(as_user), channel="cli")
    if json_out:
        emit_json({"people": count})
    else:
        console.print(_("{n} people loaded into the analytics store.").format(n=count))


def _parse_date(raw: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InputError("insider.date_invalid", value=raw[:40]) from None


@app.command("score", help="日ごとのスコアと上位者 / Score a day and list the people worth a look (pseudonymised "
             "unless --reveal). Exit 0; 2: usage or input error.")
@guarded
def score(
    day: Annotated[str, typer.Option("--date", help="The day (YYYY-MM-DD); default: the last day with activity.")]
    = "",
    top: Annotated[int | None, typer.Option("--top", help="How many people to list; default: your budget, else 5.",
                                            min=1, max=200)] = None,
    as_user: Annotated[str, typer.Option("--as", help=AS_HELP)] = "",
    reveal: Annotated[bool, typer.Option("--reveal", help="Show user ids and names (trade-secret managers, "
                                                          "with --reason; each reveal is audited).")] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why the identities are revealed.")] = "",
    json_out: Annotated[bool, typer.Option("--json", help="JSON output: one object per person.")] = False,
) -> None:
    runtime.setup()
    from himitsu.web.accounts import access
    from himitsu.web.insider import services, views

    chosen = _parse_date(day)
    who = actor(as_user)
    if reveal:
        access.require(access.can_reveal_insider(who))
        if not " ".join(reason.split()):
            raise InputError("insider.reason_required")
    result = services.score(chosen, who, channel="cli")
    shown = services.top_alerts(result.scored.day, top or services.get_budget(who))  # the list the web page shows
    identities = {a.pk: services.reveal(a, who, reason, channel="cli") for a in shown} if reveal else {}
    if json_out:
        for a in shown:
            emit_json(services.as_json(a, identities.get(a.pk)))
        return
    from rich.table import Table

    table = Table(_("rank"), _("person"), _("department"), _("score"), _("days to leave"), _("what moved"),
                  title=_("{day}: {users} people scored, {unknown} not known to Himitsu").format(
                      day=result.scored.day.isoformat(), users=result.users, unknown=result.unknown_users))
    for a in shown:
        ident = identities.get(a.pk)
        person = f"{ident.name} ({ident.log_user})" if ident else views.pseudonym_label(a.pseudonym)
        leave = "" if a.days_to_leave is None else str(a.days_to_leave)
        table.add_row(str(a.rank), person, a.department, f"{a.score:.2f}", leave,
                      "\n".join(views.reasons(a)))
    console.print(table)
