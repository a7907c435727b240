"""Insider-risk services (issue 7): ingest into a real DuckDB store, scoring with Himitsu's people and register,
pseudonyms, reveals and budgets, on the real database (SQLite or PostgreSQL).

The logs are small CERT-style files written here: the organisation of tests/conftest.py (``org``) plus two users
Himitsu does not know, 30 days of ordinary work, and on the last day alice (leaving ten days later) logs on late
and copies the sintering recipe's folder (register entry DEV-001) to a USB stick.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from himitsu.errors import InputError, PermissionDeniedError
from himitsu.web.audit.models import AuditEvent
from himitsu.web.insider import services
from himitsu.web.insider.models import IngestedFile, InsiderAlert, Reveal, ScoredDay

START = date(2026, 3, 2)
LAST = date(2026, 3, 31)
USERS = ["admin", "manager", "devlead", "saleslead", "alice", "bob", "auditor", "ext01", "ext02"]
UNKNOWN = {"ext01", "ext02"}
RECIPE_DIR = r"\\fs01\dev\recipe"
COPIED = 40


def _ts(day: date, hour: int, minute: int = 0) -> str:
    return datetime.combine(day, time(hour, minute)).strftime("%m/%d/%Y %H:%M:%S")


@dataclass
class Logs:
    dir: Path
    logon: Path
    device: Path
    file: Path


def write_cert(out: Path, insider: bool = True) -> Logs:
    """logon.csv, device.csv and file.csv in the CERT r6.2 layout (local times of a Japanese firm)."""
    out.mkdir(parents=True, exist_ok=True)
    logon = ["id,date,user,pc,activity"]
    device = ["id,date,user,pc,file_tree,activity"]
    files = ["id,date,user,pc,filename,activity,to_removable_media,from_removable_media,content"]
    n = 0
    day = START
    while day <= LAST:
        if day.weekday() < 5:
            for i, user in enumerate(USERS):
                pc = f"PC-{i:04d}"
                n += 1
                logon.append(f"{{L{n:06d}}},{_ts(day, 9, i)},{user},{pc},Logon")
                for k in range(3):
                    n += 1
                    files.append(f"{{F{n:06d}}},{_ts(day, 10 + k, i)},{user},{pc},"
                                 rf"\\fs01\share\{user}\memo{k}.docx,File Open,False,False,")
                n += 1
                logon.append(f"{{L{n:06d}}},{_ts(day, 18, i)},{user},{pc},Logoff")
        day += timedelta(days=1)
    if insider:
        pc = f"PC-{USERS.index('alice'):04d}"
        logon.append(f"{{L9{n:06d}}},{_ts(LAST, 22)},alice,{pc},Logon")
        device.append(f"{{D9{n:06d}}},{_ts(LAST, 22, 5)},alice,{pc},R:\\,Connect")
        for k in range(COPIED):
            files.append(f"{{F9{n + k:06d}}},{_ts(LAST, 22, 10 + k % 40)},alice,{pc},"
                         rf"{RECIPE_DIR}\batch{k:02d}.xlsx,File Copy,True,False,")
        device.append(f"{{D8{n:06d}}},{_ts(LAST, 23, 30)},alice,{pc},R:\\,Disconnect")
    logs = Logs(dir=out, logon=out / "logon.csv", device=out / "device.csv", file=out / "file.csv")
    for path, rows in ((logs.logon, logon), (logs.device, device), (logs.file, files)):
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return logs


@pytest.fixture(name="insider_db")
def insider_db_fixture(tmp_path, monkeypatch):
    """A fresh analytics store (HIMITSU_INSIDER_DB) for the test."""
    path = tmp_path / "analytics" / "insider.duckdb"
    path.parent.mkdir()
    monkeypatch.setenv("HIMITSU_INSIDER_DB", str(path))
    return path


@pytest.fixture(name="insider")
def insider_fixture(org, insider_db, tmp_path):
    """The org with alice leaving ten days after LAST, DEV-001 stored under RECIPE_DIR, and the logs ingested."""
    from himitsu.web.register.models import LocationKind, StorageLocation

    alice = org.users["alice"]
    alice.left_on = LAST + timedelta(days=10)
    alice.save()
    StorageLocation.objects.create(secret=org.recipe, kind=LocationKind.PATH, location=RECIPE_DIR + "\\")
    logs = write_cert(tmp_path / "logs")
    outcomes = services.ingest([logs.logon, logs.device, logs.file], "cert", org.users["manager"])
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    org.logs = logs
    return org


# --- pseudonyms --------------------------------------------------------------------------------------------------

def test_pseudonyms_are_stable_keyed_and_not_the_user(monkeypatch):
    code = services.pseudonym("alice")
    assert re.fullmatch(r"[0-9A-F]{4}-[0-9A-F]{4}", code)
    assert services.pseudonym("alice") == code
    assert services.pseudonym("bob") != code
    monkeypatch.setenv("HIMITSU_AUDIT_KEY", "another installation's key")
    assert services.pseudonym("alice") != code


# --- ingest ------------------------------------------------------------------------------------------------------

def test_ingest_reports_each_file_audits_it_and_goes_on_after_a_failure(org, insider_db, tmp_path):
    logs = write_cert(tmp_path / "logs")
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    before = AuditEvent.objects.filter(object_type="insider_file").count()
    outcomes = services.ingest([logs.logon, empty, logs.file], "cert", org.users["admin"], channel="cli")
    assert [o.ok for o in outcomes] == [True, False, True]
    assert outcomes[1].error.code.startswith("insider.")
    assert outcomes[0].report.kind == "logon" and outcomes[0].report.added == outcomes[0].report.rows > 0
    assert outcomes[2].report.kind == "file" and outcomes[2].report.rejected == 0
    events = AuditEvent.objects.filter(object_type="insider_file").order_by("seq")[before:]
    assert [e.object_repr for e in events] == ["logon.csv", "empty.csv", "file.csv"]
    assert events[0].details["added"] == outcomes[0].report.added and events[0].channel == "cli"
    assert events[1].details == {"format": "cert", "error": outcomes[1].error.code}
    assert "alice" not in str([e.details for e in events])  # counts only
    assert IngestedFile.objects.filter(error_code="").count() == 2

    again = services.ingest([logs.logon], "cert", org.users["admin"])
    assert again[0].report.skipped and again[0].report.added == 0
    assert IngestedFile.objects.filter(skipped=True).count() == 1


def test_ingest_counts_rejected_rows_by_code(org, insider_db, tmp_path):
    path = tmp_path / "logon.csv"
    path.write_text("id,date,user,pc,activity\n{A1},03/02/2026 09:00:00,alice,PC-1,Logon\n"
                    "{A2},not a date,alice,PC-1,Logon\n{A3},03/02/2026 18:00:00,alice,PC-1,Logoff\n",
                    encoding="utf-8")
    (outcome,) = services.ingest([path], "cert", org.users["manager"])
    assert outcome.report.rejected == 1 and outcome.report.added == 2
    assert outcome.report.samples[0][0] == 3  # the line in the file
    row = IngestedFile.objects.get()
    assert sum(row.codes.values()) == 1 and row.samples[0][0] == 3


@pytest.mark.parametrize("role", ["devlead", "alice", "auditor"])
def test_only_analysts_ingest_and_score(org, insider_db, tmp_path, role):
    logs = write_cert(tmp_path / "logs")
    with pytest.raises(PermissionDeniedError):
        services.ingest([logs.logon], "cert", org.users[role])
    with pytest.raises(PermissionDeniedError):
        services.score(LAST, org.users[role])
    assert not IngestedFile.objects.exists()


# --- score -------------------------------------------------------------------------------------------------------

def test_score_ranks_the_leaver_first_and_keeps_what_the_pages_need(insider):
    result = services.score(None, insider.users["manager"])  # the last day with events
    assert result.scored.day == LAST
    assert result.users >= len(USERS) and result.unknown_users == len(UNKNOWN)
    first = result.alerts[0]
    assert first.log_user == "alice" and first.rank == 1 and first.person == insider.users["alice"]
    assert first.pseudonym == services.pseudonym("alice") and first.department == "DEV"
    assert first.days_to_leave == 10
    names = [i["name"] for i in first.indicators]
    assert "usb_writes" in names
    usb = next(i for i in first.indicators if i["name"] == "usb_writes")
    assert usb["value"] == COPIED and usb["own_baseline"] == 0
    assert first.secret_ids == [insider.recipe.pk]
    assert len(first.timeline) == services.TIMELINE_DAYS
    assert first.timeline[-1]["day"] == LAST.isoformat() and first.timeline[-1]["score"] == pytest.approx(
        first.score)
    assert [a.rank for a in result.alerts] == list(range(1, len(result.alerts) + 1))
    unknown = InsiderAlert.objects.get(day=LAST, log_user="ext01")
    assert unknown.person is None and unknown.department == ""
    event = AuditEvent.objects.filter(object_type="insider_score").latest("seq")
    assert event.object_id == LAST.isoformat() and event.details["unknown_users"] == 2


def test_scoring_a_day_again_replaces_its_list(insider):
    services.score(LAST, insider.users["admin"])
    first = ScoredDay.objects.get(day=LAST)
    count = InsiderAlert.objects.filter(day=LAST).count()
    services.score(LAST, insider.users["manager"])
    assert ScoredDay.objects.filter(day=LAST).count() == 1
    assert ScoredDay.objects.get(day=LAST).pk != first.pk
    assert InsiderAlert.objects.filter(day=LAST).count() == count
    services.score(LAST - timedelta(days=1), insider.users["manager"])
    assert set(services.scored_days()) == {LAST, LAST - timedelta(days=1)}


def test_score_with_an_empty_store_says_so(org, insider_db):
    with pytest.raises(InputError) as caught:
        services.score(None, org.users["manager"])
    assert caught.value.code == "insider.no_events"


def test_people_csv_fills_in_for_people_himitsu_does_not_know(insider, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("user,name,department,leaves\next01,外部一郎,SALES,2026-04-05\nalice,別名,OTHER,\n",
                    encoding="utf-8")
    assert services.load_people(path, insider.users["admin"]) == 2
    result = services.score(LAST, insider.users["manager"])
    assert result.unknown_users == 1
    ext = InsiderAlert.objects.get(day=LAST, log_user="ext01")
    assert ext.department == "SALES" and ext.days_to_leave == 5
    assert InsiderAlert.objects.get(day=LAST, log_user="alice").department == "DEV"  # Himitsu wins
    assert AuditEvent.objects.filter(object_type="insider_people", details__people=2).exists()


# --- reveal and budget -------------------------------------------------------------------------------------------

def test_reveal_is_for_secret_managers_with_a_reason_and_audited(insider):
    services.score(LAST, insider.users["manager"])
    alert = InsiderAlert.objects.get(day=LAST, rank=1)
    for role in ("admin", "auditor", "devlead", "alice"):
        with pytest.raises(PermissionDeniedError):
            services.reveal(alert, insider.users[role], "確認のため")
    with pytest.raises(InputError) as caught:
        services.reveal(alert, insider.users["manager"], "   ")
    assert caught.value.code == "insider.reason_required"
    assert not Reveal.objects.exists()

    identity = services.reveal(alert, insider.users["manager"], "退職前の USB 書き出しを確認")
    assert (identity.name, identity.log_user, identity.person_id) == ("Alice", "alice", insider.users["alice"].pk)
    event = AuditEvent.objects.filter(object_type="insider_reveal").get()
    assert event.actor_name == "manager" and event.object_id == alert.pseudonym
    assert event.details["reason"] == "退職前の USB 書き出しを確認" and event.details["day"] == LAST.isoformat()
    assert "alice" not in str(event.details).lower()  # the record names the pseudonym, never the person
    assert services.revealed_users(insider.users["manager"], ["alice", "bob"]) == {"alice"}
    assert services.revealed_users(insider.users["admin"], ["alice"]) == set()


def test_budget_is_kept_per_analyst(org):
    manager, admin = org.users["manager"], org.users["admin"]
    assert services.get_budget(manager) == services.DEFAULT_BUDGET == 5
    assert services.set_budget(manager, "10") == 10
    assert services.get_budget(manager) == 10 and services.get_budget(admin) == 5
    for bad in ("0", "51", "x", ""):
        with pytest.raises(InputError):
            services.set_budget(manager, bad)
    assert services.get_budget(manager) == 10
    with pytest.raises(PermissionDeniedError):
        services.set_budget(org.users["alice"], "3")


def test_a_store_held_by_another_process_is_reported_as_busy(org, insider_db):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
         "sys.stdin.read()", str(insider_db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(InputError) as caught:
            services.score(None, org.users["manager"])
        assert caught.value.code == "insider.store_busy"
    finally:
        holder.communicate("")
    assert holder.returncode == 0


@pytest.mark.django_db
def test_the_organisations_own_domains_join_the_shipped_ones(tmp_path, monkeypatch):
    from himitsu.insider.enrich import domains

    path = tmp_path / "insider_domains.yaml"
    path.write_text("categories:\n  personal_cloud:\n    domains: [files.example-storage.jp]\n"
                    "  job_site: [tenshoku.example.jp]\ninternal_domains: [Example-Seiki.co.jp]\n", encoding="utf-8")
    monkeypatch.setenv("HIMITSU_INSIDER_DOMAINS", str(path))
    config = services.build_config()
    assert config.internal_domains == ("example-seiki.co.jp",)
    table = domains(config)
    assert "files.example-storage.jp" in table["personal_cloud"] and "dropbox.com" in table["personal_cloud"]
    assert "tenshoku.example.jp" in table["job_site"]
    for bad in ("categories: [1, 2]\n", "categories:\n  webmail: {domains: mail.example}\n", "- just a list\n",
                "internal_domains: 3\n", "categories: {\n"):
        path.write_text(bad, encoding="utf-8")
        with pytest.raises(InputError) as caught:
            services.build_config()
        assert caught.value.code == "insider.domains_invalid"
    monkeypatch.setenv("HIMITSU_INSIDER_DOMAINS", str(tmp_path / "absent.yaml"))
    assert services.build_config().extra_domains == {}
