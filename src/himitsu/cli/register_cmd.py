"""`himitsu register import|export`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from django.utils.translation import gettext as _

from himitsu.cli import runtime
from himitsu.cli.runtime import console, emit_json, guarded
from himitsu.errors import InputError

app = typer.Typer(no_args_is_help=True)
AS_HELP = "Act as this user (their need-to-know applies); default: the server operator with full rights."


def actor(username: str) -> Any:
    from himitsu.web.accounts.access import system_actor
    from himitsu.web.accounts.models import User

    if not username:
        return system_actor()
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise InputError("user.not_found", username=username)
    return user


@app.command("import", help="台帳を取り込む (.xlsx/.csv) / Import the register.")
@guarded
def import_(
    path: Annotated[Path, typer.Argument(help=".xlsx or .csv file.")],
    as_user: Annotated[str, typer.Option("--as", help=AS_HELP)] = "",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate only, write nothing.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    runtime.setup()
    from django.conf import settings

    from himitsu.web.register import io, services

    data = runtime.read_file(path, settings.HIMITSU_IMPORT_MAX_BYTES)
    ctx = services.Context(actor=actor(as_user), channel="cli")
    result = io.import_register(ctx, path.name, data, dry_run=dry_run)
    if json_out:
        emit_json({"ok": result.ok, "dry_run": dry_run, "created": result.created, "updated": result.updated,
                   "unchanged": result.unchanged,
                   "errors": [{"row": e.row, "column": e.column, "code": e.code, "message": e.message}
                              for e in result.errors]})
    elif result.ok:
        text = _("Checked: %(c)d to create, %(u)d to update, %(s)d unchanged.") if dry_run else _(
            "Imported: %(c)d created, %(u)d updated, %(s)d unchanged.")
        console.print(text % {"c": result.created, "u": result.updated, "s": result.unchanged})
    else:
        runtime.print_row_errors(result.errors)
    if not result.ok:
        raise typer.Exit(2)


@app.command("export", help="台帳を書き出す (.xlsx/.csv) / Export the register.")
@guarded
def export(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write; '-' for stdout.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="xlsx or csv.")] = "",
    as_user: Annotated[str, typer.Option("--as", help=AS_HELP)] = "",
    json_out: Annotated[bool, typer.Option("--json", help="JSON summary output.")] = False,
) -> None:
    chosen = (fmt or (output.suffix.lstrip(".") if output and str(output) != "-" else "csv")).lower()
    if chosen not in ("xlsx", "csv"):
        raise InputError("io.unknown_format")
    runtime.setup()
    from himitsu.web.register import io, services

    ctx = services.Context(actor=actor(as_user), channel="cli")
    services.refresh_stale()
    data = io.export_register(ctx, chosen)
    if output is None or str(output) == "-":
        if chosen == "xlsx" and sys.stdout.isatty():
            raise InputError("io.binary_to_terminal")
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        output.write_bytes(data)
    except OSError:
        raise InputError("io.file_missing", path=str(output)) from None
    if json_out:
        emit_json({"path": str(output), "format": chosen, "bytes": len(data)})
    else:
        console.print(_("Wrote %(path)s (%(bytes)d bytes).") % {"path": str(output), "bytes": len(data)})
