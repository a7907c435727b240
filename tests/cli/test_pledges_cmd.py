"""`himitsu pledges reminders|verify`: output, JSON, exit codes (0 ok, 1 failed verification), no tracebacks."""

from __future__ import annotations

import json
from datetime import timedelta

from django.utils import timezone
from typer.testing import CliRunner

from himitsu.cli import app
from himitsu.web.audit.models import AuditEvent
from himitsu.web.pledges import services
from himitsu.web.pledges.models import Pledge
from himitsu.web.register.services import Context

runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), env=env)


def _issue(org, person="alice", secrets=("recipe",), **kw):
    req = services.IssueRequest(
        person=org.users[person], template="leaving", company="株式会社青嵐精工",
        due_on=timezone.localdate() + timedelta(days=7), secrets=[getattr(org, s) for s in secrets],
        duration_years=2, **kw)
    return services.issue(Context(actor=org.users["manager"], channel="test"), req)


def _ack(org, pledge, person="alice"):
    return services.acknowledge(Context(actor=org.users[person], channel="test"), pledge)


def test_verify_with_nothing_to_verify(db):
    result = run("pledges", "verify", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"ok": True, "checked": 0, "failed": 0, "results": []}


def test_verify_ok_then_tampered(org):
    first = _ack(org, _issue(org))
    _ack(org, _issue(org, person="bob", secrets=("drawing",)), person="bob")
    _issue(org)  # not acknowledged: nothing to verify
    result = run("pledges", "verify", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["checked"] == 2
    human = run("pledges", "verify", env={"HIMITSU_LANG": "en"})
    assert human.exit_code == 0 and "2" in human.stdout
    Pledge.objects.filter(pk=first.pk).update(acknowledged_at=first.acknowledged_at + timedelta(hours=1))
    result = run("pledges", "verify", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["failed"] == 1
    bad = [r for r in data["results"] if not r["ok"]]
    assert bad == [{"pledge": first.pk, "number": first.number, "person": "alice", "checked": True, "ok": False,
                    "problems": ["pledge.time_changed"]}]
    human = run("pledges", "verify", env={"HIMITSU_LANG": "en"})
    assert human.exit_code == 1 and "Traceback" not in human.output
    assert "pledge.time_changed" in human.stderr and first.number in human.stderr
    assert AuditEvent.objects.filter(action="verify", object_type="pledge").count() == 4


def test_reminders_json_and_text(org):
    today = timezone.localdate()
    late = _issue(org)
    Pledge.objects.filter(pk=late.pk).update(due_on=today - timedelta(days=5))
    soon = _ack(org, _issue(org, person="bob", secrets=("drawing",), expires_on=today + timedelta(days=10)),
                person="bob")
    result = run("pledges", "reminders", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["missing"] == 1 and data["expiring"] == 1
    people = {p["username"]: p for p in data["people"]}
    assert people["alice"]["missing"][0]["id"] == late.pk and people["alice"]["missing"][0]["days_overdue"] == 5
    assert people["alice"]["department"]["code"] == "DEV"
    assert people["bob"]["expiring"][0]["id"] == soon.pk and people["bob"]["expiring"][0]["days_left"] == 10
    narrow = json.loads(run("pledges", "reminders", "--json", "--days", "5").stdout)
    assert narrow["expiring"] == 0
    text = run("pledges", "reminders", env={"HIMITSU_LANG": "en"})
    assert text.exit_code == 0 and late.number in text.stdout and soon.number in text.stdout


def test_reminders_empty(db):
    result = run("pledges", "reminders")
    assert result.exit_code == 0 and "Traceback" not in result.output


def test_bad_option_is_a_usage_error(db):
    result = run("pledges", "reminders", "--days", "0")
    assert result.exit_code == 2 and "Traceback" not in result.output
