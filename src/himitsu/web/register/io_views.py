"""Import and export pages of the register (the work is done by himitsu.web.register.io)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from himitsu.errors import InputError
from himitsu.web.accounts import access
from himitsu.web.core.errors import message
from himitsu.web.register import io
from himitsu.web.register.views import ctx, filtered

CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


@require_http_methods(["GET", "POST"])
def register_import(request: HttpRequest) -> HttpResponse:
    access.require(access.can_import(request.user))
    context: dict[str, object] = {"columns": io.COLUMNS, "max_bytes": io.max_bytes(), "max_rows": io.max_rows()}
    status = 200
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            context["file_error"] = _("Choose a .xlsx or .csv file.")
            status = 400
        elif upload.size is not None and upload.size > io.max_bytes():
            context["file_error"] = message(InputError("io.too_large", size=upload.size, limit=io.max_bytes()))
            status = 400
        else:
            try:
                result = io.import_register(ctx(request), upload.name or "", upload.read())
            except InputError as exc:
                context["file_error"] = message(exc)
                status = 400
            else:
                if result.ok:
                    messages.success(request, _("Imported: %(c)d created, %(u)d updated, %(s)d unchanged.")
                                     % {"c": result.created, "u": result.updated, "s": result.unchanged})
                    return redirect("secret-list")
                context["result"] = result
                status = 400
    return render(request, "register/import.html", context, status=status)


def register_export(request: HttpRequest) -> HttpResponse:
    access.require(access.can_export(request.user))
    fmt = request.GET.get("format", "xlsx")
    if fmt not in CONTENT_TYPES:
        fmt = "xlsx"
    queryset, _filters = filtered(request)
    data = io.export_register(ctx(request), fmt, queryset)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = HttpResponse(data, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f"attachment; filename=\"himitsu-register-{stamp}.{fmt}\""
    return response
