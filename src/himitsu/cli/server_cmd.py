"""`himitsu serve` and `himitsu demo`."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated, Any

import typer

from himitsu.cli import runtime
from himitsu.cli.runtime import console, emit_json, guarded, tr


def _demo_password() -> str:
    """HIMITSU_DEMO_PASSWORD, else a random one kept in HIMITSU_HOME/demo-password.txt (0600)."""
    from himitsu import config

    given = os.environ.get("HIMITSU_DEMO_PASSWORD")
    if given:
        return given
    path: Path = config.home() / "demo-password.txt"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("Demo-" + secrets.token_urlsafe(9))
    return path.read_text(encoding="utf-8").strip()


def _load_demo() -> dict[str, Any]:
    from himitsu.web.core.demo import load_demo

    password = _demo_password()
    with runtime.progress_bar(tr("Loading the demo company"), None) as advance:
        result = load_demo(password, progress=lambda done, total: advance(1))
    result["password"] = password if result.get("loaded") else None
    return result


def _existing_logins() -> list[dict[str, Any]]:
    """One active user per role, for the reminder printed when the demo was loaded before."""
    from himitsu.web.accounts.models import Role, User

    found = []
    for role in Role:
        user = User.objects.filter(role=role, is_active=True).order_by("pk").first()
        if user is not None:
            found.append({"username": user.username, "role": role.value, "display_name": str(user)})
    return found


def _print_logins(result: dict[str, Any], url: str | None = None) -> None:
    from himitsu import config

    if url:
        console.print(f"\n[bold]Himitsu[/] → {url}")
    from himitsu.web.accounts.models import Role

    logins = result.get("logins") or []
    if logins:
        console.print(tr("Log in as one of these demo users (password below):"))
        for login in logins:
            console.print(f"  [cyan]{login['username']:<12}[/] {login['display_name']} ({Role(login['role']).label})")
        console.print(tr("Password: %(password)s  (kept in %(path)s)") % {
            "password": _demo_password(), "path": config.home() / "demo-password.txt"})


@guarded
def demo(json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False) -> None:
    runtime.setup()
    result = _load_demo()
    if json_out:
        emit_json({k: v for k, v in result.items() if k != "password"})
        return
    if not result.get("loaded"):
        console.print(tr("The database already holds a register; the demo company was not loaded."))
        return
    console.print(tr("Demo company loaded: %(d)d departments, %(u)d people, %(s)d register entries.")
                  % {"d": result["departments"], "u": result["users"], "s": result["secrets"]})
    _print_logins(result)


@guarded
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.", min=1, max=65535)] = 8000,
    threads: Annotated[int, typer.Option(help="Worker threads.", min=1, max=64)] = 8,
    with_demo: Annotated[bool, typer.Option("--demo", help="Load the demo company if the database is empty.")]
    = False,
) -> None:
    runtime.setup()
    from waitress import serve as waitress_serve

    from himitsu.web.accounts.models import User
    from himitsu.web.wsgi import application

    url = f"http://{host}:{port}/"
    if with_demo:
        result = _load_demo()
        if not result.get("loaded"):
            result["logins"] = _existing_logins()
        _print_logins(result, url)
    else:
        console.print(f"\n[bold]Himitsu[/] → {url}")
        if not User.objects.exists():
            console.print(tr("No user yet: create one with `himitsu users add NAME --role system_admin`."))
    console.print(tr("Press Ctrl+C to stop."))
    waitress_serve(application, host=host, port=port, threads=threads, ident="himitsu", _quiet=True)
