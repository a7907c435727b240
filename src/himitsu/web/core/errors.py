"""Turn Himitsu's typed errors into translated responses at the web edge."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext

from himitsu.errors import HimitsuError, PermissionDeniedError


def message(error: HimitsuError) -> str:
    """The error's text in the active language."""
    return error.render(gettext(error.template))


class TypedErrorMiddleware:
    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        return self.get_response(request)

    def process_exception(self, request: Any, exception: Exception) -> Any:
        if isinstance(exception, PermissionDeniedError):
            from himitsu.web.audit import chain
            from himitsu.web.audit.models import Action
            from himitsu.web.core.views import permission_denied

            chain.record(Action.DENIED, request=request, details={"path": request.path[:200]})
            return permission_denied(request, PermissionDenied(message(exception)))
        return None
