"""Enrichment: the working calendar, people from a CSV, the register's domains."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from himitsu.errors import MESSAGES
from himitsu.insider.enrich import (
    Config,
    Person,
    domain_category,
    domains,
    is_working_day,
    load_people_csv,
    set_people,
)
from himitsu.insider.errors import InsiderError
from himitsu.insider.features import FEATURES
from himitsu.insider.store import Store


@pytest.mark.parametrize(("day", "working"), [
    (date(2025, 7, 15), True),     # an ordinary Tuesday
    (date(2025, 7, 19), False),    # Saturday
    (date(2025, 7, 20), False),    # Sunday
    (date(2025, 7, 21), False),    # 海の日
    (date(2025, 5, 6), False),     # 振替休日 (みどりの日 fell on a Sunday)
    (date(2025, 11, 24), False),   # 振替休日 (勤労感謝の日 fell on a Sunday)
    (date(2026, 9, 22), False),    # 国民の休日 between 敬老の日 and 秋分の日
    (date(2025, 12, 30), False),   # year-end closure (Config.closed_days)
    (date(2026, 1, 5), True),      # first working day of the year
])
def test_working_calendar(day: date, working: bool) -> None:
    assert is_working_day(day) is working


def test_closed_days_are_configurable() -> None:
    assert is_working_day(date(2025, 12, 30), Config(closed_days=())) is True
    assert is_working_day(date(2025, 8, 14), Config(closed_days=("08-13", "08-14"))) is False


def test_domain_category_matches_the_domain_and_its_subdomains() -> None:
    table = domains(Config(extra_domains={"webmail": ("mail.example.net",)}))
    order = ("leak_site", "personal_cloud", "job_site", "webmail")
    assert domain_category("www.dropbox.com", table, order) == "personal_cloud"
    assert domain_category("DROPBOX.COM", table, order) == "personal_cloud"
    assert domain_category("notdropbox.com", table, order) is None
    assert domain_category("tenshoku.mynavi.jp", table, order) == "job_site"
    assert domain_category("pastebin.com", table, order) == "leak_site"
    assert domain_category("x.mail.example.net", table, order) == "webmail"
    assert domain_category("example.net", table, order) is None


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_load_people_csv(tmp_path: Path) -> None:
    path = write(tmp_path / "people.csv", "\ufeffuser,name,department,leaves,joined,email\n"
                 "u1,山田 太郎,設計部,2025-09-30,2010/4/1,u1@corp.example\n"
                 "\n"
                 "u2,,,,,\n")
    assert load_people_csv(path) == [
        Person("u1", "山田 太郎", "設計部", joined=date(2010, 4, 1), leaves=date(2025, 9, 30),
               email="u1@corp.example"),
        Person("u2"),
    ]


def test_load_people_csv_reports_every_bad_row_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "people.csv", "user,department,joined,leaves\n"
                 "u1,設計部,2010-04-01,\n"
                 ",設計部,,\n"
                 "u3,設計部,tomorrow,\n"
                 "u1,営業部,,\n"
                 "u5,営業部,2020-04-01,2019-03-31\n"
                 "u6,営業部\n")
    with pytest.raises(InsiderError) as caught:
        load_people_csv(path)
    error = caught.value
    assert error.code == "insider.people_invalid"
    assert error.code in MESSAGES
    assert [line for line, _ in error.params["errors"]] == [3, 4, 5, 6, 7]
    assert "line 3: user is empty" in str(error)
    assert "line 5: user u1 already on line 2" in str(error)


@pytest.mark.parametrize(("text", "code"), [
    ("", "insider.people_empty"),
    ("name,department\nx,y\n", "insider.people_columns"),
])
def test_load_people_csv_without_user_column(tmp_path: Path, text: str, code: str) -> None:
    with pytest.raises(InsiderError) as caught:
        load_people_csv(write(tmp_path / "people.csv", text))
    assert caught.value.code == code


def test_load_people_csv_in_shift_jis(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes("user,department\nu1,設計部\n".encode("cp932"))
    assert load_people_csv(path) == [Person("u1", department="設計部")]


def test_load_people_csv_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InsiderError) as caught:
        load_people_csv(tmp_path / "missing.csv")
    assert caught.value.code == "insider.people_unreadable"


def test_set_people_replaces_the_table(tmp_path: Path) -> None:
    with Store(tmp_path / "insider.duckdb") as store:
        assert set_people(store, [Person("a", department="x"), Person("b")]) == 2
        assert set_people(store, [Person("c", leaves=date(2025, 9, 1))]) == 1
        assert store.con.execute('SELECT "user", leaves FROM people').fetchall() == [("c", date(2025, 9, 1))]


@pytest.mark.parametrize(("change", "setting"), [
    ({"tz": "Asia/Nowhere"}, "tz"),
    ({"lookback_days": 0}, "lookback_days"),
    ({"decay": 1.0}, "decay / usual_pc_share"),
    ({"weights": {"usb_writes": -1.0}}, "weights[usb_writes]"),
    ({"weights": {"usb_wirtes": 1.0}}, "weights[usb_wirtes]"),
    ({"floors": {"usb_writes": 0.0}}, "floors[usb_writes]"),
])
def test_config_is_checked_before_work_starts(change: dict[str, object], setting: str) -> None:
    Config().check(FEATURES)
    with pytest.raises(InsiderError) as caught:
        Config(**change).check(FEATURES)  # type: ignore[arg-type]
    assert (caught.value.code, caught.value.params["setting"]) == ("insider.config_invalid", setting)
