"""Scan pages: the findings inbox and its triage, register versus reality, targets and runs, the register entry's
"Found in scans", for every role, on the real database (rows made with the ORM: they are our models).

Who sees what (tests/conftest.py ``org``; R = DEV-001 recipe, P = SAL-001 prices, D = DEV-002 drawing):
findings about an entry follow the entry's need-to-know; findings without an entry are seen by admin, manager,
auditor, and the department manager of the target's department; never by employees.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from himitsu.web.audit.models import AuditEvent
from himitsu.web.register.models import SecretDocument, StorageLocation
from himitsu.web.scans.models import ScanError, ScanFinding, ScanRun, ScanTarget, Status

ROLES = ["admin", "manager", "devlead", "saleslead", "alice", "bob", "auditor"]
#: the findings of the ``scans`` fixture each role sees
SEES = {
    "admin": {"r", "r_mis", "p", "d_exp", "unreg", "mynum"},
    "manager": {"r", "r_mis", "p", "d_exp", "unreg", "mynum"},
    "auditor": {"r", "r_mis", "p", "d_exp", "unreg", "mynum"},
    "devlead": {"r", "r_mis", "d_exp", "unreg"},
    "saleslead": {"p", "mynum"},
    "alice": {"r", "r_mis"},
    "bob": {"d_exp"},
}
#: the findings each role may triage
TRIAGES = {
    "admin": SEES["admin"], "manager": SEES["manager"], "auditor": set(),
    "devlead": {"r", "r_mis", "d_exp", "unreg"}, "saleslead": {"p", "mynum"}, "alice": set(), "bob": set(),
}
LISTS_TARGETS = {"admin", "manager", "auditor", "devlead", "saleslead"}
MANAGES_TARGETS = {"admin", "manager"}


class Scans:
    pass


@pytest.fixture
def scans(org):
    s = Scans()
    now = timezone.now()
    s.dev = ScanTarget.objects.create(name="開発共有", url="/srv/dev", department=org.dev)
    s.sales = ScanTarget.objects.create(name="営業バケット", url="s3://sales-bucket", department=org.sales,
                                        interval_hours=24, next_run_at=now + timedelta(hours=3),
                                        options={"endpoint_url": "http://127.0.0.1:8333", "region": "ap-northeast-1"})
    s.run = ScanRun.objects.create(target=s.dev, status="finished", trigger="cli", started_at=now,
                                   finished_at=now, files_seen=12, files_total=12, files_done=12, files_read=9,
                                   bytes_read=123456, bytes_total=123456, unchanged=3, errors=3, vanished=1,
                                   findings_new=4, seconds=2.5)
    s.running = ScanRun.objects.create(target=s.sales, status="running", trigger="web", actor=org.users["manager"],
                                       started_at=now, files_seen=100, files_total=100, files_done=40, files_read=40,
                                       bytes_read=4000, bytes_total=10000, seconds=1.0)
    ScanError.objects.create(run=s.run, path="/srv/dev/秘密/鍵付き", code="scan.permission", detail="EACCES")
    ScanError.objects.create(run=s.run, path="/srv/dev/bomb.zip", code="limit.ratio", detail="ratio 1000")
    ScanError.objects.create(run=s.run, path="/srv/dev/odd", code="weird.code", detail="something")

    def finding(key: str, target: ScanTarget, **kw) -> ScanFinding:
        kw.setdefault("path", f"{target.url}/{key}.docx")
        f = ScanFinding.objects.create(identity=key, target=target, first_run=s.run if target == s.dev else s.running,
                                       last_run=s.run if target == s.dev else s.running, **kw)
        return f

    s.f = {
        "r": finding("r", s.dev, path="/srv/dev/共有/焼結条件.docx", kind="detection", detector="registered-secret",
                     reason="registered.excerpt", secret=org.recipe, level="極秘", score=0.93, hits=3,
                     snippet="焼結***温度", matched_chars=240,
                     params={"matched_chars": 240, "doc_id": 7, "containment": 0.5}),
        "r_mis": finding("r_mis", s.dev, path="/srv/dev/共有/焼結条件.docx", kind="misplaced",
                         reason="placement.outside_allowed", secret=org.recipe, level="極秘",
                         params={"allowed": "/srv/secure/開発"}),
        "p": finding("p", s.sales, path="s3://sales-bucket/価格表.xlsx", kind="detection",
                     detector="registered-secret", reason="registered.excerpt", secret=org.prices, level="秘",
                     score=0.8, params={"matched_chars": 100, "doc_id": 8, "containment": 0.2}),
        "d_exp": finding("d_exp", s.dev, path="/srv/dev/public/金型.pdf", kind="overexposed",
                         reason="exposure.posix.world_readable", secret=org.drawing, level="秘",
                         exposure="posix.world_readable", params={"detectors": "registered-secret"}),
        "unreg": finding("unreg", s.dev, path="/srv/dev/memo/極秘メモ.txt", kind="unregistered",
                         reason="marking.unregistered", level="極秘", params={"levels": "極秘"}),
        "mynum": finding("mynum", s.sales, path="s3://sales-bucket/名簿.zip", part="2026/名簿.xlsx",
                         kind="detection", detector="my-number", reason="my_number.checksum_only", score=0.6,
                         snippet="12********34", params={}),
    }
    s.org = org
    return s


def client_for(org, role: str, language: str | None = None) -> Client:
    client = Client()
    client.force_login(org.users[role])
    if language:
        client.cookies["django_language"] = language
    return client


def paths(response) -> set[str]:
    return {r["f"].identity for r in response.context["rows"]}


# --- the findings list -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
def test_findings_list_shows_exactly_what_the_role_may_see(scans, role):
    r = client_for(scans.org, role).get("/scans/?present=all")
    assert r.status_code == 200
    assert paths(r) == SEES[role]
    body = r.content.decode()
    hidden = {k for k in scans.f} - SEES[role]
    for key in hidden:
        assert scans.f[key].path not in body
    if role in ("alice", "bob", "saleslead"):
        # entries they may not see appear nowhere, not even in the filter choices
        for secret in (scans.org.recipe, scans.org.prices, scans.org.drawing):
            if not any(scans.f[k].secret_id == secret.pk for k in SEES[role]):
                assert secret.title not in body


def test_findings_list_requires_login(scans):
    r = Client().get("/scans/")
    assert r.status_code == 302 and "/login/" in r["Location"]


def test_findings_list_counts_and_chart(scans):
    scans.f["p"].present = False
    scans.f["p"].save()
    r = client_for(scans.org, "manager").get("/scans/")
    assert r.status_code == 200
    assert paths(r) == SEES["manager"] - {"p"}  # present by default
    kinds = {b["value"]: b["n"] for b in r.context["kind_bars"]}
    assert kinds == {"detection": 2, "misplaced": 1, "overexposed": 1, "unregistered": 1}
    statuses = {b["value"]: b["n"] for b in r.context["status_bars"]}
    assert statuses["new"] == 5 and statuses["resolved"] == 0
    assert r.context["present_total"] == 5
    assert max(b["pct"] for b in r.context["kind_bars"]) == 100
    gone = client_for(scans.org, "manager").get("/scans/?present=gone")
    assert paths(gone) == {"p"}


def test_findings_list_filters(scans):
    c = client_for(scans.org, "admin")
    assert paths(c.get(f"/scans/?target={scans.sales.pk}")) == {"p", "mynum"}
    assert paths(c.get("/scans/?kind=misplaced")) == {"r_mis"}
    assert paths(c.get("/scans/?detector=my-number")) == {"mynum"}
    assert paths(c.get(f"/scans/?secret={scans.org.recipe.pk}")) == {"r", "r_mis"}
    assert paths(c.get("/scans/?q=焼結")) == {"r", "r_mis"}
    assert paths(c.get("/scans/?q=名簿.xlsx")) == {"mynum"}  # the archive member
    scans.f["unreg"].status = Status.CONFIRMED
    scans.f["unreg"].save()
    assert paths(c.get("/scans/?status=confirmed")) == {"unreg"}


def test_secret_filter_cannot_reveal_an_invisible_entry(scans):
    r = client_for(scans.org, "alice").get(f"/scans/?secret={scans.org.prices.pk}&present=all")
    assert r.status_code == 200 and paths(r) == set()


@pytest.mark.parametrize("query", [
    "status=bogus", "kind=%00", "target=abc", "target=1%00", "secret=-1", "secret=9999999999999999999999",
    "present=maybe", "q=%00%00", "q=" + "x" * 5000, "detector=%00", "page=abc", "page=-5", "page=99999",
    "target=%EF%BC%91",  # a full-width digit
])
def test_bad_filter_values_are_ignored(scans, query):
    r = client_for(scans.org, "manager").get(f"/scans/?{query}")
    assert r.status_code == 200


def test_rows_show_translated_explanations_and_members(scans):
    r = client_for(scans.org, "admin", "en").get("/scans/?present=all")
    body = r.content.decode()
    assert "Found outside the storage locations its register entry allows (/srv/secure/開発)." in body
    assert "Everyone on the server can read this file" in body
    assert "Marked 極秘, but no register entry matched" in body
    assert "12-digit number with a valid My Number check digit" in body
    assert "240 normalised characters match registered document 7" in body
    assert "2026/名簿.xlsx" in body  # the member inside the archive
    assert "12********34" in body
    ja = client_for(scans.org, "admin").get("/scans/?present=all").content.decode()
    assert "Found outside the storage locations" not in ja
    assert "台帳項目で許可された保管場所の外" in ja


def test_english_and_japanese_rendering(scans):
    en = client_for(scans.org, "manager", "en").get("/scans/").content.decode()
    assert "Scan findings" in en and "Present findings by kind" in en and "Misplaced" in en
    ja = client_for(scans.org, "manager").get("/scans/").content.decode()
    assert '<html lang="ja">' in ja
    assert "スキャンの検出結果" in ja and "種類別" in ja and "許可外の場所" in ja
    assert "Present findings by kind" not in ja


def test_menu_entry_for_every_role(scans):
    for role in ROLES:
        body = client_for(scans.org, role, "en").get("/").content.decode()
        assert 'href="/scans/"' in body, role


# --- a finding and its triage ------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
def test_finding_detail_visibility(scans, role):
    c = client_for(scans.org, role)
    for key, f in scans.f.items():
        r = c.get(f"/scans/findings/{f.pk}/")
        assert r.status_code == (200 if key in SEES[role] else 404), (role, key)
        if r.status_code == 404:
            assert f.path not in r.content.decode()
    assert c.get("/scans/findings/999999/").status_code == 404


def test_refused_finding_is_audited(scans):
    before = AuditEvent.objects.filter(action="denied", object_type="scan_finding").count()
    assert client_for(scans.org, "alice").get(f"/scans/findings/{scans.f['p'].pk}/").status_code == 404
    assert AuditEvent.objects.filter(action="denied", object_type="scan_finding").count() == before + 1


def test_non_numeric_ids_are_404(scans):
    c = client_for(scans.org, "admin")
    for url in ("/scans/findings/abc/", "/scans/findings/1%00/", "/scans/targets/x/", "/scans/runs/-1/",
                "/scans/runs/abc/progress.json", "/scans/findings/99999999999999999999999/",
                "/scans/targets/99999999999999999999999/", "/scans/runs/99999999999999999999999/progress.json",
                "/scans/targets/99999999999999999999999/edit/"):
        assert c.get(url).status_code == 404, url


@pytest.mark.parametrize("role", ROLES)
def test_triage_permissions(scans, role):
    c = client_for(scans.org, role)
    for key, f in scans.f.items():
        r = c.post(f"/scans/findings/{f.pk}/", {"status": "confirmed", "comment": ""})
        if key not in SEES[role]:
            expected = 404
        elif key in TRIAGES[role]:
            expected = 302
        else:
            expected = 403
        assert r.status_code == expected, (role, key)
        f.refresh_from_db()
        assert f.status == ("confirmed" if expected == 302 else "new")


def test_triage_with_and_without_comment(scans):
    c = client_for(scans.org, "devlead", "en")
    f = scans.f["r_mis"]
    r = c.post(f"/scans/findings/{f.pk}/", {"status": "false_positive", "comment": "  "})
    assert r.status_code == 400
    assert "Give a comment when marking a finding false positive or resolved." in r.content.decode()
    f.refresh_from_db()
    assert f.status == "new"
    r = c.post(f"/scans/findings/{f.pk}/", {"status": "bogus", "comment": "x"})
    assert r.status_code == 400
    assert c.post(f"/scans/findings/{f.pk}/", {"status": "resolved", "comment": "移動\x00済み"}).status_code == 400
    r = c.post(f"/scans/findings/{f.pk}/", {"status": "resolved", "comment": " 移動済み "})
    assert r.status_code == 302
    f.refresh_from_db()
    assert (f.status, f.comment, f.status_by) == ("resolved", "移動済み", scans.org.users["devlead"])
    page = c.get(f"/scans/findings/{f.pk}/").content.decode()
    assert "移動済み" in page and "New → Resolved" in page  # the history from the audit trail
    ja = client_for(scans.org, "devlead").post(f"/scans/findings/{f.pk}/", {"status": "false_positive"})
    assert ja.status_code == 400
    assert "Give a comment" not in ja.content.decode()


def test_triage_form_needs_csrf(scans):
    client = Client(enforce_csrf_checks=True)
    client.force_login(scans.org.users["manager"])
    f = scans.f["r"]
    assert client.post(f"/scans/findings/{f.pk}/", {"status": "confirmed"}).status_code == 403
    page = client.get(f"/scans/findings/{f.pk}/")
    assert 'name="csrfmiddlewaretoken"' in page.content.decode()
    token = client.cookies["csrftoken"].value
    r = client.post(f"/scans/findings/{f.pk}/", {"status": "confirmed", "csrfmiddlewaretoken": token})
    assert r.status_code == 302


def test_finding_page_hides_run_links_from_those_who_may_not_see_runs(scans):
    f = scans.f["r"]
    assert f"/scans/runs/{scans.run.pk}/" not in client_for(scans.org, "alice").get(
        f"/scans/findings/{f.pk}/").content.decode()
    assert f"/scans/runs/{scans.run.pk}/" in client_for(scans.org, "devlead").get(
        f"/scans/findings/{f.pk}/").content.decode()


# --- register and reality ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
def test_review_page(scans, role):
    SecretDocument.objects.create(secret=scans.org.drawing, filename="金型.pdf", format="pdf", size=10,
                                  sha256="0" * 64, fingerprints=5)
    SecretDocument.objects.create(secret=scans.org.recipe, filename="焼結.docx", format="docx", size=10,
                                  sha256="1" * 64, fingerprints=5)
    r = client_for(scans.org, role).get("/scans/review/")
    assert r.status_code == 200
    assert paths(r) == ({"unreg"} & SEES[role])
    missing = {s.management_number for s in r.context["missing"]}
    # the drawing's documents were found by no detection; the recipe's were
    assert missing <= {"DEV-002"}
    assert ("DEV-002" in missing) == (role in {"admin", "manager", "auditor", "devlead", "bob"})


# --- targets and runs --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
def test_target_pages_by_role(scans, role):
    c = client_for(scans.org, role)
    lists = role in LISTS_TARGETS
    manages = role in MANAGES_TARGETS
    assert c.get("/scans/targets/").status_code == (200 if lists else 403)
    assert c.get("/scans/targets/new/").status_code == (200 if manages else 403)
    sees_dev = role in {"admin", "manager", "auditor", "devlead"}
    expected = 200 if sees_dev else (403 if not lists else 404)
    assert c.get(f"/scans/targets/{scans.dev.pk}/").status_code == expected
    assert c.get(f"/scans/runs/{scans.run.pk}/").status_code == expected
    assert c.get(f"/scans/runs/{scans.run.pk}/progress.json").status_code == expected
    edit = c.get(f"/scans/targets/{scans.dev.pk}/edit/").status_code
    assert edit == (200 if manages else expected if expected != 200 else 403)
    assert c.get("/scans/targets/999999/").status_code == (404 if lists else 403)
    run = c.post(f"/scans/targets/{scans.dev.pk}/run/")
    assert run.status_code == (302 if manages else expected if expected != 200 else 403)


def test_target_list_shows_schedule_and_last_run(scans):
    r = client_for(scans.org, "manager", "en").get("/scans/targets/")
    body = r.content.decode()
    assert "every 24 hours" in body and "manual only" in body
    assert f"/scans/runs/{scans.running.pk}/" in body and "Running" in body
    devlead = client_for(scans.org, "devlead").get("/scans/targets/")
    assert [row["t"].pk for row in devlead.context["rows"]] == [scans.dev.pk]


def test_create_edit_delete_target(scans):
    c = client_for(scans.org, "manager", "en")
    r = c.post("/scans/targets/new/", {"name": "人事共有", "url": "smb://fs01/人事/規程",
                                       "department": scans.org.dev.pk, "interval_hours": "12", "workers": "2",
                                       "enabled": "on", "port": "1445", "credentials_file": "/etc/himitsu/smb.cred"})
    assert r.status_code == 302, r.content.decode()
    t = ScanTarget.objects.get(name="人事共有")
    assert t.url == "smb://fs01/人事/規程" and t.interval_hours == 12 and t.workers == 2 and t.enabled
    assert t.options == {"port": 1445, "credentials_file": "/etc/himitsu/smb.cred"}
    assert t.next_run_at is not None
    page = c.get(f"/scans/targets/{t.pk}/").content.decode()
    assert "/etc/himitsu/smb.cred" in page and "every 12 hours" in page
    form = c.get(f"/scans/targets/{t.pk}/edit/").content.decode()
    assert 'type="password"' not in form and "credentials file" in form
    assert "Passwords and keys are never entered here" in form
    r = c.post(f"/scans/targets/{t.pk}/edit/", {"name": "人事共有", "url": "smb://fs01/人事/規程", "department": "",
                                                "interval_hours": "0", "workers": "1"})
    assert r.status_code == 302
    t.refresh_from_db()
    assert t.interval_hours == 0 and not t.enabled and t.options == {} and t.department is None
    assert c.get(f"/scans/targets/{t.pk}/delete/").status_code == 200
    assert c.post(f"/scans/targets/{t.pk}/delete/").status_code == 302
    assert not ScanTarget.objects.filter(pk=t.pk).exists()
    assert AuditEvent.objects.filter(object_type="scan_target", action="delete").exists()


@pytest.mark.parametrize("url,message", [
    ("smb://alice:pw@fs01/share", "Do not put credentials in the target URL"),
    ("s3://key@bucket/prefix", "Do not put credentials in the target URL"),
    ("not a url", "is not a scan target"),
    ("http://example.com/share", "is not a scan target"),
    ("relative/folder", "is not a scan target"),
    ("smb://server-only", "is not a scan target"),
    ("/srv/\x00nul", "Null characters are not allowed."),
])
def test_target_form_refuses_bad_urls(scans, url, message):
    c = client_for(scans.org, "admin", "en")
    r = c.post("/scans/targets/new/", {"name": "x", "url": url, "interval_hours": "0", "workers": "1"})
    assert r.status_code == 400
    assert message in r.content.decode()
    assert not ScanTarget.objects.filter(name="x").exists()


def test_target_form_bad_numbers_and_duplicate(scans):
    c = client_for(scans.org, "admin", "en")
    base = {"name": "y", "url": "/srv/other", "interval_hours": "0", "workers": "1"}
    for bad in ({"interval_hours": "-1"}, {"workers": "0"}, {"workers": "abc"}, {"interval_hours": "99999999"},
                {"port": "70000"}, {"endpoint_url": "ftp://x"}, {"endpoint_url": "http://u:p@x"},
                {"credentials_file": "relative.cred"}, {"department": "999999"}, {"name": "\x00"}):
        r = c.post("/scans/targets/new/", base | bad)
        assert r.status_code == 400, bad
    r = c.post("/scans/targets/new/", base | {"url": "/srv/dev"})
    assert r.status_code == 400 and "already exists" in r.content.decode()


def test_target_form_japanese_errors(scans):
    r = client_for(scans.org, "admin").post("/scans/targets/new/", {"name": "x", "url": "smb://a:b@fs/share",
                                                                    "interval_hours": "0", "workers": "1"})
    assert r.status_code == 400
    body = r.content.decode()
    assert "Do not put credentials" not in body


def test_target_forms_need_csrf(scans):
    client = Client(enforce_csrf_checks=True)
    client.force_login(scans.org.users["admin"])
    assert client.post("/scans/targets/new/", {"name": "z", "url": "/srv/z", "interval_hours": "0",
                                               "workers": "1"}).status_code == 403
    assert client.post(f"/scans/targets/{scans.dev.pk}/run/").status_code == 403
    assert client.post(f"/scans/targets/{scans.dev.pk}/delete/").status_code == 403
    assert ScanTarget.objects.filter(pk=scans.dev.pk).exists()


def test_run_now_queues_once(scans):
    c = client_for(scans.org, "manager", "en")
    r = c.post(f"/scans/targets/{scans.dev.pk}/run/")
    assert r.status_code == 302
    run = ScanRun.objects.filter(target=scans.dev, status="queued").get()
    assert r["Location"] == f"/scans/runs/{run.pk}/"
    assert (run.trigger, run.actor) == ("web", scans.org.users["manager"])
    page = c.get(r["Location"]).content.decode()
    assert "himitsu scans worker" in page
    again = c.post(f"/scans/targets/{scans.dev.pk}/run/")
    assert again.status_code == 302 and ScanRun.objects.filter(target=scans.dev, status="queued").count() == 1
    assert c.get(f"/scans/targets/{scans.dev.pk}/run/").status_code == 405


def test_run_page_counters_errors_and_progress(scans):
    c = client_for(scans.org, "admin", "en")
    body = c.get(f"/scans/runs/{scans.run.pk}/").content.decode()
    assert "Permission denied: EACCES" in body
    assert "expands too much" in body  # limit.ratio, translated
    assert "weird.code" in body  # an unknown code is shown as it is
    assert "<script>" not in body  # a finished run does not poll
    running = c.get(f"/scans/runs/{scans.running.pk}/").content.decode()
    assert "<script>" in running and "progress.json" in running and 'style="width: 40.0%"' in running
    p = c.get(f"/scans/runs/{scans.running.pk}/progress.json").json()
    assert p["status"] == "running" and p["active"] is True and p["percent"] == 40.0
    assert p["files_done"] == 40 and p["bytes_total"] == 10000
    done = c.get(f"/scans/runs/{scans.run.pk}/progress.json").json()
    assert done["active"] is False and done["percent"] == 100.0
    target = c.get(f"/scans/targets/{scans.dev.pk}/").content.decode()
    assert f"/scans/runs/{scans.run.pk}/" in target


def test_failed_run_shows_its_translated_error(scans):
    run = ScanRun.objects.create(target=scans.dev, status="failed", trigger="schedule", error_code="scan.auth",
                                 error_params={"detail": "NT_STATUS_LOGON_FAILURE"})
    body = client_for(scans.org, "admin", "en").get(f"/scans/runs/{run.pk}/").content.decode()
    assert "The server refused the credentials, or none were configured: NT_STATUS_LOGON_FAILURE" in body
    ja = client_for(scans.org, "admin").get(f"/scans/runs/{run.pk}/").content.decode()
    assert "The server refused the credentials" not in ja


# --- the register entry's "Found in scans" -----------------------------------------------------------------------

def test_register_entry_shows_where_it_was_found(scans):
    StorageLocation.objects.create(secret=scans.org.recipe, kind="path", location="/srv/secure/開発")
    c = client_for(scans.org, "alice", "en")
    body = c.get(f"/register/{scans.org.recipe.pk}/").content.decode()
    assert "Found in scans" in body
    assert "/srv/dev/共有/焼結条件.docx" in body and "Misplaced" in body
    drawing = client_for(scans.org, "bob", "en").get(f"/register/{scans.org.drawing.pk}/").content.decode()
    assert "/srv/dev/public/金型.pdf" in drawing and "Overexposed" in drawing
    prices = client_for(scans.org, "saleslead", "en").get(f"/register/{scans.org.prices.pk}/").content.decode()
    assert "s3://sales-bucket/価格表.xlsx" in prices and "Allowed location" in prices
    scans.f["p"].present = False
    scans.f["p"].save()
    prices = client_for(scans.org, "saleslead", "en").get(f"/register/{scans.org.prices.pk}/").content.decode()
    assert "No scan has found this entry" in prices
    ja = client_for(scans.org, "alice").get(f"/register/{scans.org.recipe.pk}/").content.decode()
    assert "Found in scans" not in ja and "スキャンで見つかった場所" in ja



def test_findings_of_one_run(scans):
    """The run page links to what that run found first; a bad run id is ignored."""
    c = client_for(scans.org, "admin")
    assert paths(c.get(f"/scans/?run={scans.running.pk}&present=all")) == {"p", "mynum"}
    assert paths(c.get("/scans/?run=999999&present=all")) == set()
    assert c.get("/scans/?run=abc").status_code == 200
    assert f"?run={scans.run.pk}" in c.get(f"/scans/runs/{scans.run.pk}/").content.decode()
