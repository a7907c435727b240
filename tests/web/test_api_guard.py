"""The check API ``POST /api/v1/check`` (issue 6): tokens, decisions with reasons in Japanese or English, redaction,
file uploads, need-to-know on the findings, every bad input answered with a stable code (never a 500), the rate
and size limits, and a decision record for every call."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from typing import Any

import pytest
from django.test import Client

from himitsu.web.audit.models import AuditEvent
from himitsu.web.guard import services
from himitsu.web.guard.models import GuardDecision
from himitsu.web.register.services import Context
from tests.engine.test_extract_fixtures import docx
from tests.guard_env import EXCERPT, HARMLESS, PERSONAL, PRICES_EXCERPT, RECIPE, ServedClient, guarded_fixture  # noqa: F401

URL = "/api/v1/check"


@pytest.fixture
def api(guarded):
    """(client routing as the served application does, token for a check integration acting for nobody)."""
    _row, token = services.create_token(Context(actor=guarded.users["manager"]), "DLP", ["check"])
    return ServedClient(), token


def post(client: Client, token: str | None, body: Any = None, *, raw: bytes | None = None,
         content_type: str = "application/json", lang: str = "ja", **extra: str):
    headers = {"HTTP_ACCEPT_LANGUAGE": lang, **extra}
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode("utf-8")
    return client.post(URL, data=data, content_type=content_type, **headers)


def error(response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code and body["message"], body
    return body


def test_harmless_text_is_allowed_and_recorded(api):
    client, token = api
    response = post(client, token, {"text": HARMLESS})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["action"] == "allow" and body["reasons"] == [] and body["findings"] == []
    assert body["redacted_text"] is None
    row = GuardDecision.objects.get(pk=body["record"])
    assert row.channel == "api" and row.action == "allow" and row.token.name == "DLP" and row.username == ""
    assert row.meta["input"] == "text" and row.size == len(HARMLESS.encode())
    # clean content let through is kept in the decisions, not in the audit trail (not every prompt of the day)
    assert not AuditEvent.objects.filter(object_type="guard_decision", object_id=str(row.pk)).exists()


def test_top_secret_excerpt_is_blocked_with_reasons_in_the_request_language(api, guarded):
    client, token = api
    ja = post(client, token, {"text": EXCERPT, "channel": "mail", "user": "alice",
                              "destinations": ["buyer@outside.example.com"]}, lang="ja")
    assert ja.status_code == 200, ja.content
    body = ja.json()
    assert body["action"] == "block"
    event = AuditEvent.objects.get(object_type="guard_decision", object_id=str(body["record"]))
    assert event.actor_name == "token:DLP" and event.channel == "api" and event.details["action"] == "block"
    (reason,) = body["reasons"]
    assert reason["rule"] == "top-secret" and reason["level"] == "極秘" and reason["detector"] == "registered-secret"
    assert reason["message"] == "極秘情報は社外に送信できません。生成AIへの入力も禁止されています。"
    assert reason["message_en"].startswith("Top-secret information")
    (finding,) = body["findings"]
    assert finding["detector"] == "registered-secret"
    assert finding["secret"] == {"id": None, "level": "極秘", "title": None}  # a token acting for nobody
    en = post(client, token, {"text": EXCERPT, "channel": "mail"}, lang="en-US,en;q=0.9,ja;q=0.8").json()
    assert en["reasons"][0]["message"] == en["reasons"][0]["message_en"]
    assert en["reasons"][0]["message"].startswith("Top-secret information")
    row = GuardDecision.objects.get(pk=body["record"])
    assert row.username == "alice" and row.department == "DEV"  # the department from the register of people
    assert row.secret_ids == [guarded.recipe.pk] and row.destinations == ["buyer@outside.example.com"]
    stored = json.dumps([list(GuardDecision.objects.values()), [e.details for e in AuditEvent.objects.all()]],
                        ensure_ascii=False, default=str)
    for piece in (RECIPE[:15], "八百五十度", "窒素九十五", guarded.recipe.title):
        assert piece not in stored


def test_my_number_is_redacted(api):
    client, token = api
    body = post(client, token, {"text": PERSONAL, "channel": "ai"}).json()
    assert body["action"] == "redact"
    assert "[REDACTED:my-number]" in body["redacted_text"] and "12345678901" not in body["redacted_text"]
    assert body["reasons"][0]["rule"] == "my-number-ai"
    assert body["findings"][0]["detector"] == "my-number" and "12345678901" not in body["findings"][0]["snippet"]


def test_file_uploads_docx_base64_and_zip_multipart(api):
    client, token = api
    document = docx(["議事メモ", EXCERPT])
    body = post(client, token, {"content_base64": base64.b64encode(document).decode(), "filename": "議事メモ.docx",
                                "channel": "upload"}).json()
    assert body["action"] == "block" and body["findings"][0]["detector"] == "registered-secret"
    row = GuardDecision.objects.get(pk=body["record"])
    assert row.meta["input"] == "file" and row.meta["ext"] == ".docx" and row.size == len(document)

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("見積/価格.txt", PRICES_EXCERPT)
    response = client.post(URL, {"file": _upload("送付.zip", buf.getvalue()), "channel": "mail",
                                 "destinations": ["a@outside.example.com", "b@outside.example.com"]},
                           HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["action"] == "hold" and body["reasons"][0]["rule"] == "secret-mail"
    assert body["findings"][0]["part"].endswith("価格.txt")
    assert GuardDecision.objects.get(pk=body["record"]).destinations == ["a@outside.example.com",
                                                                           "b@outside.example.com"]
    # a multipart text field is a prompt like the JSON one: redaction applies
    response = client.post(URL, {"text": PERSONAL, "channel": "ai"}, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.json()["action"] == "redact"
    # redact on a file cannot rewrite it: blocked
    response = client.post(URL, {"file": _upload("社員.txt", PERSONAL.encode()), "channel": "ai"},
                           HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.json()["action"] == "block"


def _upload(name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data)


def test_need_to_know_on_findings(guarded):
    client = ServedClient()
    manager = Context(actor=guarded.users["manager"])
    _r, for_bob = services.create_token(manager, "bob's plugin", ["check"], user=guarded.users["bob"])
    _r, for_alice = services.create_token(manager, "alice's plugin", ["check"], user=guarded.users["alice"])
    hidden = post(client, for_bob, {"text": EXCERPT, "user": "alice", "department": "SALES"}).json()
    assert hidden["findings"][0]["secret"] == {"id": None, "level": "極秘", "title": None}
    assert guarded.recipe.title not in json.dumps(hidden, ensure_ascii=False)
    row = GuardDecision.objects.get(pk=hidden["record"])
    assert row.username == "bob" and row.department == "DEV"  # the bound person, whatever the body says
    shown = post(client, for_alice, {"text": EXCERPT}).json()
    assert shown["findings"][0]["secret"] == {"id": guarded.recipe.pk, "level": "極秘", "title": "焼結条件"}
    # a logged-in web session: the person's own need-to-know
    client.force_login(guarded.users["saleslead"])
    response = post(client, None, {"text": EXCERPT})
    assert response.status_code == 200, response.content
    assert response.json()["findings"][0]["secret"]["title"] is None
    assert GuardDecision.objects.get(pk=response.json()["record"]).username == "saleslead"
    client.force_login(guarded.users["devlead"])
    assert post(client, None, {"text": EXCERPT}).json()["findings"][0]["secret"]["title"] == "焼結条件"


BAD_INPUTS = [
    ({"raw": b"{not json", "content_type": "application/json"}, 400, "guard.json_invalid"),
    ({"raw": b"[1, 2]", "content_type": "application/json"}, 400, "guard.json_invalid"),
    ({"raw": b"   ", "content_type": "application/json"}, 400, "guard.json_invalid"),
    ({"raw": b"[" * 100000, "content_type": "application/json"}, 400, "guard.json_invalid"),
    ({"raw": '{"text": "社外秘"}'.encode("shift_jis"), "content_type": "application/json"}, 400, "guard.encoding"),
    ({"raw": b'{"text": "\\ud800"}', "content_type": "application/json"}, 400, "guard.encoding"),
    ({"raw": b'{"text": "x"}', "content_type": "application/json; charset=shift_jis"}, 415, "guard.content_type"),
    ({"raw": b"text=hello", "content_type": "application/x-www-form-urlencoded"}, 415, "guard.content_type"),
    ({"raw": b"hello", "content_type": "text/plain"}, 415, "guard.content_type"),
    ({"body": {"text": "x", "channel": "fax"}}, 400, "guard.channel_unknown"),
    ({"body": {"text": "x", "channel": 3}}, 400, "guard.field_invalid"),
    ({"body": {"text": 42}}, 400, "guard.field_invalid"),
    ({"body": {"text": "x", "destinations": "a\x00b"}}, 400, "guard.field_invalid"),
    ({"body": {"text": "x", "destinations": [{"to": "x"}]}}, 400, "guard.field_invalid"),
    ({"body": {"text": "x", "destinations": ["a@b.example"] * 101}}, 400, "guard.field_invalid"),
    ({"body": {"text": "x", "user": ["alice"]}}, 400, "guard.field_invalid"),
    ({"body": {"text": "x", "department": "D" * 21}}, 400, "guard.field_invalid"),
    ({"body": {}}, 400, "guard.input_missing"),
    ({"body": {"channel": "ai"}}, 400, "guard.input_missing"),
    ({"body": {"text": "x", "content_base64": "eA==", "filename": "a.txt"}}, 400, "guard.input_ambiguous"),
    ({"body": {"content_base64": "not base64!", "filename": "a.txt"}}, 400, "guard.base64_invalid"),
    ({"body": {"content_base64": "eA=="}}, 400, "guard.field_invalid"),
    ({"body": {"content_base64": 5, "filename": "a.txt"}}, 400, "guard.field_invalid"),
]


@pytest.mark.parametrize("kwargs, status, code", BAD_INPUTS)
def test_bad_input_gets_a_stable_code(api, kwargs, status, code):
    client, token = api
    before = GuardDecision.objects.count()
    body = error(post(client, token, **kwargs), status, code)
    assert GuardDecision.objects.count() == before
    en = error(post(client, token, lang="en", **kwargs), status, code)
    assert en["message"]
    assert body["message"]


def test_broken_multipart_is_a_400(api):
    client, token = api
    response = client.generic("POST", URL, b"--xyz\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nhi",
                              content_type="multipart/form-data; boundary=", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code in (400, 413), response.content
    assert response.json()["code"].startswith("guard.")


def test_no_token_bad_token_revoked_token(api, guarded):
    client, token = api
    error(post(client, None, {"text": "x"}), 401, "auth.required")
    response = error(post(client, "hmt_abcd_wrong", {"text": "x"}), 401, "guard.token_invalid")
    assert response["message"]
    response = post(client, "hmt_abcd_wrong", {"text": "x"})
    assert response["WWW-Authenticate"] == "Bearer"
    error(post(client, "garbage", {"text": "x"}), 401, "guard.token_invalid")
    _row, ai_only = services.create_token(Context(actor=guarded.users["manager"]), "AI", ["ai"])
    error(post(client, ai_only, {"text": "x"}), 401, "guard.token_invalid")  # wrong scope
    assert post(client, token, {"text": "x"}).status_code == 200
    services.revoke_token(Context(actor=guarded.users["admin"]), services.verify_token(token, "check"))
    error(post(client, token, {"text": "x"}), 401, "guard.token_invalid")
    # the token opens nothing else
    assert client.get("/api/v1/secrets", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def test_a_token_opens_only_the_check_api(guarded):
    _row, token = services.create_token(Context(actor=guarded.users["manager"]), "DLP", ["check"])
    client = ServedClient()
    for url in ("/api/v1/secrets", "/api/v1/audit", "/", "/register/"):
        response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code in (302, 401), (url, response.status_code)


def test_size_limit_413(api, settings):
    client, token = api
    settings.HIMITSU_GUARD_MAX_BYTES = 1000
    error(post(client, token, {"text": "あ" * 400}), 413, "guard.too_large")
    big = base64.b64encode(b"x" * 3000).decode()
    settings.HIMITSU_GUARD_MAX_BYTES = 2900
    error(post(client, token, {"content_base64": big, "filename": "a.bin"}), 413, "guard.too_large")
    response = client.post(URL, {"file": _upload("a.bin", b"x" * 5000)}, HTTP_AUTHORIZATION=f"Bearer {token}")
    error(response, 413, "guard.too_large")
    assert post(client, token, {"text": "短い"}).status_code == 200


def test_rate_limit_429_with_retry_after(api, settings, guarded):
    client, token = api
    settings.HIMITSU_GUARD_RATE = 0.5
    settings.HIMITSU_GUARD_BURST = 3
    statuses = [post(client, token, {"text": "x"}).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    response = post(client, token, {"text": "x"}, lang="en")
    body = error(response, 429, "guard.rate_limited")
    assert int(response["Retry-After"]) >= 1 and "try again" in body["message"]
    assert GuardDecision.objects.count() == 3
    # another token has its own bucket
    _row, other = services.create_token(Context(actor=guarded.users["manager"]), "other", ["check"])
    assert post(client, other, {"text": "x"}).status_code == 200


def test_every_call_is_recorded_with_the_token(api):
    client, token = api
    for text in (HARMLESS, EXCERPT, PERSONAL):
        assert post(client, token, {"text": text}).status_code == 200
    rows = GuardDecision.objects.order_by("pk")
    assert [r.action for r in rows] == ["allow", "block", "redact"]
    assert {r.token.name for r in rows} == {"DLP"}


def test_openapi_documents_the_check_api(guarded, login):
    spec = login("admin").get("/api/v1/openapi.json").json()
    operation = spec["paths"]["/api/v1/check"]["post"]
    assert set(operation["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert {"200", "400", "401", "413", "415", "429"} <= set(operation["responses"])
