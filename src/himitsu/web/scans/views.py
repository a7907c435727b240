"""Scan pages (mounted at /scans/ by himitsu.web.urls): the findings people triage, the review of register
against reality, and the targets with their runs.

Need-to-know lives in ``himitsu.web.accounts.access``: every page asks it (the findings a user may see,
whether they may manage targets or triage a finding); invisible and missing objects look the same (404).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from himitsu.errors import HimitsuError
from himitsu.web.accounts import access
from himitsu.web.audit import chain
from himitsu.web.audit.models import Action, AuditEvent
from himitsu.web.core.errors import message
from himitsu.web.core.views import posted, query_filters
from himitsu.web.register.models import ClassificationLevel, Secret
from himitsu.web.register.services import Context
from himitsu.web.scans import services
from himitsu.web.scans.forms import TargetForm, TriageForm
from himitsu.web.scans.models import Kind, RunStatus, ScanFinding, ScanRun, ScanTarget, Status

PAGE_SIZE = 50
MAX_ID = 2**63 - 1  # larger ids (from a URL or a filter) are no row: the database cannot even compare them
MAX_ERRORS_SHOWN = 500
PRESENCE = ("present", "gone", "all")
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)


def ctx(request: HttpRequest) -> Context:
    return Context(actor=request.user, channel="web", request=request)


def explanation(finding: ScanFinding) -> str:
    """The finding's explanation in the active language (the same texts as the command line)."""
    return services.explanation(finding, _)


def error_message(code: str, detail: str) -> str:
    """A scan error or extraction problem in the active language (its code when unknown)."""
    return services.error_message(code, detail, _)


def _levels() -> dict[str, ClassificationLevel]:
    out: dict[str, ClassificationLevel] = {}
    for level in ClassificationLevel.objects.all():
        out.setdefault(level.name, level)
        if level.name_en:
            out.setdefault(level.name_en, level)
    return out


def rows_of(user: Any, findings: list[ScanFinding]) -> list[dict[str, Any]]:
    """What a list shows of each finding: the register entry only when the reader may see it (else its level)."""
    ids = {f.secret_id for f in findings if f.secret_id}
    seen = set(access.visible_secrets(user).filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()
    levels = _levels()
    runs_visible: dict[int, bool] = {}
    rows = []
    for f in findings:
        visible = f.secret_id in seen
        if f.target_id not in runs_visible:
            runs_visible[f.target_id] = access.can_view_scan_runs(user, f.target)
        rows.append({"f": f, "secret": f.secret if visible else None,
                     "hidden_secret": bool(f.secret_id) and not visible, "runs_visible": runs_visible[f.target_id],
                     "level": f.secret.level if visible else levels.get(f.level), "level_name": f.level,
                     "explanation": explanation(f)})
    return rows


# --- findings --------------------------------------------------------------------------------------------------------

def _findings(user: Any) -> QuerySet:
    return access.visible_scan_findings(user, ScanFinding.objects.select_related(
        "target", "secret", "secret__level", "first_run", "last_run"))


def _bars(counts: dict[str, int], choices: list[tuple[str, str]]) -> list[dict[str, Any]]:
    top = max(counts.values(), default=0)
    return [{"value": v, "label": label, "n": counts.get(v, 0),
             "pct": round(100 * counts.get(v, 0) / top) if top else 0} for v, label in choices]


def finding_list(request: HttpRequest) -> HttpResponse:
    """The triage inbox: visible findings, filtered, with counts of the present ones by kind and status."""
    access.require(access.can_view_scans(request.user))
    visible = _findings(request.user)
    f = query_filters(request, ("target", "kind", "status", "detector", "secret", "present", "q", "run"), 200)
    for key in ("target", "secret", "run"):
        if not (f[key].isascii() and f[key].isdigit() and int(f[key]) <= MAX_ID):
            f[key] = ""
    if f["kind"] not in Kind.values:
        f["kind"] = ""
    if f["status"] not in Status.values:
        f["status"] = ""
    if f["present"] not in PRESENCE:
        f["present"] = "present"
    qs = visible
    if f["target"]:
        qs = qs.filter(target_id=int(f["target"]))
    if f["kind"]:
        qs = qs.filter(kind=f["kind"])
    if f["status"]:
        qs = qs.filter(status=f["status"])
    if f["detector"]:
        qs = qs.filter(detector=f["detector"])
    if f["run"]:  # what this run found first
        qs = qs.filter(first_run_id=int(f["run"]))
    if f["secret"]:
        qs = qs.filter(secret_id=int(f["secret"]), secret__in=access.visible_secrets(request.user))
    if f["present"] != "all":
        qs = qs.filter(present=f["present"] == "present")
    if f["q"]:
        qs = qs.filter(Q(path__icontains=f["q"]) | Q(part__icontains=f["q"]))
    page = Paginator(qs.order_by("-last_run_id", "-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    present = visible.filter(present=True)
    by_kind = dict(present.order_by().values_list("kind").annotate(n=Count("id")))
    by_status = dict(present.order_by().values_list("status").annotate(n=Count("id")))
    chain.record(Action.LIST, request=request, object_type="scan_finding",
                 details={k: v for k, v in f.items() if v} | {"count": page.paginator.count})
    query = request.GET.copy()
    query.pop("page", None)
    target_ids = visible.order_by().values("target_id").distinct()
    secret_ids = visible.exclude(secret=None).order_by().values("secret_id").distinct()
    return render(request, "scans/findings.html", {
        "page": page, "rows": rows_of(request.user, list(page.object_list)), "f": f, "query": query.urlencode(),
        "kinds": Kind.choices, "statuses": Status.choices,
        "targets": ScanTarget.objects.filter(pk__in=target_ids),
        "detectors": sorted(d for d in visible.order_by().values_list("detector", flat=True).distinct() if d),
        "secrets": access.visible_secrets(request.user).filter(pk__in=secret_ids).order_by("management_number"),
        "kind_bars": _bars(by_kind, Kind.choices), "status_bars": _bars(by_status, Status.choices),
        "present_total": sum(by_kind.values())})


def _finding_or_404(request: HttpRequest, pk: int) -> ScanFinding:
    if pk > MAX_ID:
        raise Http404()
    finding = _findings(request.user).filter(pk=pk).first()
    if finding is None:
        if ScanFinding.objects.filter(pk=pk).exists():
            chain.record(Action.DENIED, request=request, object_type="scan_finding", object_id=pk)
        raise Http404(_("The scan finding does not exist or you do not have access to it."))
    return finding


def _status_label(value: Any) -> str:
    return str(Status(value).label) if value in Status.values else ""


def _history(finding: ScanFinding) -> list[dict[str, Any]]:
    """The status changes of the finding, from the audit trail (``services.set_status`` records each)."""
    events = AuditEvent.objects.filter(object_type="scan_finding", object_id=str(finding.pk),
                                       action=Action.UPDATE).order_by("seq")[:200]
    out = []
    for e in events:
        details = e.details if isinstance(e.details, dict) else {}
        change = details.get("status")
        old, new = (change[0], change[1]) if isinstance(change, list) and len(change) == 2 else ("", change)
        out.append({"e": e, "old": _status_label(old), "new": _status_label(new),
                    "comment": details.get("comment", "") if isinstance(details.get("comment"), str) else ""})
    return out


@require_http_methods(["GET", "POST"])
def finding_detail(request: HttpRequest, pk: int) -> HttpResponse:
    access.require(access.can_view_scans(request.user))
    finding = _finding_or_404(request, pk)
    can_triage = access.can_triage_scan_finding(request.user, finding)
    form = TriageForm(posted(request), initial={"status": finding.status})
    status = 200
    if request.method == "POST":
        access.require(can_triage)
        if form.is_valid():
            try:
                services.set_status(ctx(request), finding, form.cleaned_data["status"], form.cleaned_data["comment"])
            except HimitsuError as exc:
                form.add_error(None, message(exc))
            else:
                messages.success(request, _("The status of the finding was saved."))
                return redirect("scans:finding", pk=finding.pk)
        status = 400
    else:
        chain.record(Action.VIEW, request=request, object_type="scan_finding", object_id=finding.pk,
                     object_repr=finding.path[:250])
    row = rows_of(request.user, [finding])[0]
    can_see_runs = access.can_view_scan_runs(request.user, finding.target)
    return render(request, "scans/finding.html", {
        "r": row, "f": finding, "form": form, "can_triage": can_triage, "can_see_runs": can_see_runs,
        "history": _history(finding)}, status=status)


# --- register and reality --------------------------------------------------------------------------------------------

def review(request: HttpRequest) -> HttpResponse:
    """Documents marked but not registered, and register entries whose documents are found nowhere."""
    access.require(access.can_view_scans(request.user))
    marked = services.unregistered_marked(request.user).select_related("target", "last_run")
    marked_page = Paginator(marked.order_by("path", "id"), PAGE_SIZE).get_page(request.GET.get("page"))
    missing = services.registered_not_found(request.user).select_related("level", "owner_department")
    chain.record(Action.LIST, request=request, object_type="scan_finding",
                 details={"page": "review", "count": marked_page.paginator.count})
    return render(request, "scans/review.html", {
        "page": marked_page, "rows": rows_of(request.user, list(marked_page.object_list)), "query": "",
        "missing": list(missing.order_by("management_number")[:500])})


def locations_of(user: Any, secret: Secret) -> list[dict[str, Any]] | None:
    """The register entry page's "Found in scans": every present location of ``secret`` the user may see,
    with what the placement rules made of it (allowed, misplaced, overexposed). None: the user sees no scans."""
    if not access.can_view_scans(user):
        return None
    findings = access.visible_scan_findings(user, ScanFinding.objects.select_related("target", "last_run")) \
        .filter(secret=secret, present=True).order_by("path", "part", "id")
    places: dict[tuple[int, str], dict[str, Any]] = {}
    for f in findings[:1000]:
        place = places.setdefault((f.target_id, f.path), {
            "path": f.path, "target": f.target, "parts": [], "kinds": [], "findings": [], "last_run": f.last_run})
        if f.part and f.part not in place["parts"]:
            place["parts"].append(f.part)
        if f.kind not in place["kinds"]:
            place["kinds"].append(f.kind)
        place["findings"].append(f)
    for place in places.values():
        place["misplaced"] = Kind.MISPLACED in place["kinds"]
        place["overexposed"] = Kind.OVEREXPOSED in place["kinds"]
    return list(places.values())


# --- targets and runs ------------------------------------------------------------------------------------------------

def _target_or_404(request: HttpRequest, pk: int) -> ScanTarget:
    access.require(access.can_list_scan_targets(request.user))
    if pk > MAX_ID:
        raise Http404()
    target = access.visible_scan_targets(request.user).filter(pk=pk).select_related("department").first()
    if target is None:
        raise Http404(_("The scan target does not exist or you do not have access to it."))
    return target


def target_list(request: HttpRequest) -> HttpResponse:
    access.require(access.can_list_scan_targets(request.user))
    latest = ScanRun.objects.filter(target=OuterRef("pk")).order_by("-id").values("id")[:1]
    targets = list(access.visible_scan_targets(request.user).select_related("department")
                   .annotate(latest_run=Subquery(latest)).order_by("name", "id"))
    runs = ScanRun.objects.in_bulk([t.latest_run for t in targets if t.latest_run])
    open_counts = dict(access.visible_scan_findings(request.user).filter(
        target__in=[t.pk for t in targets], present=True, status=Status.NEW)
                       .order_by().values_list("target_id").annotate(n=Count("id")))
    user = request.user
    rows = [{"t": t, "run": runs.get(t.latest_run) if access.can_view_scan_runs(user, t) else None,
             "runs_visible": access.can_view_scan_runs(user, t), "can_run": access.can_run_scans(user, t),
             "new": open_counts.get(t.pk, 0)} for t in targets]
    return render(request, "scans/targets.html", {"rows": rows, "can_manage": access.can_manage_scan_targets(user)})


def _target_form(request: HttpRequest, target: ScanTarget | None) -> HttpResponse:
    form = TargetForm(posted(request), target=target)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            d = form.cleaned_data
            fields = {"name": d["name"], "url": d["url"], "options": form.options(), "department": d["department"],
                      "interval_hours": d["interval_hours"], "workers": d["workers"], "enabled": d["enabled"]}
            try:
                if target is None:
                    target = services.create_target(ctx(request), **fields)
                    done = _("The scan target %(name)s was created.")
                else:
                    target = services.update_target(ctx(request), target, **fields)
                    done = _("The scan target %(name)s was saved.")
            except HimitsuError as exc:
                form.add_error(None, message(exc))
            else:
                messages.success(request, done % {"name": target.name})
                return redirect("scans:target", pk=target.pk)
        status = 400
    return render(request, "scans/target_form.html", {"form": form, "target": target}, status=status)


@require_http_methods(["GET", "POST"])
def target_new(request: HttpRequest) -> HttpResponse:
    access.require(access.can_manage_scan_targets(request.user))
    return _target_form(request, None)


@require_http_methods(["GET", "POST"])
def target_edit(request: HttpRequest, pk: int) -> HttpResponse:
    target = _target_or_404(request, pk)
    access.require(access.can_manage_scan_targets(request.user))
    return _target_form(request, target)


@require_http_methods(["GET", "POST"])
def target_delete(request: HttpRequest, pk: int) -> HttpResponse:
    target = _target_or_404(request, pk)
    access.require(access.can_manage_scan_targets(request.user))
    if request.method == "POST":
        try:
            services.delete_target(ctx(request), target)
        except HimitsuError as exc:
            messages.error(request, message(exc))
            return redirect("scans:target", pk=target.pk)
        messages.success(request, _("The scan target %(name)s was deleted with its runs and findings.")
                         % {"name": target.name})
        return redirect("scans:targets")
    return render(request, "scans/target_delete.html", {
        "target": target, "findings": target.findings.count(), "runs": target.runs.count()})


def target_detail(request: HttpRequest, pk: int) -> HttpResponse:
    target = _target_or_404(request, pk)
    user = request.user
    runs_visible = access.can_view_scan_runs(user, target)
    runs = target.runs.select_related("actor").order_by("-id") if runs_visible else ScanRun.objects.none()
    page = Paginator(runs, PAGE_SIZE).get_page(request.GET.get("page"))
    findings = access.visible_scan_findings(user).filter(target=target, present=True)
    return render(request, "scans/target.html", {
        "target": target, "page": page, "query": "", "runs_visible": runs_visible,
        "active": runs.filter(status__in=ACTIVE).first() if runs_visible else None,
        "options": target.options if isinstance(target.options, dict) else {},
        "can_manage": access.can_manage_scan_targets(user), "can_run": access.can_run_scans(user, target),
        "new": findings.filter(status=Status.NEW).count(), "present": findings.count()})


@require_POST
def target_run(request: HttpRequest, pk: int) -> HttpResponse:
    target = _target_or_404(request, pk)
    access.require(access.can_run_scans(request.user, target))
    try:
        run = services.queue_run(ctx(request), target)
    except HimitsuError as exc:
        messages.error(request, message(exc))
        return redirect("scans:target", pk=target.pk)
    messages.success(request, _("The scan was queued: the background worker (himitsu scans worker) starts it."))
    return redirect("scans:run", pk=run.pk)


def _run_or_404(request: HttpRequest, pk: int) -> ScanRun:
    access.require(access.can_list_scan_targets(request.user))
    if pk > MAX_ID:
        raise Http404()
    run = ScanRun.objects.filter(pk=pk, target__in=access.visible_scan_targets(request.user)) \
        .select_related("target", "actor").first()
    if run is None or not access.can_view_scan_runs(request.user, run.target):
        raise Http404(_("The scan run does not exist or you do not have access to it."))
    return run


def progress(run: ScanRun) -> dict[str, Any]:
    """The counters of a run and how far it is (percent of files, else of bytes; None while unknown)."""
    percent: float | None = None
    if run.status == RunStatus.FINISHED:
        percent = 100.0
    elif run.files_total:
        percent = min(100.0, 100.0 * run.files_done / run.files_total)
    elif run.bytes_total:
        percent = min(100.0, 100.0 * run.bytes_read / run.bytes_total)
    rate = run.bytes_read / run.seconds if run.seconds > 0 else 0.0
    return {"id": run.pk, "status": run.status, "status_label": str(RunStatus(run.status).label)
            if run.status in RunStatus.values else run.status, "active": run.status in ACTIVE,
            "files_seen": run.files_seen, "files_total": run.files_total, "files_done": run.files_done,
            "files_read": run.files_read, "bytes_read": run.bytes_read, "bytes_total": run.bytes_total,
            "unchanged": run.unchanged, "resumed": run.resumed, "errors": run.errors, "vanished": run.vanished,
            "findings_new": run.findings_new, "seconds": round(run.seconds, 1),
            "percent": None if percent is None else round(percent, 1), "bytes_per_second": round(rate)}


def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run_or_404(request, pk)
    errors = list(run.error_rows.all()[:MAX_ERRORS_SHOWN])
    total_errors = run.error_rows.count()
    return render(request, "scans/run.html", {
        "run": run, "target": run.target, "p": progress(run),
        "run_error": message(HimitsuError(run.error_code, **(run.error_params if isinstance(run.error_params, dict)
                                                              else {}))) if run.error_code else "",
        "errors": [{"e": e, "message": error_message(e.code, e.detail)} for e in errors],
        "more_errors": max(0, total_errors - len(errors))})


@require_GET
def run_progress(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(progress(_run_or_404(request, pk)))

