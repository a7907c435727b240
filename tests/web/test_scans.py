"""Scans in the web app (issue 5): targets, runs through the real engine scanner on a real local folder, findings
and their triage, need-to-know for every role, the background worker — on the real database (SQLite or
PostgreSQL) with documents registered in a real fingerprint index.

The folder (world-readable folders, so that the POSIX exposure rule can fire)::

    allowed/条件表.txt        DEV-001's document, in its allowed location (0600)
    共有/条件表コピー.txt     DEV-001's document, world-readable (0644)  -> misplaced + overexposed
    共有/private.txt          DEV-001's document (0600)                 -> misplaced
    共有/図面.txt             DEV-002's document (0600)                 -> misplaced (no locations)
    営業/価格表.txt           SAL-001's document (0600)                 -> misplaced (no locations)
    共有/極秘メモ.txt         marked 極秘, no register entry (0600)     -> unregistered + misplaced (marked)
    共有/社員.txt             a My Number with context (0600)           -> my-number detection
    共有/議事録.txt           nothing sensitive (0600)
"""

from __future__ import annotations

import fcntl
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from himitsu.errors import InputError, PermissionDeniedError
from himitsu.web.accounts import access
from himitsu.web.audit import chain
from himitsu.web.audit.models import AuditEvent
from himitsu.web.register import documents
from himitsu.web.register.models import StorageLocation
from himitsu.web.register.services import Context
from himitsu.web.scans import services, worker
from himitsu.web.scans.models import Kind, RunStatus, ScanError, ScanFinding, ScanRun, ScanTarget, Status, Trigger
from tests.scan_files import open_folder, write

ROLES = ["admin", "manager", "devlead", "saleslead", "alice", "bob", "auditor"]

RECIPE = ("焼結炉の温度プロファイルは第一ゾーンで八百五十度、第二ゾーンで千百二十度とし、保持時間は四十五分とする。"
          "雰囲気ガスは窒素九十五パーセント水素五パーセントの混合とし、露点はマイナス四十度以下に管理する。"
          "冷却速度は毎分十五度を上限とし、量産ライン三号機の補正係数は材料ロットごとに見直す。")
PRICES = ("顧客別の特別価格は、北関東精機向けが標準単価の八十二パーセント、南海電装向けが七十九パーセントである。"
          "年間契約で三千個を超える場合はさらに三パーセントを値引きし、支払条件は月末締め翌々月十日払いとする。"
          "この価格表は四半期ごとに営業部長が改定し、改定前の表は速やかに廃棄すること。")
DRAWING = ("金型の主要寸法は、キャビティ幅百二十四・五ミリ、深さ三十八・二ミリ、抜き勾配一・五度である。"
           "ゲート位置は製品中心から左へ十七ミリ、冷却水路は直径八ミリで六系統とし、型温は六十五度に保つ。"
           "エジェクタピンは十二本、配置は図面第三葉の座標表に従い、公差はプラスマイナス五ミクロンとする。")
MEMO = ("極秘\n\n新工場の立地候補について\n候補地は三か所に絞り込み、来月の経営会議で最終決定する予定である。"
        "用地取得の交渉状況は関係者以外に口外しないこと。\n")
MINUTES = "本日の会議は十五時からです。議題は来期の研修計画と備品の購入についてです。\n"


def my_number(first11: str) -> str:
    weights = [6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2]
    r = sum(int(d) * w for d, w in zip(first11, weights, strict=True)) % 11
    return first11 + str(0 if r <= 1 else 11 - r)


PERSONAL = f"社員名簿\n氏名 山田太郎\n個人番号（マイナンバー）: {my_number('12345678901')}\n"


def ctx(org, name: str = "manager", channel: str = "test") -> Context:
    return Context(actor=org.users[name], channel=channel)


@pytest.fixture
def place(tmp_path, monkeypatch):
    """A private HIMITSU_HOME and index for this test, and a world-traversable folder to scan (tmp_path's
    parents are private to the user, so the folder lives directly under the system's temporary folder)."""
    monkeypatch.setenv("HIMITSU_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HIMITSU_INDEX_DIR", str(tmp_path / "index"))
    with open_folder() as root:
        yield root


@pytest.fixture
def world(org, place):
    """Registered documents, the allowed location of DEV-001 and the folder's files; a target of DEV."""
    manager = ctx(org)
    documents.add_document(manager, org.recipe, "条件表.txt", RECIPE.encode())
    documents.add_document(manager, org.prices, "価格表.txt", PRICES.encode())
    documents.add_document(manager, org.drawing, "図面.txt", DRAWING.encode())
    StorageLocation.objects.create(secret=org.recipe, kind="path", location=str(place / "allowed") + "/")
    files = {
        "allowed": write(place / "allowed" / "条件表.txt", RECIPE),
        "open": write(place / "共有" / "条件表コピー.txt", RECIPE, 0o644),
        "private": write(place / "共有" / "private.txt", "前書き\n" + RECIPE),
        "drawing": write(place / "共有" / "図面.txt", DRAWING),
        "prices": write(place / "営業" / "価格表.txt", PRICES),
        "memo": write(place / "共有" / "極秘メモ.txt", MEMO),
        "personal": write(place / "共有" / "社員.txt", PERSONAL),
        "minutes": write(place / "共有" / "議事録.txt", MINUTES),
    }
    target = services.create_target(manager, name="共有サーバ", url=str(place), department=org.dev)
    org.place, org.files, org.target = place, files, target
    return org


def scan(org, **kw) -> ScanRun:
    return services.run_target(ctx(org), ScanTarget.objects.get(pk=org.target.pk), **kw)


def present(org, path: Path) -> set[tuple[str, str, str | None, str]]:
    """(kind, detector, management number, reason) of the present findings of one file."""
    rows = ScanFinding.objects.filter(target=org.target, path=str(path), present=True).select_related("secret")
    return {(f.kind, f.detector, f.secret.management_number if f.secret else None, f.reason) for f in rows}


def kinds(org, path: Path) -> set[tuple[str, str | None]]:
    return {(k, n) for k, _, n, _ in present(org, path)}


# --- a first scan -------------------------------------------------------------------------------------------------

def test_first_scan_records_detections_and_placement(world):
    org = world
    run = scan(org)
    assert run.status == RunStatus.FINISHED, (run.error_code, run.error_params)
    assert run.trigger == Trigger.CLI and run.started_at and run.finished_at and run.catalogue_run
    assert (run.files_seen, run.files_read, run.unchanged, run.errors) == (8, 8, 0, 0)
    assert run.findings_new == ScanFinding.objects.filter(target=org.target).count() > 0
    f = org.files
    assert kinds(org, f["allowed"]) == {("detection", "DEV-001")}
    assert kinds(org, f["open"]) == {("detection", "DEV-001"), ("misplaced", "DEV-001"), ("overexposed", "DEV-001")}
    assert kinds(org, f["private"]) == {("detection", "DEV-001"), ("misplaced", "DEV-001")}
    assert ("misplaced", "", "DEV-002", "placement.no_locations") in present(org, f["drawing"])
    assert ("misplaced", "", "SAL-001", "placement.no_locations") in present(org, f["prices"])
    memo = present(org, f["memo"])
    assert ("unregistered", "", None, "marking.unregistered") in memo
    assert ("misplaced", "", None, "placement.marked_outside") in memo
    assert any(k == "detection" and d == "my-number" for k, d, _, _ in present(org, f["personal"]))
    assert present(org, f["minutes"]) == set()

    copy = ScanFinding.objects.get(target=org.target, path=str(f["open"]), kind=Kind.DETECTION)
    assert copy.detector == "registered-secret" and copy.level == "極秘" and copy.hits >= 1
    assert copy.exposure == "posix.world_readable" and copy.first_run == copy.last_run == run
    assert copy.status == Status.NEW and copy.present and 0 < copy.score <= 1 and copy.matched_chars
    assert copy.identity == services.identity(str(f["open"]), "detection", "registered-secret", org.recipe.pk,
                                              copy.reason)
    over = ScanFinding.objects.get(target=org.target, path=str(f["open"]), kind=Kind.OVEREXPOSED)
    assert over.reason == "exposure.posix.world_readable" and over.score == copy.score
    for row in ScanFinding.objects.all():  # never the secret's text
        assert RECIPE[:12] not in row.snippet and PRICES[:12] not in row.snippet
    started, finished = AuditEvent.objects.filter(object_type="scan_run").order_by("seq")
    assert started.details["event"] == "started" and started.details["target"] == str(org.place)
    assert finished.details["status"] == "finished" and finished.details["findings_new"] == run.findings_new
    assert "path" not in str(finished.details) and chain.verify().ok


def test_texts_for_people(world):
    org = world
    scan(org)
    over = ScanFinding.objects.get(path=str(org.files["open"]), kind=Kind.OVEREXPOSED)
    assert "world-readable" in services.explanation(over) and "registered-secret" in services.explanation(over)
    memo = ScanFinding.objects.get(path=str(org.files["memo"]), kind=Kind.UNREGISTERED)
    assert "極秘" in services.explanation(memo)
    number = ScanFinding.objects.get(path=str(org.files["personal"]), detector="my-number")
    assert services.explanation(number) not in ("", number.reason)
    assert services.explanation(number, lambda s: "訳:" + s).startswith("訳:")
    assert "/srv/x" in services.error_message("scan.not_found", "/srv/x")
    assert services.error_message("corrupt", "") == services.PROBLEMS["corrupt"]
    assert services.error_message("other.code", "") == "other.code"
    with translation.override("en"):
        assert dict(services.kind_labels())["misplaced"] == "Misplaced"


def test_parallel_scan_records_the_same_findings(world):
    org = world
    run = scan(org, workers=2)
    assert run.status == RunStatus.FINISHED and run.files_read == 8
    parallel = {(f.path, f.kind, f.detector, f.secret_id, f.reason, f.hits) for f in ScanFinding.objects.all()}
    ScanFinding.objects.all().delete()
    again = scan(org, full=True)
    assert again.files_read == 8 and again.findings_new == len(parallel)
    assert {(f.path, f.kind, f.detector, f.secret_id, f.reason, f.hits) for f in ScanFinding.objects.all()} == parallel


def test_engine_spec_and_rules_come_from_the_register(world):
    org = world
    spec = services.engine_spec()
    assert {r.id for r in spec.secrets.values()} == {org.recipe.pk, org.prices.pk, org.drawing.pk}
    assert {r.level for r in spec.secrets.values()} == {"極秘", "秘"} and spec.key
    StorageLocation.objects.create(secret=org.prices, kind="cabinet", location="営業部 書庫A")
    StorageLocation.objects.create(secret=org.prices, kind="cloud", location="s3://sales-bucket/prices/")
    rules = services.rules()
    assert rules.allowed[org.recipe.pk] == (str(org.place / "allowed") + "/",)
    assert rules.allowed[org.prices.pk] == ("s3://sales-bucket/prices/",)  # a cabinet is no place a scan sees
    assert org.drawing.pk not in rules.allowed and rules.levels[org.drawing.pk] == "秘"


# --- rescans ------------------------------------------------------------------------------------------------------

def test_rescan_of_unchanged_tree_writes_nothing_new(world):
    org = world
    for i in range(150):  # a rescan's database cost must not grow with the number of files
        write(org.place / "大量" / f"{i:03d}.txt", f"{MINUTES}{i}\n")
    first = scan(org)
    assert first.files_read == 158 and first.status == RunStatus.FINISHED
    before = {f.pk: (f.identity, f.status, f.present, f.updated_at) for f in ScanFinding.objects.all()}
    with CaptureQueriesContext(connection) as queries:
        run = scan(org)
    assert run.status == RunStatus.FINISHED
    assert (run.files_seen, run.unchanged, run.files_read, run.findings_new, run.vanished) == (158, 158, 0, 0, 0)
    after = {f.pk: (f.identity, f.status, f.present, f.updated_at) for f in ScanFinding.objects.all()}
    assert after == before
    writes = [q["sql"] for q in queries.captured_queries if "scans_scanfinding" in q["sql"]
              and q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    assert writes == []
    assert len(queries.captured_queries) < 30  # the run row, its audit records, the register: not per file


def test_changed_and_deleted_files_turn_findings_absent(world):
    org = world
    first = scan(org)
    f = org.files
    f["private"].write_text("前書きだけが残った。\n" + MINUTES, encoding="utf-8")
    f["personal"].unlink()
    run = scan(org)
    assert run.status == RunStatus.FINISHED and run.files_read == 1 and run.vanished == 1
    assert present(org, f["private"]) == set() and present(org, f["personal"]) == set()
    gone = ScanFinding.objects.filter(path=str(f["private"]))
    assert gone.count() == 2 and not gone.filter(present=True).exists()
    assert {g.last_run_id for g in gone} == {first.pk}  # the last run that saw them
    assert not ScanFinding.objects.filter(path=str(f["personal"]), present=True).exists()
    assert kinds(org, f["open"]) == {("detection", "DEV-001"), ("misplaced", "DEV-001"), ("overexposed", "DEV-001")}
    # the permissions change, the content does not: only the exposure rule changes
    f["open"].chmod(0o600)
    run = scan(org)
    assert kinds(org, f["open"]) == {("detection", "DEV-001"), ("misplaced", "DEV-001")}
    assert ScanFinding.objects.get(path=str(f["open"]), kind=Kind.OVEREXPOSED).present is False
    # the content comes back: the same rows, present again
    f["private"].write_text(RECIPE, encoding="utf-8")
    run = scan(org)
    assert run.findings_new == 0 and gone.filter(present=True).count() == 2


def test_changed_storage_locations_apply_to_unchanged_files(world):
    org = world
    scan(org)
    f = org.files
    resolved = ScanFinding.objects.get(path=str(f["private"]), kind=Kind.MISPLACED)
    services.set_status(ctx(org), resolved, Status.RESOLVED, "承認済み")
    assert ("misplaced", "DEV-002") in kinds(org, f["drawing"])
    StorageLocation.objects.create(secret=org.drawing, kind="path", location=str(org.place / "共有"))
    run = scan(org)
    assert run.files_read == 0 and run.unchanged == 8  # nothing read again
    assert kinds(org, f["drawing"]) == {("detection", "DEV-002")}
    drawing = ScanFinding.objects.get(path=str(f["drawing"]), kind=Kind.MISPLACED)
    assert drawing.present is False and drawing.reason == "placement.no_locations"
    resolved.refresh_from_db()
    assert resolved.status == Status.RESOLVED and resolved.present  # re-applying rules reopens nothing
    over = ScanFinding.objects.get(path=str(f["open"]), kind=Kind.OVEREXPOSED)
    assert over.present and over.hits == 1
    finished = AuditEvent.objects.filter(object_type="scan_run", object_id=str(run.pk)).first()
    assert finished.details["reevaluated"] >= 5 and finished.details["reopened"] == 0
    run = scan(org)  # the rules did not change again: nothing to re-apply
    assert AuditEvent.objects.filter(object_type="scan_run", object_id=str(run.pk)).first().details[
        "reevaluated"] == 0


def test_moving_a_target_starts_afresh(world):
    org = world
    scan(org)
    other = org.place / "共有"
    services.update_target(ctx(org), org.target, url=str(other))
    assert not ScanFinding.objects.filter(present=True).exists()
    assert not services.catalogue_path(org.target).exists()
    run = scan(org)
    assert run.files_seen == 6 and run.files_read == 6 and run.vanished == 0
    assert kinds(org, org.files["open"]) == {("detection", "DEV-001"), ("misplaced", "DEV-001"),
                                             ("overexposed", "DEV-001")}
    assert not ScanFinding.objects.filter(path=str(org.files["prices"]), present=True).exists()


def test_resolved_finding_found_again_is_reopened(world):
    org = world
    scan(org)
    f = org.files
    row = ScanFinding.objects.get(path=str(f["private"]), kind=Kind.MISPLACED)
    kept = ScanFinding.objects.get(path=str(f["private"]), kind=Kind.DETECTION)
    services.set_status(ctx(org), row, Status.RESOLVED, "元の場所へ移動した")
    services.set_status(ctx(org), kept, Status.FALSE_POSITIVE, "公開済みの仕様書")
    f["private"].write_text(RECIPE + "\n追記。\n", encoding="utf-8")
    run = scan(org)
    row.refresh_from_db()
    kept.refresh_from_db()
    assert row.status == Status.NEW and row.present and row.comment == "元の場所へ移動した"
    assert kept.status == Status.FALSE_POSITIVE  # a decision that the finding is wrong stands
    assert run.findings_new == 1
    assert AuditEvent.objects.filter(object_type="scan_run", object_id=str(run.pk)).first().details["reopened"] == 1


def test_unreadable_content_becomes_scan_errors(world):
    org = world
    write(org.place / "共有" / "壊れた.docx", "これはDOCXではない")
    run = scan(org)
    assert run.status == RunStatus.FINISHED
    rows = list(ScanError.objects.filter(run=run))
    assert run.errors == len(rows) >= 1
    assert any(r.path.startswith(str(org.place / "共有" / "壊れた.docx")) for r in rows)


def test_missing_folder_fails_the_run(org, place):
    target = services.create_target(ctx(org), name="gone", url=str(place / "nope"))
    run = services.run_target(ctx(org), target)
    assert run.status == RunStatus.FAILED and run.error_code == "scan.not_found"
    assert run.error_params["target"] == str(place / "nope")
    assert ScanError.objects.filter(run=run, code="scan.not_found").count() == 1


def test_stopped_scan_is_interrupted_and_resumes(world):
    org = world
    run = scan(org, should_stop=lambda: True)
    assert run.status == RunStatus.INTERRUPTED and run.error_code == "scan.stopped"
    assert not ScanFinding.objects.filter(present=False).exists()  # nothing vanished on an incomplete walk
    run = scan(org)
    assert run.status == RunStatus.FINISHED and run.files_seen == 8


def test_second_scan_of_the_same_target_is_refused(world):
    org = world
    lock = services.catalogue_path(org.target).with_suffix(".sqlite.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as another process's scan holds it
        with pytest.raises(InputError) as err:
            scan(org)
    assert err.value.code == "scan.running"
    run = ScanRun.objects.get(target=org.target)
    assert run.status == RunStatus.FAILED and run.error_code == "scan.running"


def test_scan_urls_creates_and_reuses_targets(org, place, monkeypatch):
    write(place / "a.txt", MINUTES)
    monkeypatch.chdir(place.parent)
    runs = services.scan_urls(ctx(org, "admin", "cli"), [place.name, str(place)], workers=1)
    assert len(runs) == 1 and runs[0].status == RunStatus.FINISHED and runs[0].trigger == Trigger.CLI
    target = ScanTarget.objects.get()
    assert (target.url, target.name, target.interval_hours) == (str(place), str(place), 0)
    again = services.scan_urls(ctx(org, "admin", "cli"), [str(place) + "/"], workers=1)
    assert again[0].target_id == target.pk and again[0].unchanged == 1
    with pytest.raises(PermissionDeniedError):
        services.scan_urls(ctx(org, "devlead", "cli"), [str(place)])


def test_delete_target_removes_its_rows_and_catalogue(world):
    org = world
    scan(org)
    now = timezone.now()
    going = ScanRun.objects.create(target=org.target, status=RunStatus.RUNNING, trigger=Trigger.CLI, started_at=now,
                                   heartbeat_at=now)
    with pytest.raises(InputError) as err:
        services.delete_target(ctx(org), org.target)
    assert err.value.code == "scan.running"
    ScanRun.objects.filter(pk=going.pk).update(heartbeat_at=now - timedelta(hours=1))  # its process is gone
    path = services.catalogue_path(org.target)
    assert path.exists()
    services.delete_target(ctx(org), org.target)
    assert not path.exists() and not ScanFinding.objects.exists() and not ScanRun.objects.exists()
    assert AuditEvent.objects.filter(object_type="scan_target", action="delete").count() == 1


# --- triage -------------------------------------------------------------------------------------------------------

def test_triage_with_comment_is_audited(world):
    org = world
    scan(org)
    row = ScanFinding.objects.get(path=str(org.files["open"]), kind=Kind.OVEREXPOSED)
    with pytest.raises(InputError) as err:
        services.set_status(ctx(org), row, Status.FALSE_POSITIVE, "  ")
    assert err.value.code == "scan.comment_required"
    with pytest.raises(InputError) as err:
        services.set_status(ctx(org), row, Status.RESOLVED)
    assert err.value.code == "scan.comment_required"
    with pytest.raises(InputError) as err:
        services.set_status(ctx(org), row, "ignored", "x")
    assert err.value.code == "scan.status_invalid"
    services.set_status(ctx(org), row, Status.CONFIRMED)
    services.set_status(ctx(org), row, Status.RESOLVED, "権限を0600に変更した")
    row.refresh_from_db()
    assert (row.status, row.comment, row.status_by) == (Status.RESOLVED, "権限を0600に変更した", org.users["manager"])
    events = AuditEvent.objects.filter(object_type="scan_finding", object_id=str(row.pk)).order_by("seq")
    assert [e.details["status"] for e in events] == [["new", "confirmed"], ["confirmed", "resolved"]]
    assert events.last().details["secret"] == "DEV-001" and events.last().actor_name == "manager"
    assert chain.verify().ok
    others = ScanFinding.objects.filter(path=str(org.files["private"]))
    done = services.bulk_set_status(ctx(org, "devlead"), others, Status.CONFIRMED)
    assert {f.status for f in done} == {Status.CONFIRMED} and len(done) == 2
    with pytest.raises(PermissionDeniedError):
        services.bulk_set_status(ctx(org, "alice"), others, Status.NEW)


# --- need-to-know -------------------------------------------------------------------------------------------------

# what each role sees: management numbers, and "-" for findings without a register entry
SEES = {"admin": {"DEV-001", "SAL-001", "DEV-002", "-"}, "manager": {"DEV-001", "SAL-001", "DEV-002", "-"},
        "auditor": {"DEV-001", "SAL-001", "DEV-002", "-"}, "devlead": {"DEV-001", "DEV-002", "-"},
        "saleslead": {"SAL-001"}, "alice": {"DEV-001"}, "bob": {"DEV-002"}}
TRIAGES = {"admin": SEES["admin"], "manager": SEES["manager"], "auditor": set(), "devlead": SEES["devlead"],
           "saleslead": {"SAL-001"}, "alice": set(), "bob": set()}


@pytest.mark.parametrize("role", ROLES)
def test_need_to_know_for_every_role(world, role):
    org = world
    scan(org)
    user = org.users[role]
    everything = list(ScanFinding.objects.select_related("secret", "target"))
    assert {"DEV-001", "SAL-001", "DEV-002", "-"} == {f.secret.management_number if f.secret else "-"
                                                     for f in everything}
    seen = list(access.visible_scan_findings(user).select_related("secret"))
    assert {f.secret.management_number if f.secret else "-" for f in seen} == SEES[role]
    for f in everything:
        label = f.secret.management_number if f.secret else "-"
        assert access.can_triage_scan_finding(user, f) == (label in TRIAGES[role]), (role, label)
        if label not in TRIAGES[role]:
            with pytest.raises(PermissionDeniedError):
                services.set_status(ctx(org, role), f, Status.CONFIRMED)
    assert access.can_view_scans(user)
    assert access.can_manage_scan_targets(user) == (role in {"admin", "manager"})
    assert access.can_run_scans(user, org.target) == (role in {"admin", "manager"})
    assert access.can_view_scan_runs(user, org.target) == (role in {"admin", "manager", "auditor", "devlead"})
    assert access.visible_scan_targets(user).filter(pk=org.target.pk).exists()  # each sees a finding there
    unregistered = services.unregistered_marked(user)
    assert unregistered.exists() == ("-" in SEES[role])
    if role in {"devlead", "saleslead", "alice", "bob", "auditor"}:
        with pytest.raises(PermissionDeniedError):
            services.create_target(ctx(org, role), name="x", url="/srv/x")
        with pytest.raises(PermissionDeniedError):
            services.queue_run(ctx(org, role), org.target)


def test_employee_without_grants_sees_no_target(world):
    org = world
    scan(org)
    org.recipe.allowed_users.remove(org.users["alice"])
    alice = org.users["alice"]
    assert not access.visible_scan_findings(alice).exists()
    assert not access.visible_scan_targets(alice).exists()


def test_review_lists(world):
    org = world
    assert not services.registered_not_found(org.users["manager"]).exists()  # nothing scanned yet
    scan(org)
    assert not services.registered_not_found(org.users["manager"]).exists()  # all three found
    org.files["drawing"].unlink()
    scan(org)
    assert [s.management_number for s in services.registered_not_found(org.users["manager"])] == ["DEV-002"]
    assert [s.management_number for s in services.registered_not_found(org.users["bob"])] == ["DEV-002"]
    assert not services.registered_not_found(org.users["alice"]).exists()
    (memo,) = services.unregistered_marked(org.users["manager"])
    assert memo.path == str(org.files["memo"]) and memo.level == "極秘"


# --- bad input ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "code"), [
    ({"url": "smb://alice:pw@fs01/share"}, "scan.credentials_in_url"),
    ({"url": "s3://AKIAEXAMPLE:secret@bucket/prefix"}, "scan.credentials_in_url"),
    ({"url": "s3://bucket/prefix?X-Amz-Signature=abc"}, "scan.credentials_in_url"),
    ({"url": "http://fs01/share"}, "scan.target_invalid"),
    ({"url": "ftp://fs01/share"}, "scan.target_invalid"),
    ({"url": "smb://fs01"}, "scan.target_invalid"),
    ({"url": "relative/folder"}, "scan.target_invalid"),
    ({"url": "\\\\fs01\\share"}, "scan.target_invalid"),
    ({"url": ""}, "scan.target_invalid"),
    ({"options": {"password": "x"}}, "scan.options_secret"),
    ({"options": {"endpoint": "http://127.0.0.1:8333", "aws": {"secret_access_key": "x"}}}, "scan.options_secret"),
    ({"options": {"Token": "x"}}, "scan.options_secret"),
    ({"options": ["endpoint"]}, "scan.options_invalid"),
    ({"workers": 0}, "scan.workers_invalid"),
    ({"workers": 99}, "scan.workers_invalid"),
    ({"interval_hours": -1}, "scan.interval_invalid"),
    ({"interval_hours": 8761}, "scan.interval_invalid"),
    ({"name": "x" * 201}, "scan.name_invalid"),
])
def test_bad_target_input_is_refused(org, kwargs, code):
    values = {"name": "t", "url": "/srv/share", "options": {}, "department": None, "interval_hours": 0,
              "workers": 1, "enabled": True, **kwargs}
    with pytest.raises(InputError) as err:
        services.create_target(ctx(org), **values)
    assert err.value.code == code
    assert not ScanTarget.objects.exists()


def test_valid_targets_and_updates(org):
    c = ctx(org)
    smb = services.create_target(c, name="", url=" smb://fs01/開発部/焼結条件/ ",
                                 options={"port": 445, "credentials_file": "/etc/himitsu/smb.ini"})
    assert smb.url == "smb://fs01/開発部/焼結条件" and smb.name == smb.url and smb.next_run_at is None
    s3 = services.create_target(c, name="bucket", url="s3://sales-bucket", options={"endpoint": "http://x:8333"},
                                interval_hours=24, workers=16)
    assert s3.next_run_at is not None and s3.workers == 16
    with pytest.raises(InputError) as err:
        services.create_target(c, name="again", url="smb://fs01/開発部/焼結条件")
    assert err.value.code == "scan.target_exists"
    services.update_target(c, smb, interval_hours=12, department=org.dev)
    smb.refresh_from_db()
    assert smb.interval_hours == 12 and smb.next_run_at is not None and smb.department == org.dev
    with pytest.raises(InputError) as err:
        services.update_target(c, smb, options={"smb_password": "x"})
    assert err.value.code == "scan.options_secret"
    with pytest.raises(InputError) as err:
        services.update_target(c, smb, url="smb://bob:pw@fs01/x")
    assert err.value.code == "scan.credentials_in_url"
    events = AuditEvent.objects.filter(object_type="scan_target").order_by("seq")
    assert [e.action for e in events] == ["create", "create", "update"]
    assert events.last().details["changes"]["interval_hours"] == [0, 12]


# --- the background worker ----------------------------------------------------------------------------------------

def test_worker_runs_a_due_target_once(world):
    org = world
    services.update_target(ctx(org), org.target, interval_hours=24)
    now = timezone.now() + timedelta(seconds=1)
    assert worker._claim_due(now - timedelta(days=1)) is None  # not due yet
    runs = worker.run_due(now)
    assert [(r.target_id, r.trigger, r.status) for r in runs] == [(org.target.pk, Trigger.SCHEDULE,
                                                                    RunStatus.FINISHED)]
    org.target.refresh_from_db()
    assert org.target.next_run_at == now + timedelta(hours=24)
    assert worker.run_due(now) == []  # claimed: the same slot never runs twice
    assert worker._claim_due(now) is None
    assert runs[0].actor is None and AuditEvent.objects.filter(object_type="scan_run",
                                                               channel="worker").count() == 2
    later = worker.run_due(now + timedelta(hours=24, seconds=1))
    assert len(later) == 1 and later[0].unchanged == 8
    services.update_target(ctx(org), org.target, enabled=False)
    assert worker.run_due(now + timedelta(hours=100)) == []


def test_worker_takes_queued_runs_first(world):
    org = world
    queued = services.queue_run(ctx(org, "admin", "web"), org.target)
    assert queued.status == RunStatus.QUEUED and queued.actor == org.users["admin"]
    assert services.queue_run(ctx(org, "manager", "web"), org.target).pk == queued.pk  # not twice
    (run,) = worker.run_due()
    assert run.pk == queued.pk and run.status == RunStatus.FINISHED and run.trigger == Trigger.WEB
    assert run.actor == org.users["admin"] and run.findings_new > 0
    assert worker.run_due() == []


def test_stale_running_run_is_marked_interrupted(world):
    org = world
    long_ago = timezone.now() - timedelta(hours=2)
    stale = ScanRun.objects.create(target=org.target, status=RunStatus.RUNNING, trigger=Trigger.SCHEDULE,
                                   started_at=long_ago, heartbeat_at=long_ago)
    fresh = ScanRun.objects.create(target=org.target, status=RunStatus.RUNNING, trigger=Trigger.CLI,
                                   started_at=timezone.now(), heartbeat_at=timezone.now())
    queued = services.queue_run(ctx(org), org.target)
    assert queued.pk == fresh.pk  # a running run counts as waiting
    assert worker.run_due() == []
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == RunStatus.INTERRUPTED and stale.error_code == "scan.heartbeat_lost"
    assert fresh.status == RunStatus.RUNNING
    waiting = ScanRun.objects.create(target=org.target, status=RunStatus.QUEUED, trigger=Trigger.WEB)
    assert worker.run_due() == []  # its target is being scanned: it waits
    waiting.refresh_from_db()
    assert waiting.status == RunStatus.QUEUED
    ScanRun.objects.filter(pk=fresh.pk).update(status=RunStatus.FINISHED)
    (run,) = worker.run_due()
    assert run.pk == waiting.pk and run.status == RunStatus.FINISHED


def test_worker_records_a_target_busy_elsewhere(world):
    org = world
    queued = services.queue_run(ctx(org, "admin", "web"), org.target)
    lock = Path(str(services.catalogue_path(org.target)) + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a CLI scan of the same folder holds the catalogue
        (run,) = worker.run_due()
    assert run.pk == queued.pk and run.status == RunStatus.FAILED and run.error_code == "scan.running"
    assert worker.run_due() == []


class Once(threading.Event):
    """A stop event that is set by the worker's first wait between polls."""

    def wait(self, timeout: float | None = None) -> bool:
        self.set()
        return True


def test_serve_polls_until_stopped(world):
    org = world
    queued = services.queue_run(ctx(org), org.target)
    worker.serve(poll_seconds=30, stop_event=Once())
    queued.refresh_from_db()
    assert queued.status == RunStatus.FINISHED
    stopped = threading.Event()
    stopped.set()
    again = services.queue_run(ctx(org), org.target)
    worker.serve(stop_event=stopped)
    again.refresh_from_db()
    assert again.status == RunStatus.QUEUED


def test_a_run_by_hand_moves_the_schedule(world):
    org = world
    services.update_target(ctx(org), org.target, interval_hours=24)
    before = timezone.now()
    run = services.run_target(ctx(org), org.target, trigger=Trigger.CLI)
    assert run.status == RunStatus.FINISHED, (run.error_code, run.error_params)
    org.target.refresh_from_db()
    assert org.target.next_run_at >= before + timedelta(hours=24)
    assert worker.run_due(timezone.now()) == []  # not due again right after


def test_a_file_with_many_hits_keeps_the_strongest_and_counts_all(world):
    """A list of 60 phone numbers: the catalogue keeps 20 spans of the detector, the finding counts all 60."""
    org = world
    rows = "\n".join(f"顧客{i:02d} 電話 090-1234-{5600 + i:04d}" for i in range(60))
    write(org.place / "共有" / "電話一覧.txt", "電話番号一覧\n" + rows + "\n")
    scan(org)
    phone = ScanFinding.objects.get(target=org.target, path__endswith="電話一覧.txt", detector="jp-phone")
    assert phone.hits == 60


def test_a_killed_run_is_marked_interrupted_by_the_next(world):
    org = world
    dead = ScanRun.objects.create(target=org.target, trigger=Trigger.CLI, status=RunStatus.RUNNING,
                                  started_at=timezone.now(), heartbeat_at=timezone.now())
    run = scan(org)
    dead.refresh_from_db()
    assert run.status == RunStatus.FINISHED and dead.status == RunStatus.INTERRUPTED and dead.finished_at



def test_a_new_target_does_not_inherit_a_catalogue_left_at_its_id(world):
    """After a database reset ids start again; a catalogue file left under HIMITSU_HOME at the new target's id must
    not make its first scan see the files as unchanged."""
    org = world
    scan(org)
    kept = services.catalogue_path(org.target).read_bytes()
    last = ScanTarget.objects.order_by("-pk").first().pk
    for pk in range(last + 1, last + 4):  # the ids the next target may get
        services.catalogue_path(ScanTarget(pk=pk)).write_bytes(kept)
    ScanTarget.objects.filter(pk=org.target.pk).update(url="/elsewhere")
    again = services.create_target(ctx(org), name="共有サーバ（再作成）", url=str(org.place))
    assert last < again.pk <= last + 3 and not services.catalogue_path(again).exists()
    run = services.run_target(ctx(org), again)
    assert run.unchanged == 0 and run.files_read == run.files_seen > 0
