"""The gateways on the web app's guard (issue 6): the AI gateway and the mail relay checking with
``DatabaseGuard`` — tokens identified from the database, decisions recorded, held mail kept encrypted in the
quarantine and released to a real next hop — and ``himitsu guard serve`` configured from the environment.

The gateways call the guard from worker threads; here those threads share the test's database connection (and
so its transaction: nothing is committed, the audit trail stays append-only)."""

from __future__ import annotations

import email
import email.policy
import json
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage

import pytest

from himitsu.gateways import config as gateway_config
from himitsu.gateways.ai import AiConfig, AiGateway
from himitsu.gateways.mail import MailConfig, MailRelay
from himitsu.gateways.smtp_out import NextHop
from himitsu.web.guard import services
from himitsu.web.guard.models import GuardDecision, QuarantineItem
from himitsu.web.register.services import Context
from tests.gateways.conftest import next_hop, upstream  # noqa: F401  (real servers on 127.0.0.1)
from tests.guard_env import EXCERPT, HARMLESS, RECIPE, guarded_fixture  # noqa: F401


@pytest.fixture
def shared_connection(db):
    """Every thread uses the test's connection (Django keeps one per thread otherwise)."""
    from django.db import connections

    conn = connections["default"]
    conn.inc_thread_sharing()
    original = connections._connections

    class Shared:
        default = conn

    connections._connections = Shared()
    yield
    connections._connections = original
    conn.dec_thread_sharing()


def chat(port: int, token: str, text: str) -> tuple[int, dict, dict]:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": text}]}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=body,
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, dict(reply.headers), json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_ai_gateway_with_database_tokens_and_records(guarded, upstream, shared_connection):  # noqa: F811
    manager = Context(actor=guarded.users["manager"], channel="test")
    row, token = services.create_token(manager, "社内チャット", ["ai"], user=guarded.users["alice"])
    _check_row, check_only = services.create_token(manager, "検査のみ", ["check"])
    gateway = AiGateway(services.DatabaseGuard(), AiConfig(upstream=f"http://127.0.0.1:{upstream.port}/v1",
                                                           upstream_key="provider-key", port=0))
    gateway.start()
    try:
        ok = chat(gateway.port, token, HARMLESS)
        blocked = chat(gateway.port, token, f"要約して。{EXCERPT}")
        refused = chat(gateway.port, check_only, HARMLESS)  # a token without the ai scope
        services.revoke_token(manager, row)
        revoked = chat(gateway.port, token, HARMLESS)
    finally:
        gateway.stop()
    assert ok[0] == 200 and ok[1]["X-Himitsu-Decision"] == "allow"
    assert blocked[0] == 200 and blocked[1]["X-Himitsu-Decision"] == "block"
    assert "極秘" in blocked[2]["choices"][0]["message"]["content"]
    assert refused[0] == 401 and revoked[0] == 401
    assert len(upstream.requests) == 1 and "provider-key" in upstream.requests[0]["headers"]["Authorization"]
    records = list(GuardDecision.objects.order_by("pk"))
    assert [(r.channel, r.action, r.username, r.token_id) for r in records] == [
        ("ai", "allow", "alice", row.pk), ("ai", "block", "alice", row.pk)]
    assert records[1].secret_ids == [guarded.recipe.pk] and records[1].department == "DEV"
    stored = json.dumps([list(GuardDecision.objects.values())], default=str, ensure_ascii=False)
    assert "焼結炉" not in stored and token not in stored  # neither the content nor the token is kept


def test_mail_relay_holds_in_the_quarantine_and_a_reviewer_releases(guarded, next_hop,  # noqa: F811
                                                                   shared_connection):
    relay = MailRelay(services.DatabaseGuard(), MailConfig(
        next_hop=NextHop("127.0.0.1", next_hop.port, starttls="off", timeout=5), notify_from="himitsu@example.co.jp",
        port=0, hostname="relay.test"))
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"], msg["To"], msg["Subject"] = "alice@example.co.jp", "buyer@partner.example.com", "価格の件"
    msg.set_content("ご参考まで。")
    msg.add_attachment("見積の参考まで。".encode(), maintype="text", subtype="plain",
                       filename="memo.txt")
    clean = msg.as_bytes()
    held = _message_with(RECIPE, "条件.txt")
    relay.start()
    try:
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as smtp:
            assert smtp.sendmail("alice@example.co.jp", ["buyer@partner.example.com"], clean) == {}
            with pytest.raises(smtplib.SMTPDataError) as caught:
                smtp.sendmail("alice@example.co.jp", ["buyer@partner.example.com"], held)
    finally:
        relay.stop()
    assert caught.value.smtp_code == 550  # 極秘: blocked by the default policy
    services.create_rule(Context(actor=guarded.users["manager"], channel="test"), "hold-top", "hold",
                         detectors=["registered-secret"], levels=["極秘"], position=0)
    relay.start()
    try:
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as smtp:
            smtp.sendmail("alice@example.co.jp", ["buyer@partner.example.com"], held)
    finally:
        relay.stop()
    item = QuarantineItem.objects.get()
    assert item.status == "held" and item.mail_from == "alice@example.co.jp"
    assert "焼結炉".encode() not in bytes(item.ciphertext)
    assert item.decision.username == "alice" and item.decision.action == "hold"
    arrived_before = len(next_hop.to("buyer@partner.example.com"))
    services.release(Context(actor=guarded.users["manager"], channel="test"), item,
                     NextHop("127.0.0.1", next_hop.port, starttls="off", timeout=5))
    delivered = next_hop.to("buyer@partner.example.com")
    assert len(delivered) == arrived_before + 1 and delivered[-1].data == held
    assert [d.action for d in GuardDecision.objects.order_by("pk")] == ["allow", "block", "hold"]


def _message_with(text: str, name: str) -> bytes:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"], msg["To"], msg["Subject"] = "alice@example.co.jp", "buyer@partner.example.com", "資料"
    msg.set_content("資料を送ります。")
    msg.add_attachment(text.encode(), maintype="text", subtype="plain", filename=name)
    return msg.as_bytes()


@pytest.mark.parametrize("env, setting", [
    ({"HIMITSU_AI_UPSTREAM": "ftp://x"}, "HIMITSU_AI_UPSTREAM"),
    ({"HIMITSU_AI_UPSTREAM": "http://x/v1", "HIMITSU_AI_PORT": "99999"}, "HIMITSU_AI_PORT"),
    ({"HIMITSU_AI_UPSTREAM": "http://x/v1", "HIMITSU_AI_REFUSAL": "shout"}, "HIMITSU_AI_REFUSAL"),
    ({"HIMITSU_AI_UPSTREAM": "http://x/v1", "HIMITSU_AI_UPSTREAM_KEY_FILE": "/nonexistent/key"},
     "HIMITSU_AI_UPSTREAM_KEY_FILE"),
    ({"HIMITSU_MAIL_NEXT_HOP": "mx:port"}, "HIMITSU_MAIL_NEXT_HOP"),
    ({"HIMITSU_MAIL_NEXT_HOP": "mx:25", "HIMITSU_MAIL_NEXT_HOP_STARTTLS": "maybe"}, "HIMITSU_MAIL_NEXT_HOP_STARTTLS"),
    ({"HIMITSU_MAIL_NEXT_HOP": "mx:25", "HIMITSU_MAIL_TLS_CERT": "/c.pem"}, "HIMITSU_MAIL_*"),
])
def test_gateway_settings_refuse_what_cannot_be_used(env, setting):
    with pytest.raises(gateway_config.ConfigError) as caught:
        gateway_config.ai_config(env)
        gateway_config.mail_config(env)
    assert caught.value.code == "config.gateway_invalid" and caught.value.params["setting"] == setting


def test_gateway_settings_from_the_environment(tmp_path):
    key = tmp_path / "key"
    key.write_text("sk-provider\n")
    ai = gateway_config.ai_config({"HIMITSU_AI_UPSTREAM": "http://10.0.0.5:8000/v1", "HIMITSU_AI_UPSTREAM_KEY_FILE":
                                   str(key), "HIMITSU_AI_PORT": "0", "HIMITSU_AI_MODELS": "a, b"})
    assert ai is not None and ai.upstream_key == "sk-provider" and ai.port == 0 and list(ai.models or []) == ["a", "b"]
    mail = gateway_config.mail_config({"HIMITSU_MAIL_NEXT_HOP": "mx.example.co.jp:587",
                                       "HIMITSU_MAIL_NEXT_HOP_STARTTLS": "required",
                                       "HIMITSU_MAIL_TRUSTED": "10.0.0.0/8"})
    assert mail is not None and (mail.next_hop.host, mail.next_hop.port, mail.next_hop.starttls) == (
        "mx.example.co.jp", 587, "required")
    assert mail.trusted == ("10.0.0.0/8",)
    assert gateway_config.ai_config({}) is None and gateway_config.mail_config({}) is None
