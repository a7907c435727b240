"""The outbound guard's check API: ``POST /api/v1/check`` (issue 6).

Mounted by ``himitsu.web.api``. Authentication: ``Authorization: Bearer hmt_…`` with a live token of scope
``check`` (see ``himitsu.web.guard.middleware``), or a logged-in web session (with its CSRF token).

Request, either

* ``application/json`` (UTF-8): ``{"text": "…"}`` or ``{"content_base64": "…", "filename": "見積.docx"}``, with
  optional ``channel`` (ai, mail, upload, api; default api), ``user``, ``department`` and ``destinations``
  (a list of addresses or domains); or
* ``multipart/form-data``: a ``file`` upload or a ``text`` field, and the same optional fields
  (``destinations`` repeated or comma-separated).

Who the sender is: the person a token is bound to (``user`` and ``department`` of the body are then ignored),
the logged-in person, or, for a token bound to nobody, the ``user`` and ``department`` the integration names.
Titles of register entries appear in the findings only where the token's bound person (or the logged-in person)
may see the entry; an integration acting for nobody never sees a title.

Response 200: ``action`` (allow, warn, redact, hold, block), ``reasons`` (the non-allow reasons, most severe
first, ``message`` in the language of ``Accept-Language`` — ja or en, Japanese when neither — and
``message_en``), ``findings``, ``problems``, ``redacted_text`` (text input whose decision is redact), ``record``
(the id of the decision record: every call is recorded, never its content) and ``policy_version``. The API only
decides: ``hold`` tells the caller the content would be held for review, nothing is kept (the mail relay holds).
A multipart ``text`` field is decoded by Django (undecodable bytes become U+FFFD); send text that may not be
UTF-8 as a ``file`` instead, whose format the engine detects.

Declared limits, each with a stable code and a translated message (never a 500 for bad input):

* body larger than HIMITSU_GUARD_MAX_BYTES (default 10 MiB): 413 ``guard.too_large``;
* more than HIMITSU_GUARD_RATE requests per second (default 20, bursts up to HIMITSU_GUARD_BURST, default 40)
  per token, or per person for web sessions: 429 ``guard.rate_limited`` with ``Retry-After``. The limiter is
  a token bucket kept in the memory of each server process: with several processes each allows the rate;
* another content type: 415 ``guard.content_type``; a body that is not UTF-8: 400 ``guard.encoding``; not a
  JSON object: 400 ``guard.json_invalid``; a field of the wrong type: 400 ``guard.field_invalid``; an unknown
  channel: 400 ``guard.channel_unknown``; bad Base64: 400 ``guard.base64_invalid``; no input or two:
  400 ``guard.input_missing`` / ``guard.input_ambiguous``; no or a bad token: 401.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import threading
import time
from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation.trans_real import parse_accept_lang_header
from ninja import Router, Schema
from ninja.security import django_auth

from himitsu.engine.check import Result, explain
from himitsu.engine.policy import CHANNELS
from himitsu.gateways.base import Identity, Outbound
from himitsu.web.guard import services
from himitsu.web.guard.middleware import guard_error
from himitsu.web.register.services import Context

router = Router(tags=["guard"])

from himitsu.web.api import ErrorOut  # noqa: E402

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_DESTINATIONS = 100


# --- schemas -----------------------------------------------------------------------------------------------------

class SecretOut(Schema):
    id: int | None
    level: str
    title: str | None = None


class FindingOut(Schema):
    detector: str
    score: float
    part: str
    start: int
    end: int
    snippet: str
    reason: str
    explanation: str
    secret: SecretOut | None


class ReasonOut(Schema):
    action: str
    detector: str
    level: str | None
    rule: str
    message: str
    message_en: str


class ProblemOut(Schema):
    code: str
    part: str


class CheckOut(Schema):
    action: str
    reasons: list[ReasonOut]
    findings: list[FindingOut]
    problems: list[ProblemOut]
    redacted_text: str | None
    record: int
    policy_version: str


_REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"type": "object", "properties": {
            "text": {"type": "string"}, "content_base64": {"type": "string", "format": "byte"},
            "filename": {"type": "string"}, "channel": {"type": "string", "enum": list(CHANNELS), "default": "api"},
            "user": {"type": "string"}, "department": {"type": "string"},
            "destinations": {"type": "array", "items": {"type": "string"}}}}},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "file": {"type": "string", "format": "binary"}, "text": {"type": "string"},
            "channel": {"type": "string"}, "user": {"type": "string"}, "department": {"type": "string"},
            "destinations": {"type": "array", "items": {"type": "string"}}}}},
    },
}


# --- language, authentication, rate limit ------------------------------------------------------------------------

def request_language(request: Any) -> str:
    """ja or en from the request's Accept-Language (:func:`header_language`)."""
    return header_language(request.META.get("HTTP_ACCEPT_LANGUAGE", ""))


def header_language(header: str) -> str:
    """ja or en from an Accept-Language header (the first of the two by preference); Japanese when neither is
    named."""
    for lang, _q in parse_accept_lang_header(header[:500]):
        lang = lang.lower()
        if lang.startswith("en"):
            return "en"
        if lang.startswith("ja"):
            return "ja"
    return "ja"


def token_auth(request: HttpRequest) -> Any:
    """The principal of a bearer token the middleware verified (None otherwise: the session is tried next)."""
    return request.user if getattr(request, "guard_token", None) is not None else None


class _Bucket:
    """Token buckets per key, in this process's memory (see the module's docstring)."""

    def __init__(self) -> None:
        self.state: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def take(self, key: str, rate: float, burst: int) -> float:
        """0 when a request may go now, else the seconds until it may."""
        now = time.monotonic()
        burst = max(1, burst)
        with self.lock:
            if len(self.state) > 10_000:  # forget buckets that have refilled
                idle = burst / rate if rate > 0 else 0
                self.state = {k: v for k, v in self.state.items() if now - v[1] < idle}
            tokens, last = self.state.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self.state[key] = (tokens - 1.0, now)
                return 0.0
            self.state[key] = (tokens, now)
            return (1.0 - tokens) / rate if rate > 0 else 60.0

    def reset(self) -> None:
        with self.lock:
            self.state.clear()


_buckets = _Bucket()


def reset_rate_limits() -> None:
    """Forget every bucket (tests)."""
    _buckets.reset()


# --- parsing -----------------------------------------------------------------------------------------------------

class _Bad(Exception):
    def __init__(self, status: int, code: str, **params: Any) -> None:
        super().__init__(code)
        self.status, self.code, self.params = status, code, params


def _string(value: Any, field: str, limit: int, *, control_ok: bool = False) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit or (not control_ok and _CONTROL.search(value)):
        raise _Bad(400, "guard.field_invalid", field=field)
    return value.strip()


def _destinations(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or len(value) > MAX_DESTINATIONS:
        raise _Bad(400, "guard.field_invalid", field="destinations")
    out = []
    for item in value:
        for piece in _string(item, "destinations", 320).split(","):
            if piece.strip():
                out.append(piece.strip())
    if len(out) > MAX_DESTINATIONS:
        raise _Bad(400, "guard.field_invalid", field="destinations")
    return tuple(out)


def _read_json(request: HttpRequest, limit: int) -> dict[str, Any]:
    charset = (request.content_params or {}).get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise _Bad(415, "guard.content_type")
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise _Bad(413, "guard.too_large", limit=limit)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _Bad(400, "guard.encoding") from None
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        raise _Bad(400, "guard.json_invalid") from None
    if not isinstance(body, dict):
        raise _Bad(400, "guard.json_invalid")
    return body


def _read_multipart(request: HttpRequest, limit: int) -> dict[str, Any]:
    try:
        post, files = request.POST, request.FILES
    except RequestDataTooBig:
        raise _Bad(413, "guard.too_large", limit=limit) from None
    except (MultiPartParserError, TooManyFieldsSent):
        raise _Bad(400, "guard.field_invalid", field="body") from None
    body: dict[str, Any] = {key: post.get(key) for key in ("text", "channel", "user", "department") if key in post}
    if "destinations" in post:
        body["destinations"] = post.getlist("destinations")
    upload = files.get("file")
    if upload is not None:
        if upload.size is not None and upload.size > limit:
            raise _Bad(413, "guard.too_large", limit=limit)
        body["_file"] = (upload.name or "upload", upload.read(limit + 1))
    return body


def _content(body: dict[str, Any], limit: int) -> tuple[bytes, str, str | None, str]:
    """(data, name, text or None, kind of input)."""
    has_text = body.get("text") is not None
    has_file = body.get("content_base64") is not None or "_file" in body
    if has_text and has_file:
        raise _Bad(400, "guard.input_ambiguous")
    if has_text:
        text = body["text"]
        if not isinstance(text, str):
            raise _Bad(400, "guard.field_invalid", field="text")
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates from \\ud800 escapes
            raise _Bad(400, "guard.encoding") from None
        return data, "text.txt", text, "text"
    if "_file" in body:
        name, data = body["_file"]
        if len(data) > limit:
            raise _Bad(413, "guard.too_large", limit=limit)
        return data, _filename(name), None, "file"
    if body.get("content_base64") is not None:
        encoded = body["content_base64"]
        if not isinstance(encoded, str):
            raise _Bad(400, "guard.field_invalid", field="content_base64")
        name = _string(body.get("filename"), "filename", 255)
        if not name:
            raise _Bad(400, "guard.field_invalid", field="filename")
        try:
            data = base64.b64decode("".join(encoded.split()), validate=True)
        except (binascii.Error, ValueError):
            raise _Bad(400, "guard.base64_invalid") from None
        if len(data) > limit:
            raise _Bad(413, "guard.too_large", limit=limit)
        return data, _filename(name), None, "file"
    raise _Bad(400, "guard.input_missing")


def _filename(name: str) -> str:
    return (PurePath(_CONTROL.sub("", name).replace("\\", "/")).name or "upload")[:255]


# --- the endpoint ------------------------------------------------------------------------------------------------

@router.post("/check", auth=[token_auth, django_auth],
             response={200: CheckOut, 400: ErrorOut, 401: ErrorOut, 413: ErrorOut, 415: ErrorOut, 429: ErrorOut},
             openapi_extra={"requestBody": _REQUEST_BODY}, summary="Check outbound content against the policy")
def check(request: HttpRequest) -> Any:
    with translation.override(request_language(request)):
        try:
            return _check(request)
        except _Bad as exc:
            return guard_error(exc.status, exc.code, **exc.params)


def _check(request: HttpRequest) -> Any:
    token = getattr(request, "guard_token", None)
    key = f"token:{token.prefix}" if token is not None else f"user:{request.user.pk}"
    wait = _buckets.take(key, float(settings.HIMITSU_GUARD_RATE), int(settings.HIMITSU_GUARD_BURST))
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        return guard_error(429, "guard.rate_limited", headers={"Retry-After": str(seconds)}, seconds=seconds)
    limit = settings.HIMITSU_GUARD_MAX_BYTES
    content_type = (request.content_type or "").lower()
    if content_type == "application/json":
        body = _read_json(request, limit)
    elif content_type == "multipart/form-data":
        body = _read_multipart(request, limit)
    else:
        raise _Bad(415, "guard.content_type")
    channel = body.get("channel", "api")
    if channel is None:
        channel = "api"
    if not isinstance(channel, str):
        raise _Bad(400, "guard.field_invalid", field="channel")
    if channel not in CHANNELS:
        raise _Bad(400, "guard.channel_unknown", channel=channel[:40])
    destinations = _destinations(body.get("destinations"))
    claimed_user = _string(body.get("user"), "user", 150)
    claimed_department = _string(body.get("department"), "department", 20)
    data, name, text, kind = _content(body, limit)

    viewer: Any
    if token is not None and token.user is not None:
        viewer = token.user
        identity = services.identity_of(token.user)
    elif token is not None:
        viewer = None
        identity = _claimed(claimed_user, claimed_department)
    else:
        viewer = request.user
        identity = services.identity_of(request.user)
    identity = Identity(user=identity.user, department=identity.department, language=translation.get_language())
    item = Outbound(channel=channel, data=data, name=name, identity=identity, destinations=destinations, text=text,
                    meta={"via": "api", "input": kind, "ext": PurePath(name).suffix.lower()[:10],
                          "client": str(request.META.get("REMOTE_ADDR", ""))[:64]})
    guard = services.DatabaseGuard(token=token, ctx=Context(actor=request.user, channel="api", request=request))
    verdict = guard.check(item)
    shown = services.visible_result(viewer, Result(findings=list(verdict.findings), problems=list(verdict.problems),
                                                    parts=0))
    language = translation.get_language() or "ja"
    reasons = [{"action": r.action, "detector": r.detector, "level": r.level, "rule": r.rule,
                "message": r.message_en if language.startswith("en") else r.message_ja, "message_en": r.message_en}
               for r in verdict.decision.reasons if r.action != "allow"]
    findings = []
    for f in shown.findings:
        secret = None
        if f.secret is not None:
            visible = f.secret.id not in ("", None)
            secret = {"id": int(f.secret.id) if visible else None, "level": f.secret.level,
                      "title": f.secret.title if visible else None}
        findings.append({"detector": f.detector, "score": round(f.score, 4), "part": f.part, "start": f.start,
                         "end": f.end, "snippet": f.snippet, "reason": f.reason, "explanation": explain(f, gettext),
                         "secret": secret})
    return {"action": verdict.action, "reasons": reasons, "findings": findings,
            "problems": [{"code": p.code, "part": p.path} for p in verdict.problems],
            "redacted_text": verdict.decision.redacted if verdict.action == "redact" else None,
            "record": int(verdict.record), "policy_version": verdict.decision.policy_version}


def _claimed(user: str, department: str) -> Identity:
    """The sender an integration acting for nobody names (their department from the register of people when
    the body names none)."""
    from himitsu.web.accounts.models import User

    if user and not department:
        person = User.objects.select_related("department").filter(username=user).first()
        if person is not None and person.department_id:
            department = person.department.code
    return Identity(user=user, department=department)
