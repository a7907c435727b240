"""The outbound guard's pages in a real browser against `himitsu serve --demo` (issue 6): the trade-secret manager
adds a rule through the form, tries a text the rule blocks and reads the reason in Japanese; an employee finds no
guard page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

SLUG = "e2e-upload-addresses"
MESSAGE_JA = "メールアドレスを外部のアップロード先に送ることはできません（E2E確認用）。"
MESSAGE_EN = "E-mail addresses may not be uploaded outside (E2E check)."


def test_manager_adds_a_rule_and_tries_a_text_it_blocks(page: Page, login: Callable[..., Any],
                                                        ja: Callable[[str], str]) -> None:
    login(page, "kanri")
    menu = page.locator("header nav a[href='/guard/']")
    expect(menu).to_have_text(ja("Outbound guard"))
    with page.expect_navigation():
        menu.click()
    expect(page.locator("main h1")).to_have_text(ja("Outbound policy"))
    expect(page.locator("#rule-table tr[data-slug='top-secret']")).to_have_count(1)

    with page.expect_navigation():
        page.locator("main a[href='/guard/rules/new/']").click()
    form = page.locator("#rule-form")
    form.locator("input[name=slug]").fill(SLUG)
    form.locator("select[name=action]").select_option("block")
    form.locator("#field-detectors input[value='email-address']").check()
    form.locator("#field-channels input[value='upload']").check()
    form.locator("textarea[name=message_ja]").fill(MESSAGE_JA)
    form.locator("textarea[name=message_en]").fill(MESSAGE_EN)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    expect(page.locator("main h1")).to_have_text(ja("Outbound policy"))
    row = page.locator(f"#rule-table tr[data-slug='{SLUG}']")
    expect(row).to_have_count(1)
    expect(row.locator(".guard-action-block")).to_have_text(ja("Block"))
    expect(row).to_contain_text(MESSAGE_JA)

    tried = page.locator("#try-form")
    tried.locator("textarea[name=text]").fill("資料の送付先は tanaka.ichiro@kyoryoku-kaisha.co.jp までお願いします。")
    tried.locator("select[name=channel]").select_option("upload")
    tried.locator("input[name=destinations]").fill("files.example.net")
    with page.expect_navigation():
        tried.locator("button[type=submit]").click()
    result = page.locator("#try-result")
    expect(result.locator("h3").first).to_contain_text(ja("Block"))
    reason = result.locator("#try-reasons tr", has_text=SLUG)
    expect(reason.locator(".reason-ja")).to_have_text(MESSAGE_JA)
    expect(result.locator("#try-findings")).to_contain_text("email-address")

    # leave the shared demo server's policy as it was
    with page.expect_navigation():
        row.locator("a", has_text=ja("Delete")).click()
    with page.expect_navigation():
        page.locator("main form button.danger").click()
    expect(page.locator(f"#rule-table tr[data-slug='{SLUG}']")).to_have_count(0)


def test_an_employee_cannot_open_the_guard_pages(page: Page, login: Callable[..., Any]) -> None:
    login(page, "yamamoto")
    expect(page.locator("header nav a[href^='/guard/']")).to_have_count(0)
    for path in ("/guard/", "/guard/tokens/", "/guard/decisions/", "/guard/quarantine/", "/guard/quarantine/1/"):
        response = page.goto(path)
        assert response is not None and response.status == 403, (path, response and response.status)
