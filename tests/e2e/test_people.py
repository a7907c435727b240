"""A person's whole path in a real browser against `himitsu serve --demo`: joining (with the declaration of
not bringing a former employer's secrets), an access grant, pledges acknowledged in the app and signed on
paper, then leaving: the exit pledge names the secrets the person had, every access is revoked, each step
needs evidence and the case completes only then. Each role does its own part, as in an SME."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

KNOWN_NUMBER = "DEV-2024-001"  # a 極秘 entry of 開発部 in the demo
PASSWORD = "E2e-Newcomer-" + secrets.token_urlsafe(12)


def jst_today() -> Any:
    return datetime.now(ZoneInfo("Asia/Tokyo")).date()


def submit(page: Page, button: Any) -> None:
    with page.expect_navigation():
        button.click()


def success(page: Page) -> None:
    expect(page.locator("ul.messages li.error")).to_have_count(0)
    expect(page.locator("main .errorlist")).to_have_count(0)


def create_person(page: Page, username: str, display_name: str) -> int:
    """The system administrator creates the account of a new hire in 開発部; returns its id."""
    page.goto("/people/")
    submit(page, page.locator("main a[href='/people/users/new/']"))
    form = page.locator("main form")
    form.locator("#id_username").fill(username)
    form.locator("#id_display_name").fill(display_name)
    form.locator("#id_email").fill(f"{username}@example.co.jp")
    form.locator("#id_role").select_option("employee")
    form.locator("#id_department").select_option(label="開発部")
    form.locator("#id_joined_on").fill(jst_today().isoformat())
    form.locator("#id_password").fill(PASSWORD)
    submit(page, form.locator("button[type=submit]"))
    success(page)
    expect(page).to_have_url(re.compile(r"/people/$"))
    row = page.locator("#people tbody tr").filter(has_text=username)
    expect(row).to_have_count(1)
    href = row.locator("a[href^='/people/']").filter(has_text=display_name).get_attribute("href")
    assert href is not None
    return int(href.strip("/").split("/")[-1])


def open_case(page: Page, person_id: int, kind: str, *, other_company: bool = False) -> str:
    page.goto("/")
    submit(page, page.locator("header nav a[href='/workflows/']"))
    submit(page, page.locator("main a[href='/workflows/new/']"))
    form = page.locator("main form.stacked")
    form.locator("#id_person").select_option(str(person_id))
    form.locator("#id_kind").select_option(kind)
    if other_company:
        form.locator("#id_other_company").check()
    submit(page, form.locator("button[type=submit]"))
    success(page)
    expect(page).to_have_url(re.compile(r"/workflows/\d+/$"))
    return page.url


def issue_from_step(page: Page, case_url: str, step: str, *, company: str = "株式会社青嵐精工") -> str:
    """From the case's step, issue the pledge it needs (template and person preselected); returns its URL."""
    page.goto(case_url)
    submit(page, page.locator(f"#step-{step} a", has_text=re.compile("誓約書を交付|Issue the pledge")))
    form = page.locator("main form.stacked")
    form.locator("#id_company").fill(company)
    submit(page, form.locator("button[type=submit]"))
    success(page)
    expect(page).to_have_url(re.compile(r"/pledges/\d+/$"))
    return page.url


def acknowledge_all(page: Page, expect_text: str = "") -> None:
    """The person acknowledges every pledge waiting on their pledges page."""
    page.goto("/")
    submit(page, page.locator("header nav a[href='/pledges/']"))
    forms = page.locator("main form[action$='/acknowledge/']")
    expect(forms.first).to_be_visible()
    if expect_text:
        expect(page.locator("main")).to_contain_text(expect_text)
    while forms.count():
        form = forms.first
        form.locator("input[name=confirm]").check()
        submit(page, form.locator("button[type=submit]"))
        success(page)


def complete_with_note(page: Page, case_url: str, step: str, note: str) -> None:
    page.goto(case_url)
    row = page.locator(f"#step-{step}")
    row.locator("textarea[name=note]").fill(note)
    submit(page, row.locator("button[type=submit]"))
    success(page)
    expect(page.locator(f"#step-{step} .status-qualifies")).to_have_count(1)


def pledge_step_done(page: Page, case_url: str, step: str) -> None:
    """A step that needs a pledge completes itself once the person has acknowledged it."""
    page.goto(case_url)
    row = page.locator(f"#step-{step}")
    expect(row.locator(".status-qualifies")).to_have_count(1)
    expect(row.locator("a[href^='/pledges/']")).to_have_count(1)
    expect(row.locator("form")).to_have_count(0)


def complete_case(page: Page, case_url: str) -> None:
    page.goto(case_url)
    submit(page, page.locator("main form[action$='/complete/'] button[type=submit]"))
    success(page)
    expect(page.locator("main h1 .status")).to_have_count(1)
    expect(page.locator("main form[action$='/complete/']")).to_have_count(0)


def test_joining_granting_and_leaving(new_page: Callable[..., Page], login: Callable[..., Any],
                                      ja: Callable[[str], str]) -> None:
    suffix = secrets.token_hex(3)
    username, display_name = f"e2e.{suffix}", f"新入 太郎{suffix}"

    admin, kanri, sato, newcomer, kansa = (new_page() for _ in range(5))
    login(admin, "admin")
    login(kanri, "kanri")
    login(sato, "sato")  # 開発部's manager
    login(kansa, "kansa")

    # -- joining -------------------------------------------------------------------------------------
    person_id = create_person(admin, username, display_name)
    login(newcomer, username, PASSWORD)
    case_url = open_case(kanri, person_id, "joining", other_company=True)
    steps = kanri.locator("#steps tbody tr")
    expect(kanri.locator("#step-no_former_secrets")).to_have_count(1)  # a hire from another company
    expect(steps).to_have_count(5)
    expect(kanri.locator("main form[action$='/complete/']")).to_have_count(0)  # not before every step has evidence

    joining_url = issue_from_step(kanri, case_url, "joining_pledge")
    acknowledge_all(newcomer, expect_text="秘密保持")
    pledge_step_done(kanri, case_url, "joining_pledge")
    kanri.goto(joining_url)
    expect(kanri.locator("main")).to_contain_text(re.compile(r"[0-9a-f]{64}"))  # the hash of the accepted text

    # the declaration on paper: print the pledge's PDF, have it signed, upload the scan
    prior_url = issue_from_step(kanri, case_url, "no_former_secrets")
    pdf = kanri.request.get(prior_url + "pdf/")
    assert pdf.ok and pdf.headers["content-type"].startswith("application/pdf")
    assert pdf.body().startswith(b"%PDF-")
    upload = kanri.locator("main form[action$='/upload/']")
    upload.locator("input[type=file]").set_input_files(
        {"name": "署名済み誓約書.pdf", "mimeType": "application/pdf", "buffer": pdf.body()})
    submit(kanri, upload.locator("button[type=submit]"))
    success(kanri)
    expect(kanri.locator("main")).to_contain_text("署名済み誓約書.pdf")
    pledge_step_done(kanri, case_url, "no_former_secrets")

    for step in ("account_department", "training", "rules_explained"):
        owner = sato if step in ("training", "rules_explained") else kanri
        owner.goto("/")  # the department manager reaches the case from the menu
        submit(owner, owner.locator("header nav a[href='/workflows/']"))
        expect(owner.locator("main table.grid tbody tr").filter(has_text=display_name)).to_have_count(1)
        complete_with_note(owner, case_url, step, f"{step}: 実施済み（e2e {suffix}）")
    complete_case(kanri, case_url)

    # -- an access grant, through the entry's grants page ----------------------------------------------
    kanri.goto("/register/")
    submit(kanri, kanri.locator("main a", has_text=KNOWN_NUMBER).first)
    entry_url = kanri.url
    submit(kanri, kanri.locator("main a[href^='/grants/secret/']"))
    grant_form = kanri.locator("main form.form")
    grant_form.locator("#id_user").select_option(str(person_id))
    grant_form.locator("#id_reason").fill("焼結炉の立上げ業務に従事するため")
    grant_form.locator("#id_expires_on").fill((jst_today() + timedelta(days=365)).isoformat())
    submit(kanri, grant_form.locator("button"))
    success(kanri)
    expect(kanri.locator("#live tbody tr").filter(has_text=display_name)).to_contain_text("焼結炉の立上げ業務")

    newcomer.goto("/register/")
    expect(newcomer.locator("main")).to_contain_text(KNOWN_NUMBER)  # need-to-know: granted, so visible
    newcomer.goto(entry_url)
    expect(newcomer.locator("main h1")).to_have_count(1)

    kanri.goto(f"/people/{person_id}/")  # the person's page: access, pledges, cases in one place
    expect(kanri.locator("#access tbody")).to_contain_text(KNOWN_NUMBER)
    expect(kanri.locator("#pledges tbody tr")).to_have_count(2)
    expect(kanri.locator("#cases tbody tr")).to_have_count(1)

    # -- leaving: a leave date opens the case ----------------------------------------------------------
    leave_on = jst_today() + timedelta(days=10)
    admin.goto(f"/people/users/{person_id}/")
    admin.locator("#id_left_on").fill(leave_on.isoformat())
    submit(admin, admin.locator("main form button[type=submit]"))
    success(admin)

    kanri.goto(f"/people/{person_id}/")
    leaving = kanri.locator("#cases tbody tr").filter(has_text=re.compile("退職"))
    expect(leaving).to_have_count(1)
    expect(leaving).to_contain_text(leave_on.isoformat())
    submit(kanri, leaving.locator("a"))
    leaving_url = kanri.url

    sato.goto("/")  # the department manager was told in the app which steps are theirs
    submit(sato, sato.locator("header a.notices"))
    expect(sato.locator("main").get_by_text(re.compile(f"退職手続き.*{display_name}")).first).to_be_visible()

    exit_url = issue_from_step(kanri, leaving_url, "exit_pledge")  # preselects the entries the person had
    expect(kanri.locator("main")).to_contain_text(KNOWN_NUMBER)
    acknowledge_all(newcomer, expect_text=KNOWN_NUMBER)
    pledge_step_done(kanri, leaving_url, "exit_pledge")

    complete_with_note(sato, leaving_url, "return_items", "貸与PC・USBメモリ2本・紙資料一式を回収")
    complete_with_note(sato, leaving_url, "exit_interview", "秘密保持義務と返還義務を説明、転職先を確認")
    complete_with_note(kanri, leaving_url, "no_wipe", "情報システム部に貸与PCの初期化禁止を指示済み")
    complete_with_note(kanri, leaving_url, "activity_review", "直近3か月の持出し・外部送信を確認、異常なし")
    expect(kanri.locator("main form[action$='/complete/']")).to_have_count(0)  # access not yet revoked

    kanri.goto(leaving_url)
    revoke = kanri.locator("#step-revoke_access form")
    revoke.locator("textarea[name=note]").fill("社外メールとVPNのアカウントも停止")
    submit(kanri, revoke.locator("button[type=submit]"))
    success(kanri)
    expect(kanri.locator("#step-revoke_access .status-qualifies")).to_have_count(1)
    complete_case(kanri, leaving_url)

    newcomer.goto("/register/")  # every access revoked: the entry is no longer listed for the person
    expect(newcomer.locator("main")).not_to_contain_text(KNOWN_NUMBER)
    response = newcomer.goto(entry_url)
    assert response is not None and response.status == 404

    kanri.goto(f"/people/{person_id}/")
    expect(kanri.locator("#access tbody")).not_to_contain_text(KNOWN_NUMBER)
    kanri.goto(exit_url)
    expect(kanri.locator("main")).to_contain_text(KNOWN_NUMBER)  # the exit pledge keeps naming it

    # -- the auditor sees the grant and its revocation in the audit trail ------------------------------
    kansa.goto("/audit/")
    trail = kansa.locator("main table.grid tbody")
    expect(trail.locator("tr").filter(has=kansa.locator("td.action-grant")).first).to_be_visible()
    expect(trail.locator("tr").filter(has=kansa.locator("td.action-revoke")).first).to_be_visible()
    with kansa.expect_navigation():
        kansa.locator("main form[action='/audit/verify/'] button[type=submit]").click()
    expect(kansa.locator("ul.messages li.success")).to_have_count(1)
