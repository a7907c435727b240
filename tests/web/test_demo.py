"""The demo company: loads through the normal register services into an empty database, once."""

from __future__ import annotations

from collections import Counter

import pytest

PASSWORD = "Demo-test-pw-2026"


@pytest.fixture
def demo(db, monkeypatch, tmp_path):
    """The demo in its own HIMITSU_HOME: the demo registers documents, and on PostgreSQL the ids of rolled-back
    tests are not reused, so in a shared fingerprint index every load would add another copy of the same documents
    (five copies make their text common, which the index ignores)."""
    from himitsu.web.core.demo import load_demo

    monkeypatch.setenv("HIMITSU_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HIMITSU_INDEX_DIR", raising=False)

    calls: list[tuple[int, int]] = []
    result = load_demo(PASSWORD, progress=lambda done, total: calls.append((done, total)))
    result["progress_calls"] = calls
    return result


def _data():
    from himitsu.web.core.demo import demo_data

    return demo_data()


def _share():
    from himitsu.web.core.demo import share_data

    return share_data()


def _shared_entries() -> set[str]:
    return {d["secret"] for d in _share()["documents"].values()}


def test_counts(demo):
    from himitsu.web.accounts.models import AccessGroup, Department, Role, User
    from himitsu.web.register.models import Secret

    assert demo["loaded"] is True
    assert (demo["departments"], demo["secrets"]) == (5, 20)
    assert Department.objects.count() == 5
    assert 27 <= User.objects.count() <= 33 and User.objects.count() == demo["users"]
    assert 3 <= AccessGroup.objects.count() <= 5 and AccessGroup.objects.count() == demo["groups"]
    assert Secret.objects.count() == 20

    roles = Counter(User.objects.values_list("role", flat=True))
    assert roles[Role.SYSTEM_ADMIN] == 1 and roles[Role.SECRET_MANAGER] == 1 and roles[Role.AUDITOR] == 1
    assert roles[Role.DEPT_MANAGER] == 5
    managed = set(User.objects.filter(role=Role.DEPT_MANAGER).values_list("department__code", flat=True))
    assert managed == set(Department.objects.values_list("code", flat=True))
    assert User.objects.get(username="admin").role == Role.SYSTEM_ADMIN
    assert User.objects.get(username="kanri").role == Role.SECRET_MANAGER
    assert User.objects.get(username="kansa").role == Role.AUDITOR

    assert set(Secret.objects.values_list("level__code", flat=True)) == {"gokuhi", "hi", "shagaihi"}
    categories = set(Secret.objects.values_list("category", flat=True))
    assert {"technical", "business"} <= categories
    legal = Counter(Secret.objects.values_list("legal_type", flat=True))
    assert legal["limited_data"] >= 1 and legal["other_confidential"] >= 1
    assert legal["trade_secret"] >= 15


def test_users_can_log_in_and_look_real(demo):
    from himitsu.web.accounts.models import User

    logins = demo["logins"]
    assert [x["username"] for x in logins][:2] == ["admin", "kanri"]
    assert {x["role"] for x in logins} == {"system_admin", "secret_manager", "dept_manager", "employee", "auditor"}
    admin = User.objects.get(username="admin")
    assert admin.check_password(PASSWORD) and not admin.check_password(PASSWORD + "x")
    for user in User.objects.all():
        assert user.has_usable_password() and user.is_active
        assert user.username.isascii() and " " in user.display_name
        assert user.email == f"{user.username}@example.co.jp"
        assert user.department_id is not None


def test_progress_is_reported_per_secret(demo):
    assert demo["progress_calls"] == [(i, 20) for i in range(1, 21)]


def test_status_mix(demo):
    from himitsu.web.register import services
    from himitsu.web.register.models import Secret

    stored = Counter(Secret.objects.values_list("secrecy_status", flat=True))
    assert set(stored) == {"qualifies", "at_risk", "not_qualified"}
    assert all(n >= 3 for n in stored.values()), stored
    # The stored status is what the services compute now (evidence answers were applied).
    for secret in Secret.objects.all():
        result = services.assessment(secret)
        assert (secret.secrecy_score, secret.secrecy_status) == (result.score, result.status)
        assert set(secret.evidence.values_list("item", flat=True)) == {"pledges", "rules_known", "rules_enforced"}


def test_review_dates_are_relative_to_today(demo):
    from django.utils import timezone

    from himitsu.web.register.models import Secret

    today = timezone.localdate()
    dates = [d for d in Secret.objects.values_list("review_date", flat=True) if d is not None]
    assert any(d < today for d in dates), "some reviews should be overdue"
    assert any(d > today for d in dates)
    for entry in _data()["secrets"]:
        secret = Secret.objects.get(management_number=entry["management_number"])
        if "review_in_days" in entry:
            assert (secret.review_date - today).days == entry["review_in_days"]
        else:
            assert secret.review_date is None


def test_every_secret_has_history_and_audit(demo):
    from himitsu.web.audit import chain
    from himitsu.web.audit.models import AuditEvent
    from himitsu.web.register.models import Secret, SecretRevision

    for secret in Secret.objects.all():
        revisions = SecretRevision.objects.filter(secret=secret)
        assert revisions.filter(action="create", channel="demo").exists()
        audit = AuditEvent.objects.filter(object_type="secret", object_id=str(secret.pk))
        assert audit.filter(action="create", channel="demo").exists()
        # The entries with a document in the demo share also allow the share's folder (see test_file_share_*).
        assert secret.locations.count() == len(
            next(e for e in _data()["secrets"] if e["management_number"] == secret.management_number)
            .get("locations", [])) + (secret.management_number in _shared_entries())
    assert chain.verify().ok


def test_loading_twice_changes_nothing(demo):
    from himitsu.web.accounts.models import AccessGroup, Department, User
    from himitsu.web.audit.models import AuditEvent
    from himitsu.web.core.demo import load_demo
    from himitsu.web.register.models import Secret, SecretRevision

    def counts():
        return [m.objects.count() for m in (Department, User, AccessGroup, Secret, SecretRevision, AuditEvent)]

    before = counts()
    again = load_demo(PASSWORD)
    assert again == {"loaded": False, "reason": "not_empty"}
    assert counts() == before


def test_existing_names_are_not_overwritten(db):
    from himitsu.web.accounts.models import Department, Role, User
    from himitsu.web.core.demo import load_demo
    from himitsu.web.register.models import Secret

    own = User(username="admin", role=Role.SYSTEM_ADMIN)
    own.set_password("Someone-else-pw-1")
    own.save()
    result = load_demo(PASSWORD)
    assert result == {"loaded": False, "reason": "conflict", "conflicts": ["user:admin"]}
    assert User.objects.count() == 1 and Department.objects.count() == 0 and Secret.objects.count() == 0
    assert User.objects.get(username="admin").check_password("Someone-else-pw-1")


def _expected_for(username: str) -> set[str]:
    data = _data()
    groups = {g["name"] for g in data["groups"] if username in g.get("members", [])}
    return {
        e["management_number"] for e in data["secrets"]
        if username in e.get("allowed_users", []) or groups & set(e.get("allowed_groups", []))
    }


def test_employee_sees_only_granted_entries(demo):
    from himitsu.web.accounts import access
    from himitsu.web.accounts.models import Role, User
    from himitsu.web.register.models import Secret

    employee = User.objects.get(username=next(x["username"] for x in demo["logins"] if x["role"] == "employee"))
    assert employee.role == Role.EMPLOYEE
    seen = set(access.visible_secrets(employee).values_list("management_number", flat=True))
    expected = _expected_for(employee.username)
    assert seen == expected
    assert 0 < len(seen) < Secret.objects.count()
    # Never another department's entry unless it was granted.
    assert not {"SAL-2024-001", "SAL-2025-001", "GA-2024-001"} & seen

    # Someone outside every group and list sees nothing.
    outsider = User.objects.get(username="yamamoto")
    assert _expected_for("yamamoto") == set()
    assert not access.visible_secrets(outsider).exists()


def test_department_manager_sees_own_department_and_grants(demo):
    from himitsu.web.accounts import access
    from himitsu.web.accounts.models import User
    from himitsu.web.register.models import Secret

    manager = User.objects.get(username="mori")
    seen = set(access.visible_secrets(manager).values_list("management_number", flat=True))
    own = set(Secret.objects.filter(owner_department__code="SALES").values_list("management_number", flat=True))
    assert seen == own | _expected_for("mori")
    assert access.visible_secrets(User.objects.get(username="kansa")).count() == 20


def test_demo_logins_can_browse_the_register(demo, client):
    from himitsu.web.accounts import access
    from himitsu.web.accounts.models import User

    for login in demo["logins"]:
        user = User.objects.get(username=login["username"])
        client.force_login(user)
        for url in ["/", "/register/"]:
            assert client.get(url).status_code == 200, (login["username"], url)
        for secret in access.visible_secrets(user)[:3]:
            for url in [f"/register/{secret.pk}/", f"/register/{secret.pk}/history/"]:
                assert client.get(url).status_code == 200, (login["username"], url)
        client.logout()


def test_people_and_agreements(demo):
    """The demo shows issue 4's pieces: leaving cases for the people with a leaving date (exit pledge naming what
    they can access), pledges acknowledged and outstanding, training with people overdue."""
    from himitsu.web.accounts import access
    from himitsu.web.accounts.models import User
    from himitsu.web.pledges.models import Pledge
    from himitsu.web.training import services as training
    from himitsu.web.workflows.models import Case

    leavers = User.objects.filter(left_on__isnull=False)
    assert leavers.count() >= 2
    for person in leavers:
        case = Case.objects.get(person=person, kind="leaving", status="open")
        assert case.due_on == person.left_on and case.steps.count() >= 6
        exit_pledge = Pledge.objects.get(person=person, template_code="leaving")
        assert set(exit_pledge.secrets.all()) == set(access.visible_secrets(person)) != set()
    assert Pledge.objects.filter(template_code="joining", status="acknowledged").count() >= 3
    assert Pledge.objects.filter(template_code="joining", status="issued").exists()
    kanri = User.objects.get(username="kanri")
    overdue = training.overdue(kanri)
    assert {r.person.username for r in overdue} >= {"yamada.s", "ishikawa"}


# --- the demo's file share (issue 5) ---------------------------------------------------------------------------------

@pytest.fixture
def shared(db, monkeypatch):
    """The demo loaded into a HIMITSU_HOME that everyone may traverse, as /work/main/var is for `make run` (the
    test session's own home is private to the user: then nothing would be world-readable)."""
    import shutil
    import tempfile
    from pathlib import Path

    from himitsu.web.core.demo import load_demo

    home = Path(tempfile.mkdtemp(prefix="himitsu-demo-share-", dir="/tmp"))
    home.chmod(0o755)
    monkeypatch.setenv("HIMITSU_HOME", str(home))
    monkeypatch.delenv("HIMITSU_INDEX_DIR", raising=False)
    result = load_demo(PASSWORD)
    result["home"] = home
    yield result
    shutil.rmtree(home, ignore_errors=True)


def _by_file(target) -> dict[str, set[tuple[str, str, str | None]]]:
    """Relative path in the share -> (kind, detector, management number) of its present findings."""
    from pathlib import Path

    out: dict[str, set[tuple[str, str, str | None]]] = {}
    for f in target.findings.filter(present=True).select_related("secret"):
        rel = str(Path(f.path).relative_to(target.url))
        out.setdefault(rel, set()).add((f.kind, f.detector, f.secret.management_number if f.secret else None))
    return out


def test_file_share_is_registered_written_and_scanned(shared):
    from himitsu.web.core.demo import share_folder
    from himitsu.web.register.models import SecretDocument, StorageLocation
    from himitsu.web.scans import services as scans
    from himitsu.web.scans.models import RunStatus, ScanRun, ScanTarget, Trigger

    data = _share()
    root = share_folder()
    assert root == shared["home"] / "demo-share" and (root / data["marker"]).is_file()

    # Documents registered for 極秘 and 秘 entries whose register location is on \\fs01 (fingerprints only).
    docs = SecretDocument.objects.select_related("secret__level")
    assert {d.secret.management_number for d in docs} == _shared_entries() == {
        "DEV-2024-001", "MFG-2023-001", "GA-2024-001", "DEV-2023-003"}
    assert {d.secret.level.name for d in docs} == {"極秘", "秘"}
    assert all(d.fingerprints > 0 and d.added_by == "kanri" for d in docs)
    for number in _shared_entries():
        entry = next(e for e in _data()["secrets"] if e["management_number"] == number)
        assert any(loc.startswith("\\\\fs01\\") for loc in entry["locations"])
        doc = next(d for d in data["documents"].values() if d["secret"] == number)
        allowed = StorageLocation.objects.get(secret__management_number=number, location__startswith=str(root))
        assert (allowed.kind, allowed.location) == ("path", f"{root / doc['allowed']}/")

    target = ScanTarget.objects.get()
    assert (target.name, target.url, target.interval_hours, target.enabled) == ("デモ共有フォルダ", str(root), 24, True)
    run = ScanRun.objects.get(target=target)
    assert (run.status, run.trigger, run.files_seen, run.files_read) == (
        RunStatus.FINISHED, Trigger.CLI, len(data["files"]), len(data["files"]))
    # The catalogue of what was seen is kept for the next (scheduled) scan, which reads nothing unchanged.
    assert scans.catalogue_path(target).is_file()
    assert shared["share"] == {"documents": 4, "files": len(data["files"]), "target": target.pk,
                               "findings": target.findings.count()}


def test_file_share_findings_per_file(shared):
    from himitsu.web.scans.models import ScanTarget

    target = ScanTarget.objects.get()
    found = _by_file(target)
    for spec in _share()["files"]:
        kinds = {k for k, _, _ in found.get(spec["path"], set())}
        assert kinds == set(spec["expect"]), spec["path"]
    harmless = [f["path"] for f in _share()["files"] if not f["expect"]]
    assert len(harmless) >= 5 and not set(harmless) & set(found)

    def has(path: str) -> set[tuple[str, str, str | None]]:
        return found[path]

    assert has("開発部/焼結条件/L3/【極秘】焼結条件表_3号機_rev4.txt") == {
        ("detection", "registered-secret", "DEV-2024-001"), ("detection", "marking", None)}
    assert has("全社共有/製造部より/新人教育_サイジング工程の勘所.txt") == {
        ("detection", "registered-secret", "MFG-2023-001"), ("misplaced", "", "MFG-2023-001"),
        ("overexposed", "", "MFG-2023-001")}
    assert ("misplaced", "", "DEV-2024-001") in has("開発部/旧サーバ移行データ/焼結条件メモ_2019.txt")  # Shift_JIS
    assert ("misplaced", "", "GA-2024-001") in has("個人/佐藤/持ち帰り/経営会議メモ_設備投資.txt")
    assert has("総務部/人事/【極秘】2027年4月_組織変更案_第2稿.txt") == {
        ("detection", "marking", None), ("unregistered", "", None), ("misplaced", "", None)}
    customers = has("個人/阿部/同期フォルダ/展示会来場者リスト_2026.csv")
    assert {("detection", "customer-list", None), ("overexposed", "", None)} <= customers
    assert ("detection", "encrypted-archive", None) in has("営業部/受領ファイル/仕入先カタログ_2026.zip")

    rows = target.findings.all()
    assert {"detection", "misplaced", "overexposed", "unregistered"} == set(rows.values_list("kind", flat=True))
    reasons = set(rows.values_list("reason", flat=True))
    assert {"placement.outside_allowed", "placement.marked_outside", "marking.unregistered",
            "exposure.posix.world_readable"} <= reasons
    assert "placement.no_locations" not in reasons  # every registered document's entry allows a share folder
    for text in [d["text"] for d in _share()["documents"].values()]:
        for row in rows:  # never the document's text in a finding
            assert not row.snippet or row.snippet not in text or len(row.snippet) < 12


def test_file_share_triage_and_review_lists(shared):
    from himitsu.web.accounts.models import User
    from himitsu.web.audit import chain
    from himitsu.web.audit.models import AuditEvent
    from himitsu.web.scans import services as scans
    from himitsu.web.scans.models import ScanFinding, Status

    statuses = Counter(ScanFinding.objects.values_list("status", flat=True))
    assert statuses[Status.CONFIRMED] == 1 and statuses[Status.FALSE_POSITIVE] == 1 and statuses[Status.NEW] >= 10
    confirmed = ScanFinding.objects.get(status=Status.CONFIRMED)
    assert (confirmed.kind, confirmed.secret.management_number, confirmed.status_by.username) == (
        "misplaced", "MFG-2023-001", "inoue")
    false = ScanFinding.objects.get(status=Status.FALSE_POSITIVE)
    assert (false.kind, false.detector, false.status_by.username) == ("detection", "encrypted-archive", "kanri")
    assert confirmed.comment and false.comment
    assert AuditEvent.objects.filter(object_type="scan_finding", channel="demo").count() == 2
    assert chain.verify().ok

    kanri = User.objects.get(username="kanri")
    # DEV-2023-003's document is registered but on no scanned share: the register and reality disagree.
    assert [s.management_number for s in scans.registered_not_found(kanri)] == ["DEV-2023-003"]
    assert scans.unregistered_marked(kanri).count() == 1


def test_file_share_files(shared):
    import io
    import stat
    import zipfile

    from himitsu.web.core.demo import share_folder

    root = share_folder()
    by_path = {f["path"]: f for f in _share()["files"]}
    for path, spec in by_path.items():
        assert stat.S_IMODE((root / path).stat().st_mode) == int(spec["mode"], 8), path
    old = (root / "開発部/旧サーバ移行データ/焼結条件メモ_2019.txt").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        old.decode("utf-8")
    assert old.decode("cp932") == by_path["開発部/旧サーバ移行データ/焼結条件メモ_2019.txt"]["text"]
    spec = by_path["営業部/受領ファイル/仕入先カタログ_2026.zip"]["zip"]
    archive = zipfile.ZipFile(io.BytesIO((root / "営業部/受領ファイル/仕入先カタログ_2026.zip").read_bytes()))
    [name] = archive.namelist()
    assert archive.getinfo(name).flag_bits & 1
    with pytest.raises(RuntimeError):
        archive.read(name)
    assert archive.read(name, pwd=spec["password"].encode()).decode() == spec["members"][name]
    customers = (root / "個人/阿部/同期フォルダ/展示会来場者リスト_2026.csv").read_text(encoding="utf-8")
    assert customers.count("090-0000-") == 8 and "@example.com" in customers


def test_file_share_visible_on_the_findings_pages(shared, client):
    from himitsu.web.accounts import access
    from himitsu.web.accounts.models import User
    from himitsu.web.scans.models import ScanFinding

    for username in ["kanri", "sato", "tanaka.a", "kansa"]:
        user = User.objects.get(username=username)
        client.force_login(user)
        assert client.get("/scans/").status_code == 200, username
        visible = access.visible_scan_findings(user)
        for finding in visible[:3]:
            assert client.get(f"/scans/findings/{finding.pk}/").status_code == 200, (username, finding.pk)
        client.logout()
    # Need-to-know: an employee sees only findings about entries granted to them.
    tanaka = User.objects.get(username="tanaka.a")
    seen = set(access.visible_scan_findings(tanaka).values_list("secret__management_number", flat=True))
    assert seen and seen <= set(access.visible_secrets(tanaka).values_list("management_number", flat=True))
    assert ScanFinding.objects.exclude(pk__in=access.visible_scan_findings(tanaka)).exists()


def test_file_share_refuses_a_foreign_folder(db, monkeypatch, tmp_path):
    from himitsu.web.core.demo import load_demo
    from himitsu.web.register.models import Secret

    monkeypatch.setenv("HIMITSU_HOME", str(tmp_path))
    (tmp_path / "demo-share").mkdir()
    (tmp_path / "demo-share" / "own.txt").write_text("not the demo's")
    with pytest.raises(RuntimeError, match="not the demo's file share"):
        load_demo(PASSWORD)
    assert not Secret.objects.exists()  # all or nothing
    assert (tmp_path / "demo-share" / "own.txt").read_text() == "not the demo's"


def test_file_share_is_replaced_by_a_new_demo(db, monkeypatch, tmp_path):
    """A later demo (a new database, the same HIMITSU_HOME: `rm var/himitsu.sqlite3; make run`) writes the share
    anew and scans it from scratch, not from the catalogue the old database's target left (on SQLite the new
    target gets the same id)."""
    from django.db import transaction

    from himitsu.web.core.demo import load_demo, share_folder
    from himitsu.web.register.models import Secret
    from himitsu.web.scans.models import ScanRun

    monkeypatch.setenv("HIMITSU_HOME", str(tmp_path))

    class Forget(Exception):
        pass

    with pytest.raises(Forget), transaction.atomic():
        first = load_demo(PASSWORD)
        (share_folder() / "leftover.txt").write_text("x")
        raise Forget
    assert not Secret.objects.exists() and (share_folder() / "leftover.txt").exists()
    again = load_demo(PASSWORD)
    assert again["loaded"] and again["share"]["findings"] == first["share"]["findings"] > 10
    assert not (share_folder() / "leftover.txt").exists()
    assert ScanRun.objects.get().files_read == len(_share()["files"])


def test_the_demo_has_scored_activity_logs_with_the_leaver_first(demo):
    from himitsu.web.core import demo_activity
    from himitsu.web.insider.models import InsiderAlert

    insider = demo["insider"]
    assert insider["loaded"], insider
    assert insider["events"] > 10_000 and insider["alerts"] > 20
    top = InsiderAlert.objects.filter(day=insider["day"]).order_by("rank").first()
    assert top.log_user == demo_activity.LEAVER
    names = {i["name"] for i in top.indicators}
    assert {"usb_writes", "after_hours"} <= names, names
    assert top.days_to_leave is not None
    # the USB user and the late worker have habits, not alerts
    for habit in (demo_activity.USB_USER, demo_activity.LATE_WORKER):
        assert InsiderAlert.objects.get(day=insider["day"], log_user=habit).score < top.score / 5


@pytest.mark.parametrize("today", ["2026-09-24", "2027-01-05", "2027-05-10"])  # after 連休, 年末年始, GW
def test_the_demo_logs_put_the_leaver_first_whatever_the_day(demo, tmp_path, monkeypatch, today):
    from datetime import date

    from himitsu.web.accounts.models import User
    from himitsu.web.core import demo_activity
    from himitsu.web.insider.models import InsiderAlert

    monkeypatch.setenv("HIMITSU_INSIDER_DB", str(tmp_path / "other.duckdb"))
    users = list(User.objects.select_related("department"))
    loaded = demo_activity.load(users, date.fromisoformat(today), tmp_path, "example.co.jp")
    assert loaded["loaded"], loaded
    assert date.fromisoformat(loaded["day"]) == demo_activity.working_days(date.fromisoformat(today))[-1]
    top = InsiderAlert.objects.filter(day=loaded["day"]).order_by("rank").first()
    assert top.log_user == demo_activity.LEAVER
