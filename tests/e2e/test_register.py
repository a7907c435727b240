"""The register in a real browser against `himitsu serve --demo`: create, need-to-know, export, escaping."""

from __future__ import annotations

import csv
import io
import itertools
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

# Both are employees of 開発部 (DEV) in the demo company: same department, different grants.
GRANTED = "tanaka.a"
NOT_GRANTED = "kato"
KNOWN_NUMBER = "DEV-2024-001"

_serial = itertools.count(1)
_RUN = secrets.token_hex(2).upper()


def new_number() -> str:
    return f"E2E-{_RUN}-{next(_serial):03d}"


@dataclass(frozen=True)
class Entry:
    pk: int
    number: str
    title: str

    @property
    def path(self) -> str:
        return f"/register/{self.pk}/"


def create_secret(page: Page, *, number: str, title: str, summary: str = "", category: str = "technical",
                  level: str = "秘", department: str = "開発部", users: tuple[str, ...] = (),
                  marking: str = "", locations: str = "", review_date: str = "") -> Entry:
    """Fill /register/new/ like a person would; returns the entry the server redirected to."""
    page.goto("/register/new/")
    form = page.locator("main form.stacked")
    form.locator("#id_management_number").fill(number)
    form.locator("#id_title").fill(title)
    form.locator("#id_summary").fill(summary)
    form.locator("#id_category").select_option(value=category)
    form.locator("#id_level").select_option(label=level)
    form.locator("#id_owner_department").select_option(label=department)
    if users:
        form.locator("#id_allowed_users").select_option(label=list(users))
    form.locator("#id_marking").fill(marking)
    form.locator("#id_locations").fill(locations)
    form.locator("#id_review_date").fill(review_date)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    found = re.search(r"/register/(\d+)/$", page.url)
    if not found:
        errors = page.locator(".errorlist, .errorlist-box").all_inner_texts()
        pytest.fail(f"saving {number} did not lead to its detail page ({page.url}): {errors}", pytrace=False)
    return Entry(pk=int(found.group(1)), number=number, title=title)


def listed_numbers(page: Page, query: str = "") -> list[str]:
    """Management numbers in the register list (first page; the demo has fewer than 50 entries)."""
    page.goto(f"/register/{query}")
    expect(page.locator("main table.grid")).to_be_visible()
    return page.locator("main table.grid tbody tr td:first-child a").all_inner_texts()


def download_csv(page: Page) -> tuple[str, bytes]:
    """Click the .csv export link of the register list; returns (file name, bytes)."""
    page.goto("/register/")
    with page.expect_download() as info:
        with page.expect_response(lambda r: "/register/export/" in r.url) as answer:
            page.locator("main a[href*='format=csv']").click()
        status = answer.value.status
        assert status == 200, f"the export answered HTTP {status} instead of a file"
    download = info.value
    assert download.failure() is None, download.failure()
    return download.suggested_filename, Path(download.path()).read_bytes()


def parse_csv(raw: bytes) -> tuple[list[str], list[dict[str, str]]]:
    assert raw.startswith(b"\xef\xbb\xbf"), f"the CSV must start with a UTF-8 BOM (Excel): {raw[:20]!r}"
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows, "the CSV is empty"
    header = rows[0]
    return header, [dict(zip(header, row, strict=False)) for row in rows[1:] if any(row)]


@pytest.fixture(scope="module")
def restricted_entry(make_context: Callable[..., Any], login: Callable[..., Any], demo: Any) -> Iterator[Entry]:
    """An entry of 開発部 that kanri registers and grants to GRANTED only."""
    assert demo.user(GRANTED)["role"] == "employee" and demo.user(NOT_GRANTED)["role"] == "employee"
    ctx = make_context()
    try:
        page = ctx.new_page()
        login(page, "kanri")
        entry = create_secret(page, number=new_number(), title="E2E 限定公開の試作条件メモ",
                              summary="田中さんだけに開示する試作条件の説明。", level="極秘",
                              users=(demo.user(GRANTED)["name"],), review_date="令和9年4月1日")
    finally:
        ctx.close()
    yield entry


def test_manager_registers_a_new_secret(page: Page, login: Callable[..., Any], demo: Any,
                                         ja: Callable[[str], str]) -> None:
    login(page, "kanri")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.locator("main h1")).to_have_text(ja("Dashboard"))
    nav = page.locator("header nav")
    expect(nav.locator("a[href='/']")).to_have_text(ja("Dashboard"))
    expect(nav.locator("a[href='/register/']")).to_have_text(ja("Register"))
    expect(nav.locator("a[href='/audit/']")).to_have_count(0)  # the audit trail is not the manager's

    nav.locator("a[href='/register/']").click()
    expect(page).to_have_url(re.compile(r"/register/$"))
    expect(page.locator("main h1")).to_have_text(ja("Trade-secret register"))
    shown = page.locator("main table.grid tbody tr td:first-child a").all_inner_texts()
    assert demo.numbers() <= set(shown), f"demo entries missing from the list: {demo.numbers() - set(shown)}"

    page.locator("header nav a[href='/register/new/']").click()
    expect(page).to_have_url(re.compile(r"/register/new/$"))
    employee = demo.user(GRANTED)
    number = new_number()
    title = "E2E 新規登録：焼結体の表面処理条件の説明"
    entry = create_secret(
        page, number=number, title=title, summary="表面処理の条件表の所在と範囲を説明する（数値は書かない）。",
        category="technical", level="秘", department="開発部", users=(employee["name"],),
        marking="各ページに「秘」スタンプ", locations="キャビネット: 本社2F 開発部書庫C\n\\\\fs01\\開発部\\表面処理\\",
        review_date="令和9年4月1日",
    )

    expect(page.locator("main h1")).to_contain_text(title)
    expect(page.locator("ul.messages")).to_contain_text(number)
    fields = page.locator("main dl.fields").first
    expect(fields).to_contain_text(number)
    expect(fields).to_contain_text("2027-04-01")  # 令和9年4月1日
    expect(fields).to_contain_text(employee["name"])
    expect(fields).to_contain_text("本社2F 開発部書庫C")
    score_text = page.locator("main .score strong").inner_text().strip()
    assert score_text.isdigit() and 0 <= int(score_text) <= 100, score_text

    # The list shows the new entry with the same score as its page.
    assert listed_numbers(page, f"?q={number}") == [number]
    row = page.locator("main table.grid tbody tr").first
    expect(row).to_contain_text(title)
    expect(row.locator("td.num")).to_have_text(score_text)
    row.locator(f"a[href='{entry.path}']").click()
    expect(page).to_have_url(re.compile(re.escape(entry.path) + "$"))


def test_entry_not_granted_is_invisible_to_an_employee(page: Page, login: Callable[..., Any], demo: Any,
                                                       restricted_entry: Entry) -> None:
    login(page, NOT_GRANTED)
    for path in (restricted_entry.path, restricted_entry.path + "history/", restricted_entry.path + "edit/"):
        response = page.goto(path)
        assert response is not None and response.status == 404, (path, response and response.status)
        expect(page.locator("main h1")).to_contain_text("404")
        expect(page.locator("body")).not_to_contain_text(restricted_entry.title)
        expect(page.locator("body")).not_to_contain_text(restricted_entry.number)

    # Hidden and missing look the same: no hint that the entry exists.
    page.goto(restricted_entry.path)
    hidden = page.locator("main").inner_text()
    response = page.goto(f"/register/{restricted_entry.pk + 100000}/")
    assert response is not None and response.status == 404
    assert page.locator("main").inner_text() == hidden

    shown = listed_numbers(page)
    assert restricted_entry.number not in shown
    assert set(shown) == demo.granted_to(NOT_GRANTED)
    assert listed_numbers(page, f"?q={restricted_entry.number}") == []
    assert listed_numbers(page, "?q=E2E") == []
    expect(page.locator("main")).not_to_contain_text(restricted_entry.title)


def test_entry_granted_is_visible_to_that_employee(page: Page, login: Callable[..., Any], demo: Any,
                                                   restricted_entry: Entry) -> None:
    login(page, GRANTED)
    response = page.goto(restricted_entry.path)
    assert response is not None and response.status == 200
    expect(page.locator("main h1")).to_contain_text(restricted_entry.title)
    expect(page.locator(f"main a[href='{restricted_entry.path}edit/']")).to_have_count(0)  # read-only

    shown = set(listed_numbers(page))
    assert restricted_entry.number in shown
    assert demo.granted_to(GRANTED) <= shown
    assert all(n.startswith("E2E-") for n in shown - demo.granted_to(GRANTED)), shown
    assert listed_numbers(page, f"?q={restricted_entry.number}") == [restricted_entry.number]

    response = page.goto(restricted_entry.path + "edit/")
    assert response is not None and response.status == 403


def test_csv_export_of_manager_and_employee(page: Page, new_page: Callable[[], Page],
                                            login: Callable[..., Any], demo: Any,
                                            restricted_entry: Entry) -> None:
    login(page, "kanri")
    name, raw = download_csv(page)
    assert name.endswith(".csv"), name
    header, rows = parse_csv(raw)
    assert "管理番号" in header and "名称" in header, header
    by_number = {r["管理番号"]: r for r in rows}
    assert demo.numbers() | {restricted_entry.number} <= set(by_number), set(by_number)
    known = next(s for s in demo.data["secrets"] if s["management_number"] == KNOWN_NUMBER)
    assert by_number[KNOWN_NUMBER]["名称"] == known["title"]
    assert by_number[restricted_entry.number]["名称"] == restricted_entry.title

    employee = new_page()
    login(employee, NOT_GRANTED)
    shown = set(listed_numbers(employee))
    _, raw = download_csv(employee)
    header, rows = parse_csv(raw)
    exported = [r["管理番号"] for r in rows]
    assert len(exported) == len(set(exported)), exported
    assert set(exported) == shown == demo.granted_to(NOT_GRANTED)
    assert restricted_entry.number not in exported


def test_user_text_is_shown_as_text_not_html(page: Page, new_page: Callable[[], Page],
                                             login: Callable[..., Any]) -> None:
    dialogs: list[str] = []
    stray: list[str] = []

    def watch(p: Page) -> None:
        p.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        p.on("request", lambda r: stray.append(r.url) if re.search(r"/(x|y)$", r.url) else None)

    watch(page)
    login(page, "kanri")
    title = "<img src=x onerror=alert(1)>"
    summary = "<script>alert(2)</script>"
    marking = '"><svg onload=alert(3)>'
    location = "<img src=y onerror=alert(4)>"
    entry = create_secret(page, number=new_number(), title=title, summary=summary, marking=marking,
                          locations=location)

    h1 = page.locator("main h1")
    expect(h1).to_contain_text(title)
    fields = page.locator("main dl.fields").first
    expect(fields).to_contain_text(summary)
    expect(fields).to_contain_text(marking)
    expect(fields).to_contain_text(location)
    expect(page.locator("main img, main svg, main script")).to_have_count(0)

    for path in (f"/register/?q={entry.number}", "/", entry.path + "history/", entry.path + "edit/"):
        page.goto(path)
        expect(page.locator("main img, main svg, main script")).to_have_count(0)
    expect(page.locator("#id_title")).to_have_value(title)  # the edit form keeps the text as typed

    auditor = new_page()
    watch(auditor)
    login(auditor, "kansa")
    auditor.goto(f"/audit/?object={entry.number}")
    expect(auditor.locator("main img, main svg, main script")).to_have_count(0)

    page.wait_for_timeout(200)  # give any injected handler the chance to fire
    assert dialogs == [], f"injected script ran: {dialogs}"
    assert stray == [], f"injected markup loaded: {stray}"
