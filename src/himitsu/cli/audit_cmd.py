"""`himitsu audit verify`."""

from __future__ import annotations

from typing import Annotated

import typer
from django.utils.translation import gettext as _

from himitsu.cli import runtime
from himitsu.cli.runtime import console, emit_json, guarded

app = typer.Typer(no_args_is_help=True)

PROBLEMS = {
    "audit.edited": "record was edited",
    "audit.deleted": "record is missing (deleted)",
    "audit.reordered": "link to the previous record is broken (reordered or replaced)",
    "audit.truncated": "records after the last one were cut off (chain head disagrees)",
}


@app.command("verify", help="監査証跡の改ざん検知 / Verify the hash chain of the audit trail.")
@guarded
def verify(json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False) -> None:
    runtime.setup()
    from himitsu.web.accounts.access import system_actor
    from himitsu.web.audit import chain
    from himitsu.web.audit.models import Action

    total = chain.count()
    with runtime.progress_bar(_("Verifying the audit trail"), total) as advance:
        result = chain.verify(progress=advance)
    chain.record(Action.VERIFY, actor=system_actor(), channel="cli", object_type="audit",
                 details={"ok": result.ok, "checked": result.checked, "problems": len(result.problems)})
    if json_out:
        emit_json(result.as_dict())
    elif result.ok:
        console.print(_("The audit trail is intact: %(n)d records verified.") % {"n": result.checked})
        console.print(_("Last record %(seq)d, hash %(hash)s") % {"seq": result.last_seq, "hash": result.last_hash})
    else:
        runtime.err_console.print(_("The audit trail failed verification: %(p)d problems in %(n)d records.")
                                  % {"p": len(result.problems), "n": result.checked})
        for p in result.problems[:50]:
            runtime.err_console.print(f"  #{p.seq}: {_(PROBLEMS[p.code])} ({p.code})")
    if not result.ok:
        raise typer.Exit(1)
