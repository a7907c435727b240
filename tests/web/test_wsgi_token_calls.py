"""Calls of the check API with a bearer token go to a Django handler with only the middleware they need
(``himitsu.web.wsgi.TokenCalls``, ``api_handler``); everything else, a logged-in session's call of the same API
included, to the full one. The check API's own tests (test_api_guard.py) run through the same routing."""

from __future__ import annotations

import io
import json
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from django.test import Client

from himitsu.web.guard import services
from himitsu.web.register.services import Context
from himitsu.web.wsgi import API_MIDDLEWARE, TokenCalls, api_handler
from tests.guard_env import EXCERPT, HARMLESS, PERSONAL, ServedClient, guarded_fixture  # noqa: F401

URL = "/api/v1/check"


def _named(name: str) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [name.encode()]
    return app


def _route(method: str, path: str, **headers: str) -> str:
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path, "wsgi.input": io.BytesIO(b"")} | headers
    setup_testing_defaults(environ)
    return b"".join(TokenCalls(_named("full"), _named("api"))(environ, lambda *a: None)).decode()


@pytest.mark.parametrize("method, path, headers, expected", [
    ("POST", URL, {"HTTP_AUTHORIZATION": "Bearer hmt_x_y"}, "api"),
    ("POST", URL, {"HTTP_AUTHORIZATION": "bearer hmt_x_y"}, "api"),
    ("POST", URL, {"HTTP_AUTHORIZATION": "BEARER garbage"}, "api"),  # refused there, 401 guard.token_invalid
    ("POST", URL, {}, "full"),  # a logged-in session
    ("POST", URL, {"HTTP_AUTHORIZATION": "Basic YTpi"}, "full"),
    ("POST", URL, {"HTTP_AUTHORIZATION": "Bearer"}, "full"),
    ("POST", URL + "/", {"HTTP_AUTHORIZATION": "Bearer hmt_x_y"}, "full"),
    ("GET", URL, {"HTTP_AUTHORIZATION": "Bearer hmt_x_y"}, "full"),
    ("POST", "/api/v1/secrets", {"HTTP_AUTHORIZATION": "Bearer hmt_x_y"}, "full"),
    ("POST", "/v1/chat/completions", {"HTTP_AUTHORIZATION": "Bearer hmt_x_y"}, "full"),
])
def test_only_bearer_calls_of_the_check_api_take_the_short_way(method, path, headers, expected):
    assert _route(method, path, **headers) == expected


class Marker:
    """A middleware outside API_MIDDLEWARE: it marks every answer that went through it."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        response = self.get_response(request)
        response["X-Full-Stack"] = "yes"
        return response


def test_the_short_way_has_only_the_apis_middleware(guarded, settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.Marker"]
    _row, token = services.create_token(Context(actor=guarded.users["manager"]), "DLP", ["check"])
    client = ServedClient()
    bearer = client.post(URL, {"text": HARMLESS}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert bearer.status_code == 200 and "X-Full-Stack" not in bearer
    client.force_login(guarded.users["devlead"])
    session = client.post(URL, {"text": HARMLESS}, content_type="application/json")
    assert session.status_code == 200 and session["X-Full-Stack"] == "yes"
    assert client.get("/healthz")["X-Full-Stack"] == "yes"


def test_a_handler_for_middleware_the_settings_lack_is_refused(settings):
    settings.MIDDLEWARE = [name for name in settings.MIDDLEWARE if name != API_MIDDLEWARE[-1]]
    with pytest.raises(ValueError, match="XFrameOptionsMiddleware"):
        api_handler()


def _answer(response: Any) -> tuple[int, dict[str, str], Any]:
    headers = {k: v for k, v in response.items() if k != "Content-Length"}  # (the record's id has its own digits)
    body = response.json()
    body.pop("record", None)
    return response.status_code, headers, body


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_short_way_answers_as_the_full_stack_does(guarded, lang):
    _row, token = services.create_token(Context(actor=guarded.users["manager"]), "DLP", ["check"])
    served, full = ServedClient(), Client()
    calls: list[dict[str, Any]] = [
        {"data": {"text": HARMLESS}}, {"data": {"text": EXCERPT, "channel": "ai"}}, {"data": {"text": PERSONAL}},
        {"data": b"{not json"}, {"data": {"text": "x"}, "content_type": "text/plain"},
        {"data": {"text": "x"}, "token": "hmt_abcd_wrong"},
        {"data": {"text": "x"}, "CONTENT_LENGTH": str(10**9)},  # refused by its declared length, nothing read
    ]
    for call in calls:
        call = dict(call)
        headers = {"HTTP_AUTHORIZATION": f"Bearer {call.pop('token', token)}", "HTTP_ACCEPT_LANGUAGE": lang}
        data, content_type = call.pop("data"), call.pop("content_type", "application/json")
        if not isinstance(data, bytes):
            data = json.dumps(data, ensure_ascii=False).encode()
        ours = served.post(URL, data, content_type=content_type, **headers, **call)
        theirs = full.post(URL, data, content_type=content_type, **headers, **call)
        assert _answer(ours) == _answer(theirs), call
        assert ours["Content-Length"] == str(len(ours.content))
