"""`himitsu notices test-mail`: check the mail settings by sending a notice to one person."""

from __future__ import annotations

from typing import Annotated

import typer
from django.utils.translation import gettext as _

from himitsu.cli import runtime
from himitsu.cli.runtime import console, emit_json, guarded
from himitsu.errors import InputError

app = typer.Typer(no_args_is_help=True)


@app.command("test-mail", help="テスト通知を送信 / Send a test notice (in the app, and by e-mail if configured).")
@guarded
def test_mail(
    username: Annotated[str, typer.Argument(help="Login name of the recipient.")],
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    runtime.setup()
    from himitsu.web.accounts.models import User
    from himitsu.web.notices import services

    person = User.objects.filter(username=username, is_active=True).first()
    if person is None:
        raise InputError("user.not_found", username=username)
    sent = services.notify([person], "notice.test", "【Himitsu】テスト通知 / Test notice",
                           "Himitsu からのテスト通知です。\nThis is a test notice from Himitsu.")
    outcome = {"username": username, "email": person.email, "mail_configured": services.mail_enabled(),
               "emailed": sent.emailed, "errors": [e for _u, e in sent.failed]}
    if json_out:
        emit_json(outcome)
    elif sent.failed:
        console.print(_("Stored in the app; the e-mail was not delivered: %(error)s") % {"error": sent.failed[0][1]})
    elif sent.emailed:
        console.print(_("Sent to %(email)s and stored in the app.") % {"email": person.email})
    elif not services.mail_enabled():
        console.print(_("Stored in the app; e-mail is not configured (HIMITSU_SMTP_HOST)."))
    else:
        console.print(_("Stored in the app; %(username)s has no e-mail address.") % {"username": username})
    if sent.failed:
        raise typer.Exit(1)
