"""Login required everywhere except the login page, language switch and static files."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from django.utils.translation import gettext as _

PUBLIC_PREFIXES = ("/login/", "/i18n/", "/static/", "/favicon.ico", "/healthz")


class LoginRequiredMiddleware:
    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        path = request.path
        if request.user.is_authenticated or path.startswith(PUBLIC_PREFIXES):
            return self.get_response(request)
        if path.startswith("/api/"):
            return JsonResponse({"code": "auth.required", "message": _("Log in first.")}, status=401,
                                json_dumps_params={"ensure_ascii": False})
        return redirect_to_login(request.get_full_path())


class LanguageMiddleware:
    """Japanese unless the user chose English with the language switch (cookie), whatever the browser says."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        from django.conf import settings
        from django.utils import translation
        from django.utils.cache import patch_vary_headers

        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        language = chosen if chosen in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        patch_vary_headers(response, ["Cookie"])
        return response


class FreshAssessmentsMiddleware:
    """Once a day per process, reassess entries whose score the calendar made stale (review dates)."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        self.checked_on: Any = None

    def __call__(self, request: Any) -> Any:
        from django.utils import timezone

        today = timezone.localdate()
        if self.checked_on != today and getattr(request, "user", None) is not None \
                and request.user.is_authenticated:
            from himitsu.web.register.services import refresh_stale

            refresh_stale()
            self.checked_on = today
        return self.get_response(request)
