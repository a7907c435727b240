"""`himitsu check PATH... [--json]`: does this text or file carry a registered secret, a marking or
sensitive data? Exit 0 all clean, 1 any finding, 2 usage or input error."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from django.utils.translation import gettext as _
from rich.table import Table

from himitsu.cli import runtime
from himitsu.cli.register_cmd import AS_HELP, actor
from himitsu.cli.runtime import console, emit_json, guarded
from himitsu.errors import InputError


def _inputs(paths: list[str], limit: int) -> list[tuple[str, bytes | None, str, int]]:
    """(path, data or None, error code, size) for each argument; '-' reads standard input."""
    out: list[tuple[str, bytes | None, str, int]] = []
    for raw in paths:
        if raw == "-":
            data = sys.stdin.buffer.read(limit + 1)
            out.append(("-", None, "io.too_large", len(data)) if len(data) > limit else ("-", data, "", len(data)))
            continue
        try:
            data = runtime.read_file(Path(raw), limit)
        except InputError as exc:
            out.append((raw, None, exc.code, int(exc.params.get("size", 0))))
        else:
            out.append((raw, data, "", len(data)))
    return out


def _row(path: str, result: Any) -> dict[str, Any]:
    from himitsu.engine.check import describe

    return {"path": path, "verdict": result.verdict,
            "findings": describe(result.findings, _),
            "problems": [{"code": p.code, "part": p.path, "detail": p.detail} for p in result.problems]}


@guarded
def check(
    paths: Annotated[list[str], typer.Argument(help="Files to check; '-' reads standard input.")],
    as_user: Annotated[str, typer.Option("--as", help=AS_HELP)] = "",
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per input per line.")] = False,
) -> None:
    runtime.setup()
    from himitsu.engine.model import Limits
    from himitsu.web.register import documents, services

    ctx = services.Context(actor=actor(as_user), channel="cli")
    worst = 0
    for path, data, error, size in _inputs(paths, Limits().max_bytes):
        if data is None:
            message = runtime.error_text(InputError(error, path=path, size=size, limit=Limits().max_bytes))
            if json_out:
                emit_json({"path": path, "verdict": "error", "findings": [], "error": {"code": error,
                                                                                     "message": message}})
            else:
                runtime.err_console.print(f"[red]{path}[/]: {message}")
            worst = 2
            continue
        result = documents.check(ctx, Path(path).name if path != "-" else "-", data)
        if result.verdict == "error":
            worst = 2
        elif result.findings and worst < 1:
            worst = 1
        if json_out:
            emit_json(_row(path, result))
        else:
            _print(path, result)
    raise typer.Exit(worst)


def _print(path: str, result: Any) -> None:
    verdicts = {"clean": _("clean"), "findings": _("findings"), "error": _("error")}
    style = {"clean": "green", "findings": "red", "error": "yellow"}[result.verdict]
    console.print(f"[bold]{path}[/]: [{style}]{verdicts[result.verdict]}[/]")
    print_findings(result.findings)
    for p in result.problems:
        console.print(f"  [yellow]{p.code}[/] {p.path} {p.detail}")


def print_findings(findings: Any) -> None:
    """A table of findings (redacted snippets, explanations in the CLI's language, the entry where shown)."""
    from himitsu.engine.check import explain

    if not findings:
        return
    table = Table(_("detector"), _("score"), _("where"), _("snippet"), _("explanation"))
    for f in findings:
        where = f"{f.part + ' ' if f.part else ''}{f.start}–{f.end}"
        secret = f" [{f.secret.level}] {f.secret.title}" if f.secret and f.secret.title else ""
        table.add_row(f.detector, f"{f.score:.2f}", where, f.snippet, explain(f, _) + secret)
    console.print(table)
