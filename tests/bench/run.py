"""`make bench`: register and audit-trail throughput on SQLite (and PostgreSQL when reachable).

Method: a fresh HIMITSU_HOME per database; a synthetic organisation (200 people, 10 departments);
N register entries imported from a generated .xlsx (text drawn from the Python docs corpus in
../shared when present, so titles and summaries are real Japanese); then export, list-page latency as
an employee and as the manager (Django test client, 30 requests each, p50/p95), audit append and
verify rates. Figures are printed as a Markdown table and written to docs/benchmarks-latest.md.
"""

from __future__ import annotations

import io as bytes_io
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus" / "python-docs-ja"
ENTRIES = int(os.environ.get("BENCH_ENTRIES", "5000"))
AUDIT_RECORDS = int(os.environ.get("BENCH_AUDIT", "20000"))


def sentences(limit: int = 20000) -> list[str]:
    found: list[str] = []
    if CORPUS.exists():
        for path in sorted((CORPUS / "library" / "ja").glob("*.txt"))[:400]:
            for line in path.read_text(encoding="utf-8", errors="ignore").splitlines():
                line = line.strip()
                if 12 <= len(line) <= 180 and not line.startswith((">", "#", "=", "-", "+", "@")):
                    found.append(line)
                if len(found) >= limit:
                    return found
    return found or [f"試験用の説明文 {i}" for i in range(1000)]


def setup() -> None:
    os.environ["HIMITSU_HOME"] = tempfile.mkdtemp(prefix="himitsu-bench-")
    os.environ["DJANGO_SETTINGS_MODULE"] = "himitsu.web.settings"
    os.environ["HIMITSU_IMPORT_MAX_ROWS"] = str(max(ENTRIES, 10000))
    os.environ["HIMITSU_IMPORT_MAX_BYTES"] = str(50 * 1024 * 1024)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def organisation():
    from himitsu.web.accounts.models import AccessGroup, Department, Role, User

    depts = [Department.objects.create(code=f"D{i:02d}", name=f"部署{i:02d}") for i in range(10)]
    users = []
    for i in range(200):
        u = User(username=f"user{i:03d}", role=Role.EMPLOYEE, department=depts[i % 10])
        u.set_unusable_password()
        users.append(u)
    User.objects.bulk_create(users)
    users = list(User.objects.order_by("pk"))
    groups = []
    for i in range(10):
        g = AccessGroup.objects.create(name=f"グループ{i}")
        g.members.add(*users[i * 20:(i + 1) * 20])
        groups.append(g)
    manager = User.objects.create(username="kanri", role=Role.SECRET_MANAGER)
    return depts, users, groups, manager


def workbook(n: int, depts, users, groups) -> bytes:
    from openpyxl import Workbook

    from himitsu.web.register.io import COLUMNS

    rnd = random.Random(7)
    text = sentences()
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("営業秘密管理台帳")
    headers = [c.header for c in COLUMNS if c.field]
    ws.append(headers)
    for i in range(n):
        row = {
            "管理番号": f"B-{i:06d}", "名称": rnd.choice(text)[:200], "概要": rnd.choice(text),
            "分類": rnd.choice(["技術情報", "営業情報", "その他"]), "機密区分": rnd.choice(["極秘", "秘", "社外秘"]),
            "法的区分": "営業秘密", "管理部署": rnd.choice(depts).code, "管理責任者": rnd.choice(users).username,
            "アクセス可能者": ",".join(u.username for u in rnd.sample(users, 3)),
            "アクセス可能グループ": rnd.choice(groups).name,
            "保管場所": f"\\\\fs01\\share\\{i}\nhttps://intra.example.jp/docs/{i}",
            "秘密表示の方法": rnd.choice(["", "ヘッダに㊙", "ファイル名に【極秘】"]),
            "見直し期限": f"令和{rnd.randint(7, 10)}年{rnd.randint(1, 12)}月1日",
        }
        ws.append([row.get(h, "") for h in headers])
    buf = bytes_io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def latency(client, url: str, n: int = 30) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.status_code
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def main() -> int:
    setup()
    from django.db import connection
    from django.test import Client

    from himitsu.web.audit import chain
    from himitsu.web.register import io, services

    depts, users, groups, manager = organisation()
    ctx = services.Context(actor=manager, channel="bench")
    data, t_build = timed(lambda: workbook(ENTRIES, depts, users, groups))
    result, t_import = timed(lambda: io.import_register(ctx, "bench.xlsx", data))
    assert result.ok, result.errors[:5]
    csv_data, t_export_csv = timed(lambda: io.export_register(ctx, "csv"))
    xlsx_data, t_export_xlsx = timed(lambda: io.export_register(ctx, "xlsx"))
    _, t_reimport = timed(lambda: io.import_register(ctx, "again.xlsx", xlsx_data, dry_run=True))

    client = Client(HTTP_HOST="localhost")
    client.force_login(users[0])
    emp = latency(client, "/register/")
    emp_search = latency(client, "/register/?q=%E3%81%AE")
    client.force_login(manager)
    mgr = latency(client, "/register/")
    mgr_dash = latency(client, "/")

    def append_many():
        for i in range(AUDIT_RECORDS):
            chain.record("view", actor=manager, channel="bench", object_type="secret", object_id=i)

    _, t_append = timed(append_many)
    verification, t_verify = timed(chain.verify)
    assert verification.ok

    rows = [
        ("database", connection.vendor),
        ("register entries", f"{ENTRIES:,}"),
        ("import .xlsx (validate + write, one transaction)", f"{t_import:.1f} s ({ENTRIES / t_import:,.0f} rows/s)"),
        ("dry-run re-import of the export", f"{t_reimport:.1f} s ({ENTRIES / t_reimport:,.0f} rows/s)"),
        ("export .csv", f"{t_export_csv:.2f} s ({len(csv_data) / 1e6:.1f} MB)"),
        ("export .xlsx", f"{t_export_xlsx:.2f} s ({len(xlsx_data) / 1e6:.1f} MB)"),
        ("list page, employee (need-to-know filter) p50 / p95", f"{emp[0]:.0f} / {emp[1]:.0f} ms"),
        ("search page, employee p50 / p95", f"{emp_search[0]:.0f} / {emp_search[1]:.0f} ms"),
        ("list page, manager p50 / p95", f"{mgr[0]:.0f} / {mgr[1]:.0f} ms"),
        ("dashboard, manager p50 / p95", f"{mgr_dash[0]:.0f} / {mgr_dash[1]:.0f} ms"),
        ("audit append", f"{AUDIT_RECORDS / t_append:,.0f} records/s"),
        ("audit verify", f"{verification.checked / t_verify:,.0f} records/s ({verification.checked:,} records)"),
    ]
    print(f"\n| measure ({connection.vendor}) | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        raise SystemExit(main())
    import subprocess

    status = 0
    for url in ("", os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/himitsu_bench")):
        env = dict(os.environ)
        env.pop("HIMITSU_DATABASE_URL", None)
        if url:
            import psycopg

            try:
                with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as con:
                    con.execute("DROP DATABASE IF EXISTS himitsu_bench WITH (FORCE)")
                    con.execute("CREATE DATABASE himitsu_bench")
            except psycopg.Error as exc:
                print(f"PostgreSQL not reachable, skipped: {exc}")
                continue
            env["HIMITSU_DATABASE_URL"] = url
        status |= subprocess.call([sys.executable, "-m", "tests.bench.run", "--one"], env=env, cwd=ROOT)
    raise SystemExit(status)
