"""`himitsu users add|list`."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from django.utils.translation import gettext as _
from rich.table import Table

from himitsu.cli import runtime
from himitsu.cli.runtime import console, emit_json, guarded
from himitsu.errors import InputError

app = typer.Typer(no_args_is_help=True)
ROLES = ["system_admin", "secret_manager", "dept_manager", "employee", "auditor"]


def _password(from_stdin: bool) -> str:
    """From HIMITSU_PASSWORD, standard input (--password-stdin) or a hidden prompt; never an argument."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    env = os.environ.get("HIMITSU_PASSWORD")
    if env:
        return env
    if not sys.stdin.isatty():
        raise InputError("user.password_missing")
    return typer.prompt(_("Password"), hide_input=True, confirmation_prompt=True)


@app.command("add", help="利用者を追加 / Add a user (password from HIMITSU_PASSWORD, --password-stdin or prompt).")
@guarded
def add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="Role: " + ", ".join(ROLES))] = "employee",
    department: Annotated[str, typer.Option(help="Department code.")] = "",
    display_name: Annotated[str, typer.Option(help="Name shown in the app.")] = "",
    email: Annotated[str, typer.Option(help="E-mail address.")] = "",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")]
    = False,
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    runtime.setup()
    if role not in ROLES:
        runtime.fail(_("Unknown role %(role)s; choose one of: %(roles)s") % {"role": role, "roles": ", ".join(ROLES)})
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email
    from django.db import transaction

    from himitsu.web.accounts.access import system_actor
    from himitsu.web.accounts.models import Department, User
    from himitsu.web.audit import chain
    from himitsu.web.audit.models import Action

    username = username.strip()
    if not username or len(username) > 150 or not all(c.isalnum() or c in "@.+-_" for c in username):
        raise InputError("user.invalid", reason=_("Use letters, digits and @ . + - _ only."))
    if User.objects.filter(username=username).exists():
        raise InputError("user.exists", username=username)
    dept = None
    if department:
        dept = Department.objects.filter(code=department).first()
        if dept is None:
            raise InputError("department.not_found", department=department)
    if email:
        try:
            validate_email(email)
        except ValidationError as exc:
            raise InputError("user.invalid", reason=" ".join(exc.messages)) from None
    user = User(username=username, role=role, department=dept, display_name=display_name.strip()[:100],
                email=email, is_staff=False)
    password = _password(password_stdin)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise InputError("user.password_weak", reason=" ".join(exc.messages)) from None
    user.set_password(password)
    with transaction.atomic():
        user.save()
        chain.record(Action.CREATE, actor=system_actor(), channel="cli", object_type="user", object_id=user.pk,
                     object_repr=user.username, details={"role": role, "department": department})
    if json_out:
        emit_json({"id": user.pk, "username": user.username, "role": role, "department": department or None})
    else:
        console.print(_("User %(username)s was created.") % {"username": user.username})


@app.command("list", help="利用者の一覧 / List users.")
@guarded
def list_users(json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False) -> None:
    runtime.setup()
    from himitsu.web.accounts.models import User

    users = list(User.objects.select_related("department").order_by("username"))
    if json_out:
        emit_json([{"username": u.username, "display_name": u.display_name, "role": u.role,
                    "department": u.department.code if u.department else None, "active": u.is_active}
                   for u in users])
        return
    table = Table(_("User name"), _("Name"), _("Role"), _("Department"))
    for u in users:
        table.add_row(u.username, u.display_name, u.get_role_display(), u.department.name if u.department else "")
    console.print(table)
