"""`himitsu pledges reminders|verify`."""

from __future__ import annotations

from typing import Annotated

import typer
from django.utils.translation import gettext as _

from himitsu.cli import runtime
from himitsu.cli.runtime import console, emit_json, guarded

app = typer.Typer(no_args_is_help=True)


@app.command("reminders", help="未提出・期限切れ間近の誓約書 / Missing and expiring pledges per person.")
@guarded
def reminders(
    days: Annotated[int, typer.Option(help="Expiring within this many days.", min=1, max=365)] = 30,
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    send: Annotated[bool, typer.Option("--send", help="Send a notice (and e-mail) to each person and a summary "
                                                      "to each department manager.")] = False,
) -> None:
    runtime.setup()
    from django.utils import timezone

    from himitsu.cli.training_cmd import print_sent
    from himitsu.web.accounts.access import system_actor
    from himitsu.web.audit import chain
    from himitsu.web.audit.models import Action
    from himitsu.web.pledges import services

    today = timezone.localdate()
    rows = services.reminders(system_actor(), today, days)
    missing = sum(len(r.missing) for r in rows)
    expiring = sum(len(r.expiring) for r in rows)
    sent = services.send_reminders(rows, today).as_dict() if send else None
    if sent is not None:
        chain.record(Action.CREATE, actor=system_actor(), channel="cli", object_type="notice",
                     details={"event": "pledge_reminders_sent", **sent})
    if json_out:
        data = {"today": today.isoformat(), "days": days, "missing": missing, "expiring": expiring,
                "people": [r.as_dict(today) for r in rows]}
        if sent is not None:
            data["sent"] = sent
        emit_json(data)
    elif not rows:
        console.print(_("No reminders: nothing missing or expiring."))
    else:
        _print(rows, today, missing, expiring)
    if sent is not None:
        if not json_out:
            print_sent(sent["notices"], sent["emailed"], [(f["username"], f["error"]) for f in sent["failed"]])
        if sent["failed"]:
            raise typer.Exit(1)


def _print(rows, today, missing: int, expiring: int) -> None:  # noqa: ANN001
    console.print(_("%(m)d missing and %(e)d expiring pledges for %(p)d people.")
                  % {"m": missing, "e": expiring, "p": len(rows)})
    for r in rows:
        dept = r.person.department.code if r.person.department else "—"
        console.print(f"[bold]{r.person}[/] ({r.person.username}, {dept})", highlight=False)
        for p in r.missing:
            console.print("  " + _("missing: %(number)s %(title)s, due %(due)s (%(days)d days overdue)")
                          % {"number": p.number, "title": p.title, "due": p.due_on.isoformat(),
                             "days": (today - p.due_on).days}, highlight=False)
        for p in r.expiring:
            console.print("  " + _("expiring: %(number)s %(title)s on %(date)s")
                          % {"number": p.number, "title": p.title, "date": p.expires_on.isoformat()},
                          highlight=False)


@app.command("verify", help="誓約書の同意記録の改ざん検知 / Verify every pledge acknowledgement record.")
@guarded
def verify(json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False) -> None:
    runtime.setup()
    from himitsu.errors import HimitsuError
    from himitsu.web.accounts.access import system_actor
    from himitsu.web.audit import chain
    from himitsu.web.audit.models import Action
    from himitsu.web.pledges import services

    results = services.verify_all()
    checked = [r for r in results if r.checked or not r.ok]
    failed = [r for r in results if not r.ok]
    chain.record(Action.VERIFY, actor=system_actor(), channel="cli", object_type="pledge",
                 details={"ok": not failed, "checked": len(checked), "failed": [r.pledge_id for r in failed][:100]})
    if json_out:
        emit_json({"ok": not failed, "checked": len(checked), "failed": len(failed),
                   "results": [r.as_dict() for r in checked]})
    elif not failed:
        console.print(_("Every pledge acknowledgement is intact: %(n)d verified.") % {"n": len(checked)})
    else:
        runtime.err_console.print(runtime.error_text(HimitsuError("pledge.verify_failed", count=len(failed))),
                                  highlight=False)
        for r in failed[:100]:
            for code in r.problems:
                text = runtime.error_text(HimitsuError(code, id=r.pledge_id))
                runtime.err_console.print(f"  {r.number} ({r.person}): {text} ({code})", highlight=False)
    if failed:
        raise typer.Exit(1)
