"""Login, language and the audit trail in a real browser against `himitsu serve --demo`."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def choose_language(page: Page, code: str) -> None:
    """Pick a language in the header select (it submits itself on change)."""
    with page.expect_navigation():
        page.locator("header select[name=language]").select_option(code)


def test_switch_to_english_and_back(page: Page, login: Callable[..., Any], ja: Callable[[str], str]) -> None:
    login(page, "kanri")
    page.goto("/register/")
    html, nav = page.locator("html"), page.locator("header nav")
    expect(html).to_have_attribute("lang", "ja")
    expect(page.locator("header select[name=language] option:checked")).to_have_text("日本語")

    choose_language(page, "en")
    expect(page).to_have_url(re.compile(r"/register/$"))  # stays on the same page
    expect(html).to_have_attribute("lang", "en")
    expect(nav.locator("a[href='/']")).to_have_text("Dashboard")
    expect(nav.locator("a[href='/register/']")).to_have_text("Register")
    expect(page.locator("main h1")).to_have_text("Trade-secret register")
    expect(page.locator("header select[name=language] option:checked")).to_have_text("English")

    page.goto("/")  # the choice sticks
    expect(html).to_have_attribute("lang", "en")
    expect(page.locator("main h1")).to_have_text("Dashboard")

    choose_language(page, "ja")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(html).to_have_attribute("lang", "ja")
    expect(nav.locator("a[href='/']")).to_have_text(ja("Dashboard"))
    expect(nav.locator("a[href='/register/']")).to_have_text(ja("Register"))
    expect(page.locator("header select[name=language] option:checked")).to_have_text("日本語")


def test_japanese_by_default_even_for_an_english_browser(new_page: Callable[..., Page],
                                                        login: Callable[..., Any],
                                                        ja: Callable[[str], str]) -> None:
    page = new_page(locale="en-US")
    page.goto("/login/")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.locator("main h1")).to_have_text(ja("Log in to Himitsu"))

    choose_language(page, "en")  # chosen before logging in: kept after
    expect(page).to_have_url(re.compile(r"/login/$"))
    expect(page.locator("main h1")).to_have_text("Log in to Himitsu")
    login(page, "kansa")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("header nav a[href='/audit/']")).to_have_text("Audit trail")


def test_wrong_password_is_refused_and_audited(page: Page, new_page: Callable[[], Page],
                                               login: Callable[..., Any], ja: Callable[[str], str]) -> None:
    wrong = "Wrong-" + secrets.token_urlsafe(12)
    response = login(page, "kanri", wrong, succeed=False)
    assert response is not None and response.status == 200
    expect(page).to_have_url(re.compile(r"/login/$"))
    expect(page.locator("main .error-message")).to_have_text(ja("The user name or password is wrong."))
    expect(page.locator("input[name=username]")).to_have_value("kanri")
    expect(page.locator("input[name=password]")).to_have_value("")
    expect(page.locator("header form[action='/logout/']")).to_have_count(0)
    page.goto("/register/")  # still not logged in
    expect(page).to_have_url(re.compile(r"/login/\?next=/register/$"))

    auditor = new_page()
    login(auditor, "kansa")
    expect(auditor.locator("header nav a[href='/audit/']")).to_have_count(1)
    auditor.locator("header nav a[href='/audit/']").click()
    expect(auditor).to_have_url(re.compile(r"/audit/$"))
    failed = auditor.locator("main table.grid tbody tr").filter(
        has=auditor.locator("td.action-login_failed")).filter(has_text="kanri")
    expect(failed).to_have_count(1)
    expect(auditor.locator("main")).not_to_contain_text(wrong)  # the attempted password is never recorded

    with auditor.expect_navigation():
        auditor.locator("main form[action='/audit/verify/'] button[type=submit]").click()
    expect(auditor).to_have_url(re.compile(r"/audit/$"))
    expect(auditor.locator("ul.messages li.error")).to_have_count(0)
    verdict = auditor.locator("ul.messages li.success")
    expect(verdict).to_have_count(1)
    expect(verdict).to_have_text(re.compile(r"\d+"))
    expect(auditor.locator("main table.grid tbody tr td.action-verify").first).to_be_visible()
