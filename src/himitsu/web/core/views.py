"""Error pages (translated, no traceback) and the health check."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


def healthz(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def _error(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"code": f"http.{status}", "message": message}, status=status)
    return render(request, "core/error.html", {"title": title, "message": message, "status": status}, status=status)


def bad_request(request: HttpRequest, exception: Any = None) -> HttpResponse:
    return _error(request, 400, _("Bad request"), _("The request could not be understood."))


def permission_denied(request: HttpRequest, exception: Any = None) -> HttpResponse:
    return _error(request, 403, _("Access denied"), _("You do not have permission for this action."))


def page_not_found(request: HttpRequest, exception: Any = None) -> HttpResponse:
    message = str(exception.args[0]) if exception is not None and exception.args and isinstance(
        exception.args[0], str) and not exception.args[0].startswith(("No ", "Resolver404")) else ""
    return _error(request, 404, _("Not found"),
                  message or _("The page does not exist or you do not have access to it."))


def server_error(request: HttpRequest) -> HttpResponse:
    return _error(request, 500, _("Server error"), _("Something went wrong. The error was logged."))


def clean_filter(value: str, max_length: int = 100) -> str:
    """A filter or search value as every list takes it: no NUL (PostgreSQL refuses it in a query), trimmed,
    at most ``max_length`` characters."""
    return value.replace("\x00", "").strip()[:max_length]


def query_filters(request: HttpRequest, keys: tuple[str, ...], max_length: int = 100) -> dict[str, str]:
    """The list filters ``keys`` of a GET request, each through :func:`clean_filter` ('' when absent)."""
    return {k: clean_filter(request.GET.get(k, ""), max_length) for k in keys}


def posted(request: HttpRequest) -> Any:
    """The form data of a POST (even an empty one, so that it is validated), None for a GET."""
    return request.POST if request.method == "POST" else None
