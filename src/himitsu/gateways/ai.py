"""An OpenAI-compatible gateway for generative AI: every prompt is checked before it reaches the provider.

Clients (chat front-ends, IDE plug-ins, scripts using the ``openai`` library) point their base URL at the
gateway and use a Himitsu API token; the gateway authenticates the token through
:meth:`Guard.identify <himitsu.gateways.base.Guard.identify>`, checks the text of every message (and every other
text of the request: tool descriptions, a predicted output, ...) as one :class:`~himitsu.gateways.base.Outbound`
and acts on the decision:

* ``allow`` / ``warn``: the request goes to the upstream unchanged (byte for byte); ``warn`` is shown in the
  ``X-Himitsu-Decision`` and ``X-Himitsu-Record`` response headers;
* ``redact``: each message's text is replaced by its text with the findings masked;
* ``hold`` / ``block``: nothing is forwarded; the client gets the reasons in its user's language, either as
  an assistant answer with ``finish_reason: content_filter`` (``refusal="message"``, what chat UIs show) or
  as an OpenAI-style error with HTTP 403 (``refusal="error"``).

The client's token never leaves the gateway: the upstream gets the configured key. Streaming requests are
forwarded chunk by chunk. Every error is an OpenAI-style JSON ``{"error": {"message", "type", "code"}}`` with a
stable ``code`` (``guard.ai.*``), the message in the user's language and ``message_en`` / ``message_ja``.

What is inspected is exactly the text the provider would receive: the texts of the request joined into one
plain-text part (:func:`himitsu.gateways.base.inspect`: a prompt that begins like HTML, a mail header or a
PDF is still inspected as the text it is), so the findings' offsets are the prompt's and each redaction is
mapped back onto the message it came from.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
from aiohttp import web

from himitsu.engine.policy import redact_text
from himitsu.gateways.base import Guard, Identity, Outbound, Verdict
from himitsu.gateways.pool import CheckPool
from himitsu.gateways.threads import InThread

__all__ = ["AiConfig", "AiGateway", "make_app"]

log = logging.getLogger("himitsu.gateways.ai")

#: what joins the texts of the messages into the one inspected text
SEPARATOR = "\n\n"
DECISION_HEADER = "X-Himitsu-Decision"
RECORD_HEADER = "X-Himitsu-Record"
_REFUSALS = ("message", "error")
#: upstream answers kept in memory at most (non-streamed); a larger one is a 502
_MAX_UPSTREAM_BODY = 64 * 1024 * 1024


@dataclass(frozen=True)
class AiConfig:
    """Settings of the AI gateway. ``upstream`` is the provider's base URL including ``/v1``; the key is given
    as a value (read it from the environment or a file, never the command line)."""

    upstream: str
    upstream_key: str = field(default="", repr=False)
    host: str = "127.0.0.1"
    port: int = 8400
    #: largest request body accepted (bytes)
    max_body: int = 4 * 1024 * 1024
    #: seconds to connect to the upstream
    connect_timeout: float = 10.0
    #: seconds for a whole non-streamed answer; for a stream, the longest silence between two chunks
    timeout: float = 300.0
    #: the models offered (``GET /v1/models`` and the only ones accepted); None: whatever the upstream lists
    models: tuple[str, ...] | None = None
    #: "message": a refused prompt gets an assistant answer explaining why (finish_reason content_filter);
    #: "error": an OpenAI-style error with HTTP 403
    refusal: str = "message"
    #: forward parts that cannot be inspected (images, audio, files) unchecked instead of refusing the request
    allow_non_text: bool = False

    def __post_init__(self) -> None:
        if self.refusal not in _REFUSALS:
            raise ValueError(f"refusal must be one of {', '.join(_REFUSALS)}, not {self.refusal!r}")
        if not self.upstream.startswith(("http://", "https://")):
            raise ValueError(f"upstream must be an http(s) URL, not {self.upstream!r}")
        if self.max_body <= 0:
            raise ValueError("max_body must be positive")
        if self.models is not None:
            object.__setattr__(self, "models", tuple(self.models))

    @property
    def base(self) -> str:
        return self.upstream.rstrip("/")


# -- errors -----------------------------------------------------------------------------------------


class GatewayError(Exception):
    """An answer other than the upstream's: HTTP ``status`` with an OpenAI-style error body."""

    def __init__(self, status: int, code: str, ja: str, en: str, type_: str = "invalid_request_error",
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(en)
        self.status, self.code, self.ja, self.en, self.type = status, code, ja, en, type_
        self.extra = dict(extra or {})


def _lang(identity: Identity | None) -> str | None:
    if identity is None:
        return None
    return "ja" if identity.language.lower().startswith("ja") else "en"


def error_response(error: GatewayError, identity: Identity | None, decision: str = "none",
                   record: str = "") -> web.Response:
    lang = _lang(identity)
    message = {"ja": error.ja, "en": error.en}.get(lang or "", f"{error.ja} / {error.en}")
    body = {"error": {"message": message, "type": error.type, "code": error.code, "param": None,
                      "message_ja": error.ja, "message_en": error.en, **error.extra}}
    headers = {DECISION_HEADER: decision}
    if record:
        headers[RECORD_HEADER] = record
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="himitsu"'
    return web.json_response(body, status=error.status, headers=headers, dumps=_dumps)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _bad(code: str, ja: str, en: str, status: int = 400) -> GatewayError:
    return GatewayError(status, code, ja, en)


# -- the request ------------------------------------------------------------------------------------


@dataclass
class _Segment:
    """One piece of text the provider would receive, and where it sits in the request body."""

    path: tuple[Any, ...]
    text: str


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # a key given twice could be read differently by the provider than by us: refuse it
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(f"duplicate key {key!r}")
        out[key] = value
    return out


def parse_body(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad("guard.ai.bad_encoding", "リクエスト本文がUTF-8ではありません。",
                   f"The request body is not UTF-8 (byte {exc.start}).") from exc
    try:
        body = json.loads(text, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as exc:
        raise _bad("guard.ai.bad_json", "JSONに同じキーが重複しています。",
                   f"The request body is not acceptable JSON: {exc}.") from exc
    except (ValueError, RecursionError) as exc:
        raise _bad("guard.ai.bad_json", "リクエスト本文が正しいJSONではありません。",
                   "The request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise _bad("guard.ai.bad_request", "リクエスト本文はJSONオブジェクトである必要があります。",
                   "The request body must be a JSON object.")
    return body


def _bad_messages(detail: str) -> GatewayError:
    return _bad("guard.ai.bad_messages", f"messages が正しくありません（{detail}）。",
                f"Invalid 'messages': {detail}.")


#: keys whose string values are identifiers or enumerations the provider interprets, not text the model reads
STRUCTURAL_KEYS = frozenset({"model", "role", "type", "id", "tool_call_id", "tool_choice", "service_tier",
                             "reasoning_effort", "detail", "format", "voice", "modalities"})
#: content part types whose text is inspected; any other part (image_url, input_audio, file, ...) is not text
TEXT_PARTS = frozenset({"text", "refusal"})


def segments_of(body: dict[str, Any]) -> tuple[list[_Segment], dict[str, int]]:
    """Every text of the request the provider would pass to the model, in order, and the count of content parts
    per type that are not text. The texts are those of the messages (content strings, text and refusal parts,
    tool-call arguments, names) and every other string of the request (tool descriptions, a predicted output,
    stop sequences, metadata): only :data:`STRUCTURAL_KEYS` and non-text parts are left out."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad_messages("a non-empty list is required")
    other: dict[str, int] = {}
    skip: set[int] = set()  # ids of the non-text parts
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise _bad_messages(f"message {i} must be an object with a role")
        content = message.get("content")
        if isinstance(content, list):
            for j, part in enumerate(content):
                if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                    raise _bad_messages(f"part {j} of message {i} must be an object with a type")
                kind = part["type"]
                if kind in TEXT_PARTS:
                    if not isinstance(part.get(kind), str):
                        raise _bad_messages(f"part {j} of message {i} has no {kind} string")
                else:
                    other[kind] = other.get(kind, 0) + 1
                    skip.add(id(part))
        elif content is not None and not isinstance(content, str):
            raise _bad_messages(f"content of message {i} must be a string, a list of parts or null")
        calls = message.get("tool_calls")
        if calls is not None and not isinstance(calls, list):
            raise _bad_messages(f"tool_calls of message {i} must be a list")
    segments: list[_Segment] = []
    stack: list[tuple[tuple[Any, ...], Any]] = [((), body)]  # iterative: the JSON may be deeply nested
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            segments.append(_Segment(path, value))
        elif isinstance(value, dict):
            if id(value) in skip:
                continue
            stack.extend(reversed([(path + (k,), v) for k, v in value.items()
                                   if not (k in STRUCTURAL_KEYS and isinstance(v, str))]))
        elif isinstance(value, list):
            stack.extend(reversed([(path + (n,), v) for n, v in enumerate(value)]))
    for segment in segments:
        try:
            segment.text.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate escape ("\\ud800")
            raise _bad("guard.ai.bad_text", "メッセージに不正な文字（単独のサロゲート）が含まれています。",
                       "A message contains an invalid character (a lone surrogate).") from exc
    return segments, other


def _set(body: dict[str, Any], path: tuple[Any, ...], value: str) -> None:
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


# -- inspection (in a worker thread) ----------------------------------------------------------------


@dataclass
class Inspection:
    item: Outbound
    verdict: Verdict


def outbound(segments: list[_Segment], identity: Identity, model: str, meta: dict[str, Any]) -> Outbound:
    """The one text the guard inspects: the texts of the request joined by ``SEPARATOR``."""
    text = SEPARATOR.join(s.text for s in segments)
    return Outbound(channel="ai", data=text.encode("utf-8"), name="prompt.txt", identity=identity,
                    destinations=(model,), text=text, meta=dict(meta, chars=len(text)))


def redacted_segments(inspection: Inspection, segments: list[_Segment]) -> list[str]:
    """Each segment's text with the spans of the findings the decision redacts masked; raises ValueError when
    the findings do not refer to the inspected text (then nothing may be forwarded)."""
    decision = inspection.verdict.decision
    text = inspection.item.text
    if text is None or decision.redacted is None:
        raise ValueError("the redaction cannot be mapped onto the messages")
    findings = [r.finding for r in decision.reasons if r.action == "redact" and r.finding is not None]
    if any(f.part != "" or not 0 <= f.start < f.end <= len(text) for f in findings):
        raise ValueError("a finding lies outside the inspected text")
    out = []
    start = 0
    for segment in segments:
        end = start + len(segment.text)
        local = [replace(f, start=max(f.start, start) - start, end=min(f.end, end) - start)
                 for f in findings if f.start < end and f.end > start]
        out.append(redact_text(segment.text, local))
        start = end + len(SEPARATOR)
    return out


# -- the application --------------------------------------------------------------------------------

_SESSION = web.AppKey("himitsu_ai_session", aiohttp.ClientSession)
_CONFIG = web.AppKey("himitsu_ai_config", AiConfig)
_GUARD = web.AppKey("himitsu_ai_guard", object)
_POOL = web.AppKey("himitsu_ai_pool", object)


def make_app(guard: Guard, config: AiConfig, pool: CheckPool | None = None) -> web.Application:
    """The gateway as an aiohttp application: ``GET /v1/models`` and ``POST /v1/chat/completions``."""
    app = web.Application(middlewares=[_errors], client_max_size=config.max_body)
    app[_CONFIG] = config
    app[_GUARD] = guard
    app[_POOL] = pool
    app.cleanup_ctx.append(_client_session)
    app.router.add_get("/v1/models", _models)
    app.router.add_post("/v1/chat/completions", _chat)
    app.router.add_route("*", "/{tail:.*}", _not_found)
    return app


async def _client_session(app: web.Application):  # type: ignore[no-untyped-def]
    # no cookies kept between users; no proxy from the environment unless asked (trust_env=False)
    session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), trust_env=False)
    app[_SESSION] = session
    yield
    await session.close()


@web.middleware
async def _errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                  ) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:  # the router's 404 / 405, aiohttp's own 413
        if exc.status == 405:
            error = _bad("guard.ai.method_not_allowed", "このメソッドは使えません。", "Method not allowed.", 405)
        elif exc.status == 413:
            error = _too_large(request.app[_CONFIG])
        elif exc.status == 404:
            error = _bad("guard.ai.not_found", "このゲートウェイにはない機能です。",
                         "Not found: the gateway offers /v1/chat/completions and /v1/models.", 404)
        else:
            error = GatewayError(exc.status, "guard.ai.http_error", exc.reason, exc.reason)
        return error_response(error, None)


async def _not_found(request: web.Request) -> web.StreamResponse:
    raise web.HTTPNotFound()


def _too_large(config: AiConfig) -> GatewayError:
    return _bad("guard.ai.too_large", f"リクエストが大きすぎます（上限 {config.max_body} バイト）。",
                f"The request body is larger than the limit of {config.max_body} bytes.", 413)


async def _identify(request: web.Request) -> Identity:
    guard: Guard = request.app[_GUARD]  # type: ignore[assignment]
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    identity = None
    if scheme.lower() == "bearer" and token:
        loop = asyncio.get_running_loop()
        try:
            identity = await loop.run_in_executor(None, guard.identify, token, "ai")
        except Exception as exc:
            log.exception("identify failed")
            raise GatewayError(503, "guard.ai.guard_unavailable",
                               "認証を確認できませんでした。時間をおいて再試行してください。",
                               "The token could not be checked; try again later.", "server_error") from exc
    if identity is None:
        raise GatewayError(401, "guard.ai.unauthorized",
                           "APIトークンが無効です。Himitsuで発行したトークンを使ってください。",
                           "Invalid API token: use a token issued by Himitsu.", "authentication_error")
    return identity


async def _models(request: web.Request) -> web.StreamResponse:
    identity: Identity | None = None
    try:
        identity = await _identify(request)
        config = request.app[_CONFIG]
        if config.models is not None:
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "himitsu"} for m in config.models]
            return web.json_response({"object": "list", "data": data}, headers={DECISION_HEADER: "none"})
        return await _relay(request, "GET", "/models", None, False, {DECISION_HEADER: "none"})
    except GatewayError as error:
        return error_response(error, identity)


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The body, read in chunks and never more than ``limit`` + one chunk of it (the rest is discarded)."""
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(request.app[_CONFIG])
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.readany()
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise _too_large(request.app[_CONFIG])
        chunks.append(chunk)
    return b"".join(chunks)


async def _chat(request: web.Request) -> web.StreamResponse:
    identity: Identity | None = None
    try:
        identity = await _identify(request)
        return await _chat_for(request, identity)
    except GatewayError as error:
        return error_response(error, identity)


async def _chat_for(request: web.Request, identity: Identity) -> web.StreamResponse:
    config = request.app[_CONFIG]
    guard: Guard = request.app[_GUARD]  # type: ignore[assignment]
    if request.content_type != "application/json":
        raise _bad("guard.ai.bad_content_type", "Content-Type は application/json にしてください。",
                   "The Content-Type must be application/json.", 415)
    charset = request.charset
    if charset and charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise _bad("guard.ai.bad_content_type", "文字コードはUTF-8にしてください。", "The charset must be UTF-8.", 415)
    raw = await _read_body(request, config.max_body)
    body = parse_body(raw)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("guard.ai.bad_model", "model を指定してください。", "A 'model' string is required.")
    if config.models is not None and model not in config.models:
        raise _bad("guard.ai.unknown_model", f"モデル {model} はこのゲートウェイでは使えません。",
                   f"The model {model} is not offered by this gateway.", 404)
    stream = body.get("stream") is True
    segments, other = segments_of(body)
    meta: dict[str, Any] = {"model": model, "client": request.remote or "", "stream": stream,
                            "messages": len(body["messages"]), "texts": len(segments)}
    if other:
        if not config.allow_non_text:
            kinds = ", ".join(sorted(other))
            raise _bad("guard.ai.unsupported_part",
                       f"テキスト以外の入力（{kinds}）は内容を確認できないため送信できません。",
                       f"Parts other than text ({kinds}) cannot be checked, so the request was refused.")
        meta["unchecked_parts"] = dict(sorted(other.items()))
    item = outbound(segments, identity, model, meta)
    pool: CheckPool | None = request.app[_POOL]
    try:
        if pool is not None:
            verdict = await pool.check(item)
        else:
            verdict = await asyncio.get_running_loop().run_in_executor(None, guard.check, item)
        inspection = Inspection(item, verdict)
    except Exception as exc:
        log.exception("guard check failed")
        raise GatewayError(503, "guard.ai.guard_unavailable", "内容を確認できなかったため送信しませんでした。",
                           "The prompt could not be checked, so it was not sent.", "server_error") from exc
    verdict = inspection.verdict
    action, record = verdict.action, verdict.record
    headers = {DECISION_HEADER: action}
    if record:
        headers[RECORD_HEADER] = record
    log.info("ai %s model=%s user=%s record=%s", action, model, identity.user, record)
    if action in ("allow", "warn"):
        return await _relay(request, "POST", "/chat/completions", raw, stream, headers)
    if action == "redact":
        try:
            texts = redacted_segments(inspection, segments)
        except ValueError:
            log.error("redaction could not be mapped (record %s): refused", record)
            return _refuse(request, config, identity, verdict, model, stream, headers | {DECISION_HEADER: "block"},
                           extra_ja="伏せ字の位置を特定できなかったため、送信を止めました。",
                           extra_en="The masked parts could not be placed, so nothing was sent.")
        rewritten = copy.deepcopy(body)
        for segment, text in zip(segments, texts, strict=True):
            _set(rewritten, segment.path, text)
        data = json.dumps(rewritten, ensure_ascii=False).encode("utf-8")
        return await _relay(request, "POST", "/chat/completions", data, stream, headers)
    return _refuse(request, config, identity, verdict, model, stream, headers)


# -- refusals ---------------------------------------------------------------------------------------


def refusal_text(verdict: Verdict, language: str, extra: str = "") -> str:
    ja = language == "ja"
    messages = verdict.decision.messages(language)
    if extra:
        messages.append(extra)
    if not messages:
        messages = ["ポリシーにより送信できません。" if ja else "Not sent: the policy does not allow it."]
    if verdict.record:
        messages.append(f"（記録番号: {verdict.record}）" if ja else f"(Record: {verdict.record})")
    return "\n".join(messages)


_HELD_JA = "この入力は送信されていません。必要な場合は記録番号を添えて営業秘密管理責任者に相談してください。"
_HELD_EN = "Nothing was sent. If you need to send it, ask your trade-secret manager, quoting the record."


def _refuse(request: web.Request, config: AiConfig, identity: Identity, verdict: Verdict, model: str,
            stream: bool, headers: dict[str, str], extra_ja: str = "", extra_en: str = "") -> web.StreamResponse:
    lang = _lang(identity) or "ja"
    held = verdict.action == "hold"
    if held:  # a prompt is not kept for later: say that nothing was sent
        extra_ja = extra_ja or _HELD_JA
        extra_en = extra_en or _HELD_EN
    text = refusal_text(verdict, lang, extra_ja if lang == "ja" else extra_en)
    if config.refusal == "error":
        error = GatewayError(403, "guard.ai.held" if held else "guard.ai.blocked",
                             refusal_text(verdict, "ja", extra_ja), refusal_text(verdict, "en", extra_en),
                             "himitsu_policy", extra={"record": verdict.record, "decision": headers[DECISION_HEADER]})
        return error_response(error, identity, headers[DECISION_HEADER], verdict.record)
    ident = f"chatcmpl-himitsu-{verdict.record or int(time.time() * 1000)}"
    created = int(time.time())
    if not stream:
        body = {"id": ident, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                             "logprobs": None, "finish_reason": "content_filter"}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}
        return web.json_response(body, headers=headers, dumps=_dumps)

    def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
        event = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                 "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        return b"data: " + _dumps(event).encode("utf-8") + b"\n\n"

    payload = (chunk({"role": "assistant", "content": text}, None) + chunk({}, "content_filter")
               + b"data: [DONE]\n\n")
    return web.Response(body=payload, headers=headers | {"Content-Type": "text/event-stream; charset=utf-8",
                                                         "Cache-Control": "no-cache"})


# -- the upstream -----------------------------------------------------------------------------------


def _upstream_timeout() -> GatewayError:
    return GatewayError(504, "guard.ai.upstream_timeout", "生成AIサービスが時間内に応答しませんでした。",
                        "The AI service did not answer in time.", "server_error")


def _upstream_unavailable(exc: BaseException) -> GatewayError:
    return GatewayError(502, "guard.ai.upstream_unavailable", "生成AIサービスに接続できませんでした。",
                        f"The AI service could not be reached ({type(exc).__name__}).", "server_error")


async def _relay(request: web.Request, method: str, path: str, data: bytes | None, stream: bool,
                 headers: dict[str, str]) -> web.StreamResponse:
    """Send the request to the upstream with the gateway's key and pass its answer on (a stream chunk by chunk)."""
    config = request.app[_CONFIG]
    session = request.app[_SESSION]
    out_headers = {"Accept": "text/event-stream" if stream else "application/json"}
    if data is not None:
        out_headers["Content-Type"] = "application/json"
    if config.upstream_key:
        out_headers["Authorization"] = f"Bearer {config.upstream_key}"
    if stream:
        timeout = aiohttp.ClientTimeout(total=None, connect=config.connect_timeout, sock_read=config.timeout)
    else:
        timeout = aiohttp.ClientTimeout(total=config.timeout, connect=config.connect_timeout)
    try:
        upstream = await session.request(method, config.base + path, data=data, headers=out_headers,
                                         timeout=timeout, allow_redirects=False)
    except TimeoutError as exc:
        raise _upstream_timeout() from exc
    except aiohttp.ClientError as exc:
        raise _upstream_unavailable(exc) from exc
    async with upstream:
        content_type = upstream.headers.get("Content-Type", "application/json")
        if stream and upstream.status == 200 and upstream.content_type == "text/event-stream":
            return await _stream(request, upstream, headers)
        try:
            payload = await upstream.content.read(_MAX_UPSTREAM_BODY + 1)
            if len(payload) > _MAX_UPSTREAM_BODY:
                raise aiohttp.ClientPayloadError("answer too large")
        except TimeoutError as exc:
            raise _upstream_timeout() from exc
        except aiohttp.ClientError as exc:
            raise _upstream_unavailable(exc) from exc
        if upstream.status >= 400:
            log.warning("upstream answered %s to %s %s", upstream.status, method, path)
        return web.Response(status=upstream.status, body=payload, headers=headers | {"Content-Type": content_type})


async def _stream(request: web.Request, upstream: aiohttp.ClientResponse,
                  headers: dict[str, str]) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers=headers | {
        "Content-Type": upstream.headers.get("Content-Type", "text/event-stream"), "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no"})
    await response.prepare(request)
    chunks = upstream.content.iter_any().__aiter__()
    while True:
        try:
            chunk = await chunks.__anext__()
        except StopAsyncIteration:
            break
        except (TimeoutError, aiohttp.ClientError) as exc:
            # the status is sent already: tell the client in the stream, as OpenAI does
            log.warning("upstream stream broke off: %s", type(exc).__name__)
            error = _upstream_timeout() if isinstance(exc, TimeoutError) else _upstream_unavailable(exc)
            event = {"error": {"message": error.en, "type": error.type, "code": error.code,
                               "message_ja": error.ja, "message_en": error.en}}
            try:
                await response.write(b"data: " + _dumps(event).encode("utf-8") + b"\n\n")
            except ConnectionError:
                return response
            break
        try:
            await response.write(chunk)
        except ConnectionError:  # the client went away
            log.info("client left during a stream")
            return response
    await response.write_eof()
    return response


# -- running it -------------------------------------------------------------------------------------


class AiGateway(InThread):
    """The gateway as a server: ``await start_async()`` / ``await stop_async()`` in a running loop (with the
    mail relay, see :mod:`himitsu.gateways.serve`), or ``start()`` / ``stop()`` in a thread of its own."""

    thread_name = "himitsu-ai"

    def __init__(self, guard: Guard, config: AiConfig, pool: CheckPool | None = None) -> None:
        self.guard, self.config, self.pool = guard, config, pool
        self._runner: web.AppRunner | None = None
        self.port: int = config.port

    async def start_async(self) -> None:
        runner = web.AppRunner(make_app(self.guard, self.config, self.pool), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        if runner.addresses:  # the bound port (also when the configured port is 0)
            self.port = runner.addresses[0][1]
        log.info("AI gateway listening on %s:%s, upstream %s", self.config.host, self.port, self.config.base)

    async def stop_async(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

