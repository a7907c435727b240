"""Notices: stored in the app, e-mailed through a real SMTP server (aiosmtpd) started on 127.0.0.1."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from himitsu import config
from himitsu.cli import app
from himitsu.errors import ConfigError
from tests.smtp import free_port, subject_of, use_smtp

ROLES = ["admin", "manager", "devlead", "alice", "auditor"]


def test_notice_stored_and_emailed(org, smtp):
    from himitsu.web.notices.models import Notice
    from himitsu.web.notices.services import notify

    alice = org.users["alice"]
    alice.email = "alice@example.invalid"
    alice.save()
    sent = notify([alice, org.users["bob"]], "pledge.reminder", "【Himitsu】誓約書の確認 / Pledge to acknowledge",
                  "未確認の誓約書があります。\nA pledge awaits your acknowledgement.", link="/pledges/")
    assert sent.emailed == 1 and sent.failed == []  # bob has no address: in the app only
    assert Notice.objects.filter(recipient=alice, emailed_at__isnull=False).count() == 1
    assert Notice.objects.filter(recipient=org.users["bob"], emailed_at__isnull=True, email_error="").count() == 1
    (message,) = smtp.messages
    assert smtp.recipients == [["alice@example.invalid"]]
    assert subject_of(message) == "【Himitsu】誓約書の確認 / Pledge to acknowledge"
    body = message.get_payload(decode=True).decode(message.get_content_charset() or "utf-8")
    assert "未確認の誓約書があります。" in body and body.rstrip().endswith("/pledges/")


def test_smtp_down_keeps_the_notice_and_reports(org, settings):
    from himitsu.web.notices.models import Notice
    from himitsu.web.notices.services import notify

    use_smtp(settings, free_port())  # nothing listens there
    alice = org.users["alice"]
    alice.email = "alice@example.invalid"
    alice.save()
    sent = notify([alice], "notice.test", "件名", "本文")
    assert sent.emailed == 0 and sent.failed and "unreachable" in sent.failed[0][1]
    notice = Notice.objects.get(recipient=alice)
    assert notice.emailed_at is None and "unreachable" in notice.email_error


def test_without_smtp_in_app_only_and_inactive_skipped(org, settings):
    from himitsu.web.notices.models import Notice
    from himitsu.web.notices.services import mail_enabled, notify

    settings.MAIL = None
    bob = org.users["bob"]
    bob.is_active = False
    bob.save()
    sent = notify([org.users["alice"], bob], "notice.test", "件名", "本文")
    assert not mail_enabled() and sent.emailed == 0 and len(sent.notices) == 1
    assert not Notice.objects.filter(recipient=bob).exists()


@pytest.mark.parametrize("role", ROLES)
def test_everyone_sees_only_their_own_notices(org, login, role):
    from himitsu.web.notices.models import Notice

    mine = Notice.objects.create(recipient=org.users[role], kind="k", subject=f"for {role}", body="b")
    other = Notice.objects.create(recipient=org.users["bob"], kind="k", subject="for bob only", body="b")
    client = login(role)
    page = client.get("/notices/")
    assert page.status_code == 200
    text = page.content.decode()
    assert f"for {role}" in text and "for bob only" not in text
    assert client.post(f"/notices/{other.pk}/read/").status_code == 404
    other.refresh_from_db()
    assert other.read_at is None
    assert client.post(f"/notices/{mine.pk}/read/").status_code == 302
    mine.refresh_from_db()
    assert mine.read_at is not None


def test_unread_count_in_the_header(org, login):
    from himitsu.web.notices.models import Notice

    Notice.objects.create(recipient=org.users["alice"], kind="k", subject="s", body="b")
    page = login("alice").get("/")
    assert '<b class="count">1</b>' in page.content.decode()


def test_cli_test_mail(org, smtp):
    alice = org.users["alice"]
    alice.email = "alice@example.invalid"
    alice.save()
    result = CliRunner().invoke(app, ["notices", "test-mail", "alice", "--json"])
    assert result.exit_code == 0, result.output
    assert '"emailed": 1' in result.stdout and len(smtp.messages) == 1
    result = CliRunner().invoke(app, ["notices", "test-mail", "nobody"])
    assert result.exit_code == 2


def test_cli_test_mail_reports_failure(org, settings):
    use_smtp(settings, free_port())
    alice = org.users["alice"]
    alice.email = "alice@example.invalid"
    alice.save()
    result = CliRunner().invoke(app, ["notices", "test-mail", "alice"])
    assert result.exit_code == 1 and "Traceback" not in result.output


@pytest.mark.parametrize(("env", "setting"), [
    ({"HIMITSU_SMTP_SECURITY": "tls1"}, "HIMITSU_SMTP_SECURITY"),
    ({"HIMITSU_SMTP_PORT": "seventy"}, "HIMITSU_SMTP_PORT"),
    ({"HIMITSU_SMTP_PORT": "70000"}, "HIMITSU_SMTP_PORT"),
])
def test_mail_settings_validated(monkeypatch, env, setting):
    monkeypatch.setenv("HIMITSU_SMTP_HOST", "mail.example.invalid")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as caught:
        config.mail()
    assert caught.value.code == "config.smtp_invalid" and caught.value.params["setting"] == setting


def test_mail_settings_defaults_and_password_file(monkeypatch, tmp_path):
    monkeypatch.delenv("HIMITSU_SMTP_HOST", raising=False)
    assert config.mail() is None
    secret = tmp_path / "smtp.pw"
    secret.write_text("s3cret\n", encoding="utf-8")
    monkeypatch.setenv("HIMITSU_SMTP_HOST", "mail.example.invalid")
    monkeypatch.setenv("HIMITSU_SMTP_SECURITY", "ssl")
    monkeypatch.setenv("HIMITSU_SMTP_PASSWORD_FILE", str(secret))
    mail = config.mail()
    assert mail is not None
    assert (mail.port, mail.password, mail.sender) == (465, "s3cret", "himitsu@mail.example.invalid")
