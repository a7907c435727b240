"""`himitsu people cases [--open] [--remind] [--as USER] [--json]`: exit codes, output, reminders."""

from __future__ import annotations

import json
from datetime import timedelta

from django.utils import timezone
from typer.testing import CliRunner

from himitsu.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["people", "cases", *args])


def _open(org, who="alice", days=10):
    from himitsu.web.register.services import Context
    from himitsu.web.workflows import services

    person = org.users[who]
    person.left_on = timezone.localdate() + timedelta(days=days)
    person.save(update_fields=["left_on"])
    return services.open_case(Context(actor=org.users["manager"], channel="web"), person, "leaving")


def test_cases_json_and_text(org):
    empty = run("--json")
    assert empty.exit_code == 0, empty.output
    assert json.loads(empty.stdout)["cases"] == []
    case = _open(org)
    done = run("--json")
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    row = data["cases"][0]
    assert row["number"] == case.number and row["person"] == "alice" and row["department"] == "DEV"
    assert (row["done"], row["total"], row["overdue"]) == (0, 6, 0)
    assert [s["code"] for s in row["steps"]][0] == "exit_pledge"
    text = run("--open")
    assert text.exit_code == 0 and case.number in text.output and "Traceback" not in text.output


def test_cases_as_user_need_to_know(org):
    _open(org)
    assert json.loads(run("--as", "saleslead", "--json").stdout)["cases"] == []
    assert len(json.loads(run("--as", "devlead", "--json").stdout)["cases"]) == 1
    bad = run("--as", "nobody")
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    denied = run("--as", "auditor", "--remind")
    assert denied.exit_code == 2


def test_remind_overdue_exit_1_and_notices(org):
    from himitsu.web.notices.models import Notice
    from himitsu.web.workflows.models import Step

    case = _open(org, days=0)
    Step.objects.filter(case=case).update(due_on=timezone.localdate() - timedelta(days=2))
    result = run("--remind", "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["overdue_steps"] == 6
    assert {r["owner"] for r in data["reminded"]} == {"devlead", "manager"}
    assert Notice.objects.filter(kind="workflow.overdue").count() == 2
    again = run("--remind")
    assert again.exit_code == 1 and Notice.objects.filter(kind="workflow.overdue").count() == 2
    from himitsu.web.workflows.models import CaseStatus

    case.status = CaseStatus.CANCELLED
    case.save(update_fields=["status"])
    assert run("--remind").exit_code == 0
