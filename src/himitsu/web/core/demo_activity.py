"""The demo company's activity logs (insider-risk analytics, issue 7): six weeks of CERT-style logs of the demo's
own people, ingested and scored through the same services as real logs, so that the analyst page has something
to show after ``make run``.

Everyone works their usual hours on Japanese working days, opens files on their department's share, mails
colleagues and browses; a few have habits that are not suspicious on their own (a late worker, a USB user).
加藤 (kato, leaving in 14 days) stays late on the last three working days, visits job sites, copies the sintering
conditions' folder (register entry DEV-2024-001) to a USB stick and uploads to a personal cloud. Deterministic for
a given day.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from himitsu.insider.enrich import is_working_day

DAYS = 42
SECRET_FOLDER = "\\\\fs01\\開発部\\焼結条件\\L3\\"
SHARES = {"GA": "\\\\fs01\\総務部\\", "DEV": "\\\\fs01\\開発部\\共有\\", "MFG": "\\\\fs01\\製造部\\",
          "SAL": "\\\\fs01\\営業部\\", "QA": "\\\\fs01\\品質保証部\\"}
SITES = ["www.nikkei.com", "www.jisc.go.jp", "www.meti.go.jp", "news.yahoo.co.jp", "www.monotaro.com",
         "www.ipa.go.jp", "weather.tenki.jp", "www.jpo.go.jp"]
LEAVER = "kato"
LATE_WORKER = "sasaki"
USB_USER = "kimura"


def working_days(today: date) -> list[date]:
    """The working days among the ``DAYS`` days before ``today``, oldest first, as the analytics count them
    (weekends, public holidays and 年末年始 off)."""
    return [d for d in (today - timedelta(days=DAYS - i) for i in range(DAYS)) if is_working_day(d)]


class _Writer:
    def __init__(self) -> None:
        self.rows: dict[str, list[str]] = {
            "logon": ["id,date,user,pc,activity"],
            "device": ["id,date,user,pc,file_tree,activity"],
            "file": ["id,date,user,pc,filename,activity,to_removable_media,from_removable_media,content"],
            "email": ["id,date,user,pc,to,cc,bcc,from,activity,size,attachments,content"],
            "http": ["id,date,user,pc,url,activity,content"],
        }
        self.n = 0

    def add(self, kind: str, at: datetime, user: str, pc: str, *rest: str) -> None:
        self.n += 1
        self.rows[kind].append(",".join([f"{{DEMO-{self.n:07d}}}", at.strftime("%m/%d/%Y %H:%M:%S"), user, pc,
                                         *rest]))

    def write(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for kind, rows in self.rows.items():
            head, body = rows[0], sorted(rows[1:], key=lambda r: datetime.strptime(r.split(",")[1],
                                                                                     "%m/%d/%Y %H:%M:%S"))
            path = folder / f"{kind}.csv"
            path.write_text("\n".join([head, *body]) + "\n", encoding="utf-8")
            paths.append(path)
        return paths


def write_logs(users: list[Any], today: date, folder: Path, domain: str) -> list[Path]:
    """The five CERT r6.2 files for the ``DAYS`` days before ``today`` (local time)."""
    rnd = random.Random(today.toordinal())
    out = _Writer()
    people = [u for u in users if u.department_id is not None]
    days = working_days(today)
    for n, day in enumerate(days):
        from_end = len(days) - n  # 1: the last working day before today
        for i, user in enumerate(people):
            name, pc = user.username, f"PC-{1000 + i}"
            leaver_now = name == LEAVER and from_end <= 3
            start = datetime.combine(day, time(8, 30)) + timedelta(minutes=rnd.randint(0, 50))
            end_hour = 21 if name == LATE_WORKER else 18
            end = datetime.combine(day, time(end_hour, 0)) + timedelta(minutes=rnd.randint(0, 60))
            if leaver_now:
                end = datetime.combine(day, time(22, 30)) + timedelta(minutes=rnd.randint(0, 40))
            out.add("logon", start, name, pc, "Logon")
            share = SHARES.get(user.department.code, "\\\\fs01\\共有\\")
            for _ in range(rnd.randint(5, 14)):
                at = start + timedelta(minutes=rnd.randint(5, 480))
                out.add("file", at, name, pc, f"{share}資料{rnd.randint(1, 60):03d}.xlsx", "File Open", "False",
                        "False", "")
            colleagues = [p.username for p in people if p.department_id == user.department_id and p != user]
            for _ in range(rnd.randint(1, 5)):
                at = start + timedelta(minutes=rnd.randint(5, 480))
                to = f"{rnd.choice(colleagues or [name])}@{domain}"
                out.add("email", at, name, pc, to, "", "", f"{name}@{domain}", "Send", str(rnd.randint(2000, 40000)),
                        "", "")
            for _ in range(rnd.randint(3, 12)):
                at = start + timedelta(minutes=rnd.randint(5, 480))
                out.add("http", at, name, pc, f"https://{rnd.choice(SITES)}/", "WWW Visit", "")
            if name == USB_USER and day.weekday() == 2:  # copies inspection sheets every Wednesday
                at = start + timedelta(hours=2)
                out.add("device", at, name, pc, "E:\\", "Connect")
                for k in range(3):
                    out.add("file", at + timedelta(minutes=k + 1), name, pc, f"{share}検査記録{k}.xlsx", "File Copy",
                            "True", "False", "")
                out.add("device", at + timedelta(minutes=10), name, pc, "E:\\", "Disconnect")
            if name == LEAVER and from_end <= 8 and rnd.random() < 0.6:
                out.add("http", start + timedelta(hours=4), name, pc, "https://doda.jp/", "WWW Visit", "")
            if leaver_now:
                night = datetime.combine(day, time(20, 15))
                out.add("device", night, name, pc, "F:\\", "Connect")
                for k in range(rnd.randint(15, 30)):
                    out.add("file", night + timedelta(minutes=1 + k), name, pc,
                            f"{SECRET_FOLDER}条件表_{k:02d}.xlsx", "File Copy", "True", "False", "")
                out.add("device", night + timedelta(minutes=45), name, pc, "F:\\", "Disconnect")
                if from_end <= 2:
                    out.add("http", night + timedelta(minutes=50), name, pc, "https://www.dropbox.com/upload",
                            "WWW Upload", "")
            out.add("logon", end, name, pc, "Logoff")
    return out.write(folder)


def load(users: list[Any], today: date, home: Path, domain: str) -> dict[str, Any]:
    """Write, ingest and score the demo's logs (the day scored: the last working day before ``today``)."""
    from himitsu.errors import HimitsuError
    from himitsu.web.accounts import access
    from himitsu.web.insider import services

    actor = access.system_actor()
    try:
        paths = write_logs(users, today, home / "demo-logs", domain)
        outcomes = services.ingest(paths, "cert", actor, channel="demo")
        failed = [o for o in outcomes if o.error is not None]
        if failed:
            return {"loaded": False, "reason": failed[0].error.code}
        result = services.score(working_days(today)[-1], actor, channel="demo")
    except HimitsuError as exc:
        return {"loaded": False, "reason": exc.code}
    return {"loaded": True, "events": sum(o.report.added for o in outcomes), "day": result.scored.day.isoformat(),
            "alerts": len(result.alerts)}
