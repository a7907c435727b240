"""Ingest of CERT, Microsoft 365 and mapped logs into the insider store (himitsu.insider.ingest)."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from himitsu.errors import MESSAGES
from himitsu.insider.errors import ROW_MESSAGES, InsiderError, row_message
from himitsu.insider.ingest import IngestReport, ingest_file
from himitsu.insider.store import Store, open_store

DATA = Path(__file__).parent / "data"


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "store" / "insider.duckdb", memory_limit="1GB", threads=2) as s:
        yield s


def events(store: Store, file_id: int | None = None) -> list[tuple]:
    where = f"WHERE file_id = {int(file_id)}" if file_id is not None else ""
    return store.con.execute(f"""SELECT line, key, ts, "user", pc, kind, action, target, removable, bytes,
        attachments FROM events {where} ORDER BY file_id, line""").fetchall()


def count(store: Store, table: str) -> int:
    return store.con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


# ------------------------------------------------------------------------------------------------ CERT

@pytest.mark.parametrize(("name", "kind", "actions"), [
    ("r42_logon.csv", "logon", ["logon", "logon", "logon", "logoff"]),
    ("r42_device.csv", "device", ["connect", "disconnect"]),
    ("r42_file.csv", "file", ["file_copy", "file_copy"]),
    ("r42_email.csv", "email", ["email_send", "email_send"]),
    ("r42_http.csv", "http", ["http_visit", "http_visit"]),
    ("r62_device.csv", "device", ["connect", "disconnect"]),
    ("r62_file.csv", "file", ["file_open", "file_write", "file_copy", "file_delete"]),
    ("r62_email.csv", "email", ["email_send", "email_send", "email_view"]),
    ("r62_http.csv", "http", ["http_upload", "http_visit", "http_download"]),
])
def test_cert_layouts(store: Store, name: str, kind: str, actions: list[str]) -> None:
    report = ingest_file(store, DATA / name, "cert")
    assert (report.format, report.kind, report.skipped) == ("cert", kind, False)
    assert report.rows == report.added == len(actions)
    assert (report.duplicates, report.rejected, report.samples) == (0, 0, [])
    rows = events(store)
    assert [r[6] for r in rows] == actions
    assert {r[5] for r in rows} == {kind}
    assert [r[0] for r in rows] == list(range(2, 2 + len(actions)))
    assert all(r[1].startswith("cert:{") for r in rows)
    stored = store.con.execute("SELECT name, format, kind, rows, added FROM ingested").fetchall()
    assert stored == [(name, "cert", kind, len(actions), len(actions))]


def test_cert_values_are_normalised_and_local_time_becomes_utc(store: Store) -> None:
    ingest_file(store, DATA / "r42_logon.csv", "cert")
    first = events(store)[0]
    # 01/02/2010 06:49:00 in Tokyo is 21:49 UTC the day before
    assert first[:8] == (2, "cert:{X1D9-S0ES94OG-5433NXIY}", datetime(2010, 1, 1, 21, 49), "NGF0157", "PC-6056",
                         "logon", "logon", "PC-6056")
    report = ingest_file(store, DATA / "r62_email.csv", "cert")
    rows = events(store, report.file_id)
    assert rows[1][7] == "Daniel.Noah.Scott@dtaa.com;Tyrone@gmail.com;Halee.Lara@dtaa.com;Dean@yahoo.com"
    assert (rows[1][9], rows[1][10]) == (1876223, 2)  # r6.2 lists attachment names: counted
    report = ingest_file(store, DATA / "r42_email.csv", "cert")
    assert [(r[9], r[10]) for r in events(store, report.file_id)] == [(25830, 0), (29942, 2)]
    report = ingest_file(store, DATA / "r62_file.csv", "cert")
    assert [r[8] for r in events(store, report.file_id)] == [False, True, True, False]


def test_content_is_never_stored(store: Store) -> None:
    for name in ("r42_file.csv", "r42_email.csv", "r42_http.csv", "r62_email.csv"):
        ingest_file(store, DATA / name, "cert")
    text = " ".join(str(v) for row in events(store) for v in row)
    for word in ("carpenters", "reservations", "consensus", "heavily", "D0-CF-11"):
        assert word not in text


def test_cert_time_zone_is_configurable(store: Store, tmp_path: Path) -> None:
    ingest_file(store, DATA / "r42_device.csv", "cert", tz="UTC")
    assert events(store)[0][2] == datetime(2010, 1, 2, 7, 21, 6)
    with pytest.raises(InsiderError) as err:
        ingest_file(store, DATA / "r42_logon.csv", "cert", tz="Mars/Olympus")
    assert err.value.code == "insider.timezone.unknown"


def test_headerless_cert_file(store: Store, tmp_path: Path) -> None:
    f = tmp_path / "http.csv"
    f.write_text("".join((DATA / "r42_http.csv").read_text().splitlines(keepends=True)[1:]))
    report = ingest_file(store, f, "cert")
    assert (report.kind, report.added) == ("http", 2)
    assert [r[0] for r in events(store)] == [1, 2]


# ---------------------------------------------------------------------------------------- duplicates

def test_same_file_again_is_skipped(store: Store, tmp_path: Path) -> None:
    first = ingest_file(store, DATA / "r42_logon.csv", "cert")
    copy = tmp_path / "renamed.csv"
    copy.write_bytes((DATA / "r42_logon.csv").read_bytes())
    again = ingest_file(store, copy, "cert")
    assert again.skipped and again.added == 0 and again.file_id == first.file_id
    assert again.sha256 == first.sha256
    assert count(store, "events") == 4 and count(store, "ingested") == 1


def test_overlapping_file_counts_duplicates(store: Store, tmp_path: Path) -> None:
    ingest_file(store, DATA / "r42_logon.csv", "cert")
    lines = (DATA / "r42_logon.csv").read_text().splitlines(keepends=True)
    f = tmp_path / "logon2.csv"
    f.write_text("".join([lines[0], *lines[3:], "{NEW1-AAAA},01/03/2010 08:00:00,NGF0157,PC-6056,Logon\n"]))
    report = ingest_file(store, f, "cert")
    assert (report.rows, report.added, report.duplicates, report.rejected) == (3, 1, 2, 0)
    assert count(store, "events") == 5
    assert store.con.execute("SELECT line FROM events WHERE key = 'cert:{NEW1-AAAA}'").fetchone() == (4,)


# ----------------------------------------------------------------------------------------- bad rows

def test_bad_rows_are_rejected_with_their_line(store: Store) -> None:
    report = ingest_file(store, DATA / "logon_bad.csv", "cert")
    assert (report.rows, report.added, report.duplicates, report.rejected) == (10, 3, 1, 6)
    assert report.samples == [
        (3, "insider.row.columns", "columns"),   # a column missing
        (4, "insider.row.date", "date"),         # 13/45/2010
        (5, "insider.row.user", "user"),         # empty user
        (6, "insider.row.activity", "activity"),  # Teleport
        (7, "insider.row.columns", "columns"),   # a column too many
        (10, "insider.row.date", "date"),        # shifted columns: the pc where the date should be
    ]
    assert [r[0] for r in events(store)] == [2, 8, 11]  # line 9 repeats line 2's id: a duplicate
    stored = store.con.execute("SELECT line, code, detail FROM rejected ORDER BY line").fetchall()
    assert stored == report.samples
    assert store.con.execute("SELECT rows, added, duplicates, rejected FROM ingested").fetchone() == (10, 3, 1, 6)


def test_quoted_newlines_and_blank_lines_keep_line_numbers(store: Store) -> None:
    report = ingest_file(store, DATA / "email_multiline.csv", "cert")
    assert (report.rows, report.added, report.rejected) == (5, 2, 3)
    assert report.samples == [(5, "insider.row.number", "size"), (6, "insider.row.user", "user"),
                              (9, "insider.row.columns", "columns")]
    assert [(r[0], r[1]) for r in events(store)] == [(2, "cert:{E1}"), (10, "cert:{E5}")]


def test_row_messages_are_registered() -> None:
    for code in ROW_MESSAGES:
        assert code in MESSAGES and code.startswith("insider.row.")
    assert row_message("insider.row.date", 4, "date") == "Line 4: the date in date cannot be read."


# ------------------------------------------------------------------------------------- whole files

@pytest.mark.parametrize(("content", "fmt", "code"), [
    (b"", "cert", "insider.file.empty"),
    (b"\r\n \n", "cert", "insider.file.empty"),
    (b"id,date,user,pc,activity\n", "cert", "insider.file.no_rows"),
    (b"when,who,what\n1,2,3\n", "cert", "insider.file.cert_header"),
    (b"id,date,user,pc,activity\n", "m365", "insider.file.m365_header"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "cert", "insider.file.binary"),
    (b"id,date,user,pc,activity\n{A},01/02/2010 07:00:00,\x81 \xef ,PC,Logon\n", "cert", "insider.file.encoding"),
    (b"id,date,user,pc,activity\n{A},2010-01-02,U1,PC-1,Logon\n{B},2010-01-03,U1,PC-1,Logon\n", "cert",
     "insider.file.all_rejected"),
    (b"id,date,user,pc,activity\n", "syslog", "insider.format.unknown"),
])
def test_files_that_cannot_be_ingested(store: Store, tmp_path: Path, content: bytes, fmt: str, code: str) -> None:
    f = tmp_path / "input.csv"
    f.write_bytes(content)
    with pytest.raises(InsiderError) as err:
        ingest_file(store, f, fmt)
    assert err.value.code == code
    assert code in MESSAGES and "{" not in err.value.english()
    assert count(store, "events") == count(store, "ingested") == count(store, "rejected") == 0


def test_m365_export_given_as_cert_is_refused(store: Store) -> None:
    with pytest.raises(InsiderError) as err:
        ingest_file(store, DATA / "m365_old.csv", "cert")
    assert err.value.code == "insider.file.cert_header"
    assert "AuditData" in err.value.english()


def test_missing_file_and_size_limit(store: Store, tmp_path: Path) -> None:
    with pytest.raises(InsiderError) as err:
        ingest_file(store, tmp_path / "nope.csv", "cert")
    assert err.value.code == "insider.file.missing"
    with pytest.raises(InsiderError) as err:
        ingest_file(store, DATA / "r42_logon.csv", "cert", max_bytes=100)
    assert err.value.code == "insider.file.too_large"
    assert count(store, "ingested") == 0


def test_all_rejected_file_can_be_retried_with_the_right_zone(store: Store, tmp_path: Path) -> None:
    mapping = tmp_path / "m.yml"
    mapping.write_text("columns: {ts: t, user: u}\nts_format: '%d.%m.%Y %H:%M'\naction: logon\n")
    f = tmp_path / "l.csv"
    f.write_text("t,u\n2025-04-01 09:00,taro\n")
    with pytest.raises(InsiderError) as err:
        ingest_file(store, f, str(mapping))
    assert err.value.code == "insider.file.all_rejected"
    mapping.write_text("columns: {ts: t, user: u}\nts_format: '%Y-%m-%d %H:%M'\naction: logon\n")
    assert ingest_file(store, f, str(mapping)).added == 1


def test_cp932_file(store: Store, tmp_path: Path) -> None:
    f = tmp_path / "logon_sjis.csv"
    text = "id,date,user,pc,activity\r\n{J1},04/01/2025 09:00:00,山田太郎,営業PC-01,Logon\r\n"
    f.write_bytes(text.encode("cp932"))
    report = ingest_file(store, f, "cert")
    assert report.added == 1
    assert events(store)[0][3:5] == ("山田太郎", "営業PC-01")
    assert not list((store.path.parent / "insider.duckdb.tmp").glob("transcode-*"))


def test_utf8_with_bom(store: Store, tmp_path: Path) -> None:
    f = tmp_path / "bom.csv"
    f.write_bytes("\ufeffid,date,user,pc,activity\n{B1},04/01/2025 09:00:00,鈴木,PC,Logoff\n".encode())
    assert ingest_file(store, f, "cert").added == 1
    assert events(store)[0][3] == "鈴木"


# ----------------------------------------------------------------------------------------------- M365

def test_m365_new_export(store: Store) -> None:
    report = ingest_file(store, DATA / "m365_new.csv", "m365")
    assert (report.format, report.kind, report.rows, report.added, report.rejected) == ("m365", None, 7, 5, 0)
    assert report.ignored == 2 and report.ignored_by == {"MailItemsAccessed": 1, "SharingSet": 1}
    rows = {r[1]: r for r in events(store)}
    upload = rows["m365:0b9f6c1e-0004-4a3e-9c1d-aaaaaaaaaaa4"]
    assert (upload[2], upload[6]) == (datetime(2025, 4, 1, 0, 25), "file_write")  # UTC kept as is; OneDrive
    usb = rows["m365:0b9f6c1e-0005-4a3e-9c1d-aaaaaaaaaaa5"]
    assert usb[4:10] == ("PC-0042", "file", "file_copy", "C:\\Users\\taro\\Documents\\recipe.xlsx", True, 48213)
    cloud = rows["m365:0b9f6c1e-0006-4a3e-9c1d-aaaaaaaaaaa6"]
    assert cloud[5:8] == ("http", "http_upload", "drive.google.com")
    mail = rows["m365:0b9f6c1e-0007-4a3e-9c1d-aaaaaaaaaaa7"]
    assert mail[5:] == ("email", "email_send", "taro.private@gmail.com;hanako@example.co.jp", False, 52000, 2)
    assert rows["m365:0b9f6c1e-0010-4a3e-9c1d-aaaaaaaaaa10"][6] == "file_delete"


def test_m365_old_export_overlapping_the_new_one(store: Store) -> None:
    ingest_file(store, DATA / "m365_new.csv", "m365")
    report = ingest_file(store, DATA / "m365_old.csv", "m365")
    assert (report.rows, report.added, report.duplicates, report.ignored) == (7, 3, 4, 0)
    rows = {r[1]: r for r in events(store, report.file_id)}
    logon = rows["m365:0b9f6c1e-0001-4a3e-9c1d-aaaaaaaaaaa1"]
    assert logon[2:8] == (datetime(2025, 4, 1, 0, 15, 2), "taro.yamada@example.co.jp", "203.0.113.7", "logon",
                          "logon", "203.0.113.7")
    assert rows["m365:0b9f6c1e-0003-4a3e-9c1d-aaaaaaaaaaa3"][6:10] == (
        "http_download", "https://example.sharepoint.com/sites/rd/Shared Documents/recipe.xlsx", False, 48213)


def test_m365_bad_audit_data(store: Store, tmp_path: Path) -> None:
    f = tmp_path / "audit.csv"
    f.write_text('CreationDate,UserIds,Operations,AuditData\n'
                 '2025-04-01T00:00:00,a@x.jp,FileAccessed,"{""Id"":""1"",""ObjectId"":""/a""}"\n'
                 '2025-04-01T00:00:00,a@x.jp,FileAccessed,"{not json"\n'
                 'yesterday,a@x.jp,FileAccessed,"{""Id"":""3""}"\n')
    report = ingest_file(store, f, "m365")
    assert report.added == 1
    assert report.samples == [(3, "insider.row.json", "AuditData"), (4, "insider.row.date", "CreationTime")]


# -------------------------------------------------------------------------------------------- mapping

def test_mapping_csv(store: Store) -> None:
    report = ingest_file(store, DATA / "proxy.csv", str(DATA / "proxy.yml"))
    assert (report.format, report.rows, report.added, report.ignored, report.rejected) == ("proxy", 6, 2, 1, 3)
    assert report.ignored_by == {"connect": 1}
    assert report.samples == [(5, "insider.row.activity", "method"), (6, "insider.row.date", "time"),
                              (7, "insider.row.number", "sent_bytes")]
    rows = events(store)
    # JST 09:00 is 00:00 UTC; no id column: the key is a hash of the normalised row
    assert rows[0][2:] == (datetime(2025, 4, 1, 0, 0), "taro", "PC-0042", "http", "http_visit",
                           "https://www.example.co.jp/", False, 512, None)
    assert rows[1][6:10] == ("http_upload", "https://drive.google.com/upload", False, 5242880)
    assert all(r[1].startswith("proxy:h:") for r in rows)


def test_mapping_hash_key_is_the_same_in_utc_and_jst(store: Store, tmp_path: Path) -> None:
    ingest_file(store, DATA / "proxy.csv", str(DATA / "proxy.yml"))
    utc = tmp_path / "proxy_utc.yml"
    utc.write_text((DATA / "proxy.yml").read_text().replace("timezone: JST", "timezone: UTC"))
    f = tmp_path / "proxy_utc.csv"
    f.write_text("time,login,client,method,url,sent_bytes\n"
                 "2025/04/01 00:00:00,taro,PC-0042,GET,https://www.example.co.jp/,512\n"
                 "2025/04/01 00:01:00,taro,PC-0042,GET,https://www.example.co.jp/,512\n")
    report = ingest_file(store, f, str(utc))
    assert (report.added, report.duplicates) == (1, 1)


def test_mapping_jsonl_with_offsets(store: Store) -> None:
    report = ingest_file(store, DATA / "dlp.jsonl", str(DATA / "dlp.yml"))
    assert (report.format, report.rows, report.added, report.rejected) == ("agent", 5, 3, 2)
    assert report.samples == [(5, "insider.row.json", "line"), (6, "insider.row.user", "user")]
    rows = events(store)
    assert [(r[0], r[1], r[2], r[6], r[8]) for r in rows] == [
        (1, "agent:e-1", datetime(2025, 4, 1, 0, 0), "file_open", False),
        (2, "agent:e-2", datetime(2025, 4, 1, 0, 10), "file_copy", True),   # +09:00 in the value wins
        (4, "agent:e-3", datetime(2025, 4, 1, 0, 20), "file_write", True),
    ]


@pytest.mark.parametrize(("text", "reason"), [
    ("columns: [ts]\naction: logon\n", "columns must map"),
    ("columns: {ts: t}\naction: logon\n", "user"),
    ("columns: {ts: t, user: u}\naction: jump\n", "jump"),
    ("columns: {ts: t, user: u}\naction: logon\nkind: file\n", "not of kind"),
    ("columns: {ts: t, user: u}\naction: logon\ntimezone: Mars/Base\n", None),
    ("columns: {ts: t, user: u}\n", "action is required"),
    ("columns: {ts: t, user: u, colour: c}\naction: logon\n", "colour"),
    ("- just\n- a list\n", "YAML mapping"),
    ("columns: {ts: t, user: u\n", "YAML"),
])
def test_invalid_mappings(store: Store, tmp_path: Path, text: str, reason: str | None) -> None:
    mapping = tmp_path / "bad.yml"
    mapping.write_text(text)
    with pytest.raises(InsiderError) as err:
        ingest_file(store, DATA / "proxy.csv", str(mapping))
    if reason is None:
        assert err.value.code == "insider.timezone.unknown"
    else:
        assert err.value.code == "insider.mapping.invalid" and reason in err.value.english()


def test_mapping_columns_missing_from_the_file(store: Store) -> None:
    with pytest.raises(InsiderError) as err:
        ingest_file(store, DATA / "r42_logon.csv", str(DATA / "proxy.yml"))
    assert err.value.code == "insider.file.mapping_columns"
    assert "time, login" in err.value.english()


# ---------------------------------------------------------------------------- atomicity and progress

class Stop(Exception):
    pass


def test_progress_reports_bytes_and_a_failure_mid_ingest_leaves_nothing(store: Store) -> None:
    ingest_file(store, DATA / "r42_device.csv", "cert")
    before = (count(store, "events"), count(store, "ingested"), count(store, "rejected"))
    calls: list[tuple[int, int]] = []

    def stop_late(done: int, total: int) -> None:
        calls.append((done, total))
        if done > total * 0.9:  # after the events were inserted, before the commit
            raise Stop

    with pytest.raises(Stop):
        ingest_file(store, DATA / "logon_bad.csv", "cert", progress=stop_late)
    assert (count(store, "events"), count(store, "ingested"), count(store, "rejected")) == before
    size = (DATA / "logon_bad.csv").stat().st_size
    assert calls and all(t == 2 * size for _, t in calls)
    calls.clear()
    report = ingest_file(store, DATA / "logon_bad.csv", "cert", progress=lambda d, t: calls.append((d, t)))
    assert report.added == 3
    assert calls[-1] == (2 * size, 2 * size)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


# -------------------------------------------------------------------------------------------- stores

def test_two_stores_in_one_process(tmp_path: Path) -> None:
    with Store(tmp_path / "a" / "insider.duckdb") as a, open_store(tmp_path / "b") as b:
        assert b.path == tmp_path / "b" / "insider.duckdb"
        ingest_file(a, DATA / "r42_logon.csv", "cert")
        ingest_file(b, DATA / "r42_device.csv", "cert")
        ingest_file(b, DATA / "r42_logon.csv", "cert")
        assert (count(a, "events"), count(b, "events")) == (4, 6)
        assert not ingest_file(b, DATA / "r42_logon.csv", "cert").added


def test_read_only_from_another_process(tmp_path: Path) -> None:
    with open_store(tmp_path) as s:
        ingest_file(s, DATA / "r42_logon.csv", "cert")
    code = ("import sys; from pathlib import Path; from himitsu.insider.store import open_store\n"
            "with open_store(Path(sys.argv[1]), read_only=True) as s:\n"
            "    print(s.con.execute('SELECT count(*) FROM events').fetchone()[0])\n")
    with open_store(tmp_path, read_only=True) as mine:
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                             check=True, timeout=60)
        assert out.stdout.strip() == "4"
        assert count(mine, "events") == 4


def test_read_only_store_must_exist(tmp_path: Path) -> None:
    with pytest.raises(InsiderError) as err:
        open_store(tmp_path / "none", read_only=True)
    assert err.value.code == "insider.store.unavailable"
    assert not (tmp_path / "none").exists()


def test_report_fields() -> None:
    assert list(IngestReport.__dataclass_fields__)[:14] == [
        "path", "name", "sha256", "format", "kind", "rows", "added", "duplicates", "rejected", "skipped",
        "first_ts", "last_ts", "samples", "file_id"]


def test_cp932_after_the_first_megabyte(store: Store, tmp_path: Path) -> None:
    f = tmp_path / "late_sjis.csv"
    ascii_rows = "".join(f"{{A{i:07d}}},04/01/2025 09:00:00,U{i % 7},PC-{i % 3},Logon\r\n" for i in range(25000))
    text = "id,date,user,pc,activity\r\n" + ascii_rows + "{J1},04/01/2025 10:00:00,山田,PC-1,Logoff\r\n"
    assert len(ascii_rows) > 1024 * 1024
    f.write_bytes(text.encode("cp932"))
    report = ingest_file(store, f, "cert")
    assert (report.rows, report.added) == (25001, 25001)
    assert store.con.execute("SELECT line, \"user\" FROM events WHERE key = 'cert:{J1}'").fetchone() == (25002, "山田")


def test_mapping_tsv_cp932_epoch_and_constant_action(store: Store, tmp_path: Path) -> None:
    mapping = tmp_path / "usb.yml"
    mapping.write_text('name: usb\ndelimiter: "\\t"\nencoding: cp932\nts_format: epoch\n'
                       "columns: {ts: 時刻, user: 社員, pc: 端末, target: ファイル, removable: 媒体}\n"
                       "removable_values: [USB]\nkind: file\naction: file_write\n", encoding="utf-8")
    f = tmp_path / "usb.tsv"
    f.write_bytes("時刻\t社員\t端末\tファイル\t媒体\n1743465600\t佐藤\tPC-9\t設計書.docx\tUSB\n"
                  "1743465660\t佐藤\tPC-9\t議事録.txt\tHDD\n".encode("cp932"))
    report = ingest_file(store, f, str(mapping))
    assert (report.format, report.added) == ("usb", 2)
    assert [r[2:9] for r in events(store)] == [
        (datetime(2025, 4, 1, 0, 0), "佐藤", "PC-9", "file", "file_write", "設計書.docx", True),
        (datetime(2025, 4, 1, 0, 1), "佐藤", "PC-9", "file", "file_write", "議事録.txt", False)]


def test_mixed_logs_in_one_file(store: Store, tmp_path: Path) -> None:
    logon = (DATA / "r42_logon.csv").read_text().splitlines(keepends=True)
    device = (DATA / "r42_device.csv").read_text().splitlines(keepends=True)
    f = tmp_path / "logon.csv"
    f.write_text("".join([*logon, *device]))  # device rows, and their header, appended to a logon file
    report = ingest_file(store, f, "cert")
    assert (report.kind, report.added, report.rejected) == ("logon", 4, 3)
    assert report.samples == [(6, "insider.row.date", "date"), (7, "insider.row.activity", "activity"),
                              (8, "insider.row.activity", "activity")]


def test_bad_bytes_after_the_first_megabyte(store: Store, tmp_path: Path) -> None:
    f = tmp_path / "late_garbage.csv"
    rows = "".join(f"{{A{i:07d}}},04/01/2025 09:00:00,U1,PC-1,Logon\n" for i in range(25000))
    f.write_bytes(b"id,date,user,pc,activity\n" + rows.encode() + b"{Z},04/01/2025 09:00:00,\x81 ,PC,Logon\n")
    with pytest.raises(InsiderError) as err:
        ingest_file(store, f, "cert")
    assert err.value.code == "insider.file.encoding"
    assert count(store, "events") == count(store, "ingested") == 0


def test_ingest_does_not_import_django() -> None:
    code = ("import sys; import himitsu.insider.ingest, himitsu.insider.store, himitsu.insider.formats; "
            "print(any(m == 'django' or m.startswith('django.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"


def test_json_lines_must_be_utf8(store: Store, tmp_path: Path) -> None:
    f = tmp_path / "late.jsonl"
    good = "".join(f'{{"event": {{"time": "2025-04-01T00:00:00Z"}}, "user": "u{i}", "op": "open"}}\n'
                   for i in range(20000))
    f.write_bytes(good.encode() + '{"event": {"time": "2025-04-01T00:00:00Z"}, "user": "山田", "op": "open"}\n'
                  .encode("cp932"))
    with pytest.raises(InsiderError) as err:
        ingest_file(store, f, str(DATA / "dlp.yml"))
    assert err.value.code == "insider.file.encoding" and "UTF-8" in err.value.english()
    assert count(store, "events") == 0
