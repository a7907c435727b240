"""`himitsu people import FILE [--dry-run] [--json]`: exit codes, output, what is written."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from typer.testing import CliRunner

from himitsu.cli import app

runner = CliRunner()
HEADERS = ["社員番号", "氏名", "ログインID", "メール", "部署コード", "区分", "入社日", "退職日"]


def run(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), env=env)


def hr_csv(tmp_path: Path, rows: list[list[str]], name: str = "hr.csv") -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADERS)
    writer.writerows(rows)
    path = tmp_path / name
    path.write_bytes(out.getvalue().encode("utf-8-sig"))
    return path


GOOD = [["C-1", "取込 一郎", "", "c1@example.jp", "DEV", "正社員", "2026/4/1", ""],
        ["C-2", "取込 二郎", "jiro", "", "SALES", "派遣社員", "令和8年4月1日", ""]]


def test_import_json_and_dry_run(org, tmp_path):
    from himitsu.web.accounts.models import User
    from himitsu.web.audit.models import AuditEvent

    path = hr_csv(tmp_path, GOOD)
    dry = run("people", "import", str(path), "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    data = json.loads(dry.stdout)
    assert data == {"ok": True, "dry_run": True, "created": 2, "updated": 0, "unchanged": 0, "deactivated": 0,
                    "errors": []}
    assert not User.objects.filter(employee_number__in=["C-1", "C-2"]).exists()

    done = run("people", "import", str(path), "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["created"] == 2
    assert set(User.objects.filter(employee_number__in=["C-1", "C-2"]).values_list("username", flat=True)) == {
        "C-1", "jiro"}
    record = AuditEvent.objects.get(action="import", object_type="people")
    assert record.channel == "cli" and record.actor_name.startswith("cli:")

    again = run("people", "import", str(path))
    assert again.exit_code == 0 and "Traceback" not in again.output


def test_row_errors_exit_2_with_codes(org, tmp_path):
    from himitsu.web.accounts.models import User

    path = hr_csv(tmp_path, [GOOD[0], ["C-1", "重複", "", "", "NOPE", "?", "x", ""]])
    result = run("people", "import", str(path), "--json")
    assert result.exit_code == 2
    errors = json.loads(result.stdout)["errors"]
    assert [(e["row"], e["column"], e["code"]) for e in errors] == [(3, "社員番号", "hr.duplicate_number")]
    assert not User.objects.filter(employee_number="C-1").exists()

    path = hr_csv(tmp_path, [["C-3", "日付 誤り", "", "", "DEV", "正社員", "2026-04-01", "2026-03-01"]])
    table = run("people", "import", str(path), env={"HIMITSU_LANG": "en"})
    assert table.exit_code == 2 and "person.left_before_joined" in table.output and "Traceback" not in table.output


def test_file_errors_exit_2_with_one_line(org, tmp_path):
    missing = run("people", "import", str(tmp_path / "nope.csv"))
    assert missing.exit_code == 2 and "Traceback" not in missing.output
    assert len(missing.output.strip().splitlines()) == 1

    bad = tmp_path / "hr.csv"
    bad.write_bytes("社員番号,部署コード\r\n1,DEV\r\n".encode())
    result = run("people", "import", str(bad))
    assert result.exit_code == 2 and "氏名" in result.output


def test_import_as_a_user_without_the_right(org, tmp_path):
    from himitsu.web.accounts.models import User

    path = hr_csv(tmp_path, GOOD)
    assert run("people", "import", str(path), "--as", "alice").exit_code == 2
    assert run("people", "import", str(path), "--as", "nobody").exit_code == 2
    assert not User.objects.filter(employee_number="C-1").exists()
    assert run("people", "import", str(path), "--as", "manager", "--json").exit_code == 0
    assert User.objects.filter(employee_number="C-1").exists()
