"""`himitsu people ...` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from django.utils.translation import gettext as _

from himitsu.cli import runtime
from himitsu.cli.register_cmd import AS_HELP, actor
from himitsu.cli.runtime import console, emit_json, guarded

app = typer.Typer(no_args_is_help=True)


@app.command("import", help="人事システムから人を取り込む (.xlsx/.csv) / Import people from the HR system.")
@guarded
def import_(
    path: Annotated[Path, typer.Argument(help=".xlsx or .csv file with the columns 社員番号, 氏名, ….")],
    as_user: Annotated[str, typer.Option("--as", help=AS_HELP)] = "",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate only, write nothing.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    runtime.setup()
    from django.conf import settings

    from himitsu.web.accounts import people_io
    from himitsu.web.register.services import Context

    data = runtime.read_file(path, settings.HIMITSU_IMPORT_MAX_BYTES)
    ctx = Context(actor=actor(as_user), channel="cli")
    result = people_io.import_people(ctx, path.name, data, dry_run=dry_run)
    if json_out:
        emit_json(result.as_dict())
    elif result.ok:
        values = {"c": result.created, "u": result.updated, "s": result.unchanged, "d": result.deactivated}
        if dry_run:
            text = _("Checked: %(c)d to create, %(u)d to update, %(s)d unchanged, %(d)d to deactivate.")
        else:
            text = _("Imported: %(c)d created, %(u)d updated, %(s)d unchanged, %(d)d deactivated.")
        console.print(text % values)
    else:
        runtime.print_row_errors(result.errors)
    if not result.ok:
        raise typer.Exit(2)


@app.command("cases", help="入社・退職手続き / Joining and leaving cases (--remind: overdue steps).")
@guarded
def cases(
    open_only: Annotated[bool, typer.Option("--open", help="Open cases only.")] = False,
    remind: Annotated[bool, typer.Option("--remind", help=(
        "Notify the owner of every overdue step (once a day) and deactivate the accounts whose access was "
        "revoked and whose leaving date has come."))] = False,
    as_user: Annotated[str, typer.Option("--as", help=AS_HELP)] = "",
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """Exit code 1 when steps are overdue (after reminding, with --remind), 0 otherwise."""
    runtime.setup()
    from django.utils import timezone

    from himitsu.web.accounts import access
    from himitsu.web.register.services import Context
    from himitsu.web.workflows import services
    from himitsu.web.workflows.models import Case, CaseStatus

    today = timezone.localdate()
    who = actor(as_user)
    ctx = Context(actor=who, channel="cli")
    reminders: list = []
    deactivated: list = []
    if remind:
        access.require(access.role_of(who) in access.WRITE_ALL)
        reminders = services.remind(ctx, today)
        deactivated = services.deactivate_due(ctx, today)
    qs = access.visible_cases(who, Case.objects.select_related("person", "person__department"))
    if open_only or remind:
        qs = qs.filter(status=CaseStatus.OPEN)
    rows = [services.case_dict(c, today) for c in qs.order_by("due_on", "pk")]
    overdue = sum(r["overdue"] for r in rows)
    if json_out:
        emit_json({"today": today.isoformat(), "cases": rows, "overdue_steps": overdue,
                   "reminded": [r.as_dict(today) for r in reminders],
                   "deactivated": [p.username for p in deactivated]})
    else:
        if not rows:
            console.print(_("No joining or leaving cases."))
        for r in rows:
            flag = "  [bold red]" + _("%(n)d overdue") % {"n": r["overdue"]} + "[/]" if r["overdue"] else ""
            console.print(f"{r['number']} {r['kind']} {r['person']} ({r['department'] or '—'}) "
                          f"{r['due_on']} {r['status']} " + _("%(done)d / %(total)d steps")
                          % {"done": r["done"], "total": r["total"]} + flag, highlight=False)
        if remind:
            console.print(_("Reminders sent to %(n)d owners; %(d)d accounts deactivated.")
                          % {"n": len(reminders), "d": len(deactivated)})
    if overdue:
        raise typer.Exit(1)
