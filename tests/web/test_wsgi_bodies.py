"""`himitsu.web.wsgi.RequestBodies`: the server-wide request-body limit, and chunked bodies handed to Django with
their length (Django reads only Content-Length bytes). In process, in front of a WSGI app that reports what it
read; through the real server and the web app in tests/cli/test_serve_processes.py."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from himitsu.web.wsgi import SPOOL_BYTES, RequestBodies


def _echo(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Answers with the length Django would see and the body it would read."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"length": length, "sha": hashlib.sha256(body).hexdigest()}).encode()]


def _call(app: Any, body: bytes, headers: dict[str, str]) -> tuple[str, dict[str, str], bytes]:
    environ: dict[str, Any] = {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/check", "wsgi.input": io.BytesIO(body)}
    environ |= headers
    setup_testing_defaults(environ)
    seen: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(response_headers)

    answer = app(environ, start_response)
    try:
        data = b"".join(answer)
    finally:
        close = getattr(answer, "close", None)
        if close is not None:
            close()
    return seen["status"], seen["headers"], data


@pytest.mark.parametrize("size", [0, 1, 5000, SPOOL_BYTES + 12345])
def test_a_chunked_body_reaches_the_app_whole_with_its_length(size):
    body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    status, _headers, data = _call(RequestBodies(_echo, limit=10 * SPOOL_BYTES), body,
                                   {"HTTP_TRANSFER_ENCODING": "chunked"})
    assert status == "200 OK"
    assert json.loads(data) == {"length": size, "sha": hashlib.sha256(body).hexdigest()}


def test_a_body_with_its_length_is_passed_on_untouched():
    body = b'{"text": "x"}'
    stream = io.BytesIO(body)
    seen = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen["input"] = environ["wsgi.input"]
        start_response("204 No Content", [])
        return []

    environ = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(body)), "wsgi.input": stream}
    setup_testing_defaults(environ)
    list(RequestBodies(app, limit=100)(environ, lambda *a: None))
    assert seen["input"] is stream


@pytest.mark.parametrize("headers", [{"CONTENT_LENGTH": "101"}, {"HTTP_TRANSFER_ENCODING": "chunked"}])
def test_a_body_over_the_limit_is_refused_before_the_app(headers):
    called = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        called.append(True)
        start_response("200 OK", [])
        return []

    status, response_headers, data = _call(RequestBodies(app, limit=100), b"y" * 101, headers)
    assert status.startswith("413")
    assert not called
    answer = json.loads(data)
    assert answer["code"] == "request.too_large"
    assert answer["message"] == "リクエストが上限の 100 バイトを超えています。"
    assert response_headers["Content-Type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize(("headers", "expected"), [
    ({"HTTP_COOKIE": "django_language=en"}, "The request is larger than the limit of 100 bytes."),
    ({"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.8"}, "The request is larger than the limit of 100 bytes."),
    ({"HTTP_COOKIE": "django_language=fr; x=\"unterminated"}, "リクエストが上限の 100 バイトを超えています。"),
])
def test_the_refusal_speaks_the_language_asked_for(headers, expected):
    status, _headers, data = _call(RequestBodies(_echo, limit=100), b"z" * 500, {"CONTENT_LENGTH": "500"} | headers)
    assert status.startswith("413")
    assert json.loads(data)["message"] == expected

