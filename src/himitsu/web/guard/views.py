"""Outbound guard pages (mounted at /guard/ by himitsu.web.urls): the policy with its "try it" form, the API
tokens of integrations, the decision records with their chart, and the quarantine of held mail.

Need-to-know lives in ``himitsu.web.accounts.access``: a page a role may not use answers 403, a row a user may
not see looks missing (404), an action they may not take answers 403. Every change goes through
``himitsu.web.guard.services``, which checks access again and writes the audit record.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import os
from datetime import date, timedelta
from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from himitsu.engine.check import explain
from himitsu.errors import HimitsuError
from himitsu.gateways.base import Identity, Outbound
from himitsu.gateways.smtp_out import NextHop
from himitsu.web.accounts import access
from himitsu.web.audit import chain
from himitsu.web.audit.models import Action
from himitsu.web.core.errors import message
from himitsu.web.core.views import posted, query_filters
from himitsu.web.guard import services
from himitsu.web.guard.forms import AllowanceForm, CommentForm, RuleForm, TokenForm, TryForm, add_service_error
from himitsu.web.guard.models import (
    Channel,
    GuardAction,
    GuardDecision,
    PolicyAllowance,
    PolicyRule,
    QuarantineItem,
    QuarantineStatus,
)
from himitsu.web.register.services import Context

PAGE_SIZE = 50
MAX_ID = 2**63 - 1  # larger ids (from a URL or a filter) are no row
CHART_DAYS = 30
MAX_SHOWN_TEXT = 200_000  # characters of a held message's text shown on its page


def ctx(request: HttpRequest) -> Context:
    return Context(actor=request.user, channel="web", request=request)


def next_hop() -> NextHop:
    """The mail server released mail goes to (HIMITSU_MAIL_NEXT_HOP, HIMITSU_MAIL_NEXT_HOP_STARTTLS in the
    settings; SMTP AUTH from HIMITSU_MAIL_NEXT_HOP_USERNAME/_PASSWORD(_FILE) as for the mail relay). A bad value
    raises the relay's ``config.gateway_invalid`` error."""
    from himitsu.gateways.config import next_hop as parse

    env = dict(os.environ)
    env["HIMITSU_MAIL_NEXT_HOP"] = str(settings.HIMITSU_MAIL_NEXT_HOP or "127.0.0.1:25")
    env["HIMITSU_MAIL_NEXT_HOP_STARTTLS"] = str(settings.HIMITSU_MAIL_NEXT_HOP_STARTTLS or "opportunistic")
    hop = parse(env)
    assert hop is not None  # the setting is never empty here
    return hop


def _action_labels() -> dict[str, str]:
    return {k: str(v) for k, v in GuardAction.choices}


def _channel_labels() -> dict[str, str]:
    return {k: str(v) for k, v in Channel.choices}


def _pk_or_404(pk: int) -> int:
    if pk > MAX_ID:
        raise Http404()
    return pk


# --- policy ------------------------------------------------------------------------------------------------------

def _policy_context(request: HttpRequest, try_form: TryForm | None = None,
                    tried: dict[str, Any] | None = None) -> dict[str, Any]:
    services.ensure_seeded()
    today = timezone.localdate()
    channels = _channel_labels()
    rules = [{"r": r, "channels": [channels.get(c, c) for c in r.channels], "first": n == 0, "last": False}
             for n, r in enumerate(PolicyRule.objects.all())]
    allowances = [{"a": a, "channels": [channels.get(c, c) for c in a.channels], "first": n == 0, "last": False,
                   "expired": a.until is not None and a.until < today}
                  for n, a in enumerate(PolicyAllowance.objects.all())]
    for rows in (rules, allowances):
        if rows:
            rows[-1]["last"] = True
    return {
        "rules": rules, "allowances": allowances, "today": today,
        "can_manage": access.can_manage_guard(request.user), "can_test": access.can_test_guard(request.user),
        "try_form": try_form or TryForm(), "tried": tried, "version": services.policy_data()["version"],
    }


def policy(request: HttpRequest) -> HttpResponse:
    """The rules in order and the exceptions; for managers the links to change them; the "try it" form."""
    access.require(access.can_view_guard_policy(request.user))
    return render(request, "guard/policy.html", _policy_context(request))


def _outbound(request: HttpRequest, form: TryForm) -> Outbound:
    d = form.cleaned_data
    who = services.identity_of(request.user)
    identity = Identity(user=who.user, department=who.department, language="ja")
    upload = d.get("file")
    if upload is not None:
        name = (PurePath(str(upload.name or "upload").replace("\\", "/")).name or "upload")[:255]
        data = upload.read(settings.HIMITSU_GUARD_MAX_BYTES + 1)
        return Outbound(channel=d["channel"], data=data, name=name, identity=identity,
                        destinations=tuple(d["destinations"]), meta={"via": "web-test"})
    text = d["text"]
    return Outbound(channel=d["channel"], data=text.encode("utf-8", "replace"), name="text.txt", identity=identity,
                    destinations=tuple(d["destinations"]), text=text, meta={"via": "web-test"})


def tried_result(user: Any, decision: Any, result: Any) -> dict[str, Any]:
    """What the page shows of a trial: the decision, its reasons (ja and en) and the findings with their redacted
    snippets, register entries named only where ``user`` may see them."""
    shown = services.visible_result(user, result)
    findings = []
    for f in shown.findings:
        secret_id = None
        if f.secret is not None and f.secret.id not in ("", None):
            try:
                secret_id = int(f.secret.id)
            except (TypeError, ValueError):
                secret_id = None
        findings.append({"f": f, "explanation": explain(f, _), "secret_id": secret_id,
                         "secret_title": f.secret.title if secret_id is not None else "",
                         "level": f.secret.level if f.secret is not None else "",
                         "hidden": f.secret is not None and secret_id is None})
    return {"action": decision.action, "action_label": _action_labels().get(decision.action, decision.action),
            "reasons": [{"r": r, "label": _action_labels().get(r.action, r.action)}
                        for r in decision.reasons if r.action != "allow"], "findings": findings,
            "problems": list(result.problems), "redacted": decision.redacted if decision.action == "redact" else None,
            "version": decision.policy_version}


@require_POST
def policy_try(request: HttpRequest) -> HttpResponse:
    """Decide on pasted text or an uploaded file without recording a decision (``DatabaseGuard().evaluate``); the
    audit trail notes the trial as the command line does (codes and counts only)."""
    access.require(access.can_view_guard_policy(request.user))
    access.require(access.can_test_guard(request.user))
    form = TryForm(request.POST, request.FILES, max_bytes=settings.HIMITSU_GUARD_MAX_BYTES)
    tried = None
    status = 200
    if form.is_valid():
        channel = form.cleaned_data["channel"]
        try:
            decision, result = services.DatabaseGuard(ctx=ctx(request)).evaluate(_outbound(request, form))
        except HimitsuError as exc:
            form.add_error(None, message(exc))
            status = 400
        else:
            # as ``himitsu guard test`` does: that a trial happened, its codes and counts (never the content)
            chain.record(Action.VIEW, request=request, object_type="guard_test", object_repr=channel,
                         details={"channel": channel, "action": decision.action, "findings": len(result.findings),
                                  "rules": sorted({r.rule for r in decision.reasons if r.rule})})
            tried = tried_result(request.user, decision, result)
    else:
        status = 400
    return render(request, "guard/policy.html", _policy_context(request, form, tried), status=status)


def _rule_or_404(request: HttpRequest, pk: int) -> PolicyRule:
    access.require(access.can_view_guard_policy(request.user))
    rule = PolicyRule.objects.filter(pk=_pk_or_404(pk)).first()
    if rule is None:
        raise Http404(message(HimitsuError("guard.rule_not_found", id=pk)))
    return rule


def _allowance_or_404(request: HttpRequest, pk: int) -> PolicyAllowance:
    access.require(access.can_view_guard_policy(request.user))
    allowance = PolicyAllowance.objects.filter(pk=_pk_or_404(pk)).first()
    if allowance is None:
        raise Http404(message(HimitsuError("guard.allowance_not_found", id=pk)))
    return allowance


def _row_form(request: HttpRequest, kind: str, row: Any) -> HttpResponse:
    form_class = RuleForm if kind == "rule" else AllowanceForm
    initial = form_class.initial_of(row) if row is not None else None
    form = form_class(posted(request), initial=initial) if initial is not None else form_class(posted(request))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            values = form.values()
            try:
                if kind == "rule":
                    if row is None:
                        row = services.create_rule(ctx(request), **values)
                        done = _("The rule %(id)s was added at the end of the policy.")
                    else:
                        row = services.update_rule(ctx(request), row, **values)
                        done = _("The rule %(id)s was saved.")
                else:
                    if row is None:
                        row = services.create_allowance(ctx(request), **values)
                        done = _("The exception %(id)s was added.")
                    else:
                        row = services.update_allowance(ctx(request), row, **values)
                        done = _("The exception %(id)s was saved.")
            except HimitsuError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, done % {"id": row.slug})
                return redirect(f"{_policy_url()}#{kind}-{row.pk}")
        status = 400
    return render(request, "guard/row_form.html", {"form": form, "kind": kind, "row": row}, status=status)


def _policy_url() -> str:
    from django.urls import reverse

    return reverse("guard:policy")


@require_http_methods(["GET", "POST"])
def rule_new(request: HttpRequest) -> HttpResponse:
    access.require(access.can_manage_guard(request.user))
    return _row_form(request, "rule", None)


@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    rule = _rule_or_404(request, pk)
    access.require(access.can_manage_guard(request.user))
    return _row_form(request, "rule", rule)


@require_http_methods(["GET", "POST"])
def allowance_new(request: HttpRequest) -> HttpResponse:
    access.require(access.can_manage_guard(request.user))
    return _row_form(request, "allowance", None)


@require_http_methods(["GET", "POST"])
def allowance_edit(request: HttpRequest, pk: int) -> HttpResponse:
    allowance = _allowance_or_404(request, pk)
    access.require(access.can_manage_guard(request.user))
    return _row_form(request, "allowance", allowance)


def _row_delete(request: HttpRequest, kind: str, row: Any) -> HttpResponse:
    access.require(access.can_manage_guard(request.user))
    if request.method == "POST":
        try:
            if kind == "rule":
                services.delete_rule(ctx(request), row)
            else:
                services.delete_allowance(ctx(request), row)
        except HimitsuError as exc:
            messages.error(request, message(exc))
        else:
            messages.success(request, _("%(id)s was deleted.") % {"id": row.slug})
        return redirect("guard:policy")
    return render(request, "guard/row_delete.html", {"kind": kind, "row": row})


@require_http_methods(["GET", "POST"])
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    return _row_delete(request, "rule", _rule_or_404(request, pk))


@require_http_methods(["GET", "POST"])
def allowance_delete(request: HttpRequest, pk: int) -> HttpResponse:
    return _row_delete(request, "allowance", _allowance_or_404(request, pk))


def _row_change(request: HttpRequest, kind: str, row: Any) -> HttpResponse:
    """Move up or down (``direction``), or switch on or off (``toggle``)."""
    access.require(access.can_manage_guard(request.user))
    model = PolicyRule if kind == "rule" else PolicyAllowance
    try:
        if "toggle" in request.POST:
            if kind == "rule":
                services.update_rule(ctx(request), row, enabled=not row.enabled)
            else:
                services.update_allowance(ctx(request), row, enabled=not row.enabled)
            messages.success(request, (_("%(id)s was disabled.") if row.enabled else _("%(id)s was enabled."))
                             % {"id": row.slug})
        else:
            direction = request.POST.get("direction", "")
            order = list(model.objects.values_list("pk", flat=True))
            index = order.index(row.pk)
            target = index - 1 if direction == "up" else index + 1 if direction == "down" else index
            if target != index and 0 <= target < len(order):
                if kind == "rule":
                    services.move_rule(ctx(request), row, target)
                else:
                    services.move_allowance(ctx(request), row, target)
    except HimitsuError as exc:
        messages.error(request, message(exc))
    return redirect(f"{_policy_url()}#{kind}-{row.pk}")


@require_POST
def rule_change(request: HttpRequest, pk: int) -> HttpResponse:
    return _row_change(request, "rule", _rule_or_404(request, pk))


@require_POST
def allowance_change(request: HttpRequest, pk: int) -> HttpResponse:
    return _row_change(request, "allowance", _allowance_or_404(request, pk))


# --- API tokens --------------------------------------------------------------------------------------------------

def _token_rows(user: Any) -> list[dict[str, Any]]:
    return [{"t": t, "status": services.token_status(t)} for t in services.visible_tokens(user)[:500]]


@never_cache
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    """The tokens (never their secret); managers create one (shown once, on the answer to the POST only) and
    revoke them."""
    access.require(access.can_view_guard_policy(request.user))
    can_manage = access.can_manage_guard(request.user)
    form = TokenForm(posted(request)) if can_manage else None
    status = 200
    if request.method == "POST":
        access.require(can_manage)
        assert form is not None
        if form.is_valid():
            d = form.cleaned_data
            try:
                token, plaintext = services.create_token(ctx(request), d["name"], d["scopes"], user=d["user"],
                                                         expires_at=d["expires_at"])
            except HimitsuError as exc:
                add_service_error(form, exc)
            else:
                return render(request, "guard/token_created.html", {"token": token, "plaintext": plaintext})
        status = 400
    return render(request, "guard/tokens.html", {"rows": _token_rows(request.user), "form": form,
                                                 "can_manage": can_manage}, status=status)


@require_http_methods(["GET", "POST"])
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    access.require(access.can_view_guard_policy(request.user))
    token = services.visible_tokens(request.user).filter(pk=_pk_or_404(pk)).first()
    if token is None:
        raise Http404(message(HimitsuError("guard.token_not_found", id=pk)))
    access.require(access.can_manage_guard(request.user))
    if request.method == "POST":
        try:
            services.revoke_token(ctx(request), token)
        except HimitsuError as exc:
            messages.error(request, message(exc))
        else:
            messages.success(request, _("The token %(name)s was revoked: it no longer works.") % {"name": token.name})
        return redirect("guard:tokens")
    return render(request, "guard/token_revoke.html", {"token": token, "status": services.token_status(token)})


# --- decisions ---------------------------------------------------------------------------------------------------

def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _decision_filters(request: HttpRequest) -> tuple[dict[str, str], list[str]]:
    f = query_filters(request, ("channel", "action", "from", "to", "user", "department", "detector"), 150)
    bad = []
    if f["channel"] not in Channel.values:
        f["channel"] = ""
    if f["action"] not in GuardAction.values:
        f["action"] = ""
    for key in ("from", "to"):
        if f[key] and _date(f[key]) is None:
            bad.append(f[key])
            f[key] = ""
    if f["detector"] and f["detector"] not in services.rule_choices()["detectors"]:
        f["detector"] = ""
    return f, bad


def _filtered(qs: QuerySet, f: dict[str, str], dates: bool = True) -> QuerySet:
    if f["channel"]:
        qs = qs.filter(channel=f["channel"])
    if f["action"]:
        qs = qs.filter(action=f["action"])
    if f["user"]:
        qs = qs.filter(username=f["user"])
    if f["department"]:
        qs = qs.filter(department=f["department"])
    if f["detector"]:  # a JSON list of names of [a-z-] only: its text holds "name" exactly when it names it
        qs = qs.filter(detectors__icontains=f'"{f["detector"]}"')
    if dates and f["from"]:
        qs = qs.filter(at__date__gte=_date(f["from"]))
    if dates and f["to"]:
        qs = qs.filter(at__date__lte=_date(f["to"]))
    return qs


def decision_chart(qs: QuerySet, today: date, days: int = CHART_DAYS) -> dict[str, Any]:
    """Decisions per day by action over the last ``days`` days (today included), as stacked bars."""
    start = today - timedelta(days=days - 1)
    counts: dict[tuple[date, str], int] = {}
    rows = (qs.filter(at__date__gte=start).annotate(day=TruncDate("at")).order_by()
            .values_list("day", "action").annotate(n=Count("id")))
    for day, action, n in rows:
        if day is not None:
            counts[(day, action)] = counts.get((day, action), 0) + n
    labels = _action_labels()
    order = [a for a in GuardAction.values]
    columns = []
    for i in range(days):
        day = start + timedelta(days=i)
        parts = [{"action": a, "label": labels[a], "n": counts.get((day, a), 0)} for a in order]
        columns.append({"day": day, "total": sum(p["n"] for p in parts), "parts": [p for p in parts if p["n"]]})
    top = max((c["total"] for c in columns), default=0)
    for c in columns:
        c["pct"] = round(100 * c["total"] / top) if top else 0
        for p in c["parts"]:
            p["pct"] = round(100 * p["n"] / c["total"], 1) if c["total"] else 0
    totals = {a: sum(counts.get((start + timedelta(days=i), a), 0) for i in range(days)) for a in order}
    return {"columns": columns, "top": top, "legend": [{"action": a, "label": labels[a], "n": totals[a]}
                                                        for a in order], "start": start, "end": today}


def decision_list(request: HttpRequest) -> HttpResponse:
    access.require(access.can_list_guard_decisions(request.user))
    visible = access.visible_guard_decisions(request.user)
    f, bad = _decision_filters(request)
    qs = _filtered(visible, f).select_related("token")
    page = Paginator(qs.order_by("-at", "-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    decisions = list(page.object_list)
    ids = {int(i) for d in decisions for i in (d.secret_ids or []) if str(i).isdigit() and int(i) <= MAX_ID}
    seen = {s.pk: s for s in access.visible_secrets(request.user).filter(pk__in=ids)} if ids else {}
    labels, channels = _action_labels(), _channel_labels()
    held: dict[int, int] = dict(access.visible_quarantine(request.user).filter(
        decision__in=[d.pk for d in decisions]).values_list("decision_id", "pk")) if decisions else {}
    rows = []
    for d in decisions:
        mine = [int(i) for i in (d.secret_ids or []) if str(i).isdigit() and int(i) <= MAX_ID]
        rows.append({"d": d, "secrets": [seen[i] for i in mine if i in seen],
                     "hidden": sum(1 for i in mine if i not in seen), "held": held.get(d.pk),
                     "destinations": len(d.destinations) if isinstance(d.destinations, list) else 0,
                     "action_label": labels.get(d.action, d.action),
                     "channel_label": channels.get(d.channel, d.channel)})
    chain.record(Action.LIST, request=request, object_type="guard_decision",
                 details={k: v for k, v in f.items() if v} | {"count": page.paginator.count})
    query = request.GET.copy()
    query.pop("page", None)
    for msg in bad:
        messages.error(request, message(HimitsuError("hr.bad_date", value=msg[:40])))
    return render(request, "guard/decisions.html", {
        "page": page, "rows": rows, "f": f, "query": query.urlencode(),
        "chart": decision_chart(_filtered(visible, f, dates=False), timezone.localdate()),
        "channels": Channel.choices, "actions": GuardAction.choices,
        "departments": sorted(d for d in visible.order_by().values_list("department", flat=True).distinct() if d),
        "detectors": services.rule_choices()["detectors"]})


# --- quarantine --------------------------------------------------------------------------------------------------

def _reason_rows(decision: GuardDecision) -> list[dict[str, Any]]:
    """The rules and exceptions that decided, with their messages as the policy has them now."""
    slugs = [s for s in (decision.rules or []) if isinstance(s, str)]
    found = {r.slug: r for r in PolicyRule.objects.filter(slug__in=slugs)}
    found.update({a.slug: a for a in PolicyAllowance.objects.filter(slug__in=slugs) if a.slug not in found})
    return [{"slug": s, "message_ja": getattr(found.get(s), "message_ja", ""),
             "message_en": getattr(found.get(s), "message_en", ""), "gone": s not in found} for s in slugs]


def quarantine_list(request: HttpRequest) -> HttpResponse:
    access.require(access.can_list_guard_decisions(request.user))
    f = query_filters(request, ("status",), 20)
    if f["status"] not in (*QuarantineStatus.values, "all"):
        f["status"] = QuarantineStatus.HELD
    qs = access.visible_quarantine(request.user).select_related("decision")
    if f["status"] != "all":
        qs = qs.filter(status=f["status"])
    page = Paginator(qs.order_by("-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [{"q": q, "reasons": _reason_rows(q.decision)} for q in page.object_list]
    chain.record(Action.LIST, request=request, object_type="guard_quarantine",
                 details={"status": f["status"], "count": page.paginator.count})
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "guard/quarantine.html", {
        "page": page, "rows": rows, "f": f, "query": query.urlencode(), "statuses": QuarantineStatus.choices,
        "can_review": access.can_review_quarantine(request.user)})


def _item_or_404(request: HttpRequest, pk: int) -> QuarantineItem:
    access.require(access.can_list_guard_decisions(request.user))
    item = access.visible_quarantine(request.user).select_related("decision", "reviewer").filter(
        pk=_pk_or_404(pk)).first()
    if item is None:
        if QuarantineItem.objects.filter(pk=pk).exists():
            chain.record(Action.DENIED, request=request, object_type="guard_quarantine", object_id=pk)
        raise Http404(message(HimitsuError("guard.quarantine_not_found", id=pk)))
    return item


def _header(value: Any) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(str(value))))
    except Exception:  # a malformed encoded word: show it as it came
        return str(value)


def read_message(data: bytes) -> dict[str, Any]:
    """The headers people check and the text of a held message (plain-text parts; HTML-only mail as its source,
    shown escaped). Never raises for a malformed message."""
    try:
        msg = email.message_from_bytes(data, policy=email.policy.compat32)
    except Exception:
        return {"headers": [], "text": data.decode("utf-8", "replace")[:MAX_SHOWN_TEXT], "attachments": []}
    headers = [(name, _header(msg[name])) for name in ("From", "To", "Cc", "Subject", "Date", "Message-ID")
               if msg[name] is not None]
    texts: list[str] = []
    attachments: list[str] = []
    fallback: list[str] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename()
        if filename or part.get_content_disposition() == "attachment":
            attachments.append(_header(filename or "attachment"))
            continue
        try:
            payload = part.get_payload(decode=True) or b""
            text = payload.decode(part.get_content_charset() or "utf-8", "replace")
        except (LookupError, ValueError):
            text = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
        (texts if part.get_content_type() == "text/plain" else fallback).append(text)
    body = "\n\n".join(texts or fallback)
    return {"headers": headers, "text": body[:MAX_SHOWN_TEXT], "truncated": len(body) > MAX_SHOWN_TEXT,
            "attachments": attachments}


def _item_page(request: HttpRequest, item: QuarantineItem, *, opened: dict[str, Any] | None = None,
               reject_form: CommentForm | None = None, status: int = 200) -> HttpResponse:
    can_review = access.can_review_quarantine(request.user, item)
    decision = item.decision
    ids = [int(i) for i in (decision.secret_ids or []) if str(i).isdigit() and int(i) <= MAX_ID]
    seen = list(access.visible_secrets(request.user).filter(pk__in=ids).order_by("management_number")) if ids else []
    return render(request, "guard/quarantine_item.html", {
        "q": item, "d": decision, "reasons": _reason_rows(decision), "can_review": can_review,
        "held": item.status == QuarantineStatus.HELD, "opened": opened, "secrets": seen,
        "hidden": len(ids) - len(seen), "action_label": _action_labels().get(decision.action, decision.action),
        "channel_label": _channel_labels().get(decision.channel, decision.channel),
        "release_form": CommentForm(), "reject_form": reject_form or CommentForm(),
        "next_hop": settings.HIMITSU_MAIL_NEXT_HOP}, status=status)


def quarantine_item(request: HttpRequest, pk: int) -> HttpResponse:
    item = _item_or_404(request, pk)
    chain.record(Action.VIEW, request=request, object_type="guard_quarantine", object_id=item.pk,
                 object_repr=f"decision {item.decision_id}")
    return _item_page(request, item)


@never_cache
@require_POST
def quarantine_open(request: HttpRequest, pk: int) -> HttpResponse:
    """The held message's headers and text, decrypted on this explicit request (``services.open_item`` audits)."""
    item = _item_or_404(request, pk)
    access.require(access.can_review_quarantine(request.user, item))
    try:
        data = services.open_item(ctx(request), item)
    except HimitsuError as exc:
        messages.error(request, message(exc))
        return redirect("guard:quarantine-item", pk=item.pk)
    return _item_page(request, item, opened=read_message(data))


@require_POST
def quarantine_release(request: HttpRequest, pk: int) -> HttpResponse:
    item = _item_or_404(request, pk)
    access.require(access.can_review_quarantine(request.user, item))
    form = CommentForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for e in form.errors.get("comment", [])))
        return redirect("guard:quarantine-item", pk=item.pk)
    try:
        services.release(ctx(request), item, next_hop(), form.cleaned_data["comment"])
    except HimitsuError as exc:
        messages.error(request, message(exc))
    else:
        messages.success(request, _("The held mail was released to %(hop)s and its stored copy erased.")
                         % {"hop": settings.HIMITSU_MAIL_NEXT_HOP})
    return redirect("guard:quarantine-item", pk=item.pk)


@require_POST
def quarantine_reject(request: HttpRequest, pk: int) -> HttpResponse:
    item = _item_or_404(request, pk)
    access.require(access.can_review_quarantine(request.user, item))
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            services.reject(ctx(request), item, form.cleaned_data["comment"])
        except HimitsuError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("The held item was rejected and its stored copy erased."))
            return redirect("guard:quarantine-item", pk=item.pk)
    item.refresh_from_db()
    return _item_page(request, item, reject_form=form, status=400)

