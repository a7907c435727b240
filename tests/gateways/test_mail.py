"""The SMTP relay with real SMTP on 127.0.0.1: smtplib clients, a real engine and policy, an aiosmtpd next hop
that records the raw bytes it received."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from himitsu.engine.policy import Decision, Reason, default_policy
from himitsu.gateways.base import Verdict
from himitsu.gateways.mail import MailConfig, MailRelay, build_notice
from himitsu.gateways.smtp_out import NextHop
from tests.engine.test_extract_fixtures import docx, zip_with_encrypted_flag
from tests.gateways.conftest import INTERNAL, TOP, BrokenGuard, NextHopSink, free_port, wait_for

SENDER = "alice@example.co.jp"
NOTIFY = "himitsu-guard@example.co.jp"
CUSTOMERS = "\n".join(f"{name},090-1234-{5600 + i},備考{i}" for i, name in enumerate(
    ["山田 太郎", "佐藤花子", "鈴木 一郎", "高橋 健", "田中 美咲", "伊藤 翔", "渡辺 陽子", "中村 さくら"]))


def message(body: str = "お世話になっております。明日の打ち合わせの件です。", subject: str = "打ち合わせ",
            to: str = "partner@other.example.com", attachments: list[tuple[str, bytes, str]] = ()) -> bytes:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = SENDER
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = "<test-1@example.co.jp>"
    msg.set_content(body)
    for name, data, mime in attachments:
        maintype, subtype = mime.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


@pytest.fixture
def start(guard, next_hop) -> Iterator[Callable[..., MailRelay]]:
    relays: list[MailRelay] = []

    def _start(**overrides: Any) -> MailRelay:
        config = MailConfig(**({"next_hop": NextHop("127.0.0.1", next_hop.port, starttls="off", timeout=5),
                                "notify_from": NOTIFY, "port": 0, "hostname": "relay.test"} | overrides))
        relay = MailRelay(guard, config)
        relay.start()
        relays.append(relay)
        return relay

    yield _start
    for relay in relays:
        relay.stop()


@pytest.fixture
def relay(start) -> MailRelay:
    return start()


def send(relay: MailRelay, data: bytes, rcpts: tuple[str, ...] = ("partner@other.example.com",),
         sender: str = SENDER) -> dict[str, Any]:
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=15) as smtp:
        return smtp.sendmail(sender, list(rcpts), data)


def notice_to(next_hop: NextHopSink, address: str = SENDER) -> email.message.EmailMessage:
    assert wait_for(lambda: next_hop.to(address)), "no notice arrived"
    [arrived] = next_hop.to(address)
    assert arrived.mail_from == NOTIFY
    return email.message_from_bytes(arrived.data, policy=email.policy.default)  # type: ignore[return-value]


# -- decisions ----------------------------------------------------------------------------------------


def test_clean_mail_is_relayed_byte_identical(relay, next_hop, guard):
    data = message(attachments=[("memo.txt", "議事録です。".encode(), "text/plain")])
    assert send(relay, data, ("a@other.example.com", "b@other.example.com")) == {}
    [arrived] = next_hop.messages
    assert arrived.data == data and arrived.mail_from == SENDER
    assert arrived.rcpt_tos == ["a@other.example.com", "b@other.example.com"]
    record = guard.records[-1]
    assert record["channel"] == "mail" and record["action"] == "allow" and record["user"] == "alice"
    assert record["meta"]["message_id"] == "<test-1@example.co.jp>"
    assert record["meta"]["sender_domain"] == "example.co.jp" and record["meta"]["subject_chars"] == 5
    assert "打ち合わせ" not in str(record)


@pytest.mark.parametrize("attachment", [
    ("spec.docx", docx(["製造仕様", TOP]), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("spec.txt", TOP.encode(), "text/plain"),
])
def test_top_secret_attachment_is_rejected_with_a_japanese_notice(relay, next_hop, guard, attachment):
    with pytest.raises(smtplib.SMTPDataError) as caught:
        send(relay, message(attachments=[attachment]))
    record = guard.records[-1]
    assert caught.value.smtp_code == 550
    reply = caught.value.smtp_error.decode()
    assert reply.startswith("5.7.1") and f"record {record['id']}" in reply and reply.isascii()
    assert "Top-secret information may not leave" in reply
    notice = notice_to(next_hop)
    assert not [m for m in next_hop.messages if "partner@other.example.com" in m.rcpt_tos]
    assert notice["Subject"] == "【Himitsu】メールの送信を止めました / Your e-mail was not sent"
    assert notice["Auto-Submitted"] == "auto-replied" and notice["In-Reply-To"] == "<test-1@example.co.jp>"
    body = notice.get_content()
    assert body.index("送信されませんでした") < body.index("was not sent")  # Japanese first
    assert "極秘情報は社外に送信できません" in body and f"記録番号: {record['id']}" in body
    assert "二三〇" not in body and "打ち合わせ" not in body  # never the content, nor the subject


@pytest.mark.parametrize("attachment", [
    ("customers.csv", CUSTOMERS.encode(), "text/csv"),
    ("見積.zip", zip_with_encrypted_flag({"mitsumori.txt": "見積金額".encode()}, encrypted={"mitsumori.txt"}),
     "application/zip"),
])
def test_customer_list_or_ppap_is_held(relay, next_hop, guard, attachment):
    data = message(attachments=[attachment])
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=15) as smtp:
        smtp.ehlo()
        smtp.mail(SENDER)
        smtp.rcpt("partner@other.example.com")
        code, reply = smtp.data(data)
    assert code == 250
    [(quarantine, item)] = guard.held.items()
    assert f"quarantine {quarantine}".encode() in reply
    assert item.data == data and item.destinations == ("partner@other.example.com",)
    notice = notice_to(next_hop)
    assert notice["Subject"].startswith("【Himitsu】メールは確認待ちです")
    assert f"隔離番号: {quarantine}" in notice.get_content()
    assert not next_hop.to("partner@other.example.com")


def test_warning_delivers_unchanged_and_notifies(relay, next_hop, guard):
    data = message(body=f"共有します。\n{INTERNAL}")
    send(relay, data)
    assert guard.records[-1]["action"] == "warn"
    [delivered] = next_hop.to("partner@other.example.com")
    assert delivered.data == data
    notice = notice_to(next_hop)
    assert "社外秘の情報が含まれています" in notice.get_content()


def test_english_sender_gets_the_same_bilingual_notice(relay, next_hop):
    with pytest.raises(smtplib.SMTPDataError):
        send(relay, message(body=TOP), sender="bob@example.co.jp")
    notice = notice_to(next_hop, "bob@example.co.jp")
    assert "Top-secret" in notice.get_content() and "極秘" in notice.get_content()


def test_malformed_mime_still_gets_a_decision(relay, next_hop, guard):
    broken = (b"From: alice@example.co.jp\r\nTo: x@other.example.com\r\nSubject: =?utf-8?B?broken?=\r\n"
              b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"zzz\"\r\n\r\n--zzz\r\n"
              b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjcK!!!!\r\n")
    try:
        send(relay, broken)
        outcome = 250
    except smtplib.SMTPDataError as exc:
        outcome = exc.smtp_code
    record = guard.records[-1]
    assert "uninspectable" in record["detectors"] and record["action"] in ("hold", "block")
    assert (outcome, record["action"]) in ((250, "hold"), (550, "block"))


# -- the next hop -------------------------------------------------------------------------------------


def test_next_hop_down_is_451_and_nothing_is_lost(start, guard):
    relay = start(next_hop=NextHop("127.0.0.1", free_port(), starttls="off", timeout=2))
    with pytest.raises(smtplib.SMTPDataError) as caught:
        send(relay, message())
    assert caught.value.smtp_code == 451 and caught.value.smtp_error.startswith(b"4.4.1")
    assert guard.held == {}


def test_next_hop_refusing_is_554_with_its_reason(relay, next_hop):
    next_hop.answer = "554 5.7.1 no thanks"
    with pytest.raises(smtplib.SMTPDataError) as caught:
        send(relay, message())
    assert caught.value.smtp_code == 554 and b"no thanks" in caught.value.smtp_error
    next_hop.answer = "451 4.3.0 busy"
    with pytest.raises(smtplib.SMTPDataError) as caught:
        send(relay, message())
    assert caught.value.smtp_code == 451
    assert next_hop.messages == []


# -- the SMTP side ------------------------------------------------------------------------------------


def test_oversized_mail_is_552(start, next_hop):
    relay = start(max_size=50_000)
    data = message(attachments=[("big.txt", b"x" * 80_000, "text/plain")])
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=15) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("size") and smtp.esmtp_features["size"] == "50000"
        with pytest.raises(smtplib.SMTPSenderRefused) as caught:  # SIZE= declared
            smtp.sendmail(SENDER, ["a@other.example.com"], data)
        assert caught.value.smtp_code == 552
        smtp.rset()
        smtp.mail(SENDER)  # not declared: refused after DATA
        smtp.rcpt("a@other.example.com")
        code, _ = smtp.data(data)
        assert code == 552
    assert next_hop.messages == []


def test_untrusted_client_is_refused(start, next_hop):
    relay = start(trusted=("10.0.0.0/8",))
    with pytest.raises(smtplib.SMTPConnectError) as caught:
        smtplib.SMTP("127.0.0.1", relay.port, timeout=15)
    assert caught.value.smtp_code == 554
    assert next_hop.messages == []


def test_trust_check_also_guards_mail_and_rcpt():
    config = MailConfig(next_hop=NextHop("127.0.0.1"), notify_from=NOTIFY, trusted=("192.168.0.0/16", "::1"))
    assert config.is_trusted(("192.168.3.4", 25)) and config.is_trusted(("::ffff:192.168.3.4", 25, 0, 0))
    assert config.is_trusted(("::1", 25, 0, 0)) and not config.is_trusted(("127.0.0.1", 25))
    assert not config.is_trusted(None) and not config.is_trusted(("garbage", 1))
    with pytest.raises(ValueError):
        MailConfig(next_hop=NextHop("127.0.0.1"), notify_from=NOTIFY, trusted=("not-a-network",))


def raw_session(relay: MailRelay, commands: bytes) -> bytes:
    """Send SMTP commands as raw bytes in one go; everything the relay answered until it closed."""
    with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as sock:
        sock.sendall(commands)
        replies = b""
        while chunk := sock.recv(65536):
            replies += chunk
        return replies


@pytest.mark.parametrize("attempt", [
    b"MAIL FROM:<alice@example.co.jp\rBcc: victim@evil.example>\r\n",
    b"MAIL FROM:<alice@example.co.jp\nBcc: victim@evil.example>\r\n",
    b'MAIL FROM:<"alice\\ Bcc: x"@example.co.jp>\r\n',
    b"MAIL FROM:<alice@example.co.jp>\r\nRCPT TO:<bob@x.example\rTo: victim@evil.example>\r\n",
    b"MAIL FROM:<alice@example.co.jp>\r\nRCPT TO:<bob@x.example,victim@evil.example>\r\n",
    b"MAIL FROM:<alice@example.co.jp>\r\nRCPT TO:<victim@evil.example\r\n",
])
def test_header_injection_in_envelope_addresses_is_refused(relay, next_hop, attempt):
    transcript = raw_session(relay, b"EHLO client.test\r\n" + attempt + b"RCPT TO:<partner@other.example.com>\r\n"
                             b"DATA\r\n" + message(body=TOP) + b".\r\nQUIT\r\n")
    assert transcript.startswith(b"220 ") and b"\r\n5" in transcript
    # whatever got through has clean envelope addresses, and no notice or mail went anywhere else
    relay.stop()  # waits for the notices being sent
    assert len(next_hop.messages) <= 1
    for arrived in next_hop.messages:
        assert arrived.mail_from == NOTIFY and arrived.rcpt_tos == [SENDER]
        assert b"evil" not in arrived.data and b"Bcc" not in arrived.data


def test_notice_headers_cannot_be_injected():
    config = MailConfig(next_hop=NextHop("127.0.0.1"), notify_from=NOTIFY)
    verdict = Verdict(Decision("block", (Reason("block", "marking", "極秘", "r", "理由\r\nBcc: x@evil", "reason"),)),
                      record="7")
    data = build_notice(config, SENDER, verdict, ["a@b.example", "x@y\r\nBcc: z@evil.example"],
                        message_id="<a@b>\r\nBcc: evil@example.com")
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["Bcc"] is None and parsed["In-Reply-To"] is None
    assert [k for k in parsed.keys() if k.lower() not in (
        "from", "to", "subject", "date", "message-id", "auto-submitted", "x-himitsu-decision", "mime-version",
        "content-type", "content-transfer-encoding")] == []
    assert parsed["To"] == SENDER


# -- STARTTLS -----------------------------------------------------------------------------------------


def self_signed(folder: Path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "relay.pem", folder / "relay.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def test_starttls_works_and_can_be_required(start, next_hop, tmp_path):
    cert, key = self_signed(tmp_path)
    relay = start(tls_cert=cert, tls_key=key, require_starttls=True)
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=15) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls")
        code, _ = smtp.mail(SENDER)
        assert code == 530
    data = message()
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=15) as smtp:
        smtp.starttls(context=ssl.create_default_context(cafile=cert))
        smtp.ehlo()
        smtp.sendmail(SENDER, ["partner@other.example.com"], data)
    [arrived] = next_hop.messages
    assert arrived.data == data


def test_a_failing_guard_answers_451_so_nothing_is_lost(engine, next_hop):
    relay = MailRelay(BrokenGuard(engine, default_policy()), MailConfig(
        next_hop=NextHop("127.0.0.1", next_hop.port, starttls="off"), notify_from=NOTIFY, port=0))
    relay.start()
    try:
        with pytest.raises(smtplib.SMTPDataError) as caught:
            send(relay, message())
    finally:
        relay.stop()
    assert caught.value.smtp_code == 451 and next_hop.messages == []
