"""Scan findings in a real browser against `himitsu serve --demo` (issue 5).

The data is prepared the way an operator would: `himitsu secrets add` registers a document for two demo entries
and `himitsu scan` scans a folder holding copies of both, both commands run against the served app's
HIMITSU_HOME and database. Then the trade-secret manager triages in the browser, and need-to-know is checked
with two employees of 開発部: kato belongs to 焼結技術チーム (DEV-2024-001) but is not among the people
DEV-2024-002 is granted to.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

HIMITSU = str(Path(sys.executable).parent / "himitsu")
SEEN = "DEV-2024-001"      # granted to 焼結技術チーム (kato is a member)
HIDDEN = "DEV-2024-002"    # granted to sato, suzuki.h, tanaka.a, yamada.s only
EMPLOYEE = "kato"
TEXTS = {
    SEEN: ("焼結炉の温度プロファイルは第一ゾーンで八百五十度、第二ゾーンで千百二十度とし、保持時間は四十五分とする。"
           "雰囲気ガスは窒素九十五パーセント水素五パーセントの混合とし、露点はマイナス四十度以下に管理する。"
           "冷却速度は毎分十五度を上限とし、量産ライン三号機の補正係数は材料ロットごとに見直す。"),
    HIDDEN: ("圧粉磁心用の鉄基粉末は、平均粒径八十マイクロメートルの水アトマイズ粉を主原料とし、絶縁被膜として"
             "リン酸塩系の処理を施す。添加剤はシリコーン樹脂を零点二質量パーセント、潤滑剤はステアリン酸亜鉛を"
             "零点三質量パーセントとし、成形圧力は千二百メガパスカル、焼鈍は窒素中六百度で三十分とする。"),
}


@dataclass
class Scanned:
    folder: Path
    paths: dict[str, str]   # management number -> scanned path of its copy
    pks: dict[str, int]     # management number -> register entry id
    run_id: int
    rows: list[dict[str, Any]]

    def finding(self, number: str, kind: str) -> dict[str, Any]:
        (row,) = [r for r in self.rows if r.get("kind") == kind and r["secret"]["number"] == number]
        return row


def cli(server: Any, *args: str) -> subprocess.CompletedProcess:
    """`himitsu ARGS` against the served app's home and database (as the e2e server was started)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIMITSU_")}
    env.update({"HIMITSU_HOME": str(server.home), "HIMITSU_LANG": "ja", "PYTHONIOENCODING": "utf-8",
                "NO_COLOR": "1"})
    if server.database_url:
        env["HIMITSU_DATABASE_URL"] = server.database_url
    return subprocess.run([HIMITSU, *args], env=env, capture_output=True, text=True, timeout=300, check=False,
                          stdin=subprocess.DEVNULL)


def entry_id(page: Page, number: str) -> int:
    page.goto("/register/")
    href = page.locator("main table.grid tbody tr td:first-child a", has_text=number).first.get_attribute("href")
    found = re.search(r"/register/(\d+)/$", href or "")
    assert found, f"{number} has no link in the register list ({href!r})"
    return int(found.group(1))


@pytest.fixture(scope="module")
def scanned(server: Any, make_context: Callable[..., Any], login: Callable[..., Any]) -> Iterator[Scanned]:
    ctx = make_context()
    try:
        page = ctx.new_page()
        login(page, "kanri")
        pks = {number: entry_id(page, number) for number in TEXTS}
    finally:
        ctx.close()
    originals = Path(tempfile.mkdtemp(prefix="himitsu-e2e-docs-"))
    folder = Path(tempfile.mkdtemp(prefix="himitsu-e2e-scan-", dir="/tmp"))
    try:
        folder.chmod(0o755)
        shared = folder / "共有" / "開発部"
        shared.mkdir(parents=True)
        for d in (folder / "共有", shared):
            d.chmod(0o755)
        paths = {}
        for number, text in TEXTS.items():
            original = originals / f"{number}.txt"
            original.write_text(text, encoding="utf-8")
            added = cli(server, "secrets", "add", str(original), "--secret", str(pks[number]), "--json")
            assert added.returncode == 0, added.stdout + added.stderr
            copy = shared / f"{number} のコピー.txt"
            copy.write_text("転送用メモ\n" + text, encoding="utf-8")
            copy.chmod(0o644)
            paths[number] = str(copy)
        result = cli(server, "scan", str(folder), "--json")
        assert result.returncode == 1, result.stdout + result.stderr  # findings
        rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
        (run,) = [r["run"] for r in rows if "run" in r]
        assert run["status"] == "finished" and run["files_read"] == 2
        yield Scanned(folder=folder, paths=paths, pks=pks, run_id=run["id"], rows=[r for r in rows if "kind" in r])
    finally:
        shutil.rmtree(originals, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)


def row_of(page: Page, path: str, kind_label: str) -> Any:
    return page.locator("#findings tbody tr.finding-row").filter(has_text=path).filter(has_text=kind_label)


def test_manager_triages_a_finding(page: Page, login: Callable[..., Any], ja: Callable[[str], str],
                                   scanned: Scanned) -> None:
    login(page, "kanri")
    menu = page.locator("header nav a[href='/scans/']")
    expect(menu).to_have_text(ja("File scans"))
    with page.expect_navigation():
        menu.click()
    expect(page.locator("main h1")).to_have_text(ja("Scan findings"))

    finding = scanned.finding(HIDDEN, "misplaced")
    assert finding["reason"] == "placement.outside_allowed"
    row = row_of(page, scanned.paths[HIDDEN], ja("Misplaced"))
    expect(row).to_have_count(1)
    explanation = ja("Found outside the storage locations its register entry allows ({allowed}).")
    assert explanation != "Found outside the storage locations its register entry allows ({allowed})."
    expect(row.locator("td.explain")).to_contain_text(explanation.split("{")[0])
    expect(row.locator("td.explain")).to_contain_text("s3://example-seiran-rd/materials/smc/")
    expect(row).to_contain_text(HIDDEN)
    expect(row).to_contain_text(ja("New"))
    over = row_of(page, scanned.paths[HIDDEN], ja("Overexposed"))
    expect(over.locator("td.explain")).to_contain_text(ja(
        "Everyone on the server can read this file (world-readable permissions); it holds {detectors}.")
        .split("{")[0])
    for text in TEXTS.values():  # the list never shows the secret's text
        assert text[20:60] not in page.content()

    with page.expect_navigation():
        row.locator("td.path a").click()
    expect(page).to_have_url(re.compile(r"/scans/findings/\d+/$"))
    finding_url = page.url
    expect(page.locator("main h1")).to_contain_text(ja("Misplaced"))
    expect(page.locator("main")).to_contain_text(explanation.split("{")[0])

    form = page.locator("form#triage")
    form.locator("select[name=status]").select_option("false_positive")
    with page.expect_navigation() as nav:
        form.locator("button[type=submit]").click()
    assert nav.value.status == 400
    expect(page.locator("form#triage")).to_contain_text(
        ja("Give a comment when marking a finding false positive or resolved."))
    expect(page.locator("main h1 .scan-status")).to_have_text(ja("New"))

    form = page.locator("form#triage")
    form.locator("select[name=status]").select_option("false_positive")
    form.locator("textarea[name=comment]").fill("検証用の写しで、翌日に削除予定（情報システム部に確認済み）。")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    expect(page).to_have_url(finding_url)
    expect(page.locator("ul.messages")).to_contain_text(ja("The status of the finding was saved."))
    expect(page.locator("main h1 .scan-status")).to_have_text(ja("False positive"))
    expect(page.locator("#history tbody")).to_contain_text("検証用の写しで")

    # the run that found it, with its counters
    with page.expect_navigation():
        page.locator(f"main a[href='/scans/runs/{scanned.run_id}/']").first.click()
    expect(page.locator("main h1")).to_contain_text(ja("Scan run"))
    counters = page.locator("#counters")
    expect(counters.locator("[data-key=files_seen]")).to_have_text("2")
    expect(counters.locator("[data-key=files_read]")).to_have_text("2")
    expect(counters.locator("[data-key=errors]")).to_have_text("0")
    expect(counters.locator("[data-key=findings_new]")).to_have_text(str(len(scanned.rows)))
    expect(page.locator("#run-status")).to_have_text(ja("Finished"))
    expect(page.locator("#error-rows tbody")).to_contain_text(ja("Every file of this run could be read."))


def finding_ids(page: Page, path: str) -> list[int]:
    """Ids of the findings of one file in the findings list on the page."""
    hrefs = page.locator("#findings tbody tr.finding-row").filter(has_text=path).locator("td.path a") \
        .evaluate_all("links => links.map(a => a.getAttribute('href'))")
    return sorted(int(h.strip("/").split("/")[-1]) for h in hrefs)


def test_employee_sees_only_granted_findings(page: Page, new_page: Callable[..., Any], login: Callable[..., Any],
                                             demo: Any, scanned: Scanned) -> None:
    assert demo.user(EMPLOYEE)["role"] == "employee"
    assert SEEN in demo.granted_to(EMPLOYEE) and HIDDEN not in demo.granted_to(EMPLOYEE)
    manager = new_page()
    login(manager, "kanri")
    manager.goto("/scans/?present=all")
    hidden = finding_ids(manager, scanned.paths[HIDDEN])
    seen = finding_ids(manager, scanned.paths[SEEN])
    assert len(hidden) == len([r for r in scanned.rows if r["secret"]["number"] == HIDDEN]) >= 3
    assert seen

    login(page, EMPLOYEE)
    with page.expect_navigation():
        page.locator("header nav a[href='/scans/']").click()
    expect(page.locator("#findings tbody tr.finding-row").filter(has_text=scanned.paths[SEEN]).first).to_be_visible()
    assert finding_ids(page, scanned.paths[SEEN]) == seen
    assert finding_ids(page, scanned.paths[HIDDEN]) == []
    expect(page.locator("main")).not_to_contain_text(HIDDEN)
    for text in TEXTS.values():
        assert text[20:60] not in page.content()
    page.goto(f"/scans/?secret={scanned.pks[HIDDEN]}&present=all")
    expect(page.locator("#findings tbody tr.finding-row")).to_have_count(0)

    for pk in hidden:  # by its URL: as if it did not exist
        response = page.goto(f"/scans/findings/{pk}/")
        assert response is not None and response.status == 404
    response = page.goto(f"/scans/findings/{seen[0]}/")
    assert response is not None and response.status == 200
    expect(page.locator("form#triage")).to_have_count(0)  # an employee may look, not triage
