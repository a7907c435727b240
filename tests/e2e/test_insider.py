"""Insider risk in a real browser against `himitsu serve --demo` (issue 7): activity logs are ingested with the CLI
into the server's HIMITSU_HOME; the trade-secret manager scores the last day, sees the pseudonymised list, opens
the person at the top, reveals the identity with a reason; the auditor finds the reveal in the audit trail.

In the logs, 加藤 拓也 (kato, leaving in 14 days in the demo company) logs on late on the last working day and copies
40 files to a USB stick; everyone works as usual for the 30 days up to then.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

USERS = ["kato", "suzuki.h", "tanaka.a", "yoshida", "yamada.s", "sasaki", "matsumoto", "kimura", "hayashi",
         "shimizu"]
REASON = "退職前の USB 書き出しを確認するため（E2E）"


def _ts(day: date, hour: int, minute: int = 0) -> str:
    return datetime.combine(day, time(hour, minute)).strftime("%m/%d/%Y %H:%M:%S")


def write_logs(out: Path, last: date) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    logon, device = ["id,date,user,pc,activity"], ["id,date,user,pc,file_tree,activity"]
    files = ["id,date,user,pc,filename,activity,to_removable_media,from_removable_media,content"]
    n = 0
    for back in range(30, -1, -1):
        day = last - timedelta(days=back)
        if day.weekday() >= 5:
            continue
        for i, user in enumerate(USERS):
            n += 1
            logon.append(f"{{L{n:06d}}},{_ts(day, 9, i)},{user},PC-{i:04d},Logon")
            n += 1
            files.append(rf"{{F{n:06d}}},{_ts(day, 10, i)},{user},PC-{i:04d},\\fs01\share\{user}\memo.docx,"
                         "File Open,False,False,")
            n += 1
            logon.append(f"{{L{n:06d}}},{_ts(day, 18, i)},{user},PC-{i:04d},Logoff")
    logon.append(f"{{L9{n:06d}}},{_ts(last, 22)},kato,PC-0000,Logon")
    device.append(f"{{D9{n:06d}}},{_ts(last, 22, 5)},kato,PC-0000,R:\\,Connect")
    for k in range(40):
        files.append(rf"{{F9{n + k:06d}}},{_ts(last, 22, 10 + k)},kato,PC-0000,\\fs01\dev\design\d{k:02d}.dwg,"
                     "File Copy,True,False,")
    paths = []
    for name, rows in (("logon.csv", logon), ("device.csv", device), ("file.csv", files)):
        (out / name).write_text("\n".join(rows) + "\n", encoding="utf-8")
        paths.append(out / name)
    return paths


def himitsu(server: Any, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIMITSU_")}
    env.update({"HIMITSU_HOME": str(server.home), "HIMITSU_LANG": "en", "NO_COLOR": "1"})
    if server.database_url:
        env["HIMITSU_DATABASE_URL"] = server.database_url
    executable = Path(sys.executable).parent / "himitsu"
    return subprocess.run([str(executable), *args], env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def test_manager_scores_reveals_and_the_auditor_finds_the_reveal(server: Any, page: Page, new_page: Any,
                                                                  login: Callable[..., Any],
                                                                  ja: Callable[[str], str]) -> None:
    last = date.today() - timedelta(days=1)
    while last.weekday() >= 5:  # the last working day, so that everyone was at work
        last -= timedelta(days=1)
    done = himitsu(server, "insider", "ingest", *map(str, write_logs(server.home / "insider-logs", last)),
                   "--format", "cert")
    assert done.returncode == 0, done.stdout + done.stderr

    login(page, "kanri")
    menu = page.locator("header nav a[href='/insider/']")
    expect(menu).to_have_text(ja("Insider risk"))
    with page.expect_navigation():
        menu.click()
    expect(page.locator("#ingest-status")).to_contain_text("logon.csv")
    with page.expect_navigation():
        page.locator("#score-form button[type=submit]").click()
    expect(page.locator(".messages")).to_contain_text(last.isoformat())
    rows = page.locator("#alerts tr.alert-row")
    expect(rows.first).to_be_visible()
    assert 1 <= rows.count() <= 5  # the budget; only people with something against them are listed
    top = rows.first
    expect(top).to_contain_text("利用者 ")
    expect(top).not_to_contain_text("加藤")
    expect(top).to_contain_text("USB機器への書き出し")  # (40 of this test, and the demo company's own logs)
    pseudonym = top.locator("a").inner_text()

    with page.expect_navigation():
        top.locator("a").click()
    expect(page.locator("#timeline svg polyline").first).to_be_visible()
    form = page.locator("#reveal-form")
    form.locator("textarea[name=reason]").fill(REASON)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    expect(page.locator("#person-label")).to_contain_text("加藤 拓也")
    expect(page.locator("#leaving")).to_be_visible()

    auditor = new_page()
    login(auditor, "kansa")
    auditor.goto(f"{server.url}/audit/?object={pseudonym.split()[-1]}")
    row = auditor.locator("main table tbody tr", has_text=REASON)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("kanri")
    expect(row).to_contain_text(ja("identity behind a pseudonym"))
    expect(row).to_contain_text(pseudonym.split()[-1])
    auditor.goto(f"{server.url}/insider/")
    expect(auditor.locator("#alerts tr.alert-row").first).not_to_contain_text("加藤")
