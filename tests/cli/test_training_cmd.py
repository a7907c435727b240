"""`himitsu training overdue [--json] [--send]` and `himitsu pledges reminders --send`, e-mailed through a real
SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from typer.testing import CliRunner

from himitsu.cli import app
from himitsu.web.notices.models import Notice
from himitsu.web.pledges import services as pledges
from himitsu.web.register.services import Context
from himitsu.web.training import services
from himitsu.web.training.models import Course
from tests.smtp import free_port, subject_of, use_smtp

runner = CliRunner()


@pytest.fixture
def overdue_course(org):
    ctx = Context(actor=org.users["manager"], channel="test")
    c = services.save_course(ctx, Course(code="SEC-101", title="営業秘密の基礎", title_en="Trade secrets 101",
                                         audience="departments", new_person_days=30), [org.dev])
    Course.objects.filter(pk=c.pk).update(created_at=timezone.now() - timedelta(days=40))
    for name in ("alice", "bob", "devlead"):
        u = org.users[name]
        u.email = f"{name}@example.invalid"
        u.save()
    return c


def test_overdue_json(org, overdue_course):
    result = runner.invoke(app, ["training", "overdue", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["overdue"] == 3 and "sent" not in data
    assert data["departments"] == [{"code": "DEV", "name": "開発部", "name_en": "Development", "people": 3,
                                    "overdue": 3}]
    assert {p["username"] for p in data["people"]} == {"alice", "bob", "devlead"}
    assert data["people"][0]["courses"][0]["days_overdue"] == 10
    human = runner.invoke(app, ["training", "overdue"], env={"HIMITSU_LANG": "en"})
    assert human.exit_code == 0 and "3 overdue" in human.stdout and "Development" in human.stdout
    assert Notice.objects.count() == 0


def test_nothing_overdue(db):
    result = runner.invoke(app, ["training", "overdue", "--send"], env={"HIMITSU_LANG": "ja"})
    assert result.exit_code == 0, result.output
    assert "ありません" in result.stdout and "通知 0件" in result.stdout


def test_overdue_send(org, overdue_course, smtp):
    result = runner.invoke(app, ["training", "overdue", "--send", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # alice, bob, devlead each get their own notice; devlead also gets the department's summary
    assert data["sent"] == {"notices": 4, "emailed": 4, "failed": []}
    assert len(smtp.messages) == 4
    subjects = sorted(subject_of(m) for m in smtp.messages)
    assert all(s.startswith("【教育】") and " / " in s for s in subjects)
    summary = [m for m in smtp.messages if "開発部" in subject_of(m)]
    assert len(summary) == 1 and smtp.messages.index(summary[0]) >= 0
    body = summary[0].get_payload(decode=True).decode("utf-8")
    assert body.index("部門の未受講") < body.index("Overdue training in your department") and "alice" in body
    assert Notice.objects.filter(recipient=org.users["devlead"]).count() == 2


def test_overdue_send_failure_exits_1(org, overdue_course, settings):
    use_smtp(settings, free_port())  # nothing listens there
    result = runner.invoke(app, ["training", "overdue", "--send"], env={"HIMITSU_LANG": "en"})
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "4 notice(s), 0 e-mail(s); 4 e-mail(s) failed" in result.stdout
    assert Notice.objects.count() == 4  # the notices are kept


def _issue(org, person: str, due_days: int = 7, **kw):
    req = pledges.IssueRequest(person=org.users[person], template="leaving", company="株式会社青嵐精工",
                               due_on=timezone.localdate() + timedelta(days=due_days), secrets=[org.recipe],
                               duration_years=2, **kw)
    return pledges.issue(Context(actor=org.users["manager"], channel="test"), req)


def test_pledge_reminders_send(org, smtp):
    from himitsu.web.pledges.models import Pledge

    for name in ("alice", "bob", "devlead"):
        u = org.users[name]
        u.email = f"{name}@example.invalid"
        u.save()
    missing = _issue(org, "alice")
    Pledge.objects.filter(pk=missing.pk).update(due_on=timezone.localdate() - timedelta(days=3))
    expiring = _issue(org, "bob", expires_on=timezone.localdate() + timedelta(days=10))
    pledges.acknowledge(Context(actor=org.users["bob"], channel="test"), expiring)
    result = runner.invoke(app, ["pledges", "reminders", "--send", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["missing"] == 1 and data["expiring"] == 1
    assert data["sent"] == {"notices": 3, "emailed": 3, "failed": []}
    by_to = {r[0]: m for r, m in zip(smtp.recipients, smtp.messages, strict=True)}
    assert set(by_to) == {"alice@example.invalid", "bob@example.invalid", "devlead@example.invalid"}
    alice_body = by_to["alice@example.invalid"].get_payload(decode=True).decode("utf-8")
    assert missing.number in alice_body and alice_body.index("未提出") < alice_body.index("not acknowledged")
    assert "開発部" in subject_of(by_to["devlead@example.invalid"])
    human = runner.invoke(app, ["pledges", "reminders", "--send"], env={"HIMITSU_LANG": "en"})
    assert human.exit_code == 0 and "Sent 3 notice(s), 3 e-mail(s); 0 e-mail(s) failed." in human.stdout


def test_pledge_reminders_send_failure(org, settings):
    use_smtp(settings, free_port())
    alice = org.users["alice"]
    alice.email = "alice@example.invalid"
    alice.save()
    from himitsu.web.pledges.models import Pledge

    p = _issue(org, "alice")
    Pledge.objects.filter(pk=p.pk).update(due_on=timezone.localdate() - timedelta(days=1))
    result = runner.invoke(app, ["pledges", "reminders", "--send", "--json"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    data = json.loads(result.stdout)
    assert data["sent"]["emailed"] == 0 and data["sent"]["failed"][0]["username"] == "alice"
    # without --send nothing is sent
    assert runner.invoke(app, ["pledges", "reminders"]).exit_code == 0
    assert Notice.objects.count() == 2  # alice's notice and devlead's summary, from the --send run only
