"""`himitsu training overdue [--json] [--send]`."""

from __future__ import annotations

from typing import Annotated

import typer

from himitsu.cli import runtime
from himitsu.cli.runtime import console, emit_json, guarded

app = typer.Typer(no_args_is_help=True)


@app.command("overdue", help="期限を過ぎた研修（部署別）/ Overdue training per department; --send e-mails reminders.")
@guarded
def overdue(
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    send: Annotated[bool, typer.Option("--send", help="Send a notice (and e-mail) to each person and a summary "
                                                      "to each department manager.")] = False,
) -> None:
    runtime.setup()
    from django.utils import timezone

    from himitsu.web.accounts.access import system_actor
    from himitsu.web.audit import chain
    from himitsu.web.audit.models import Action
    from himitsu.web.training import services

    today = timezone.localdate()
    rows = services.overdue(system_actor(), today)
    depts = services.per_department(rows)
    sent = services.send_overdue(rows) if send else None
    if sent is not None:
        chain.record(Action.CREATE, actor=system_actor(), channel="cli", object_type="notice",
                     details={"event": "training_overdue_sent", **sent.as_dict()})
    if json_out:
        people: dict[str, dict] = {}
        for r in rows:
            entry = people.setdefault(r.person.username, {
                "username": r.person.username, "name": str(r.person),
                "department": r.person.department.code if r.person.department else None, "courses": []})
            entry["courses"].append(r.as_dict())
        data = {"today": today.isoformat(), "overdue": len(rows), "departments": [d.as_dict() for d in depts],
                "people": list(people.values())}
        if sent is not None:
            data["sent"] = sent.as_dict()
        emit_json(data)
    else:
        ja = runtime.language() != "en"
        if not rows:
            console.print("期限を過ぎた研修はありません。" if ja else "No training is overdue.")
        else:
            console.print(f"期限を過ぎた研修：{len(rows)}件" if ja else f"{len(rows)} overdue course(s).")
            for d in depts:
                name = d.name if ja else d.name_en
                console.print(f"  {name}: {d.overdue} ({d.people})", highlight=False)
            for r in rows:
                console.print(f"    {r.person.username} {r.course.code} {r.due.isoformat() if r.due else ''}"
                              f" (+{r.days_overdue})", highlight=False)
        if sent is not None:
            print_sent(sent.notices, sent.emailed, sent.failed)
    if sent is not None and sent.failed:
        raise typer.Exit(1)


def print_sent(notices: int, emailed: int, failed: list[tuple[str, str]]) -> None:
    """How many notices were stored and e-mails sent, and each failed e-mail (on stderr)."""
    if runtime.language() == "en":
        console.print(f"Sent {notices} notice(s), {emailed} e-mail(s); {len(failed)} e-mail(s) failed.")
    else:
        console.print(f"通知 {notices}件、メール {emailed}件を送信しました（失敗 {len(failed)}件）。")
    for user, error in failed:
        runtime.err_console.print(f"  {user}: {error}", highlight=False)
