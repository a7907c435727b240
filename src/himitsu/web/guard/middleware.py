"""Bearer tokens of the check API, before the login-required middleware turns the request away.

A request to ``/api/v1/check`` with ``Authorization: Bearer hmt_…`` is authenticated here: a live token with
scope ``check`` makes ``request.user`` a :class:`TokenPrincipal` (no role: it can do nothing but call the
check API) and ``request.guard_token`` the token; any other token is answered 401 ``guard.token_invalid``.
A body larger than HIMITSU_GUARD_MAX_BYTES (by its Content-Length) is answered 413 before anything is read.
Requests without a bearer token go on as before (a logged-in web session may call the API too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import JsonResponse

CHECK_PATH = "/api/v1/check"


@dataclass(frozen=True)
class TokenPrincipal:
    """``request.user`` of a call made with an API token. Without a role, every access rule refuses it; the
    audit trail names it ``token:<name>``."""

    token_id: int
    name: str
    pk: None = None
    role: None = None
    department_id: None = None
    is_authenticated: bool = True
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False

    def get_username(self) -> str:
        return f"token:{self.name}"[:150]

    def __str__(self) -> str:
        return self.get_username()


def guard_error(status: int, code: str, headers: dict[str, str] | None = None, **params: Any) -> JsonResponse:
    """A JSON error of the guard's API in the active language: ``{"code", "message"}``."""
    from himitsu.errors import HimitsuError
    from himitsu.web.core.errors import message

    response = JsonResponse({"code": code, "message": message(HimitsuError(code, **params))}, status=status,
                            json_dumps_params={"ensure_ascii": False})
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def bearer(request: Any) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


class TokenMiddleware:
    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        if request.path_info.rstrip("/") != CHECK_PATH:
            return self.get_response(request)
        from django.conf import settings
        from django.utils import translation

        from himitsu.web.api_guard import request_language

        with translation.override(request_language(request)):
            limit = settings.HIMITSU_GUARD_MAX_BYTES
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > limit:
                return guard_error(413, "guard.too_large", limit=limit)
            plaintext = bearer(request)
            if plaintext is not None:
                from himitsu.web.guard import services

                token = services.verify_token(plaintext, "check")
                if token is None:
                    return guard_error(401, "guard.token_invalid", headers={"WWW-Authenticate": "Bearer"})
                request.user = TokenPrincipal(token_id=token.pk, name=token.name)
                request.guard_token = token
                request._dont_enforce_csrf_checks = True  # no cookie, no session: nothing to forge
        return self.get_response(request)
