"""`himitsu scan`, `himitsu scans targets` and `himitsu scans worker` (issue 5): the CLI contract on a real folder
with a document registered through `himitsu secrets add`, on the real database of the test.

The folder lives directly under /tmp (world-traversable, 0o755) so that the POSIX exposure rule can fire::

    共有/条件表コピー.txt    the registered document, world-readable (0644) -> detection, misplaced, overexposed
    共有/議事録.txt          nothing sensitive (0600)
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from himitsu.cli import app
from tests.scan_files import open_folder, write

runner = CliRunner()
SECRET = ("焼結炉の温度プロファイルは第一ゾーンで八百五十度、第二ゾーンで千百二十度とし、保持時間は四十五分とする。"
          "雰囲気ガスは窒素九十五パーセント水素五パーセントの混合とし、露点はマイナス四十度以下に管理する。"
          "冷却速度は毎分十五度を上限とし、量産ライン三号機の補正係数は材料ロットごとに見直す。")
MINUTES = "本日の会議は十五時からです。議題は来期の研修計画と備品の購入についてです。\n"
FIELDS = {"target", "path", "kind", "detector", "secret", "status", "explanation", "snippet"}


def run(*args: str, lang: str = "ja"):
    return runner.invoke(app, list(args), env={"HIMITSU_LANG": lang})


def lines(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def findings(rows: list[dict]) -> list[dict]:
    return [r for r in rows if "kind" in r]


def the_run(rows: list[dict]) -> dict:
    (row,) = [r["run"] for r in rows if "run" in r]
    return row


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A private HIMITSU_HOME and index for this test, and a world-traversable folder to scan."""
    monkeypatch.setenv("HIMITSU_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HIMITSU_INDEX_DIR", str(tmp_path / "index"))
    with open_folder("himitsu-scancli-") as root:
        yield root


@pytest.fixture
def registered(org, folder, tmp_path):
    """SECRET registered with `himitsu secrets add` (a new 極秘 entry nobody is granted), and the folder's files."""
    source = tmp_path / "条件表.txt"
    source.write_text(SECRET, encoding="utf-8")
    result = run("secrets", "add", str(source), "--title", "焼結条件（原本）", "--level", "極秘", "--json")
    assert result.exit_code == 0, result.output
    org.entry = json.loads(result.stdout)["secret"]
    org.copy = write(folder / "共有" / "条件表コピー.txt", SECRET, 0o644)
    write(folder / "共有" / "議事録.txt", MINUTES)
    org.folder = folder
    return org


def assert_no_secret_text(text: str) -> None:
    for start in range(0, len(SECRET) - 40, 20):
        assert SECRET[start:start + 40] not in text


# --- exit codes, JSON lines ---------------------------------------------------------------------------------------

def test_clean_folder_exits_0(db, folder):
    write(folder / "議事録.txt", MINUTES)
    result = run("scan", str(folder), "--json")
    assert result.exit_code == 0, result.output
    rows = lines(result)
    assert findings(rows) == []
    r = the_run(rows)
    assert r["status"] == "finished" and r["target"] == str(folder)
    assert (r["files_seen"], r["files_read"], r["errors"], r["findings_new"]) == (1, 1, 0, 0)


def test_findings_exit_1_and_json_lines_hold_no_secret_text(registered):
    org = registered
    result = run("scan", str(org.folder), "--json")
    assert result.exit_code == 1, result.output
    assert_no_secret_text(result.output)
    rows = lines(result)
    found = findings(rows)
    assert {f["kind"] for f in found} == {"detection", "misplaced", "overexposed"}
    for f in found:
        assert set(f) >= FIELDS
        assert f["target"] == str(org.folder) and f["path"] == str(org.copy)
        assert f["secret"] == {"id": org.entry["id"], "number": org.entry["management_number"],
                               "title": "焼結条件（原本）", "level": "極秘"}
        assert f["status"] == "new" and f["new"] is True and f["explanation"]
        assert f["exposure"] == "posix.world_readable"
    detection = next(f for f in found if f["kind"] == "detection")
    assert detection["detector"] == "registered-secret" and 0 < detection["score"] <= 1
    assert detection["snippet"] and detection["matched_chars"] >= 100
    over = next(f for f in found if f["kind"] == "overexposed")
    assert over["reason"] == "exposure.posix.world_readable" and over["detector"] == ""
    r = the_run(rows)
    assert (r["status"], r["files_seen"], r["files_read"], r["findings_new"]) == ("finished", 2, 2, 3)
    assert r["error_code"] is None


def test_rescan_reads_nothing_and_full_reads_again(registered):
    org = registered
    first = run("scan", str(org.folder), "--json")
    assert first.exit_code == 1
    keys = {(f["path"], f["kind"], f["reason"]) for f in findings(lines(first))}

    again = run("scan", str(org.folder), "--json")
    assert again.exit_code == 1  # the findings are still there
    rows = lines(again)
    r = the_run(rows)
    assert (r["files_seen"], r["files_read"], r["unchanged"], r["findings_new"]) == (2, 0, 2, 0)
    assert {(f["path"], f["kind"], f["reason"]) for f in findings(rows)} == keys
    assert all(f["new"] is False and f["status"] == "new" for f in findings(rows))

    full = run("scan", str(org.folder), "--full", "--json")
    rows = lines(full)
    r = the_run(rows)
    assert (r["files_read"], r["unchanged"], r["findings_new"]) == (2, 0, 0)
    assert {(f["path"], f["kind"], f["reason"]) for f in findings(rows)} == keys


def test_two_workers_find_the_same(registered):
    org = registered
    one = findings(lines(run("scan", str(org.folder), "--json")))
    from himitsu.web.scans.models import ScanFinding, ScanTarget

    ScanFinding.objects.all().delete()
    ScanTarget.objects.all().delete()  # a fresh target (and catalogue): everything is read again
    result = run("scan", str(org.folder), "--json", "--workers", "2")
    assert result.exit_code == 1, result.output
    rows = lines(result)
    assert the_run(rows)["files_read"] == 2

    def key(f: dict) -> tuple:
        return f["path"], f["kind"], f["detector"], f["reason"], f["secret"]["id"], f["hits"]

    assert sorted(map(key, findings(rows))) == sorted(map(key, one))


def test_missing_target_exits_2_with_a_stable_code(db, folder):
    missing = folder / "ない"
    result = run("scan", str(missing), "--json")
    assert result.exit_code == 2, result.output
    rows = lines(result)
    (error,) = [r for r in rows if "error" in r]
    assert error["target"] == str(missing) and error["error"]["code"] == "scan.not_found"
    assert "存在しません" in error["error"]["message"]
    r = the_run(rows)
    assert r["status"] == "failed" and r["error_code"] == "scan.not_found"
    english = run("scan", str(missing), "--json", lang="en")
    assert english.exit_code == 2
    (error,) = [r for r in lines(english) if "error" in r]
    assert error["error"]["message"].startswith("The scan target does not exist")
    assert "Traceback" not in result.output + english.output


@pytest.mark.parametrize("lang, text", [("ja", "認証情報を含めないでください"), ("en", "Do not put credentials")])
def test_credentials_in_the_url_are_refused_and_nothing_written(db, folder, lang, text):
    from himitsu.web.scans.models import ScanRun, ScanTarget

    result = run("scan", "smb://user:pw@127.0.0.1/share/開発部", str(folder), lang=lang)
    assert result.exit_code == 2
    assert text in result.output and "user:pw" not in result.output and "Traceback" not in result.output
    assert not ScanTarget.objects.exists() and not ScanRun.objects.exists()  # checked before the first scan
    assert not (Path(os.environ["HIMITSU_HOME"]) / "scans").exists()


def column(output: str, index: int) -> str:
    """The text of one column of the findings table, its wrapped pieces joined (Japanese wraps anywhere)."""
    cells = [line.split("│")[1:-1] for line in output.splitlines() if line.startswith("│")]
    return "".join(c[index].strip() for c in cells if len(c) > index)


def test_japanese_and_english_tables(registered):
    org = registered
    ja = run("scan", str(org.folder), lang="ja")
    assert ja.exit_code == 1, ja.output
    assert f"{org.folder}: 完了" in ja.output and "2 ファイル、読み取り 2" in ja.output
    assert str(org.copy) in column(ja.output, 0)  # the whole path, never cut short
    assert "登録文書" in column(ja.output, 4) and "全員が" in column(ja.output, 4)
    assert org.entry["management_number"] in column(ja.output, 2)
    en = run("scan", str(org.folder), lang="en")
    assert en.exit_code == 1, en.output
    assert f"{org.folder}: finished" in en.output and "2 files, 0 read" in en.output and "2 unchanged" in en.output
    assert str(org.copy) in column(en.output, 0)
    kinds = column(en.output, 1)
    assert "Detection" in kinds and "Misplaced" in kinds and "Overexposed" in kinds
    assert "登録文書" not in en.output and "完了" not in en.output
    for out in (ja.output, en.output):
        assert_no_secret_text(out)
        assert "Traceback" not in out
    # the explanations of --json follow the language too
    ja_rows = {f["kind"]: f["explanation"] for f in findings(lines(run("scan", str(org.folder), "--json")))}
    en_rows = {f["kind"]: f["explanation"] for f in findings(lines(run("scan", str(org.folder), "--json",
                                                                       lang="en")))}
    assert "全員" in ja_rows["overexposed"] and "world-readable" in en_rows["overexposed"]
    assert "台帳項目" in ja_rows["misplaced"] and "register entry" in en_rows["misplaced"]


# --- need-to-know -------------------------------------------------------------------------------------------------

def test_employee_cannot_scan_and_manager_sees_every_finding(registered):
    """Scanning from the command line is managing targets: an employee (--as alice) is refused before anything
    is written; need-to-know of what a scan found is the web app's (tests/web/test_scans_views.py and the
    browser test)."""
    from himitsu.web.scans.models import ScanRun, ScanTarget

    org = registered
    refused = run("scan", str(org.folder), "--json", "--as", "alice")
    assert refused.exit_code == 2 and "Traceback" not in refused.output
    assert not ScanTarget.objects.exists() and not ScanRun.objects.exists()
    manager = run("scan", str(org.folder), "--json", "--as", "manager")
    assert manager.exit_code == 1, manager.output
    assert {f["secret"]["id"] for f in findings(lines(manager))} == {org.entry["id"]}
    assert run("scan", str(org.folder), "--as", "nobody").exit_code == 2


def test_findings_visible_to_an_employee_follow_the_grant(registered):
    """What `himitsu scan` stored is shown to an employee only for entries granted to them."""
    from himitsu.web.accounts.access import visible_scan_findings
    from himitsu.web.register.models import Secret
    from himitsu.web.scans.models import ScanFinding

    org = registered
    assert run("scan", str(org.folder), "--json").exit_code == 1
    alice = org.users["alice"]
    assert ScanFinding.objects.count() == 3
    assert not visible_scan_findings(alice).exists()
    Secret.objects.get(pk=org.entry["id"]).allowed_users.add(alice)
    assert visible_scan_findings(alice).count() == 3
    assert not visible_scan_findings(org.users["bob"]).exists()


# --- targets and the worker ---------------------------------------------------------------------------------------

def test_targets_lists_the_ad_hoc_target(registered):
    org = registered
    assert run("scan", str(org.folder), "--json").exit_code == 1
    result = run("scans", "targets", "--json")
    assert result.exit_code == 0, result.output
    (target,) = json.loads(result.stdout)["targets"]
    assert target["url"] == str(org.folder) and target["name"] == str(org.folder)
    assert target["interval_hours"] == 0 and target["enabled"] is True and target["next_run_at"] is None
    assert target["last_run"]["status"] == "finished" and target["last_run"]["findings_new"] == 3
    table = run("scans", "targets", lang="en")
    assert table.exit_code == 0 and str(org.folder)[:12] in table.output


def test_worker_once_runs_a_queued_run(registered):
    from himitsu.web.register.services import Context
    from himitsu.web.scans import services
    from himitsu.web.scans.models import RunStatus, ScanFinding, ScanRun, Trigger

    org = registered
    target = services.create_target(Context(actor=org.users["manager"], channel="test"), "共有", str(org.folder))
    queued = services.queue_run(Context(actor=org.users["manager"], channel="web"), target)
    assert queued.status == RunStatus.QUEUED
    result = run("scans", "worker", "--once")
    assert result.exit_code == 0, result.output
    (row,) = [r["run"] for r in lines(result)]
    assert row["id"] == queued.pk and row["status"] == "finished" and row["findings_new"] == 3
    queued.refresh_from_db()
    assert queued.status == RunStatus.FINISHED and queued.trigger == Trigger.WEB
    assert ScanFinding.objects.filter(target=target, present=True).count() == 3
    again = run("scans", "worker", "--once")  # nothing queued, nothing due
    assert again.exit_code == 0 and lines(again) == []
    assert ScanRun.objects.count() == 1


def test_worker_once_runs_a_target_due_by_schedule(registered):
    from django.utils import timezone

    from himitsu.web.register.services import Context
    from himitsu.web.scans import services
    from himitsu.web.scans.models import RunStatus, ScanTarget, Trigger

    org = registered
    target = services.create_target(Context(actor=org.users["manager"], channel="test"), "共有", str(org.folder),
                                    interval_hours=24)
    ScanTarget.objects.filter(pk=target.pk).update(next_run_at=timezone.now() - timedelta(minutes=5))
    result = run("scans", "worker", "--once")
    assert result.exit_code == 0, result.output
    (row,) = [r["run"] for r in lines(result)]
    assert row["target"] == str(org.folder) and row["status"] == "finished" and row["files_read"] == 2
    target.refresh_from_db()
    assert target.next_run_at > timezone.now() + timedelta(hours=23)
    last = target.runs.get()
    assert last.trigger == Trigger.SCHEDULE and last.status == RunStatus.FINISHED
    assert lines(run("scans", "worker", "--once")) == []  # not due again before its interval


# --- a real SMB share ---------------------------------------------------------------------------------------------

def test_smb_share_with_credentials_from_the_environment(registered, monkeypatch):
    """`himitsu scan smb://...` reads the share itself; the password only ever comes from the environment."""
    from tests.samba import samba_server

    for name in ("HIMITSU_SMB_USERNAME", "HIMITSU_SMB_PASSWORD", "HIMITSU_SMB_PASSWORD_FILE", "HIMITSU_SMB_DOMAIN",
                 "HIMITSU_SMB_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    with samba_server() as server:
        write(server.root_dir / "開発部" / "条件表コピー.txt", SECRET, 0o644)
        url = f"{server.url}/開発部"
        missing = run("scan", url, "--json")  # no credentials anywhere: the target's error, nothing else
        assert missing.exit_code == 2 and the_run(lines(missing))["error_code"] == "scan.auth"
        monkeypatch.setenv("HIMITSU_SMB_USERNAME", server.username)
        monkeypatch.setenv("HIMITSU_SMB_PASSWORD", server.password)
        result = run("scan", url, "--json")
    assert result.exit_code == 1, result.output
    rows = lines(result)
    assert the_run(rows)["status"] == "finished" and the_run(rows)["files_read"] == 1
    assert {(f["path"], f["kind"]) for f in findings(rows)} == {
        (f"{url}/条件表コピー.txt", kind) for kind in ("detection", "misplaced", "overexposed")}
    assert {f["exposure"] for f in findings(rows)} == {"smb.everyone"}
    assert server.password not in result.output + missing.output
    assert_no_secret_text(result.output)
