"""`himitsu insider ingest|people|score` (issue 7): the web app's services from the shell; exit codes 0 every file
ingested cleanly, 1 rows rejected, 2 usage or input error (or a file that could not be ingested at all)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from himitsu.cli import app
from himitsu.web.audit.models import AuditEvent
from himitsu.web.insider import services
from himitsu.web.insider.models import IngestedFile, InsiderAlert
from tests.web.test_insider import COPIED, LAST, UNKNOWN, insider_db_fixture, write_cert  # noqa: F401

runner = CliRunner()


def run(*args: str, lang: str = "ja"):
    return runner.invoke(app, list(args), env={"HIMITSU_LANG": lang})


def lines(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_ingest_exit_codes_tables_and_json(org, insider_db, tmp_path):
    logs = write_cert(tmp_path / "logs")
    result = run("insider", "ingest", str(logs.logon), str(logs.device), "--format", "cert", lang="en")
    assert result.exit_code == 0, result.output
    assert "logon.csv" in result.stdout and "ingested" in result.stdout
    result = run("insider", "ingest", str(logs.logon), "--format", "cert", "--json")
    assert result.exit_code == 0
    (data,) = lines(result)
    assert data["files"][0]["skipped"] is True and data["files"][0]["added"] == 0

    bad = tmp_path / "bad" / "logon.csv"
    bad.parent.mkdir()
    bad.write_text("id,date,user,pc,activity\n{B1},03/02/2026 09:00:00,alice,PC-1,Logon\n"
                   "{B2},03/02/2026 99:99:99,alice,PC-1,Logon\n", encoding="utf-8")
    result = run("insider", "ingest", str(bad), "--format", "cert", lang="en")
    assert result.exit_code == 1, result.output
    assert "rows rejected" in result.output and "insider.row." in result.output

    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    result = run("insider", "ingest", str(empty), str(logs.file), "--format", "cert", "--json")
    assert result.exit_code == 2
    (data,) = lines(result)
    assert [f["ok"] for f in data["files"]] == [False, True]
    assert data["files"][0]["code"].startswith("insider.file.") and data["files"][1]["kind"] == "file"
    assert IngestedFile.objects.filter(name="file.csv", added__gt=0).exists()

    result = run("insider", "ingest", str(logs.file), "--format", "nonsense")
    assert result.exit_code == 2
    result = run("insider", "ingest", str(logs.file), "--format", "cert", "--as", "alice")
    assert result.exit_code == 2 and "権限" in result.output


def test_people_and_score_pseudonymised_by_default(org, insider_db, tmp_path):
    from himitsu.web.register.models import LocationKind, StorageLocation

    StorageLocation.objects.create(secret=org.recipe, kind=LocationKind.PATH, location="\\\\fs01\\dev\\recipe")
    logs = write_cert(tmp_path / "logs")
    assert run("insider", "ingest", str(logs.logon), str(logs.device), str(logs.file), "--format",
               "cert").exit_code == 0
    people = tmp_path / "people.csv"
    people.write_text("user,department\next01,SALES\n", encoding="utf-8")
    result = run("insider", "people", str(people), "--json")
    assert result.exit_code == 0 and lines(result) == [{"people": 1}]

    result = run("insider", "score", "--json", "--top", "3")
    assert result.exit_code == 0, result.output
    rows = lines(result)
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert rows[0]["pseudonym"] == services.pseudonym("alice") and "user" not in rows[0] and "name" not in rows[0]
    assert "alice" not in result.stdout.lower()
    assert any(i["name"] == "usb_writes" and i["value"] == COPIED for i in rows[0]["indicators"])
    assert InsiderAlert.objects.filter(day=LAST).exists()

    result = run("insider", "score", "--date", LAST.isoformat(), lang="en")
    assert result.exit_code == 0
    assert f"User {services.pseudonym('alice')}" in result.stdout
    assert f"{len(UNKNOWN) - 1} not known to Himitsu" in result.stdout


def test_reveal_from_the_shell_needs_a_secret_manager_and_a_reason(org, insider_db, tmp_path):
    logs = write_cert(tmp_path / "logs")
    run("insider", "ingest", str(logs.logon), str(logs.device), str(logs.file), "--format", "cert")
    assert run("insider", "score", "--reveal", "--reason", "x").exit_code == 2  # the operator: not a manager
    assert run("insider", "score", "--reveal", "--as", "admin", "--reason", "x").exit_code == 2
    result = run("insider", "score", "--reveal", "--as", "manager", lang="en")
    assert result.exit_code == 2 and "Give the reason" in result.output
    assert not AuditEvent.objects.filter(object_type="insider_reveal").exists()

    result = run("insider", "score", "--reveal", "--as", "manager", "--reason", "退職前の確認", "--top", "1",
                 "--json")
    assert result.exit_code == 0, result.output
    (row,) = lines(result)
    assert (row["user"], row["name"]) == ("alice", "Alice")
    event = AuditEvent.objects.get(object_type="insider_reveal")
    assert event.channel == "cli" and event.actor_name == "manager" and event.details["reason"] == "退職前の確認"


def test_score_with_nothing_ingested_is_an_input_error(org, insider_db):
    result = run("insider", "score", lang="en")
    assert result.exit_code == 2 and "ingest activity logs first" in result.output
    assert run("insider", "score", "--date", "2026-13-01").exit_code == 2
