"""Baselines, scores and ranking on small hand-made histories."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from himitsu.insider.enrich import Config, is_working_day
from himitsu.insider.score import last_day, score_day, score_range, timeline
from himitsu.insider.store import Store
from tests.insider.test_features import DAY, TEAM, Log, people

CONFIG = Config(internal_domains=("corp.example",))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "insider.duckdb") as s:
        yield s


def usb_day(log: Log, user: str, day: date, files: int = 3) -> None:
    at = datetime(day.year, day.month, day.day, 11, 0)
    log.add(user, at, "device", "connect", TEAM.get(user), TEAM.get(user))
    for i in range(files):
        log.add(user, at, "file", "file_write", f"E:\\{i}.dwg", TEAM.get(user), removable=True)


def test_first_ever_usb_write_is_flagged_with_the_reason(store: Store) -> None:
    log = Log(store)
    log.routine(TEAM, DAY + timedelta(days=1))
    usb_day(log, "carol", DAY)
    log.flush()
    people(store)
    alerts = score_day(store, DAY, CONFIG)
    assert [a.rank for a in alerts] == list(range(1, len(TEAM) + 1))
    top = alerts[0]
    assert top.user == "carol"
    assert top.indicators[0].name == "usb_writes"
    usb = top.indicators[0]
    assert (usb.value, usb.own_baseline, usb.peer_baseline) == (3, 0, 0)
    assert usb.own_z >= CONFIG.novelty_z
    assert [i.contribution for i in top.indicators] == sorted((i.contribution for i in top.indicators), reverse=True)
    assert {i.name for i in top.indicators} >= {"usb_writes", "usb_connects"}
    assert all(a.score == 0 and not a.indicators for a in alerts[1:])


def test_a_regular_usb_user_is_not_flagged_for_the_usual_amount(store: Store) -> None:
    log = Log(store)
    log.routine(TEAM, DAY + timedelta(days=1))
    day = DAY - timedelta(days=50)
    while day <= DAY:
        if is_working_day(day):
            usb_day(log, "dave", day)
        day += timedelta(days=1)
    log.flush()
    people(store)
    dave = next(a for a in score_day(store, DAY, CONFIG) if a.user == "dave")
    own = {i.name: i for i in dave.indicators}
    assert "usb_writes" not in own or own["usb_writes"].own_z <= CONFIG.z_dead


def test_a_late_worker_is_not_flagged_for_working_late(store: Store) -> None:
    log = Log(store)
    log.routine(TEAM, DAY + timedelta(days=1))
    log.routine({"owl": "PC-O"}, DAY + timedelta(days=1), start=14.0, end=23.5)
    log.flush()
    people(store)
    owl = next(a for a in score_day(store, DAY, CONFIG) if a.user == "owl")
    assert owl.score == 0
    assert owl.indicators == ()


def test_own_and_peer_baselines(store: Store) -> None:
    log = Log(store)
    log.routine({"alice": "PC-A"}, DAY, files=2)
    log.routine({u: pc for u, pc in TEAM.items() if u not in ("alice", "frank")}, DAY, files=30)
    for user, pc in TEAM.items():
        if user not in ("alice", "frank"):
            log.day(user, DAY, pc, files=30)
    log.day("alice", DAY, "PC-A", files=62)
    log.flush()
    people(store)
    alice = next(a for a in score_day(store, DAY, CONFIG) if a.user == "alice")
    files = next(i for i in alice.indicators if i.name == "file_volume")
    assert (files.value, files.own_baseline, files.peer_baseline) == (62, 2, 30)
    assert files.own_z == 6.0      # (62 - 2) / floor 10
    assert 0 < files.peer_z < files.own_z


def test_hr_window_raises_the_weight(store: Store) -> None:
    log = Log(store)
    log.routine(TEAM, DAY + timedelta(days=1))
    usb_day(log, "bob", DAY)
    usb_day(log, "carol", DAY)
    log.flush()
    people(store, bob=DAY + timedelta(days=10), carol=DAY + timedelta(days=60),
           erin=DAY + timedelta(days=5))
    alerts = {a.user: a for a in score_day(store, DAY, CONFIG)}
    bob, carol = alerts["bob"], alerts["carol"]
    assert (bob.hr_weight, bob.days_to_leave) == (CONFIG.hr_weight, 10)
    assert (carol.hr_weight, carol.days_to_leave) == (1.0, None)
    assert bob.score == pytest.approx(carol.score * CONFIG.hr_weight, abs=0.002)
    assert bob.rank == 1
    assert alerts["erin"].score == 0 and alerts["erin"].days_to_leave == 5  # weight alone raises nothing


def test_a_person_in_the_hr_window_is_listed_even_when_not_active(store: Store) -> None:
    log = Log(store)
    log.routine({u: pc for u, pc in TEAM.items() if u != "erin"}, DAY + timedelta(days=1))
    log.flush()
    people(store, erin=DAY - timedelta(days=3))
    erin = next(a for a in score_day(store, DAY, CONFIG) if a.user == "erin")
    assert (erin.score, erin.days_to_leave, erin.hr_weight) == (0, -3, CONFIG.hr_weight)


def test_a_slow_ramp_surfaces_through_accumulation(store: Store) -> None:
    log = Log(store)
    log.routine(TEAM, DAY + timedelta(days=1))
    ramp = [d for d in (DAY - timedelta(days=k) for k in range(8, -1, -1)) if is_working_day(d)]
    for n, day in enumerate(ramp):  # job-site visits rising slowly, a little more every day
        at = datetime(day.year, day.month, day.day, 12, 0)
        for i in range(n + 1):
            log.add("alice", at + timedelta(minutes=i), "http", "http_visit", f"https://doda.jp/job/{i}", "PC-A")
    for i in range(6):  # bob: one day of as many visits, never before
        log.add("bob", datetime(2025, 7, 15, 12, i), "http", "http_visit", f"https://doda.jp/job/{i}", "PC-B")
    log.flush()
    people(store)
    alerts = {a.user: a for a in score_day(store, DAY, CONFIG)}
    alice, bob = alerts["alice"], alerts["bob"]
    assert alice.extra["daily"] < bob.extra["daily"]
    assert alice.extra["carried"] > 0
    assert alice.score > bob.score
    assert alice.rank == 1


def test_ranking_and_the_scores_table(store: Store) -> None:
    log = Log(store)
    log.routine(TEAM, DAY + timedelta(days=2))
    usb_day(log, "carol", DAY, files=10)
    usb_day(log, "bob", DAY, files=1)
    usb_day(log, "dave", DAY + timedelta(days=1))
    log.flush()
    people(store)
    result = score_range(store, DAY, DAY + timedelta(days=1), CONFIG)
    assert list(result) == [DAY, DAY + timedelta(days=1)]
    assert [a.user for a in result[DAY][:2]] == ["carol", "bob"]
    assert [a.score for a in result[DAY]] == sorted((a.score for a in result[DAY]), reverse=True)
    assert result[DAY + timedelta(days=1)][0].user == "dave"
    rows = store.con.execute('SELECT day, "user", score, rank, reasons FROM scores ORDER BY day, rank').fetchall()
    assert len(rows) == 2 * len(TEAM)
    day, user, score, rank, reasons = rows[0]
    assert (day, user, rank, score) == (DAY, "carol", 1, result[DAY][0].score)
    reasons = json.loads(reasons)
    assert reasons["indicators"][0]["name"] == "usb_writes"
    assert reasons["indicators"][0]["value"] == 10
    score_day(store, DAY, CONFIG)  # scoring a day again replaces its rows
    assert store.con.execute("SELECT count(*) FROM scores").fetchone()[0] == 2 * len(TEAM)


def test_timeline_and_last_day(store: Store) -> None:
    log = Log(store)
    log.routine(TEAM, DAY + timedelta(days=1))
    usb_day(log, "carol", DAY)
    log.add("carol", datetime(2025, 7, 16, 2, 0), "file", "file_open", "C:\\late", "PC-C")  # 17:00 UTC the 15th
    log.flush()
    people(store)
    assert last_day(store) == date(2025, 7, 16)
    scored = score_day(store, DAY, CONFIG)
    days = timeline(store, "carol", DAY - timedelta(days=1), DAY + timedelta(days=1), CONFIG)
    assert [d["day"] for d in days] == [DAY - timedelta(days=1), DAY, DAY + timedelta(days=1)]
    assert [d["score"] for d in days] == [None, next(a.score for a in scored if a.user == "carol"), None]
    assert days[1]["features"]["usb_writes"] == 3
    assert days[2]["features"]["file_volume"] == 1
    assert days[2]["features"]["after_hours"] == 1


def test_empty_store(store: Store) -> None:
    assert last_day(store) is None
    assert score_day(store, DAY, CONFIG) == []
    assert timeline(store, "nobody", DAY, DAY, CONFIG)[0]["score"] is None
