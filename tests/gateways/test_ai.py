"""The AI gateway over real HTTP on 127.0.0.1: a real engine and policy decide, a stand-in provider records
what reached it."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from himitsu.engine.policy import Policy, Rule, default_policy
from himitsu.gateways.ai import AiConfig, AiGateway
from himitsu.gateways.base import Identity
from tests.engine.test_policy import MY_NUMBER
from tests.gateways.conftest import TOP, BrokenGuard, Upstream, free_port

UPSTREAM_KEY = "sk-upstream-only-0123456789"


class Reply:
    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = response.headers
        self.body = response.read()

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def decision(self) -> str | None:
        return self.headers.get("X-Himitsu-Decision")


class Client:
    def __init__(self, port: int) -> None:
        self.port = port

    def connect(self, timeout: float = 15.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def post(self, body: Any, token: str | None = "tok-alice", content_type: str = "application/json",
             path: str = "/v1/chat/completions", chunked: bool = False) -> Reply:
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        headers = {"Content-Type": content_type} if content_type else {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        conn = self.connect()
        try:
            if chunked:
                conn.request("POST", path, body=iter([data[i:i + 8192] for i in range(0, len(data), 8192)]),
                             headers=headers, encode_chunked=True)
            else:
                conn.request("POST", path, body=data, headers=headers)
            return Reply(conn.getresponse())
        finally:
            conn.close()

    def get(self, path: str, token: str | None = "tok-alice") -> Reply:
        conn = self.connect()
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
            return Reply(conn.getresponse())
        finally:
            conn.close()


def chat(*texts: str, model: str = "gpt-test", stream: bool = False) -> dict[str, Any]:
    messages = [{"role": "user", "content": t} for t in texts]
    return {"model": model, "messages": messages, **({"stream": True} if stream else {})}


@pytest.fixture
def start(guard, upstream) -> Iterator[Callable[..., Client]]:
    gateways: list[AiGateway] = []

    def _start(**overrides: Any) -> Client:
        config = AiConfig(**({"upstream": upstream.base, "upstream_key": UPSTREAM_KEY, "port": 0} | overrides))
        gateway = AiGateway(guard, config)
        gateway.start()
        gateways.append(gateway)
        return Client(gateway.port)

    yield _start
    for gateway in gateways:
        gateway.stop()


@pytest.fixture
def client(start) -> Client:
    return start()


def assert_still_up(client: Client, upstream: Upstream) -> None:
    before = len(upstream.requests)
    reply = client.post(chat("明日の会議は十時からです。"))
    assert reply.status == 200 and reply.decision == "allow"
    assert len(upstream.requests) == before + 1


# -- allowed, streamed ------------------------------------------------------------------------------


def test_allowed_prompt_is_forwarded_unchanged_with_the_gateway_key(client, upstream, guard):
    raw = json.dumps({"model": "gpt-test", "temperature": 0.2, "messages": [
        {"role": "system", "content": "あなたは丁寧なアシスタントです。"},
        {"role": "user", "content": [{"type": "text", "text": "明日の会議は十時からです。要約して。"}]}]},
        ensure_ascii=False, indent=1).encode()
    reply = client.post(raw)
    assert reply.status == 200 and reply.decision == "allow"
    assert reply.json["choices"][0]["message"]["content"] == "了解しました。"
    [seen] = upstream.requests
    assert seen["body"] == raw  # byte for byte
    assert seen["headers"]["Authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert not any("tok-alice" in v for v in seen["headers"].values())
    record = guard.records[-1]
    assert record["channel"] == "ai" and record["user"] == "alice" and record["destinations"] == ["gpt-test"]
    assert record["meta"]["model"] == "gpt-test" and record["meta"]["client"] == "127.0.0.1"
    assert "会議" not in json.dumps(record, ensure_ascii=False)  # no content in the record


def test_stream_is_forwarded_chunk_by_chunk(client, upstream):
    upstream.mode = "stream"
    conn = client.connect(timeout=10)
    try:
        conn.request("POST", "/v1/chat/completions", body=json.dumps(chat("こんにちは", stream=True)).encode(),
                     headers={"Content-Type": "application/json", "Authorization": "Bearer tok-alice"})
        response = conn.getresponse()
        assert response.status == 200 and response.headers["X-Himitsu-Decision"] == "allow"
        assert response.headers["Content-Type"].startswith("text/event-stream")
        first = response.readline()
        # the first chunk arrived while the provider still holds back the second one
        assert b"Hello" in first and not upstream.release.is_set()
        upstream.release.set()
        rest = response.read()
    finally:
        conn.close()
    assert b" world" in rest and rest.rstrip().endswith(b"data: [DONE]")
    assert upstream.released_in_time is True


# -- blocked, redacted --------------------------------------------------------------------------------


def test_top_secret_excerpt_is_refused_in_japanese_and_never_reaches_the_provider(client, upstream, guard):
    reply = client.post(chat("次の文章を英訳してください。", TOP))
    assert reply.status == 200 and reply.decision == "block"
    record = guard.records[-1]
    assert reply.headers["X-Himitsu-Record"] == record["id"] and record["action"] == "block"
    choice = reply.json["choices"][0]
    assert choice["finish_reason"] == "content_filter"
    text = choice["message"]["content"]
    assert "極秘情報は社外に送信できません" in text and f"記録番号: {record['id']}" in text
    assert "二三〇" not in text
    assert upstream.requests == []


def test_refusal_in_english_as_a_stream_and_as_an_error(start, upstream):
    client = start()
    reply = client.post(chat(TOP, stream=True), token="tok-bob")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in reply.body.decode().splitlines()
              if line.startswith("data: {")]
    assert "Top-secret information may not leave" in events[0]["choices"][0]["delta"]["content"]
    assert events[-1]["choices"][0]["finish_reason"] == "content_filter"
    assert reply.body.rstrip().endswith(b"data: [DONE]")
    strict = start(refusal="error")
    reply = strict.post(chat(TOP))
    assert reply.status == 403 and reply.decision == "block"
    error = reply.json["error"]
    assert error["code"] == "guard.ai.blocked" and error["type"] == "himitsu_policy"
    assert "極秘情報" in error["message"] and "Top-secret" in error["message_en"]
    assert error["record"] == reply.headers["X-Himitsu-Record"]
    assert upstream.requests == []


def test_my_number_is_masked_in_the_message_it_was_in(client, upstream):
    body = {"model": "gpt-test", "messages": [
        {"role": "system", "content": "申請書の確認を手伝ってください。"},
        {"role": "user", "content": [{"type": "text", "text": "氏名 山田太郎"},
                                     {"type": "text", "text": f"この申請書を確認して。{MY_NUMBER} 以上です。"}]},
        {"role": "assistant", "content": "承知しました。"}]}
    reply = client.post(body)
    assert reply.status == 200 and reply.decision == "redact"
    [seen] = upstream.requests
    sent = seen["json"]["messages"]
    assert sent[0] == body["messages"][0] and sent[2] == body["messages"][2]
    assert sent[1]["content"][0] == {"type": "text", "text": "氏名 山田太郎"}
    masked = sent[1]["content"][1]["text"]
    assert "123456789018" not in seen["body"].decode()
    assert masked.startswith("この申請書を確認して。") and masked.endswith(" 以上です。")
    assert "[REDACTED:my-number]" in masked


def test_texts_outside_the_message_content_are_checked_too(client, upstream):
    # a predicted output is sent to the model as well: it cannot carry a secret past the gateway
    reply = client.post(chat("この文章を直して") | {"prediction": {"type": "content", "content": TOP}})
    assert reply.decision == "block" and upstream.requests == []
    tools = [{"type": "function", "function": {"name": "lookup", "description": f"照会用 {MY_NUMBER}",
                                               "parameters": {"type": "object", "properties": {}}}}]
    body = {"model": "gpt-test", "tools": tools, "messages": [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "在庫"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "在庫は十個です。"}]}
    reply = client.post(body)
    assert reply.decision == "redact"
    sent = upstream.requests[-1]["json"]
    assert sent["tools"][0]["function"]["description"] == "照会用 マイナンバー：[REDACTED:my-number]"
    assert sent["messages"] == body["messages"] and sent["tools"][0]["function"]["name"] == "lookup"


@pytest.mark.parametrize("prefix", ["\ufeff", "\r\n", "<!DOCTYPE html>\r\n<html><body>\r\n",
                                    "From: a@example.jp\r\nSubject: x\r\nDate: today\r\n\r\n"])
def test_redaction_lands_on_the_number_whatever_the_prompt_looks_like(client, upstream, prefix):
    text = f"{prefix}確認\r\nお願いします。\r\n{MY_NUMBER}\r\n以上"
    reply = client.post(chat(text))
    assert reply.decision == "redact"
    masked = upstream.requests[-1]["json"]["messages"][0]["content"]
    assert masked == text.replace("123456789018", "[REDACTED:my-number]")  # the digits, nothing else


def test_secret_hidden_in_html_script_is_still_found(client, upstream):
    reply = client.post(chat(f"<html><body><p>翻訳して</p><script>/* {TOP} */</script></body></html>"))
    assert reply.decision == "block" and upstream.requests == []


def test_held_prompt_is_not_sent_and_says_so(client, upstream, guard):
    guard.policy = Policy(rules=(Rule("review", "hold", detectors=frozenset({"my-number"})),), version="t")
    reply = client.post(chat(f"確認 {MY_NUMBER}"))
    assert reply.status == 200 and reply.decision == "hold"
    text = reply.json["choices"][0]["message"]["content"]
    assert "確認待ち" in text and "この入力は送信されていません" in text
    assert upstream.requests == [] and guard.held == {}


def test_a_failing_guard_fails_closed(engine, upstream):
    gateway = AiGateway(BrokenGuard(engine, default_policy(), identities={"t": Identity("u")}),
                        AiConfig(upstream=upstream.base, port=0))
    gateway.start()
    try:
        reply = Client(gateway.port).post(chat("こんにちは"), token="t")
    finally:
        gateway.stop()
    assert reply.status == 503 and reply.json["error"]["code"] == "guard.ai.guard_unavailable"
    assert upstream.requests == []


# -- bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, status, code", [
    ({"body": b'{"model": "gpt-test", "messages": [', "token": "tok-alice"}, 400, "guard.ai.bad_json"),
    ({"body": b'{"model": "x", "model": "y", "messages": []}'}, 400, "guard.ai.bad_json"),
    ({"body": chat("hi"), "content_type": "text/plain"}, 415, "guard.ai.bad_content_type"),
    ({"body": chat("hi"), "content_type": "application/json; charset=shift_jis"}, 415, "guard.ai.bad_content_type"),
    ({"body": '{"model": "gpt-test", "messages": [{"role": "user", "content": "日本語"}]}'.encode("cp932")}, 400,
     "guard.ai.bad_encoding"),
    ({"body": {"model": "gpt-test"}}, 400, "guard.ai.bad_messages"),
    ({"body": {"model": "gpt-test", "messages": [{"role": "user", "content": 5}]}}, 400, "guard.ai.bad_messages"),
    ({"body": {"model": "gpt-test", "messages": "hi"}}, 400, "guard.ai.bad_messages"),
    ({"body": [1, 2]}, 400, "guard.ai.bad_request"),
    ({"body": {"messages": [{"role": "user", "content": "hi"}]}}, 400, "guard.ai.bad_model"),
    ({"body": b'{"model": "gpt-test", "messages": [{"role": "user", "content": "\\ud800"}]}'}, 400,
     "guard.ai.bad_text"),
    ({"body": {"model": "gpt-test", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]}}, 400,
     "guard.ai.unsupported_part"),
    ({"body": chat("hi"), "token": "tok-unknown"}, 401, "guard.ai.unauthorized"),
    ({"body": chat("hi"), "token": None}, 401, "guard.ai.unauthorized"),
    ({"body": chat("hi"), "path": "/v1/embeddings"}, 404, "guard.ai.not_found"),
])
def test_bad_requests_get_openai_style_errors(client, upstream, kwargs, status, code):
    reply = client.post(**kwargs)
    assert reply.status == status, reply.body
    error = reply.json["error"]
    assert error["code"] == code and error["message"] and error["message_en"] and error["type"]
    assert reply.decision == "none"
    assert upstream.requests == []
    assert_still_up(client, upstream)


def test_errors_speak_the_users_language(client):
    ja = client.post(b"{", token="tok-alice").json["error"]
    en = client.post(b"{", token="tok-bob").json["error"]
    assert ja["message"] == ja["message_ja"] == "リクエスト本文が正しいJSONではありません。"
    assert en["message"] == en["message_en"] == ja["message_en"] == "The request body is not valid JSON."
    anonymous = client.post(b"{", token=None).json["error"]
    assert anonymous["message"].startswith("APIトークンが無効です。") and "Invalid API token" in anonymous["message"]


@pytest.mark.parametrize("chunked", [False, True])
def test_oversized_body_is_refused_without_reading_it_all(start, upstream, chunked):
    client = start(max_body=64 * 1024)
    big = chat("あ" * 40_000)  # about 120 KB
    reply = client.post(big, chunked=chunked)
    assert reply.status == 413 and reply.json["error"]["code"] == "guard.ai.too_large"
    assert upstream.requests == []
    assert_still_up(client, upstream)


def test_non_text_parts_pass_unchecked_only_when_allowed(start, upstream, guard):
    client = start(allow_non_text=True)
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "この画像を説明して"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]}
    reply = client.post(body)
    assert reply.status == 200 and reply.decision == "allow"
    assert upstream.requests[-1]["json"] == body
    assert guard.records[-1]["meta"]["unchecked_parts"] == {"image_url": 1}


# -- the upstream failing -----------------------------------------------------------------------------


def test_upstream_timeout_is_504(start, upstream):
    client = start(timeout=0.5)
    upstream.mode, upstream.delay = "delay", 1.5
    reply = client.post(chat("こんにちは"))
    assert reply.status == 504 and reply.json["error"]["code"] == "guard.ai.upstream_timeout"
    assert reply.decision == "none"
    upstream.mode = "normal"
    assert_still_up(client, upstream)


def test_upstream_reset_is_502(client, upstream):
    upstream.mode = "reset"
    reply = client.post(chat("こんにちは"))
    assert reply.status == 502 and reply.json["error"]["code"] == "guard.ai.upstream_unavailable"
    upstream.mode = "normal"
    assert_still_up(client, upstream)


def test_upstream_down_is_502(start, guard):
    client = start(upstream=f"http://127.0.0.1:{free_port()}/v1")
    for _ in range(2):
        reply = client.post(chat("こんにちは"))
        assert reply.status == 502 and reply.json["error"]["code"] == "guard.ai.upstream_unavailable"
        assert "接続できません" in reply.json["error"]["message"]


def test_upstream_errors_pass_through_with_their_status(client, upstream):
    upstream.mode = "error"
    reply = client.post(chat("こんにちは"))
    assert reply.status == 500 and reply.json["error"]["code"] == "upstream_500"
    assert reply.decision == "allow"
    upstream.mode = "normal"
    assert_still_up(client, upstream)


# -- models -------------------------------------------------------------------------------------------


def test_models_fixed_or_from_the_upstream(start, upstream):
    fixed = start(models=("gpt-a", "gpt-b"))
    reply = fixed.get("/v1/models")
    assert reply.status == 200 and [m["id"] for m in reply.json["data"]] == ["gpt-a", "gpt-b"]
    refused = fixed.post(chat("hi", model="gpt-other"))
    assert refused.status == 404 and refused.json["error"]["code"] == "guard.ai.unknown_model"
    assert fixed.get("/v1/models", token="nope").status == 401
    passed = start().get("/v1/models")
    assert passed.status == 200 and passed.json["data"][0]["id"] == "gpt-upstream"
    assert upstream.requests[-1]["headers"]["Authorization"] == f"Bearer {UPSTREAM_KEY}"
