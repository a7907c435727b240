"""`himitsu serve` and `himitsu demo`."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated, Any

import typer
from django.utils.translation import gettext as _

from himitsu.cli import runtime
from himitsu.cli.runtime import console, emit_json, guarded


def _password_file() -> Path:
    from himitsu import config

    return config.home() / "demo-password.txt"


def _demo_password(create: bool) -> str | None:
    """HIMITSU_DEMO_PASSWORD, else a random one kept in HIMITSU_HOME/demo-password.txt (0600)."""
    given = os.environ.get("HIMITSU_DEMO_PASSWORD")
    if given:
        return given
    path = _password_file()
    if not path.exists():
        if not create:
            return None
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("Demo-" + secrets.token_urlsafe(9))
    return path.read_text(encoding="utf-8").strip()


def _load_demo() -> dict[str, Any]:
    from himitsu.web.core.demo import load_demo
    from himitsu.web.register.models import Secret

    if Secret.objects.exists():
        return {"loaded": False, "reason": "not_empty"}
    password = _demo_password(create=True) or ""
    with runtime.progress_bar(_("Loading the demo company"), None) as advance:
        return load_demo(password, progress=lambda done, total: advance(1))


def _demo_logins_present() -> list[dict[str, Any]]:
    """The demo's suggested logins, if the demo was loaded into this database earlier."""
    from himitsu.web.accounts.models import User
    from himitsu.web.core.demo import demo_data

    names = list(demo_data().get("logins", []))
    users = {u.username: u for u in User.objects.filter(username__in=names, is_active=True)}
    return [{"username": users[n].username, "role": users[n].role, "display_name": str(users[n])}
            for n in names if n in users]


def _print_logins(logins: list[dict[str, Any]]) -> None:
    from himitsu.web.accounts.models import Role

    password = _demo_password(create=False)
    if not logins or password is None:
        return
    console.print(_("Log in as one of these demo users (password below):"))
    for login in logins:
        console.print(f"  [cyan]{login['username']:<12}[/] {login['display_name']} ({Role(login['role']).label})")
    where = "HIMITSU_DEMO_PASSWORD" if os.environ.get("HIMITSU_DEMO_PASSWORD") else str(_password_file())
    console.print(_("Password: %(password)s  (kept in %(path)s)") % {"password": password, "path": where})


def _explain_refusal(result: dict[str, Any]) -> None:
    if result.get("reason") == "conflict":
        console.print(_("The demo company was not loaded: these names already exist: %(names)s")
                      % {"names": ", ".join(map(str, result.get("conflicts", [])))})
    else:
        console.print(_("The database already holds a register; the demo company was not loaded."))


@guarded
def demo(json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False) -> None:
    runtime.setup()
    result = _load_demo()
    if json_out:
        emit_json({k: v for k, v in result.items() if k != "password"})
        return
    if not result.get("loaded"):
        _explain_refusal(result)
        return
    console.print(_("Demo company loaded: %(d)d departments, %(u)d people, %(s)d register entries.")
                  % {"d": result["departments"], "u": result["users"], "s": result["secrets"]})
    _print_logins(result["logins"])


@guarded
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.", min=1, max=65535)] = 8000,
    threads: Annotated[int, typer.Option(help="Worker threads.", min=1, max=64)] = 8,
    processes: Annotated[int, typer.Option(help="Server processes sharing the port (each with its threads).",
                                           min=1, max=64)] = 1,
    with_demo: Annotated[bool, typer.Option("--demo", help="Load the demo company if the database is empty.")]
    = False,
) -> None:
    runtime.setup()
    _check_address(host, port)
    from himitsu.web import wsgi  # noqa: F401 - the app is loaded here, before the workers are forked
    from himitsu.web.accounts.models import User

    url = f"http://{host}:{port}/"
    result = _load_demo() if with_demo else {"loaded": False, "reason": "not_asked"}
    console.print(f"\n[bold]Himitsu[/] → {url}")
    if result.get("loaded"):
        _print_logins(result["logins"])
    elif _demo_logins_present():
        _print_logins(_demo_logins_present())
    else:
        if result.get("reason") == "conflict":
            _explain_refusal(result)
        if not User.objects.exists():
            console.print(_("No user yet: create one with `himitsu users add NAME --role system_admin`."))
    _prepare_serving(report=True)
    console.print(_("Press Ctrl+C to stop."))
    _serve(host, port, threads, processes)


def _prepare_serving(report: bool) -> None:
    """Load and warm the index and detectors, then enter serving mode. A problem with the index does not stop the
    server (the register and the rest still work; checks report it): printed when ``report``."""
    from himitsu.errors import HimitsuError
    from himitsu.web.guard import serving
    from himitsu.web.guard.services import warm_up

    try:
        warm_up()
    except HimitsuError as exc:
        if report:
            console.print(f"[yellow]{runtime.error_text(exc)}[/]")
    from django.urls import get_resolver

    import himitsu.web.wsgi  # noqa: F401 - the WSGI handler and its middleware, made once for every worker

    len(get_resolver().url_patterns)  # the URLconf and every view module imported here, not in a first request
    serving.enable()


def _check_address(host: str, port: int) -> None:
    """Fail early, with a message that says why, when the address cannot be listened on (the server would stop
    later with the operating system's words only)."""
    import errno
    import socket

    from himitsu.errors import HimitsuError

    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise HimitsuError("server.port_in_use", host=host, port=port) from exc
        raise HimitsuError("server.address_unavailable", host=host, port=port,
                           reason=exc.strerror or str(exc)) from exc


def _granian_logging() -> None:
    """Granian's own log: warnings and errors only, and not its advice about the thread count, which is ours to
    choose (a request waiting on the database holds a thread, not a core)."""
    import logging

    class _NoThreadAdvice(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "Python threads" not in record.getMessage()

    logging.getLogger("_granian").addFilter(_NoThreadAdvice())


def _serve(host: str, port: int, threads: int, processes: int) -> None:
    """Serve the web app with granian until SIGINT or SIGTERM: HTTP is handled in Rust (connections, parsing,
    writing answers, without the interpreter lock); each of ``processes`` worker processes runs the app in up to
    ``threads`` threads. The workers are forked from this process after the index was loaded and warmed (they
    share its memory) and the database connections closed (each opens its own); this process watches them
    and stops them all on SIGINT or SIGTERM (granian is asked to start a new worker when one dies; that is not
    relied on: in about one test run in five none was seen within a minute)."""
    from django.db import connections
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import MPServer

    connections.close_all()
    server = MPServer("himitsu.web.wsgi:application", address=host, port=port, interface=Interfaces.WSGI,
                      workers=processes, blocking_threads=threads, websockets=False, backlog=1024,
                      log_level=LogLevels.warning, respawn_failed_workers=True, workers_kill_timeout=30)
    _granian_logging()
    server.serve(target_loader=_worker_application, wrap_loader=False)


def _worker_application() -> Any:
    """The WSGI application in a worker process: forked, it inherits the set-up and warmed app; started afresh
    (a platform without fork), it sets itself up first."""
    from himitsu.web.guard import serving

    if not serving.enabled():
        runtime.setup(migrate=False)
        _prepare_serving(report=False)  # the parent reported a problem already
    from himitsu.web.wsgi import application

    return application
