"""Register pages: dashboard, list, detail, create, edit, delete, evidence, history, levels."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from himitsu.catalog import checklist as cl
from himitsu.catalog import text
from himitsu.errors import InputError
from himitsu.web.accounts import access
from himitsu.web.accounts.models import Department
from himitsu.web.audit import chain
from himitsu.web.audit.models import Action
from himitsu.web.core.errors import message
from himitsu.web.core.views import posted, query_filters
from himitsu.web.register import services
from himitsu.web.register.forms import EvidenceForm, LevelForm, SecretForm
from himitsu.web.register.labels import reason_text
from himitsu.web.register.models import (
    Category,
    ClassificationLevel,
    SecrecyStatus,
    Secret,
)
from himitsu.web.scans.views import locations_of as scan_places

PAGE_SIZE = 50
SORTS = {"number": "management_number", "-number": "-management_number", "title": "title",
         "score": "secrecy_score", "-score": "-secrecy_score", "review": "review_date", "level": "level__rank"}


def ctx(request: HttpRequest) -> services.Context:
    return services.Context(actor=request.user, channel="web", request=request)


def visible_or_404(request: HttpRequest, pk: int) -> Secret:
    """The one way a page gets an entry: invisible and missing look the same (404), and are audited."""
    secret = services.visible_entry(ctx(request), pk)
    if secret is None:
        raise Http404(_("The register entry does not exist or you do not have access to it."))
    return secret


def filtered(request: HttpRequest) -> tuple[QuerySet, dict[str, str]]:
    """The visible entries narrowed by the list filters (also used by the export)."""
    qs = access.visible_secrets(request.user).select_related("level", "owner_department", "responsible")
    # NUL is dropped: PostgreSQL refuses it in queries and in the audit record of the search
    f = query_filters(request, ("q", "level", "category", "status", "department", "sort"))
    if f["q"]:
        qs = qs.filter(Q(title__icontains=f["q"]) | Q(management_number__icontains=f["q"])
                       | Q(summary__icontains=f["q"]))
    if f["level"]:
        qs = qs.filter(level__code=f["level"])
    if f["category"]:
        qs = qs.filter(category=f["category"])
    if f["status"]:
        qs = qs.filter(secrecy_status=f["status"])
    if f["department"]:
        qs = qs.filter(owner_department__code=f["department"])
    return qs.order_by(SORTS.get(f["sort"], "management_number"), "pk"), f


def dashboard(request: HttpRequest) -> HttpResponse:
    visible = access.visible_secrets(request.user)
    by_status = {row["secrecy_status"]: row["n"] for row in visible.values("secrecy_status").annotate(n=Count("pk"))}
    by_level = {row["level__code"]: row["n"] for row in visible.values("level__code").annotate(n=Count("pk"))}
    total = sum(by_status.values())
    today = timezone.localdate()
    status_rows = [(s, by_status.get(s.value, 0), _pct(by_status.get(s.value, 0), total)) for s in SecrecyStatus]
    level_rows = [(lv, by_level.get(lv.code, 0), _pct(by_level.get(lv.code, 0), total))
                  for lv in ClassificationLevel.objects.all()]
    return render(request, "register/dashboard.html", {
        "total": total,
        "status_rows": status_rows,
        "level_rows": level_rows,
        "overdue": visible.filter(review_date__lt=today).select_related("level").order_by("review_date")[:10],
        "weakest": visible.exclude(secrecy_status=SecrecyStatus.QUALIFIES).select_related("level")
                          .order_by("secrecy_score")[:10],
    })


def _pct(n: int, total: int) -> int:
    return round(100 * n / total) if total else 0


def secret_list(request: HttpRequest) -> HttpResponse:
    qs, f = filtered(request)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    chain.record(Action.LIST, request=request, object_type="secret",
                 details={k: v for k, v in f.items() if v} | {"count": page.paginator.count})
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "register/list.html", {
        "page": page, "f": f, "query": query.urlencode(),
        "levels": ClassificationLevel.objects.all(), "categories": Category.choices,
        "statuses": SecrecyStatus.choices, "departments": Department.objects.all(),
    })


def secret_detail(request: HttpRequest, pk: int) -> HttpResponse:
    secret = visible_or_404(request, pk)
    services.record_view(ctx(request), secret)
    result = services.assessment(secret)
    lang = get_language()
    items = []
    for r in result.items:
        d = cl.item_definition(r.key)
        items.append({
            "result": r, "title": text(d["title"], lang), "question": text(d["question"], lang),
            "action": text(d["action"], lang), "reason": reason_text(r.reason, r.params, lang),
        })
    return render(request, "register/detail.html", {
        "secret": secret, "assessment": result, "items": items,
        "gaps": [i for i in items if i["result"].answer != cl.YES],
        "locations": secret.locations.all(),
        "allowed_users": secret.allowed_users.all(), "allowed_groups": secret.allowed_groups.all(),
        "can_edit": access.can_edit(request.user, secret),
        "evidence_notes": dict(secret.evidence.values_list("item", "note")),
        "documents": secret.documents.all(),
        "scan_places": scan_places(request.user, secret),
        "handling_rules": secret.level.handling_rules_en if lang and lang.startswith("en")
        and secret.level.handling_rules_en else secret.level.handling_rules,
    })


@require_http_methods(["GET", "POST"])
def secret_create(request: HttpRequest) -> HttpResponse:
    access.require(access.can_create(request.user))
    initial: dict[str, Any] = {}
    if getattr(request.user, "department_id", None):
        initial["owner_department"] = request.user.department_id
    form = SecretForm(posted(request), actor=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        secret = services.save(ctx(request), form)
        messages.success(request, _("Register entry %(number)s was created.") % {"number": secret.management_number})
        return redirect("secret-detail", pk=secret.pk)
    return render(request, "register/form.html", {"form": form, "creating": True}, status=_status(form))


def _status(form: Any) -> int:
    return 400 if form.is_bound and form.errors else 200


@require_http_methods(["GET", "POST"])
def secret_edit(request: HttpRequest, pk: int) -> HttpResponse:
    secret = visible_or_404(request, pk)
    access.require(access.can_edit(request.user, secret))
    form = SecretForm(posted(request), instance=secret, actor=request.user)
    if request.method == "POST" and form.is_valid():
        secret = services.save(ctx(request), form)
        messages.success(request, _("Register entry %(number)s was updated.") % {"number": secret.management_number})
        return redirect("secret-detail", pk=secret.pk)
    return render(request, "register/form.html", {"form": form, "secret": secret}, status=_status(form))


@require_http_methods(["GET", "POST"])
def secret_delete(request: HttpRequest, pk: int) -> HttpResponse:
    secret = visible_or_404(request, pk)
    access.require(access.can_delete(request.user, secret))
    if request.method == "POST":
        number = secret.management_number
        try:
            services.delete(ctx(request), secret)
        except InputError as exc:
            messages.error(request, message(exc))
            return redirect("secret-detail", pk=secret.pk)
        messages.success(request, _("Register entry %(number)s was deleted.") % {"number": number})
        return redirect("secret-list")
    return render(request, "register/delete.html", {"secret": secret})


@require_http_methods(["GET", "POST"])
def secret_evidence(request: HttpRequest, pk: int) -> HttpResponse:
    secret = visible_or_404(request, pk)
    access.require(access.can_edit(request.user, secret))
    current = {e.item: e for e in secret.evidence.all()}
    initial = {}
    for item in cl.manual_items():
        e = current.get(item["key"])
        initial[f"{item['key']}__answer"] = e.answer if e else "unknown"
        initial[f"{item['key']}__note"] = e.note if e else ""
    form = EvidenceForm(posted(request), items=cl.manual_items(), language=get_language(), initial=initial)
    if request.method == "POST" and form.is_valid():
        services.set_evidence(ctx(request), secret, form.answers())
        messages.success(request, _("The evidence was saved."))
        return redirect("secret-detail", pk=secret.pk)
    counted = [reason_text(i.reason, i.params, get_language()) or _counted_all(i)
               for i in services.assessment(secret).items if i.params]
    return render(request, "register/evidence.html", {"form": form, "secret": secret, "counted": counted},
                  status=_status(form))


def _counted_all(item: cl.ItemResult) -> str:
    """The text of a counted item without a gap (every person with access has a pledge)."""
    n = dict(item.params).get("total", 0)
    if (get_language() or "ja").startswith("en"):
        return f"All {n} people with access have a current pledge naming this entry (or its category)."
    return f"アクセスできる {n} 人全員が、この情報（またはその分類）を特定した有効な誓約書に同意しています。"


def secret_history(request: HttpRequest, pk: int) -> HttpResponse:
    secret = visible_or_404(request, pk)
    chain.record(Action.VIEW, request=request, object_type="secret_history", object_id=secret.pk,
                 object_repr=secret.management_number)
    revisions = secret.revisions.order_by("-number")
    return render(request, "register/history.html", {"secret": secret, "revisions": revisions})


def level_list(request: HttpRequest) -> HttpResponse:
    return render(request, "register/levels.html", {"levels": ClassificationLevel.objects.all()})


@require_http_methods(["GET", "POST"])
def level_edit(request: HttpRequest, pk: int) -> HttpResponse:
    access.require(access.can_manage_levels(request.user))
    level = get_object_or_404(ClassificationLevel, pk=pk)
    form = LevelForm(posted(request), instance=level)
    if request.method == "POST" and form.is_valid():
        before = {f: getattr(level, f) for f in form.changed_data}
        form.save()
        chain.record(Action.UPDATE, request=request, object_type="level", object_id=level.pk,
                     object_repr=level.code, details={"fields": sorted(before)})
        messages.success(request, _("The handling rules were saved."))
        return redirect("level-list")
    return render(request, "register/level_form.html", {"form": form, "level": level}, status=_status(form))


@require_http_methods(["POST"])
def document_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Register an uploaded file as a document of the entry: only its fingerprints are kept."""
    from himitsu.engine.model import Limits
    from himitsu.web.register import documents

    secret = visible_or_404(request, pk)
    access.require(access.can_edit(request.user, secret))
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, _("Choose a file."))
    elif upload.size is not None and upload.size > Limits().max_bytes:
        messages.error(request, message(InputError("io.too_large", size=upload.size, limit=Limits().max_bytes)))
    else:
        try:
            added = documents.add_document(ctx(request), secret, upload.name or "upload", upload.read())
        except InputError as exc:
            messages.error(request, message(exc))
        else:
            messages.success(request, _("%(file)s was registered: %(n)d fingerprints, no text kept.")
                             % {"file": added.document.filename, "n": added.document.fingerprints})
    return redirect("secret-detail", pk=secret.pk)


@require_http_methods(["POST"])
def document_remove(request: HttpRequest, pk: int, doc_id: int) -> HttpResponse:
    from himitsu.web.register import documents

    secret = visible_or_404(request, pk)
    access.require(access.can_edit(request.user, secret))
    if not secret.documents.filter(pk=doc_id).exists():
        raise Http404
    try:
        doc = documents.remove_document(ctx(request), doc_id)
    except InputError as exc:
        messages.error(request, message(exc))
    else:
        messages.success(request, _("%(file)s was removed.") % {"file": doc.filename})
    return redirect("secret-detail", pk=secret.pk)
