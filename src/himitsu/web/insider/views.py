"""Insider-risk pages (mounted at /insider/ by himitsu.web.urls): the day's top N people with the reasons, a
person's page (timeline chart, indicators, register entries touched, leaving case, reveal form), the ingest
status and the "score now" button.

Access lives in ``himitsu.web.accounts.access`` (can_view_insider, can_run_insider, can_reveal_insider): a role
without access gets 403. Pages read only the Django models that ``services.score`` and ``services.ingest`` fill;
they never open the analytics store. People appear under their pseudonym; a trade-secret manager who revealed an
identity (with a reason, audited) sees the name, and the links to the person and their leaving case, from then
on; nobody else does.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.contrib import messages
from django.db.models import Q, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from himitsu.errors import HimitsuError
from himitsu.web.accounts import access
from himitsu.web.audit import chain
from himitsu.web.audit.models import Action
from himitsu.web.core.errors import message
from himitsu.web.insider import services
from himitsu.web.insider.models import IngestedFile, InsiderAlert, Reveal, ScoredDay

MAX_ID = 2**63 - 1
INGEST_SHOWN = 10
CHART_W, CHART_H, CHART_PAD = 640, 180, 28
CHART_LINES = 3
COLOURS = ("#1d4f91", "#b45309", "#6b2d91")


def pseudonym_label(code: str) -> str:
    return _("User %(code)s") % {"code": code}


def _parse_day(raw: str) -> date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        raise HimitsuError("insider.date_invalid", value=raw[:40]) from None


def _feature_labels() -> dict[str, dict[str, str]]:
    try:
        from himitsu.insider.features import FEATURES
    except ImportError:  # pragma: no cover - the engine not installed
        return {}
    return FEATURES


def feature_label(name: str) -> str:
    labels = _feature_labels().get(name) or {}
    lang = "en" if (get_language() or "ja").startswith("en") else "ja"
    return labels.get(lang) or labels.get("en") or name


def _num(value: Any) -> str:
    if value is None:
        return "—"
    v = float(value)
    return f"{v:,.0f}" if abs(v - round(v)) < 1e-9 else f"{v:,.1f}"


def reasons(alert: Any, shown: int = 3) -> list[str]:
    """The main indicators of an alert in words; for a score carried only by the days before (slow ramps), that."""
    texts = [indicator_text(i) for i in alert.indicators[:shown]]
    if not texts and alert.score > 0:
        texts = [_("No indicator moved today: the score comes from the days before (accumulated).")]
    return texts


def indicator_text(ind: dict[str, Any]) -> str:
    """``USB への書き込み 42 件（本人の平常 0.3 件、部署 0.5 件）``."""
    return _("%(label)s: %(value)s (usual for them: %(own)s, department: %(peer)s)") % {
        "label": feature_label(str(ind.get("name", ""))), "value": _num(ind.get("value")),
        "own": _num(ind.get("own_baseline")), "peer": _num(ind.get("peer_baseline"))}


def _who(alert: InsiderAlert, revealed: set[str]) -> dict[str, Any]:
    shown = alert.log_user in revealed
    name = ""
    if shown:
        p = alert.person
        name = (p.display_name or p.get_full_name() or p.username) if p else alert.log_user
    return {"revealed": shown, "label": name if shown else pseudonym_label(alert.pseudonym),
            "pseudonym": pseudonym_label(alert.pseudonym)}


# --- the list ----------------------------------------------------------------------------------------------------

def _ingest_panel() -> dict[str, Any]:
    done = IngestedFile.objects.filter(error_code="", skipped=False)
    totals = done.aggregate(rows=Sum("rows"), added=Sum("added"), rejected=Sum("rejected"),
                            duplicates=Sum("duplicates"))
    codes: dict[str, int] = {}
    for row in IngestedFile.objects.filter(rejected__gt=0).values_list("codes", flat=True):
        for code, n in (row or {}).items():
            codes[code] = codes.get(code, 0) + int(n)
    return {"files": list(IngestedFile.objects.all()[:INGEST_SHOWN]), "count": done.count(),
            "failed": IngestedFile.objects.exclude(error_code="").count(),
            "totals": {k: v or 0 for k, v in totals.items()}, "codes": sorted(codes.items())}


def index(request: HttpRequest) -> HttpResponse:
    access.require(access.can_view_insider(request.user))
    days = services.scored_days()
    try:
        day = _parse_day(request.GET.get("day", "")) or (days[0] if days else None)
    except HimitsuError as exc:
        messages.error(request, message(exc))
        day = days[0] if days else None
    budget = services.get_budget(request.user)
    alerts = services.top_alerts(day, budget) if day else []
    revealed = services.revealed_users(request.user, [a.log_user for a in alerts])
    rows = [{"a": a, "who": _who(a, revealed), "reasons": reasons(a)} for a in alerts]
    scored = ScoredDay.objects.filter(day=day).first() if day else None
    chain.record(Action.LIST, request=request, object_type="insider_list",
                 details={"day": day.isoformat() if day else "", "count": len(rows)})
    return render(request, "insider/index.html", {
        "day": day, "days": days[:60], "rows": rows, "budget": budget, "max_budget": services.MAX_BUDGET,
        "scored": scored, "ingest": _ingest_panel(), "today": timezone.localdate(),
        "can_run": access.can_run_insider(request.user), "can_reveal": access.can_reveal_insider(request.user)})


def _back(day: date | None) -> str:
    url = reverse("insider:index")
    return f"{url}?day={day.isoformat()}" if day else url


@require_POST
def budget(request: HttpRequest) -> HttpResponse:
    access.require(access.can_view_insider(request.user))
    try:
        day = _parse_day(request.POST.get("day", ""))
        n = services.set_budget(request.user, request.POST.get("budget", ""), request=request)
    except HimitsuError as exc:
        messages.error(request, message(exc))
        return redirect(_back(None))
    messages.success(request, _("Your daily budget is now %(n)s people.") % {"n": n})
    return redirect(_back(day))


@require_POST
def score_now(request: HttpRequest) -> HttpResponse:
    access.require(access.can_run_insider(request.user))
    try:
        day = _parse_day(request.POST.get("day", ""))
        result = services.score(day, request.user, request=request)
    except HimitsuError as exc:
        messages.error(request, message(exc))
        return redirect(_back(None))
    messages.success(request, _("%(day)s was scored: %(users)s people, %(unknown)s of them not known to Himitsu.")
                     % {"day": result.scored.day.isoformat(), "users": result.users,
                        "unknown": result.unknown_users})
    return redirect(_back(result.scored.day))


# --- a person ----------------------------------------------------------------------------------------------------

def _alert_or_404(request: HttpRequest, pk: int) -> InsiderAlert:
    access.require(access.can_view_insider(request.user))
    alert = (InsiderAlert.objects.select_related("person__department").filter(pk=pk).first()
             if pk <= MAX_ID else None)
    if alert is None:
        raise Http404(message(HimitsuError("insider.alert_not_found", id=pk)))
    return alert


def _y(value: float, top: float) -> float:
    return round(CHART_PAD + (CHART_H - 2 * CHART_PAD) * (1 - (value / top if top else 0)), 1)


def timeline_chart(alert: InsiderAlert) -> dict[str, Any] | None:
    """The person's timeline as SVG data: the score per day (solid), the alert's main indicators (dashed, each
    scaled to its own highest value), the scored day and the leave date marked."""
    points = alert.timeline or []
    if not points:
        return None
    n = len(points)
    step = (CHART_W - 2 * CHART_PAD) / max(n - 1, 1)
    xs = [round(CHART_PAD + i * step, 1) for i in range(n)]
    scores = [p.get("score") or 0.0 for p in points]
    top = max(scores, default=0.0) or 1.0
    lines = [{"label": _("score"), "colour": "#c0392b", "dash": "",
              "points": " ".join(f"{x},{_y(s, top)}" for x, s in zip(xs, scores, strict=True))}]
    names = [str(i["name"]) for i in alert.indicators[:CHART_LINES]]
    for colour, name in zip(COLOURS, names, strict=False):
        values = [float((p.get("features") or {}).get(name) or 0.0) for p in points]
        high = max(values, default=0.0) or 1.0
        lines.append({"label": feature_label(name), "colour": colour, "dash": "4 3",
                      "points": " ".join(f"{x},{_y(v, high)}" for x, v in zip(xs, values, strict=True))})
    index = {p["day"]: i for i, p in enumerate(points)}
    marks, notes = [], []
    if alert.day.isoformat() in index:
        marks.append({"x": xs[index[alert.day.isoformat()]], "label": _("this day"), "colour": "#555", "y": 12,
                      "anchor": "end"})
    if alert.days_to_leave is not None:
        leave = alert.day + timedelta(days=alert.days_to_leave)
        label = _("leave date %(day)s") % {"day": leave.isoformat()}
        if leave.isoformat() in index:
            marks.append({"x": xs[index[leave.isoformat()]], "label": label, "colour": "#b91c1c", "y": 24,
                          "anchor": "middle"})
        else:  # after the timeline: noted at its right end
            notes.append({"label": f"{label} →", "colour": "#b91c1c"})
    return {"w": CHART_W, "h": CHART_H, "lines": lines, "marks": marks, "notes": notes, "start": points[0]["day"],
            "end": points[-1]["day"], "top": _num(top), "days": [
                {"x": x, "day": p["day"], "score": _num(p.get("score"))} for x, p in zip(xs, points, strict=True)],
            "baseline": CHART_H - CHART_PAD}


def _leaving(request: HttpRequest, alert: InsiderAlert, shown: bool) -> dict[str, Any]:
    """The person's leaving case (or the link to open one): only once their identity is revealed to the viewer
    (a case page names them)."""
    person = alert.person
    if not shown or person is None:
        return {}
    case = access.visible_cases(request.user).filter(person=person, kind="leaving").order_by("-opened_at").first()
    return {"case": case, "can_open": case is None and access.can_open_case_for(request.user, person),
            "person": person, "person_link": access.can_view_person(request.user, person)}


def _detail_context(request: HttpRequest, alert: InsiderAlert) -> dict[str, Any]:
    revealed = services.revealed_users(request.user, [alert.log_user])
    who = _who(alert, revealed)
    ids = [int(i) for i in alert.secret_ids if isinstance(i, int) and 0 < i <= MAX_ID]
    secrets = list(access.visible_secrets(request.user).filter(pk__in=ids).select_related("level"))
    rows = [{"i": i, "label": feature_label(str(i.get("name", ""))), "text": indicator_text(i),
             "value": _num(i.get("value")), "own": _num(i.get("own_baseline")), "peer": _num(i.get("peer_baseline")),
             "own_z": _num(i.get("own_z")), "peer_z": _num(i.get("peer_z")),
             "contribution": _num(i.get("contribution"))} for i in alert.indicators]
    others = (InsiderAlert.objects.filter(log_user=alert.log_user).exclude(pk=alert.pk)
              .filter(Q(rank__lte=services.MAX_BUDGET)).order_by("-day")[:20])
    reveal = (Reveal.objects.filter(analyst_id=request.user.pk, log_user=alert.log_user).order_by("at").first()
              if who["revealed"] else None)
    return {"alert": alert, "who": who, "reveal": reveal, "chart": timeline_chart(alert), "rows": rows,
            "secrets": secrets,
            "hidden": len(ids) - len(secrets), "leaving": _leaving(request, alert, who["revealed"]),
            "others": others, "can_reveal": access.can_reveal_insider(request.user),
            "since_leave": -alert.days_to_leave if alert.days_to_leave is not None else None}


def alert_detail(request: HttpRequest, pk: int) -> HttpResponse:
    alert = _alert_or_404(request, pk)
    chain.record(Action.VIEW, request=request, object_type="insider_alert", object_id=alert.pk,
                 object_repr=alert.pseudonym, details={"day": alert.day.isoformat(), "rank": alert.rank})
    return render(request, "insider/alert.html", _detail_context(request, alert))


@require_POST
def alert_reveal(request: HttpRequest, pk: int) -> HttpResponse:
    alert = _alert_or_404(request, pk)
    access.require(access.can_reveal_insider(request.user))
    try:
        identity = services.reveal(alert, request.user, request.POST.get("reason", ""), request=request)
    except HimitsuError as exc:
        context = _detail_context(request, alert) | {"reveal_error": message(exc)}
        return render(request, "insider/alert.html", context, status=400)
    messages.success(request, _("%(pseudonym)s is %(name)s. The reveal was recorded in the audit trail.")
                     % {"pseudonym": pseudonym_label(identity.pseudonym), "name": identity.name})
    return redirect("insider:alert", pk=alert.pk)

