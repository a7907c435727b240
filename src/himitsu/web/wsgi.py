"""WSGI entry point (granian via `himitsu serve`, or any WSGI server).

The application is Django's behind :class:`RequestBodies`, which gives every server the same two guarantees
about request bodies before Django sees them: none larger than HIMITSU_MAX_REQUEST_BYTES, and a body sent in
chunks (``Transfer-Encoding: chunked``, no ``Content-Length``) read as a body of known length — Django reads only
``Content-Length`` bytes and would see it as empty. Calls of the check API made with a bearer token go to a
Django handler with only the middleware they need (:class:`TokenCalls`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from typing import Any

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "himitsu.web.settings")

#: bodies up to this size are kept in memory while they are read in chunks, larger ones in a temporary file
SPOOL_BYTES = 1024 * 1024
READ_BYTES = 64 * 1024


class RequestBodies:
    """``app`` behind the request-body limit: a body larger than ``limit`` bytes (by its Content-Length, or by
    what its chunks add up to) is answered 413 ``request.too_large`` without the app; a chunked body is read
    (kept in a spooled temporary file) and handed on with its Content-Length."""

    def __init__(self, app: Callable[..., Iterable[bytes]], limit: int) -> None:
        self.app, self.limit = app, limit

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = environ.get("CONTENT_LENGTH") or ""
        if length:
            if length.isdigit() and int(length) > self.limit:
                return self._too_large(environ, start_response)
            return self.app(environ, start_response)
        if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return self.app(environ, start_response)
        body = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - closed with the request
        source, size = environ["wsgi.input"], 0
        while piece := source.read(READ_BYTES):
            size += len(piece)
            if size > self.limit:
                body.close()
                return self._too_large(environ, start_response)
            body.write(piece)
        body.seek(0)
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = body, str(size)
        return _Closing(self.app(environ, start_response), body)

    def _too_large(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        from django.utils import translation

        from himitsu.errors import HimitsuError
        from himitsu.web.core.errors import message

        with translation.override(_language(environ)):
            text = message(HimitsuError("request.too_large", limit=self.limit))
        data = json.dumps({"code": "request.too_large", "message": text}, ensure_ascii=False).encode()
        start_response("413 Request Entity Too Large", [("Content-Type", "application/json; charset=utf-8"),
                                                        ("Content-Length", str(len(data))), ("Connection", "close")])
        return [data]


class _Closing:
    """The app's answer, closing the spooled body after the answer (and the app's own ``close``)."""

    def __init__(self, answer: Iterable[bytes], body: Any) -> None:
        self.answer, self.body = answer, body

    def __iter__(self) -> Any:
        return iter(self.answer)

    def close(self) -> None:
        try:
            close = getattr(self.answer, "close", None)
            if close is not None:
                close()
        finally:
            self.body.close()


def _language(environ: dict[str, Any]) -> str:
    """The language cookie's language, else the first of ja/en in Accept-Language, else Japanese."""
    from django.conf import settings
    from django.http import parse_cookie

    from himitsu.web.api_guard import header_language

    chosen = parse_cookie(environ.get("HTTP_COOKIE", "")).get(settings.LANGUAGE_COOKIE_NAME, "")
    if chosen in dict(settings.LANGUAGES):
        return chosen
    return header_language(environ.get("HTTP_ACCEPT_LANGUAGE", ""))


#: the middleware of a check-API call made with a bearer token (in settings.MIDDLEWARE's order): such a call has
#: no session, no cookie to forge, no page, message or static file, and is no person's visit to the web app
API_MIDDLEWARE = (
    "django.middleware.security.SecurityMiddleware",
    "himitsu.web.core.middleware.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "himitsu.web.guard.middleware.TokenMiddleware",
    "himitsu.web.core.errors.TypedErrorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
)


def api_handler(make: Callable[[], Any] | None = None) -> Any:
    """A Django handler (``make()``: a WSGIHandler when not given; the tests' client makes its own kind) with only
    those of settings.MIDDLEWARE that :data:`API_MIDDLEWARE` names, in the settings' order (Django builds a
    handler's middleware chain from the settings once: here, while they name only those)."""
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler

    missing = [name for name in API_MIDDLEWARE if name not in settings.MIDDLEWARE]
    if missing:
        raise ValueError(f"API_MIDDLEWARE names middleware that settings.MIDDLEWARE does not: {missing}")
    everything = settings.MIDDLEWARE
    settings.MIDDLEWARE = [name for name in everything if name in API_MIDDLEWARE]
    try:
        handler = (make or WSGIHandler)()
        if handler._middleware_chain is None:  # (the tests' handler builds its chain on its first request)
            handler.load_middleware()
        return handler
    finally:
        settings.MIDDLEWARE = everything


class TokenCalls:
    """``app`` (Django's handler), except for ``POST /api/v1/check`` with ``Authorization: Bearer …``: ``api``
    (:func:`api_handler`). Sessions, CSRF, login by session, the login redirect, messages and static files do
    nothing for such a call but cost 5–9 % of its CPU. Its token is verified by the same middleware either way (a
    call whose token fails is answered 401 ``guard.token_invalid``); a call without a bearer token (a logged-in
    web session) goes through ``app``."""

    def __init__(self, app: Callable[..., Iterable[bytes]], api: Callable[..., Iterable[bytes]]) -> None:
        self.app, self.api = app, api

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return (self.api if token_call(environ) else self.app)(environ, start_response)


def token_call(environ: dict[str, Any]) -> bool:
    """Whether the request is a call of the check API with a bearer token."""
    from himitsu.web.guard.middleware import CHECK_PATH

    return (environ.get("PATH_INFO") == CHECK_PATH and environ.get("REQUEST_METHOD") == "POST"
            and environ.get("HTTP_AUTHORIZATION", "")[:7].lower() == "bearer ")


def _application() -> RequestBodies:
    from django.conf import settings

    return RequestBodies(TokenCalls(get_wsgi_application(), api_handler()), settings.HIMITSU_MAX_REQUEST_BYTES)


application = _application()
