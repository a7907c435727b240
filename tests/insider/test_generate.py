"""The CERT-style log generator: layout, calendar, planted cases against the rows, determinism."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from himitsu import catalog
from himitsu.insider.generate import HEADERS, INTERNAL_DOMAIN, KINDS, generate

START = date(2025, 4, 21)  # 40 days: 昭和の日 (4/29) and ゴールデンウィーク (5/3-5/6) inside
USERS, DAYS = 60, 40


@pytest.fixture(scope="module")
def firm(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("firm")
    return generate(out, users=USERS, start=START, days=DAYS, seed=5)


def rows(out: Path, kind: str) -> list[dict[str, str]]:
    with (out / f"{kind}.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def when(row: dict[str, str]) -> datetime:
    return datetime.strptime(row["date"], "%m/%d/%Y %H:%M:%S")


@pytest.fixture(scope="module")
def logs(firm) -> dict[str, list[dict[str, str]]]:
    return {kind: rows(firm.out_dir, kind) for kind in KINDS}


def domains(category: str) -> tuple[str, ...]:
    return tuple(catalog.load("insider_domains.yaml")["categories"][category]["domains"])


def host_in(url_or_address: str, names: tuple[str, ...]) -> bool:
    host = url_or_address.split("@")[-1] if "://" not in url_or_address else url_or_address.split("/")[2]
    return any(host == d or host.endswith("." + d) for d in names)


def test_headers_are_exactly_cert_r62(firm) -> None:
    for kind in KINDS:
        first = (firm.out_dir / f"{kind}.csv").read_text(encoding="utf-8").split("\n", 1)[0]
        assert first == HEADERS[kind]
    assert HEADERS["email"] == "id,date,user,pc,to,cc,bcc,from,activity,size,attachments,content"
    people = (firm.out_dir / "people.csv").read_text(encoding="utf-8").split("\n", 1)[0]
    assert people == "user,name,department,role,supervisor,joined,leaves,email"


def test_rows_parse_ids_unique_and_in_time_order(firm, logs) -> None:
    ids: set[str] = set()
    total = 0
    for kind in KINDS:
        fields = len(HEADERS[kind].split(","))
        stamps = []
        for row in logs[kind]:
            assert len(row) == fields and None not in row.values()
            assert len(row["id"]) == 24 and row["id"][0] == "{" and row["id"][5] == "-" and row["id"][14] == "-"
            ids.add(row["id"])
            stamps.append(when(row))
        assert stamps == sorted(stamps), kind
        assert len(logs[kind]) == firm.events[kind] > 0
        total += len(logs[kind])
    assert len(ids) == total
    assert {r["activity"] for r in logs["logon"]} == {"Logon", "Logoff"}
    assert {r["activity"] for r in logs["device"]} == {"Connect", "Disconnect"}
    assert {r["activity"] for r in logs["file"]} == {"File Open", "File Write", "File Copy", "File Delete"}
    assert {r["activity"] for r in logs["email"]} == {"Send", "View"}
    assert {r["activity"] for r in logs["http"]} <= {"WWW Visit", "WWW Upload", "WWW Download"}
    assert {r["to_removable_media"] for r in logs["file"]} == {"True", "False"}


def test_weekends_and_holidays_are_quiet(logs) -> None:
    per_day = Counter(when(r).date() for r in logs["http"])
    workdays = [n for d, n in per_day.items() if d.weekday() < 5 and d not in (date(2025, 4, 29),)
                and not date(2025, 5, 3) <= d <= date(2025, 5, 6)]
    usual = sum(workdays) / len(workdays)
    assert per_day[date(2025, 4, 29)] < 0.1 * usual  # 昭和の日, a Tuesday
    assert per_day[date(2025, 5, 6)] < 0.1 * usual  # 振替休日
    assert per_day[date(2025, 4, 26)] < 0.1 * usual and per_day[date(2025, 4, 27)] < 0.1 * usual
    assert per_day[date(2025, 4, 28)] > 0.7 * usual


def test_people_and_secret_paths(firm, logs) -> None:
    people = rows(firm.out_dir, "people")
    assert len(people) == USERS and len({p["user"] for p in people}) == USERS
    assert all(len(p["user"]) == 7 and p["email"].endswith("@" + INTERNAL_DOMAIN) for p in people)
    assert {p["user"] for p in people} >= {r["user"] for r in logs["logon"]}
    insiders = {c.user for c in firm.insiders}
    leavers = [p for p in people if p["leaves"] and p["user"] not in insiders]
    assert len(leavers) >= 3  # ordinary leavers and the laid-off group: an HR window alone is not enough
    secrets = rows(firm.out_dir, "secret_paths")
    assert secrets and all(s["prefix"].startswith("\\\\fs01\\") and s["level"] for s in secrets)
    touched = Counter(next((s["prefix"] for s in secrets if r["filename"].startswith(s["prefix"] + "\\")), None)
                      for r in logs["file"])
    assert len([p for p in touched if p]) == len(secrets)  # every registered location is in use


def test_answers_file_matches_the_result(firm) -> None:
    answers = json.loads((firm.out_dir / "answers.json").read_text(encoding="utf-8"))
    assert [c["user"] for c in answers["cases"]] == [c.user for c in firm.insiders]
    assert Counter(c["scenario"] for c in answers["cases"]) == dict.fromkeys(range(1, 6), 2)
    assert len({c["user"] for c in answers["cases"]}) == 10
    for case in firm.insiders:
        assert case.first_day <= case.theft_day
        assert case.leave_day is None or case.theft_day <= case.leave_day


def test_each_planted_theft_is_in_the_logs_on_its_day(firm, logs) -> None:
    people = {p["user"]: p for p in rows(firm.out_dir, "people")}
    own_pc = {u: Counter(r["pc"] for r in logs["logon"] if r["user"] == u).most_common(1)[0][0] for u in people}
    usb = defaultdict(Counter)
    for r in logs["file"]:
        if r["to_removable_media"] == "True":
            usb[r["user"]][when(r).date()] += 1
    for case in firm.insiders:
        day, user = case.theft_day, case.user
        assert people[user]["leaves"] == (case.leave_day.isoformat() if case.leave_day else "")
        if case.scenario == 1:  # never used USB before, then copies
            assert usb[user][day] > 0 and not [d for d in usb[user] if d < day]
            nights = [when(r) for r in logs["logon"] if r["user"] == user and when(r).date() >= case.first_day
                      and (when(r).hour >= 21 or when(r).hour < 5)]
            assert nights
            assert any(r["user"] == user and r["activity"] == "WWW Upload" and host_in(r["url"], domains("leak_site"))
                       for r in logs["http"])
        elif case.scenario == 2:  # job sites, then far more USB copies than before
            assert usb[user][day] > 3 * max([n for d, n in usb[user].items() if d < case.first_day] or [1])
            assert any(r["user"] == user and host_in(r["url"], domains("job_site")) for r in logs["http"])
        elif case.scenario == 3:  # mass mail as the supervisor from the admin's machine
            sup = case.detail["supervisor"]
            mass = [r for r in logs["email"] if r["user"] == sup and when(r).date() == day
                    and r["from"] == people[sup]["email"] and len(r["to"].split(";")) >= USERS // 2]
            assert mass and mass[0]["pc"] == own_pc[user]
            assert any(r["user"] == user and r["pc"] == own_pc[sup] for r in logs["logon"])
        elif case.scenario == 4:  # from a colleague's machine, mail with attachments to a private address
            victim_pc = own_pc[case.detail["victim"]]
            sent = [r for r in logs["email"] if r["user"] == user and when(r).date() == day and r["pc"] == victim_pc
                    and host_in(r["to"], domains("webmail")) and r["attachments"]]
            assert sent
            assert not [r for r in logs["email"] if r["user"] == user and r["pc"] == victim_pc and when(r).date() < day
                        and host_in(r["to"], domains("webmail"))]
        else:  # laid off: uploads to a personal cloud
            assert any(r["user"] == user and when(r).date() == day and r["activity"] == "WWW Upload"
                       and host_in(r["url"], domains("personal_cloud")) for r in logs["http"])
            assert user in firm.layoff["users"] and len(firm.layoff["users"]) > 2
        if case.leave_day and case.leave_day < START + timedelta(DAYS - 1):
            assert not [r for r in logs["logon"] if r["user"] == user and when(r).date() > case.leave_day]


def test_ordinary_people_look_a_little_like_insiders(firm, logs) -> None:
    """Noise of every kind the planted cases show, from people who are not planted insiders."""
    insiders = {c.user for c in firm.insiders}
    own_pc = {u: Counter(r["pc"] for r in logs["logon"] if r["user"] == u).most_common(1)[0][0]
              for u in {r["user"] for r in logs["logon"]}}
    usb = {r["user"] for r in logs["file"] if r["to_removable_media"] == "True"}
    jobs = {r["user"] for r in logs["http"] if host_in(r["url"], domains("job_site"))}
    private = {r["user"] for r in logs["email"] if r["activity"] == "Send" and host_in(r["to"], domains("webmail"))}
    late = {r["user"] for r in logs["logon"] if when(r).hour >= 21 or when(r).hour < 6}
    other_pc = {r["user"] for r in logs["logon"] if r["pc"] != own_pc[r["user"]]}
    for name, users in (("usb", usb), ("job sites", jobs), ("private mail", private), ("other PCs", other_pc),
                        ("late", late)):
        assert len(users - insiders) >= 2, name


def test_generator_does_not_import_django() -> None:
    code = "import sys; sys.modules['django'] = None; import himitsu.insider.generate"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_laid_off_group_shares_one_leave_date(firm) -> None:
    people = {p["user"]: p for p in rows(firm.out_dir, "people")}
    assert {people[u]["leaves"] for u in firm.layoff["users"]} == {firm.layoff["leave_day"]}
    assert {people[u]["department"] for u in firm.layoff["users"]} == {firm.layoff["department"]}


def digests(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())}


def test_same_seed_same_bytes_other_seed_other_bytes(firm, tmp_path: Path) -> None:
    again = generate(tmp_path / "again", users=USERS, start=START, days=DAYS, seed=5)
    assert digests(again.out_dir) == digests(firm.out_dir)
    other = generate(tmp_path / "other", users=USERS, start=START, days=DAYS, seed=6)
    assert digests(other.out_dir)["http.csv"] != digests(firm.out_dir)["http.csv"]


def test_events_target_sets_the_volume(tmp_path: Path) -> None:
    result = generate(tmp_path, users=USERS, start=START, days=DAYS, seed=5, events_target=150_000)
    assert 0.85 * 150_000 < sum(result.events.values()) < 1.15 * 150_000


def test_too_small_a_firm_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, users=10, days=40)
