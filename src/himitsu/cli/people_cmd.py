"""`himitsu people ...` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from django.utils.translation import gettext as _
from rich.table import Table

from himitsu.cli import runtime
from himitsu.cli.register_cmd import AS_HELP, actor
from himitsu.cli.runtime import console, emit_json, guarded
from himitsu.errors import InputError

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
        table = Table(_("row"), _("column"), _("error"), _("code"), title=runtime.error_text(
            InputError("io.invalid_rows", count=len(result.errors))))
        for e in result.errors:
            table.add_row(str(e.row), e.column, e.message, e.code)
        runtime.err_console.print(table)
    if not result.ok:
        raise typer.Exit(2)
