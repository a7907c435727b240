"""Start Django for a command: settings, migrations, language; and the shared output contract.

Exit codes: 0 ok, 1 findings or failed verification, 2 usage or input error (one line, no traceback).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console

from himitsu.errors import HimitsuError, InputError

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


def language() -> str:
    chosen = os.environ.get("HIMITSU_LANG") or os.environ.get("LANG", "")
    return "en" if chosen.lower().startswith("en") else "ja"


def setup(migrate: bool = True) -> None:
    """Configure Django, create HIMITSU_HOME, bring the database schema up to date."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "himitsu.web.settings")
    import django

    django.setup()
    from django.utils import translation

    translation.activate(language())
    if migrate:
        _migrate()


def _migrate() -> None:
    from django.core.management import call_command
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        call_command("migrate", interactive=False, verbosity=0)


def tr(message: str) -> str:
    from django.utils.translation import gettext

    return gettext(message)


def error_text(exc: HimitsuError) -> str:
    return exc.render(tr(exc.template))


def fail(message: str, code: int = 2) -> NoReturn:
    err_console.print(f"[bold red]himitsu:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def print_row_errors(errors: Any) -> None:
    """The rejected rows of an import (register or people), as a table on standard error: row, column, the
    translated message and its stable code."""
    from django.utils.translation import gettext as _
    from rich.table import Table

    table = Table(_("row"), _("column"), _("error"), _("code"),
                  title=error_text(InputError("io.invalid_rows", count=len(errors))))
    for e in errors:
        table.add_row(str(e.row), e.column, e.message, e.code)
    err_console.print(table)


def read_file(path: Path, limit: int) -> bytes:
    """A regular file's bytes, or InputError io.file_missing / io.too_large (checked before reading)."""
    try:
        if not path.is_file():
            raise InputError("io.file_missing", path=str(path))
        size = path.stat().st_size
        if size > limit:
            raise InputError("io.too_large", size=size, limit=limit)
        return path.read_bytes()
    except OSError:
        raise InputError("io.file_missing", path=str(path)) from None


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")


def guarded(func: F) -> F:
    """Turn Himitsu errors and database outages into one translated line and exit code 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except HimitsuError as exc:
            fail(_safe_error_text(exc), exc.exit_code)
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if _is_database_error(exc):
                fail(_safe_error_text(HimitsuError("database.unavailable", reason=reason)))
            if os.environ.get("HIMITSU_DEBUG") == "1":
                raise
            fail(_safe_error_text(HimitsuError("internal.error", kind=type(exc).__name__, reason=reason)))

    return wrapper  # type: ignore[return-value]


def _safe_error_text(exc: HimitsuError) -> str:
    try:
        return error_text(exc)
    except Exception:
        return exc.english()


def _is_database_error(exc: Exception) -> bool:
    try:
        from django.db import DatabaseError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, DatabaseError)


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, transient=True, disable=not err_console.is_terminal) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)
