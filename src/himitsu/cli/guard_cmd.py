"""`himitsu guard test|tokens|policy`: the outbound guard from the server's shell (issue 6).

* ``guard test FILE [--channel mail|ai|upload|api] [--to ADDR]... [--as USER] [--json]``: what the policy would do
  with this content sent by this person (the decision, its reasons in the CLI's language, the findings), without
  recording a decision (an audit record notes the test, with counts only). A plain-text file (.txt, .md, or
  standard input with ``-``) on the ai or api channel is treated as a prompt, so ``redact`` can apply.
* ``guard tokens create NAME --scope check|ai [--user U] [--expires DATE]``: prints the token once;
  ``tokens list [--json]``; ``tokens revoke ID``.
* ``guard policy show [--json]``: the rules and exceptions in order.
* ``guard serve [--workers N]``: the AI gateway and the mail relay, configured from the environment
  (``himitsu.gateways.config``), checking with the web app's guard (records, quarantine); ``--workers`` runs the
  checks in worker processes. Until SIGINT or SIGTERM.

Exit codes (as ``himitsu check``): 0 allowed or warned (and every command that succeeded), 1 redact, hold or
block, 2 usage or input error.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from django.utils.translation import gettext as _

from himitsu.cli import runtime
from himitsu.cli.check_cmd import print_findings
from himitsu.cli.register_cmd import AS_HELP, actor
from himitsu.cli.runtime import console, emit_json, guarded
from himitsu.errors import InputError

app = typer.Typer(no_args_is_help=True)
tokens_app = typer.Typer(no_args_is_help=True)
policy_app = typer.Typer(no_args_is_help=True)
app.add_typer(tokens_app, name="tokens", help="APIトークン / API tokens of integrations.")
app.add_typer(policy_app, name="policy", help="送信ポリシー / The outbound policy.")

STOPPING = ("redact", "hold", "block")
TEXT_SUFFIXES = {".txt", ".md", ""}


def _action_label(action: str) -> str:
    return {"allow": _("allow"), "warn": _("warn"), "redact": _("redact"), "hold": _("hold"),
            "block": _("block")}.get(action, action)


@app.command("test", help="ポリシーの判定を試す（記録しない） / What the policy would do with a file (not recorded).")
@guarded
def test(
    path: Annotated[str, typer.Argument(help="The file to try; '-' reads standard input.")],
    channel: Annotated[str, typer.Option("--channel", help="mail, ai, upload or api.")] = "mail",
    to: Annotated[list[str] | None, typer.Option("--to", help="A destination (address or domain); repeatable.")]
    = None,
    as_user: Annotated[str, typer.Option("--as", help=AS_HELP)] = "",
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    runtime.setup()
    from django.conf import settings

    from himitsu.engine.policy import CHANNELS
    from himitsu.gateways.base import Outbound
    from himitsu.web.accounts import access
    from himitsu.web.audit import chain
    from himitsu.web.audit.models import Action
    from himitsu.web.guard import services
    from himitsu.web.register.services import Context

    if channel not in CHANNELS:
        raise InputError("guard.channel_unknown", channel=channel)
    ctx = Context(actor=actor(as_user), channel="cli")
    access.require(access.can_test_guard(ctx.actor))
    limit = settings.HIMITSU_GUARD_MAX_BYTES
    if path == "-":
        data = sys.stdin.buffer.read(limit + 1)
        if len(data) > limit:
            raise InputError("io.too_large", size=len(data), limit=limit)
        name = "stdin.txt"
    else:
        data = runtime.read_file(Path(path), limit)
        name = Path(path).name
    text = None
    if channel in ("ai", "api") and Path(name).suffix.lower() in TEXT_SUFFIXES:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    identity = services.identity_of(ctx.actor)
    item = Outbound(channel=channel, data=data, name=name, identity=identity, destinations=tuple(to or ()),
                    text=text)
    decision, result = services.DatabaseGuard(ctx=ctx).evaluate(item)
    chain.record(Action.VIEW, actor=ctx.actor, channel="cli", object_type="guard_test", object_repr=channel,
                 details={"channel": channel, "action": decision.action, "findings": len(result.findings),
                          "rules": sorted({r.rule for r in decision.reasons if r.rule})})
    shown = services.visible_result(ctx.actor, result)
    language = runtime.language()
    reasons = [{"action": r.action, "detector": r.detector, "level": r.level, "rule": r.rule,
                "message": r.message_en if language == "en" else r.message_ja, "message_en": r.message_en}
               for r in decision.reasons if r.action != "allow"]
    if json_out:
        from himitsu.engine.check import describe

        emit_json({"path": path, "channel": channel, "user": identity.user, "department": identity.department,
                   "destinations": list(to or ()), "action": decision.action, "reasons": reasons,
                   "findings": describe(shown.findings, _),
                   "problems": [{"code": p.code, "part": p.path} for p in result.problems],
                   "redacted_text": decision.redacted if decision.action == "redact" else None,
                   "policy_version": decision.policy_version})
    else:
        _print_test(path, decision.action, reasons, shown)
        if decision.action == "redact" and decision.redacted is not None:
            console.print(_("Text as it would be sent:"), highlight=False)
            console.print(decision.redacted, highlight=False, markup=False)
    raise typer.Exit(1 if decision.action in STOPPING else 0)


def _print_test(path: str, action: str, reasons: list[dict[str, Any]], result: Any) -> None:
    style = {"allow": "green", "warn": "yellow"}.get(action, "red")
    console.print(f"[bold]{path}[/]: [{style}]{_action_label(action)}[/]", highlight=False)
    for r in reasons:
        console.print(f"  [{_action_label(r['action'])}] {r['message']} ({r['rule'] or '-'})", highlight=False,
                      markup=False)
    print_findings(result.findings)


# --- tokens ------------------------------------------------------------------------------------------------------

def _token_row(t: Any) -> dict[str, Any]:
    from himitsu.web.guard import services

    return {"id": t.pk, "name": t.name, "prefix": t.prefix, "scopes": list(t.scopes),
            "user": t.user.username if t.user_id else None, "status": services.token_status(t),
            "created_at": t.created_at, "created_by": t.created_by_name, "expires_at": t.expires_at,
            "last_used_at": t.last_used_at, "revoked_at": t.revoked_at}


@tokens_app.command("create", help="トークンを発行（一度だけ表示） / Create a token (shown once).")
@guarded
def tokens_create(
    name: Annotated[str, typer.Argument(help="What the token is for (the integration's name).")],
    scope: Annotated[list[str], typer.Option("--scope", help="check or ai; repeatable.")],
    user: Annotated[str, typer.Option("--user", help="The person the integration acts for.")] = "",
    expires: Annotated[str, typer.Option("--expires", help="Last day of validity (2026-12-31, 令和8年12月31日).")]
    = "",
    as_user: Annotated[str, typer.Option("--as", help=AS_HELP)] = "",
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    runtime.setup()
    from himitsu import jpdate
    from himitsu.web.accounts.models import User
    from himitsu.web.guard import services
    from himitsu.web.register.services import Context

    ctx = Context(actor=actor(as_user), channel="cli")
    bound = None
    if user:
        bound = User.objects.filter(username=user).first()
        if bound is None:
            raise InputError("user.not_found", username=user)
    until = None
    if expires:
        try:
            until = jpdate.parse(expires)
        except jpdate.DateFormatError:
            raise InputError("hr.bad_date", value=expires) from None
    token, plaintext = services.create_token(ctx, name, scope, user=bound, expires_at=until)
    if json_out:
        emit_json(_token_row(token) | {"token": plaintext})
        return
    console.print(_("Token {name} (id {id}) created. It is shown only now: store it in the integration's "
                    "settings.").format(name=token.name, id=token.pk), highlight=False)
    sys.stdout.write(plaintext + "\n")


@tokens_app.command("list", help="トークンの一覧 / List the tokens.")
@guarded
def tokens_list(
    as_user: Annotated[str, typer.Option("--as", help=AS_HELP)] = "",
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per token per line.")] = False,
) -> None:
    runtime.setup()
    from rich.table import Table

    from himitsu.web.accounts import access
    from himitsu.web.guard import services

    who = actor(as_user)
    access.require(access.can_view_guard_policy(who))
    rows = [_token_row(t) for t in services.visible_tokens(who)]
    if json_out:
        for row in rows:
            emit_json(row)
        return
    labels = {"active": _("active"), "expired": _("expired"), "revoked": _("revoked")}
    table = Table("id", _("name"), _("prefix"), _("scopes"), _("acts for"), _("status"), _("expires at"),
                  _("last used at"))
    for r in rows:
        table.add_row(str(r["id"]), r["name"], f"hmt_{r['prefix']}_…", ", ".join(r["scopes"]), r["user"] or "—",
                      labels[r["status"]], _when(r["expires_at"]), _when(r["last_used_at"]))
    console.print(table)


def _when(value: Any) -> str:
    from django.utils import timezone

    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "—"


@tokens_app.command("revoke", help="トークンを失効 / Revoke a token.")
@guarded
def tokens_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (see tokens list).")],
    as_user: Annotated[str, typer.Option("--as", help=AS_HELP)] = "",
) -> None:
    runtime.setup()
    from himitsu.web.accounts import access
    from himitsu.web.guard import services
    from himitsu.web.guard.models import ApiToken

    who = actor(as_user)
    access.require(access.can_manage_guard(who))
    token = ApiToken.objects.filter(pk=token_id).first()
    if token is None:
        raise InputError("guard.token_not_found", id=token_id)
    services.revoke_token(services.Context(actor=who, channel="cli"), token)
    console.print(_("Token {name} (id {id}) revoked.").format(name=token.name, id=token.pk), highlight=False)


# --- policy ------------------------------------------------------------------------------------------------------

@policy_app.command("show", help="ルールを順に表示 / Show the rules and exceptions in order.")
@guarded
def policy_show(
    as_user: Annotated[str, typer.Option("--as", help=AS_HELP)] = "",
    json_out: Annotated[bool, typer.Option("--json", help="JSON output (the catalogue's shape).")] = False,
) -> None:
    runtime.setup()
    from rich.table import Table

    from himitsu.web.accounts import access
    from himitsu.web.guard import services

    access.require(access.can_view_guard_policy(actor(as_user)))
    data = services.policy_data(include_disabled=True)
    if json_out:
        emit_json(data)
        return
    en = runtime.language() == "en"
    table = Table("#", _("rule id"), _("action"), _("detectors"), _("classification levels"), _("channels"),
                  _("departments"), _("minimum score"), _("message"), title=_("Rules (the first that matches decides)"))
    for n, r in enumerate(data["rules"], start=1):
        off = "" if r["enabled"] else f" ({_('disabled')})"
        table.add_row(str(n), r["id"] + off, _action_label(r["action"]), _join(r["detectors"]), _join(r["levels"]),
                      _join(r["channels"]), _join(r["departments"]), f"{r['min_score']:.2f}",
                      (r["message_en"] if en else r["message"]) or "—")
    console.print(table)
    table = Table(_("exception id"), _("domains"), _("action"), _("channels"), _("detectors"),
                  _("classification levels"), _("valid until"), title=_("Exceptions"))
    for a in data["allowances"]:
        off = "" if a["enabled"] else f" ({_('disabled')})"
        table.add_row(a["id"] + off, _join(a["domains"]), _action_label(a["action"]), _join(a["channels"]),
                      _join(a["detectors"]), _join(a["levels"]), a["until"] or "—")
    console.print(table)
    console.print(_("Policy version: {version}").format(version=data["version"]), highlight=False)


def _join(values: list[str]) -> str:
    return ", ".join(values) if values else _("any")


@app.command("serve", help="生成AIゲートウェイとメール中継を起動 / Run the AI gateway and the mail relay.")
@guarded
def serve(
    workers: Annotated[int, typer.Option("--workers", min=0, max=64,
                                         help="Check worker processes (0: threads of this process).")] = 0,
) -> None:
    """Settings come from the environment (see himitsu.gateways.config); secrets never from the command line.
    Runs until SIGINT or SIGTERM."""
    import os

    runtime.setup()
    from himitsu.gateways import config as gateway_config
    from himitsu.gateways.pool import CheckPool
    from himitsu.gateways.serve import run
    from himitsu.web.guard import services, serving, worker

    ai = gateway_config.ai_config(os.environ)
    mail = gateway_config.mail_config(os.environ)
    if ai is None and mail is None:
        raise InputError("guard.nothing_to_serve")
    services.ensure_seeded()
    services.warm_up()
    serving.enable()
    if ai is not None:
        console.print(_("AI gateway: http://{host}:{port}/v1 → {upstream}").format(
            host=ai.host, port=ai.port, upstream=ai.upstream))
    if mail is not None:
        console.print(_("Mail relay: {host}:{port} → next hop {hop}:{hop_port}").format(
            host=mail.host, port=mail.port, hop=mail.next_hop.host, hop_port=mail.next_hop.port))
    pool = CheckPool(worker.database_guard, workers=workers) if workers else None
    try:
        run(services.DatabaseGuard(), ai, mail, pool=pool)
    finally:
        if pool is not None:
            pool.close()
