"""Per user-day features on small hand-made event sets (exact values), read back through the person's timeline."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from himitsu.insider.enrich import Config, Person, SecretPath, is_working_day, set_people
from himitsu.insider.features import FEATURES
from himitsu.insider.score import last_day, timeline
from himitsu.insider.store import Store

JST = timedelta(hours=9)
START = date(2025, 6, 2)   # a Monday
DAY = date(2025, 7, 15)    # a Tuesday, after about 30 working days of history


class Log:
    """Hand-made events (times are Tokyo local time; stored in UTC like the ingest does)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.rows: list[tuple[object, ...]] = []

    def add(self, user: str, when: datetime, kind: str, action: str, target: str | None = None,
            pc: str | None = None, removable: bool = False, size: int | None = None,
            attachments: int | None = None) -> None:
        n = len(self.rows)
        self.rows.append((f"t:{n}", 1, n + 1, when - JST, user, pc, kind, action, target, removable, size,
                          attachments))

    def day(self, user: str, day: date, pc: str, start: float = 9.0, end: float = 18.0, files: int = 2) -> None:
        """An ordinary working day: logon, a web visit, some file opens, a mail inside, logoff."""
        t0 = datetime(day.year, day.month, day.day) + timedelta(hours=start)
        t1 = datetime(day.year, day.month, day.day) + timedelta(hours=end)
        self.add(user, t0, "logon", "logon", pc, pc)
        self.add(user, t0 + timedelta(minutes=30), "http", "http_visit", "https://intra.example/wiki", pc)
        for i in range(files):
            self.add(user, t0 + timedelta(minutes=40 + i), "file", "file_open", f"\\\\fs01\\own\\{i}.docx", pc)
        self.add(user, t0 + timedelta(hours=1), "email", "email_send", "colleague@corp.example", pc, size=100,
                 attachments=0)
        self.add(user, t1, "logon", "logoff", pc, pc)

    def routine(self, users: dict[str, str], until: date, **kw: float) -> None:
        """Every user on their own PC on every working day from START to the day before ``until``."""
        day = START
        while day < until:
            if is_working_day(day):
                for user, pc in users.items():
                    self.day(user, day, pc, **kw)  # type: ignore[arg-type]
            day += timedelta(days=1)

    def flush(self) -> None:
        if self.rows:  # one statement with a list per column: far quicker than a row at a time
            columns = [list(c) for c in zip(*self.rows, strict=True)]
            self.store.con.execute(
                "INSERT INTO events SELECT unnest(?::VARCHAR[]), unnest(?::INTEGER[]), unnest(?::BIGINT[]), "
                "unnest(?::TIMESTAMP[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
                "unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::BOOLEAN[]), unnest(?::BIGINT[]), "
                "unnest(?::INTEGER[])", columns)
        self.rows = []


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "insider.duckdb") as s:
        yield s


TEAM = {"alice": "PC-A", "bob": "PC-B", "carol": "PC-C", "dave": "PC-D", "erin": "PC-E", "frank": "PC-F"}


def people(store: Store, **leaves: date) -> None:
    set_people(store, [Person(u, department="設計部" if u != "frank" else "営業部", email=f"{u}@corp.example",
                              leaves=leaves.get(u)) for u in TEAM])


def features_of(store: Store, user: str, day: date = DAY, config: Config | None = None) -> dict[str, float]:
    rows = timeline(store, user, day, day, config or Config(internal_domains=("corp.example",)))
    assert [r["day"] for r in rows] == [day]
    return rows[0]["features"]


def test_ordinary_day_has_no_after_hours_or_leaving_features(store: Store) -> None:
    log = Log(store)
    log.routine(TEAM, DAY + timedelta(days=1))
    log.flush()
    people(store)
    values = features_of(store, "alice")
    assert set(values) == set(FEATURES)
    assert values["file_volume"] == 2
    assert values["mass_mail"] == 1
    assert {k: v for k, v in values.items() if k not in ("file_volume", "mass_mail")} == dict.fromkeys(
        [k for k in FEATURES if k not in ("file_volume", "mass_mail")], 0.0)


def test_usual_hours_are_learned_so_a_late_worker_is_not_after_hours(store: Store) -> None:
    log = Log(store)
    log.routine({"owl": "PC-O"}, DAY, start=13.0, end=23.0)
    log.routine({"lark": "PC-L"}, DAY)
    log.day("owl", DAY, "PC-O", start=13.0, end=23.0)
    log.day("lark", DAY, "PC-L", start=13.0, end=23.0)  # logon 13:00 is usual, the logoff at 23:00 is not
    log.flush()
    assert features_of(store, "owl")["after_hours"] == 0
    lark = features_of(store, "lark")
    assert lark["after_hours"] == 1
    assert lark["logons_off_hours"] == 0


def test_logon_before_usual_hours_and_activity_on_a_holiday(store: Store) -> None:
    log = Log(store)
    log.routine({"alice": "PC-A"}, DAY)
    log.day("alice", DAY, "PC-A", start=5.0, end=17.0)  # logon at 5:00 plus the events of the next hour
    holiday = date(2025, 7, 21)  # 海の日
    log.day("alice", holiday, "PC-A")
    log.flush()
    early = features_of(store, "alice")
    assert early["logons_off_hours"] == 1
    assert early["after_hours"] == 5  # logon, visit, two file opens (5:00-5:41) and the mail at 6:00
    on_holiday = features_of(store, "alice", holiday)
    assert on_holiday["after_hours"] == 6  # every event of a non-working day
    assert on_holiday["logons_off_hours"] == 1


def test_removable_media_and_file_volume(store: Store) -> None:
    log = Log(store)
    log.routine({"alice": "PC-A"}, DAY)
    at = datetime(2025, 7, 15, 11, 0)
    log.add("alice", at, "device", "connect", "PC-A", "PC-A")
    log.add("alice", at, "device", "disconnect", "PC-A", "PC-A")
    for i in range(3):
        log.add("alice", at, "file", "file_copy", f"E:\\out\\{i}.dwg", "PC-A", removable=True)
    log.add("alice", at, "file", "file_open", "C:\\work\\x.dwg", "PC-A")
    log.flush()
    values = features_of(store, "alice")
    assert (values["usb_connects"], values["usb_writes"], values["file_volume"]) == (1, 3, 4)


def test_secret_access_outside_the_users_department(store: Store) -> None:
    log = Log(store)
    at = datetime(2025, 7, 15, 11, 0)
    for user in ("alice", "frank"):
        log.add(user, at, "file", "file_open", "\\\\fs01\\設計部\\機密\\図面.dwg", "PC")
        log.add(user, at, "file", "file_open", "\\\\FS01\\設計部\\機密\\sub\\仕様.docx", "PC")
        log.add(user, at, "file", "file_open", "\\\\fs01\\設計部\\公開\\案内.pdf", "PC")
    log.flush()
    people(store)
    config = Config(secret_paths=(SecretPath("\\\\fs01\\設計部\\機密\\", department="設計部"),))
    assert features_of(store, "frank", config=config)["secret_access_other_dept"] == 2
    assert features_of(store, "alice", config=config)["secret_access_other_dept"] == 0
    assert features_of(store, "frank")["secret_access_other_dept"] == 0  # no register, nothing is secret


def test_secret_sites_match_web_events(store: Store) -> None:
    log = Log(store)
    at = datetime(2025, 7, 15, 11, 0)
    log.add("frank", at, "http", "http_download", "https://sp.corp.example/sites/Design/Shared/a.dwg", "PC-F")
    log.add("frank", at, "http", "http_visit", "https://sp.corp.example/sites/sales/b.xlsx", "PC-F")
    log.add("frank", at, "file", "file_open", "https://sp.corp.example/sites/design/c.dwg", "PC-F")
    log.flush()
    people(store)
    config = Config(secret_paths=(SecretPath("https://sp.corp.example/sites/design/", department="設計部"),))
    assert features_of(store, "frank", config=config)["secret_access_other_dept"] == 1


def test_mail_to_personal_and_outside_addresses(store: Store) -> None:
    log = Log(store)
    at = datetime(2025, 7, 15, 11, 0)
    log.add("alice", at, "email", "email_send", "alice.home@gmail.com", "PC-A", size=900, attachments=2)
    log.add("alice", at, "email", "email_send", "bob@corp.example;Alice <alice@home.example.net>", "PC-A",
            attachments=1)
    log.add("alice", at, "email", "email_send", "buyer@customer.example", "PC-A", attachments=4)
    log.add("alice", at, "email", "email_send", ";".join(f"u{i}@corp.example" for i in range(40)), "PC-A")
    log.add("alice", at, "email", "email_view", "alice@corp.example", "PC-A")
    log.flush()
    people(store)
    values = features_of(store, "alice")
    assert values["mail_personal"] == 2  # webmail, and her own name at an outside domain
    assert values["mail_personal_attachments"] == 3
    assert values["mail_external_volume"] == 3
    assert values["mass_mail"] == 40


def test_internal_domains_come_from_people_when_not_configured(store: Store) -> None:
    log = Log(store)
    at = datetime(2025, 7, 15, 11, 0)
    log.add("alice", at, "email", "email_send", "bob@corp.example", "PC-A")
    log.add("alice", at, "email", "email_send", "buyer@customer.example", "PC-A")
    log.flush()
    people(store)
    assert features_of(store, "alice", config=Config())["mail_external_volume"] == 1


def test_uploads_and_site_visits(store: Store) -> None:
    log = Log(store)
    at = datetime(2025, 7, 15, 11, 0)
    log.add("alice", at, "http", "http_upload", "https://www.dropbox.com/upload?x=1", "PC-A")
    log.add("alice", at, "http", "http_visit", "https://www.dropbox.com/home", "PC-A")
    log.add("alice", at, "http", "http_upload", "http://pastebin.com:80/post", "PC-A")
    log.add("alice", at, "http", "http_visit", "https://pastebin.com/abc", "PC-A")
    log.add("alice", at, "http", "http_visit", "https://next.rikunabi.com/job/1", "PC-A")
    log.add("alice", at, "http", "http_visit", "doda.jp/search", "PC-A")
    log.add("alice", at, "http", "http_visit", "https://notdropbox.com/", "PC-A")
    log.add("alice", at, "http", "http_upload", "https://files.mycorp.example/up", "PC-A")
    log.flush()
    values = features_of(store, "alice")
    assert values["upload_personal_cloud"] == 1
    assert values["upload_leak_site"] == 1
    assert values["leak_site_visits"] == 1
    assert values["job_site_visits"] == 2
    extra = Config(internal_domains=("corp.example",), extra_domains={"personal_cloud": ("mycorp.example",)})
    assert features_of(store, "alice", config=extra)["upload_personal_cloud"] == 2


def test_logons_to_unusual_and_other_peoples_pcs(store: Store) -> None:
    log = Log(store)
    log.routine(TEAM, DAY)
    log.routine({"kiosk": "PC-K"}, DAY)
    at = datetime(2025, 7, 15, 9, 0)
    log.add("alice", at, "logon", "logon", "PC-A", "PC-A")
    log.add("alice", at + timedelta(hours=1), "logon", "logon", "PC-B", "PC-B")   # bob's PC
    log.add("alice", at + timedelta(hours=2), "logon", "logon", "PC-B", "PC-B")   # same PC again
    log.add("alice", at + timedelta(hours=3), "logon", "logon", "PC-NEW", "PC-NEW")  # nobody's PC
    log.add("bob", at, "logon", "logon", "PC-B", "PC-B")
    log.flush()
    alice = features_of(store, "alice")
    assert (alice["other_pc_logons"], alice["other_user_pc_logons"]) == (2, 1)
    bob = features_of(store, "bob")
    assert (bob["other_pc_logons"], bob["other_user_pc_logons"]) == (0, 0)


def test_local_day_is_tokyo_time(store: Store) -> None:
    log = Log(store)
    log.add("alice", datetime(2025, 7, 16, 0, 30), "file", "file_open", "C:\\a", "PC-A")  # 15:30 UTC on the 15th
    log.flush()
    assert features_of(store, "alice", date(2025, 7, 16))["file_volume"] == 1
    assert features_of(store, "alice", date(2025, 7, 15))["file_volume"] == 0


def test_a_zone_with_summer_time(store: Store) -> None:
    log = Log(store)
    log.add("hans", datetime(2025, 7, 15, 7, 30) + JST, "file", "file_open", "C:\\a", "PC-H")  # 7:30 UTC
    log.add("hans", datetime(2025, 7, 15, 22, 30) + JST, "file", "file_open", "C:\\b", "PC-H")  # 0:30 CEST
    log.flush()
    berlin = Config(tz="Europe/Berlin")
    assert features_of(store, "hans", date(2025, 7, 15), berlin)["file_volume"] == 1
    night = features_of(store, "hans", date(2025, 7, 16), berlin)
    assert (night["file_volume"], night["after_hours"]) == (1, 1)
    assert last_day(store, berlin) == date(2025, 7, 16)
