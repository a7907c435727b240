"""CERT-style activity logs of a fictional Japanese firm, with planted insider cases (the evaluation of issue 7).

:func:`generate` writes, for 株式会社エグザンプル精機 (mail domain ``example-seiki.co.jp``):

- ``logon.csv``, ``device.csv``, ``file.csv``, ``email.csv``, ``http.csv`` in the CERT r6.2 layout (local time,
  ``MM/DD/YYYY HH:MM:SS``, each file in time order, ids ``{XXXX-XXXXXXXX-XXXXXXXX}`` unique across the files);
- ``people.csv`` (user, name, department, role, supervisor, joined, leaves, email: the columns of
  ``himitsu.insider.enrich.load_people_csv``);
- ``secret_paths.csv`` (prefix, department, entry_id, level: where the register says the secrets are);
- ``answers.json``: the planted cases (user, scenario, first_day, theft_day, leave_day) and the layoff group.

The firm: departments with file shares (``\\\\fs01\\開発部\\設計\\...``, some folders holding registered secrets),
users with personal usual hours (some routinely late), a PC each, the Japanese calendar (weekends, public holidays
from jpholiday, 年末年始 closed, お盆 light). Noise that resembles the planted behaviour: legitimate USB users,
overtime, weekend workers, personal webmail and mail to one's own private address, personal cloud visits and rare
uploads, job-site browsing by a few people who stay, ordinary leavers (about 5 % of the others) some of whom browse
job sites or copy a little more before leaving, administrators logging on to other machines, shared line PCs, the
odd look into another department's secret folder.

The five CERT scenarios (DOMAIN.md §7), ``insiders_per_scenario`` cases each; ``theft_day`` is the first day data
leaves (USB copy, upload, mail to a private address; for scenario 3 the mass mail):

1. after-hours logons, USB copies and an upload to a leak site by someone who never used USB or worked late; leaves;
2. job sites for weeks, then USB copies at a much higher rate than the user's own before leaving;
3. an administrator logs on to the supervisor's machine (USB there), then mails everyone as the supervisor; leaves;
4. logons to a colleague's machine, opening that department's files, mail to a private address, more and more
   often over about three months;
5. a member of a department hit by layoffs (the whole group gets the same leave date) uploads documents to a
   personal cloud.

Background events are drawn with numpy per block of days and written in large chunks: the CERT r4.2 size
(``events_target=30_000_000``) takes a few minutes on one core. The same arguments give the same bytes.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import jpholiday
import numpy as np

from himitsu import catalog

__all__ = ["COLUMNS", "DEPARTMENTS", "HEADERS", "INTERNAL_DOMAIN", "KINDS", "VERSION", "Case", "Generated", "generate"]

VERSION = 3  # changes whenever the same arguments would give other bytes (cached data sets are keyed by it)

KINDS = ("logon", "device", "file", "email", "http")
HEADERS = {
    "logon": "id,date,user,pc,activity",
    "device": "id,date,user,pc,file_tree,activity",
    "file": "id,date,user,pc,filename,activity,to_removable_media,from_removable_media,content",
    "email": "id,date,user,pc,to,cc,bcc,from,activity,size,attachments,content",
    "http": "id,date,user,pc,url,activity,content",
}
COLUMNS = {kind: tuple(header.split(",")[4:]) for kind, header in HEADERS.items()}
INTERNAL_DOMAIN = "example-seiki.co.jp"
DAY = 86400
H = 3600
_ALPHABET = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", dtype=np.uint8)
_ID_SPACE = 36**8


@dataclass(frozen=True)
class _Dept:
    code: str
    name: str
    weight: float
    folders: tuple[str, ...]
    secrets: tuple[tuple[str, str], ...]  # (folder, level): folders the register names as storage locations
    words: tuple[str, ...]


DEPARTMENTS = (
    _Dept("DEV", "開発部", 0.22, ("設計", "設計\\機密", "試験", "仕様書", "仕様書\\次期製品", "議事録"),
          (("設計\\機密", "極秘"), ("仕様書\\次期製品", "秘")), ("図面", "仕様", "試作", "評価", "新製品", "回路")),
    _Dept("MFG", "製造部", 0.24, ("製造条件", "作業手順", "日報", "設備"), (("製造条件", "極秘"),),
          ("工程", "条件", "歩留まり", "設備", "保全", "日報")),
    _Dept("QA", "品質保証部", 0.08, ("検査記録", "不具合報告", "不具合報告\\顧客別", "監査"),
          (("不具合報告\\顧客別", "社外秘"),), ("検査", "不具合", "是正", "監査", "ロット")),
    _Dept("SLS", "営業部", 0.20, ("見積", "見積\\価格表", "提案書", "顧客", "顧客\\顧客名簿"),
          (("顧客\\顧客名簿", "秘"), ("見積\\価格表", "秘")), ("見積", "提案", "顧客", "価格", "商談", "受注")),
    _Dept("GA", "総務部", 0.07, ("規程", "契約書", "施設"), (("契約書", "社外秘"),), ("規程", "契約", "施設", "備品")),
    _Dept("ACC", "経理部", 0.07, ("決算", "請求", "給与"), (("決算", "秘"), ("給与", "極秘")),
          ("決算", "請求", "支払", "予算", "給与")),
    _Dept("HR", "人事部", 0.05, ("採用", "研修", "人事評価"), (("人事評価", "極秘"),),
          ("採用", "研修", "評価", "異動")),
    _Dept("IT", "情報システム部", 0.07, ("手順書", "構成管理", "構成管理\\認証情報"), (("構成管理\\認証情報", "極秘"),),
          ("手順", "構成", "障害", "サーバ", "アカウント")),
)

_SURNAMES = ("佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田", "佐々木",
             "山口", "松本", "井上", "木村", "林", "斎藤", "清水", "山崎", "森", "池田", "橋本", "阿部", "石川")
_GIVEN = ("健", "翔", "大輔", "拓也", "直樹", "陽子", "美咲", "恵", "裕子", "誠", "学", "智子", "真一", "亮", "彩",
          "由美", "浩", "隆", "聡", "舞", "結衣", "蓮", "大樹", "千尋")
_BUSINESS = ("www.nikkei.com", "www.asahi.com", "www.yomiuri.co.jp", "mainichi.jp", "www3.nhk.or.jp",
             "www.jetro.go.jp", "www.meti.go.jp", "www.jisc.go.jp", "www.google.com", "www.bing.com",
             "ja.wikipedia.org", "www.monotaro.com", "www.misumi-ec.com", "www.keyence.co.jp", "www.omron.co.jp",
             "www.mitsubishielectric.co.jp", "www.jma.go.jp", "tenki.jp", "www.jreast.co.jp",
             "www.navitime.co.jp", "www.amazon.co.jp", "www.rakuten.co.jp", "www.itmedia.co.jp",
             "xtech.nikkei.com", "www.sbbit.jp", "www.microsoft.com", "learn.microsoft.com", "www.autodesk.co.jp",
             "www.tokai-buhin.co.jp", "www.kanto-zairyo.co.jp", "www.chubu-kikai.co.jp", "www.nta.go.jp",
             "www.mhlw.go.jp", "www.jpo.go.jp", "www.ipa.go.jp", "www.jpcert.or.jp", "www.japanpost.jp",
             "www.kuronekoyamato.co.jp", "www.smbc.co.jp", "www.mufg.jp", "news.livedoor.com", "www.youtube.com",
             "www.kakaku.com", "www.tabelog.com", "www.hotpepper.jp", "www.excite.co.jp", "www.weblio.jp")
_PARTNERS = ("tokai-buhin.co.jp", "kanto-zairyo.co.jp", "chubu-kikai.co.jp", "nishi-shoji.co.jp",
             "kita-denki.co.jp", "minami-logi.co.jp", "higashi-seiko.co.jp", "sanyo-tsusho.co.jp")
_COMPETITOR = "kyogo-seimitsu.co.jp"
_WORDS = ("会議", "報告", "予定", "確認", "依頼", "資料", "共有", "連絡", "お知らせ", "打合せ", "議事録", "承認",
          "出張", "経費", "納期", "品質", "改善", "計画", "週報", "月次", "案件", "進捗", "見積", "注文", "調整",
          "ニュース", "天気", "技術", "市場", "製品", "展示会", "セミナー", "規格", "部品", "在庫", "物流")
_EXTS = ("xlsx", "docx", "pdf", "pptx", "dwg", "csv", "txt")
_LEAK_URLS = ("https://wikileaks.org/submit", "https://pastebin.com/post", "https://paste.ee/upload",
              "https://justpaste.it/new", "https://rentry.co/new", "https://privatebin.net/")


@dataclass
class Case:
    """One planted insider: the user, the CERT scenario (1-5), the first day of the scenario's activity, the
    first day data leaves (for scenario 3 the mass mail), the leave date; ``detail`` names the other people
    involved (victim, supervisor, layoff department)."""

    user: str
    scenario: int
    first_day: date
    theft_day: date
    leave_day: date | None
    department: str = ""
    detail: dict[str, str] = field(default_factory=dict)


@dataclass
class Generated:
    """What :func:`generate` wrote: the folder, the firm's size, rows per file and the planted cases."""

    out_dir: Path
    users: int
    days: int
    events: dict[str, int]
    insiders: list[Case]
    start: date = date(2025, 4, 1)
    seed: int = 1
    internal_domains: tuple[str, ...] = (INTERNAL_DOMAIN,)
    layoff: dict[str, Any] = field(default_factory=dict)

    @property
    def total_events(self) -> int:
        return sum(self.events.values())


# -- the firm -------------------------------------------------------------------------------------------------


class _Firm:
    """Users, their traits and schedules, the calendar and the vocabularies (everything but the events)."""

    def __init__(self, n: int, start: date, days: int, rng: np.random.Generator) -> None:
        self.n, self.start, self.days, self.rng = n, start, days, rng
        self.dates = [start + timedelta(d) for d in range(days + 2)]
        self._people()
        self._calendar()
        self._traits()
        self._vocab()

    # people
    def _people(self) -> None:
        rng, n = self.rng, self.n
        weights = np.array([d.weight for d in DEPARTMENTS])
        dept = rng.choice(len(DEPARTMENTS), size=n, p=weights / weights.sum())
        dept[: len(DEPARTMENTS)] = np.arange(len(DEPARTMENTS))  # every department has someone
        self.dept = np.sort(dept, kind="stable")
        letters = rng.integers(0, 26, size=(n * 2, 3))
        digits = rng.integers(1000, 10000, size=n * 2)
        ids = list(dict.fromkeys(
            "".join(chr(65 + c) for c in row) + str(num) for row, num in zip(letters, digits, strict=True)))[:n]
        order = rng.permutation(n)
        self.ids = [ids[i] for i in order]
        self.uid = np.array([u.encode() for u in self.ids], dtype="S7")
        pcs = rng.choice(np.arange(1000, 10000), size=n + 40, replace=False)
        self.pc_names = np.array([f"PC-{p}".encode() for p in pcs], dtype="S7")  # users' PCs, then shared ones
        self.shared_pcs = np.arange(n, n + 40)
        self.pc = np.arange(n)
        self.mail = np.array([f"{u.lower()}@{INTERNAL_DOMAIN}".encode() for u in self.ids])
        self.names = [f"{_SURNAMES[rng.integers(len(_SURNAMES))]} {_GIVEN[rng.integers(len(_GIVEN))]}"
                      for _ in range(n)]
        webmail = [d for d in catalog.load("insider_domains.yaml")["categories"]["webmail"]["domains"]
                   if d.count(".") >= 1][:12]
        self.private = np.array([f"{u.lower()}{rng.integers(10, 99)}@{webmail[rng.integers(len(webmail))]}".encode()
                                 for u in self.ids])
        self.role = ["社員"] * n
        self.supervisor = [""] * n
        members = [np.flatnonzero(self.dept == k) for k in range(len(DEPARTMENTS))]
        self.members = members
        self.admins: list[int] = []
        head_of_firm = int(members[DEPARTMENTS.index(next(d for d in DEPARTMENTS if d.code == "GA"))][0])
        for k, m in enumerate(members):
            head, managers = int(m[0]), [int(x) for x in m[1: 1 + max(1, len(m) // 12)]]
            self.role[head] = "部長"
            if head != head_of_firm:
                self.supervisor[head] = self.ids[head_of_firm]
            for x in managers:
                self.role[x], self.supervisor[x] = "課長", self.ids[head]
            for i, x in enumerate(int(v) for v in m[1 + len(managers):]):
                self.supervisor[x] = self.ids[managers[i % len(managers)]] if managers else self.ids[head]
                if DEPARTMENTS[k].code == "IT" and i < max(2, len(m) // 2):
                    self.role[x] = "システム管理者"
                    self.admins.append(x)
        self.role[head_of_firm] = "取締役"
        self.dept_off = np.array([m[0] if len(m) else 0 for m in members])
        self.dept_size = np.array([len(m) for m in members])
        self.joined: list[date] = [self.start - timedelta(int(x)) for x in rng.integers(200, 9000, size=n)]
        for i in rng.choice(n, size=max(1, n // 50), replace=False):  # a few join during the period
            if self.role[i] == "社員":
                self.joined[i] = self.start + timedelta(int(rng.integers(self.days // 4, max(self.days // 4 + 1,
                                                                                           self.days // 2))))
        self.leaves: list[date | None] = [None] * n

    # calendar: day weights and per-user presence
    def _calendar(self) -> None:
        workday = np.zeros(self.days, dtype=bool)
        factor = np.ones(self.days)
        for d in range(self.days):
            day = self.dates[d]
            workday[d] = day.weekday() < 5 and not jpholiday.is_holiday(day)
            if (day.month, day.day) >= (12, 29) or (day.month, day.day) <= (1, 3):
                workday[d], factor[d] = False, 0.2
            elif day.month == 8 and 13 <= day.day <= 16:
                factor[d] = 0.35
        self.workday, self.factor = workday, factor

    def _traits(self) -> None:
        rng, n, days = self.rng, self.n, self.days
        codes = np.array([DEPARTMENTS[k].code for k in self.dept])
        self.rate = rng.lognormal(0.0, 0.45, size=n)
        self.file_rate = rng.lognormal(0.0, 0.6, size=n) * np.where(np.isin(codes, ("DEV", "MFG", "ACC")), 1.4, 0.9)
        self.late = rng.random(n) < 0.08
        self.weekend = rng.random(n) < 0.05
        self.usb = rng.random(n) < np.where(np.isin(codes, ("DEV", "MFG", "QA")), 0.22, 0.07)
        self.usb_p = np.where(self.usb, rng.uniform(0.04, 0.35, size=n), 0.0)
        self.webmail = rng.random(n) < 0.30
        self.cloud = rng.random(n) < 0.15
        self.cloud_up = self.cloud & (rng.random(n) < 0.2)
        self.paste = np.isin(codes, ("DEV", "IT")) & (rng.random(n) < 0.1)  # engineers reading paste sites
        self.start_s = np.clip(rng.normal(8.5 * H, 0.45 * H, size=n), 6.5 * H, 10.5 * H)
        self.end_s = self.start_s + 9 * H + rng.normal(0, 0.5 * H, size=n) + self.late * rng.uniform(1.5, 3.5, n) * H
        # matrices user x day: presence, schedule, chances of job-site browsing and of mail to a private address
        base = np.where(self.workday[None, :], 0.95 * self.factor[None, :],
                        np.where(self.weekend[:, None], 0.15, 0.004) * self.factor[None, :])
        vacation = rng.uniform(0.0, 0.06, size=(n, 1))
        self.present = rng.random((n, days)) < np.clip(base - vacation, 0, 1)
        for i, j in enumerate(self.joined):
            if j > self.start:
                self.present[i, : (j - self.start).days] = False
        s = self.start_s[:, None] + rng.normal(0, 0.2 * H, size=(n, days))
        overtime = rng.random((n, days)) < 0.10
        e = self.end_s[:, None] + rng.normal(0, 0.35 * H, size=(n, days)) + overtime * rng.exponential(1.5 * H,
                                                                                                        (n, days))
        short = ~self.workday[None, :]  # weekend work is short
        e = np.where(short, s + rng.uniform(2, 6, size=(n, days)) * H, e)
        self.s = np.clip(s, 5 * H, 12 * H).astype(np.int64)
        self.e = np.clip(e, self.s + 3 * H, DAY - 300).astype(np.int64)
        job = rng.random(n) < 0.04
        self.p_job = np.zeros((n, days), dtype=np.float32)
        self.p_job[job] = rng.uniform(0.03, 0.12, size=(int(job.sum()), 1))
        pm = self.webmail & (rng.random(n) < 0.35)
        self.p_pm = np.zeros((n, days), dtype=np.float32)
        self.p_pm[pm] = rng.uniform(0.01, 0.05, size=(int(pm.sum()), 1))
        self.p_usb = np.repeat(self.usb_p[:, None], days, axis=1).astype(np.float32)
        self.usb_n = np.ones((n, days), dtype=np.float32) * 2.0  # mean files copied to removable media per session

    def leave(self, user: int, day: int) -> None:
        """The user's leave date is day ``day`` (index); no activity after it."""
        self.leaves[user] = self.start + timedelta(day)
        if day + 1 < self.days:
            self.present[user, day + 1:] = False

    # vocabularies
    def _vocab(self) -> None:
        rng = self.rng
        paths: list[str] = []
        content: list[str] = []
        self.lo, self.mid, self.hi = [], [], []
        self.secret_rows: list[tuple[str, str, str, str]] = []
        entry = 0
        for dp in DEPARTMENTS:
            secret = dict(dp.secrets)
            self.lo.append(len(paths))
            for sec in (False, True):
                if sec:
                    self.mid.append(len(paths))
                for folder in dp.folders:
                    if (folder in secret) != sec:
                        continue
                    if sec:
                        entry += 1
                        self.secret_rows.append((f"\\\\fs01\\{dp.name}\\{folder}", dp.name, f"TS-{entry:04d}",
                                                 secret[folder]))
                    for i in range(30 if sec else 45):
                        words = rng.choice(len(dp.words), size=2, replace=False)
                        ext = _EXTS[rng.integers(len(_EXTS))]
                        paths.append(f"\\\\fs01\\{dp.name}\\{folder}\\{dp.words[words[0]]}_{i:03d}.{ext}")
                        content.append(f"{dp.words[words[0]]} {dp.words[words[1]]} {_WORDS[rng.integers(36)]}")
            self.hi.append(len(paths))
        self.common_lo = len(paths)
        for folder in ("全社\\お知らせ", "全社\\様式", "全社\\規程集", "共有\\一時"):
            for i in range(40):
                paths.append(f"\\\\fs01\\共通\\{folder}\\{_WORDS[rng.integers(36)]}_{i:03d}.{_EXTS[i % 4]}")
                content.append(" ".join(_WORDS[j] for j in rng.choice(36, size=3, replace=False)))
        self.common_hi = len(paths)
        self.paths = np.array([p.encode() for p in paths])
        self.path_content = np.array([c.encode() for c in content])
        self.lo_a, self.mid_a, self.hi_a = np.array(self.lo), np.array(self.mid), np.array(self.hi)
        self.local_names = np.array([f"\\Documents\\{_WORDS[rng.integers(36)]}_{i:03d}.{_EXTS[i % 7]}".encode()
                                     for i in range(200)])
        urls, ucontent = [], []
        for host in _BUSINESS:
            for i in range(40):
                urls.append(f"https://{host}/{_WORDS[rng.integers(36)].encode().hex()[:6]}/{i * 37 + 11}.html")
                ucontent.append(" ".join(_WORDS[j] for j in rng.choice(36, size=3, replace=False)))
        for i in range(60):
            urls.append(f"https://intra.{INTERNAL_DOMAIN}/portal/{i}")
            ucontent.append("社内 ポータル " + _WORDS[i % 36])
        self.urls = np.array([u.encode() for u in urls])
        self.url_content = np.array([c.encode() for c in ucontent])
        ranks = np.arange(1, len(urls) + 1, dtype=float)
        weights = 1 / ranks**0.9
        self.url_cdf = np.cumsum(weights[rng.permutation(len(urls))] / weights.sum())
        cats = catalog.load("insider_domains.yaml")["categories"]

        def site_urls(cat: str, paths_: tuple[str, ...]) -> np.ndarray:
            return np.array([f"https://{'www.' if i % 2 else ''}{d}/{p}".encode()
                             for i, d in enumerate(cats[cat]["domains"]) for p in paths_])

        self.webmail_urls = site_urls("webmail", ("mail/inbox", "mail/compose"))
        self.cloud_urls = site_urls("personal_cloud", ("home", "files"))
        self.cloud_upload_urls = site_urls("personal_cloud", ("upload",))
        self.job_urls = site_urls("job_site", ("search", "jobs/detail", "mypage"))
        self.paste_urls = site_urls("leak_site", ("raw/a8Kd2", "view/x91"))[2:12]
        self.partner_mail = np.array([f"{s}@{p}".encode() for p in _PARTNERS for s in ("tanaka", "eigyo", "info",
                                                                                      "suzuki", "sales")])
        self.trees = np.array([b"R:\\", b"R:\\;R:\\\xe8\xb3\x87\xe6\x96\x99", b"R:\\;R:\\backup;R:\\photo",
                               b"E:\\;E:\\work"])


# -- planted cases ----------------------------------------------------------------------------------------------


class _Planted:
    """Rows added to the background: per kind a list of (ts, {column: value})."""

    def __init__(self, firm: _Firm, rng: np.random.Generator) -> None:
        self.firm, self.rng = firm, rng
        self.rows: dict[str, list[tuple[int, dict[str, str]]]] = {k: [] for k in KINDS}

    def add(self, kind: str, ts: float, user: int, pc: int, **cols: str) -> None:
        f = self.firm
        self.rows[kind].append((int(ts), {"user": f.ids[user], "pc": f.pc_names[pc].decode(), **cols}))

    def session(self, user: int, pc: int, t0: float, t1: float) -> None:
        self.add("logon", t0, user, pc, activity="Logon")
        self.add("logon", t1, user, pc, activity="Logoff")

    def usb(self, user: int, pc: int, t0: float, t1: float, files: list[int]) -> None:
        f = self.firm
        self.add("device", t0, user, pc, file_tree=f.trees[self.rng.integers(len(f.trees))].decode(),
                 activity="Connect")
        times = np.sort(self.rng.uniform(t0 + 20, t1 - 20, size=len(files)))
        for t, p in zip(times, files, strict=True):
            self.add("file", t, user, pc, filename=f.paths[p].decode(), activity="File Copy",
                     to_removable_media="True", from_removable_media="False", content=f.path_content[p].decode())
        self.add("device", t1, user, pc, file_tree="", activity="Disconnect")

    def http(self, ts: float, user: int, pc: int, url: str, activity: str, content: str) -> None:
        self.add("http", ts, user, pc, url=url, activity=activity, content=content)

    def mail(self, ts: float, user: int, pc: int, to: str, sender: str, files: list[int], content: str,
             cc: str = "") -> None:
        f = self.firm
        sizes = self.rng.integers(30_000, 3_000_000, size=len(files))
        att = ";".join(f"{f.paths[p].decode()}({s})" for p, s in zip(files, sizes, strict=True))
        self.add("email", ts, user, pc, to=to, cc=cc, bcc="", **{"from": sender}, activity="Send",
                 size=str(int(sizes.sum()) + int(self.rng.integers(2000, 40000))), attachments=att, content=content)

    def files(self, dept: int, k: int, secret_share: float = 0.6) -> list[int]:
        f, rng = self.firm, self.rng
        out = []
        for _ in range(k):
            if rng.random() < secret_share and f.hi[dept] > f.mid[dept]:
                out.append(int(rng.integers(f.mid[dept], f.hi[dept])))
            else:
                out.append(int(rng.integers(f.lo[dept], f.hi[dept])))
        return out

    def present_days(self, user: int, a: int, b: int) -> list[int]:
        return [d for d in range(max(a, 0), min(b, self.firm.days - 1) + 1) if self.firm.present[user, d]]


def _pick(rng: np.random.Generator, pool: list[int], used: set[int]) -> int | None:
    free = [u for u in pool if u not in used]
    if not free:
        return None
    u = int(free[int(rng.integers(len(free)))])
    used.add(u)
    return u


def _day(rng: np.random.Generator, a: int, b: int) -> int:
    """A day index in [a, b) (b - 1 when the range is empty: short periods)."""
    return int(rng.integers(a, b)) if b > a else b - 1


def _plant(firm: _Firm, per: int, rng: np.random.Generator) -> tuple[list[Case], _Planted, dict[str, Any]]:
    """Choose the insiders, the layoff group and the ordinary leavers; write their planted rows."""
    p = _Planted(firm, rng)
    days, n = firm.days, firm.n
    used: set[int] = set()
    heads = {i for i in range(n) if firm.role[i] in ("部長", "取締役")}
    used |= heads
    late_joiners = {i for i in range(n) if firm.joined[i] > firm.start}
    used |= late_joiners
    cases: list[Case] = []
    lo = max(10, days // 4)  # the first quarter is left as everybody's baseline
    layoff = _layoff(firm, p, per, lo, used, cases)
    ordinary = [i for i in range(n) if not firm.usb[i] and not firm.late[i] and not firm.weekend[i]
                and firm.role[i] != "システム管理者"]
    for _ in range(per):
        u = _pick(rng, ordinary, used)
        if u is not None:
            cases.append(_scenario1(p, u, _day(rng, max(lo + 16, days // 2), days - 2)))
    workers = [i for i in range(n) if firm.role[i] in ("社員", "課長")]
    for _ in range(per):
        u = _pick(rng, workers, used)
        if u is not None:
            cases.append(_scenario2(p, u, _day(rng, max(lo + 20, days // 2), days - 2)))
    for _ in range(per):  # administrators, each with another supervisor when the department allows
        taken = {firm.supervisor[firm.ids.index(c.user)] for c in cases if c.scenario == 3}
        admins = [a for a in firm.admins if firm.supervisor[a] not in taken] or list(firm.admins)
        u = _pick(rng, admins, used)
        if u is not None:
            cases.append(_scenario3(p, u, _day(rng, max(lo + 8, days // 2), days - 3)))
    for _ in range(per):
        u = _pick(rng, workers, used)
        if u is not None:
            cases.append(_scenario4(p, u, _day(rng, lo, days // 3), used))
    _ordinary_leavers(firm, rng, used)
    cases.sort(key=lambda c: (c.scenario, c.theft_day, c.user))
    return cases, p, layoff


def _scenario1(p: _Planted, u: int, leave: int) -> Case:
    """Nights at the office: the first ones only browsing the shares, then USB copies; an upload to a leak
    site on one of the last nights. The theft day is the (local) date of the first copy to USB."""
    f, rng = p.firm, p.rng
    f.leave(u, leave)
    first = max(leave - int(rng.integers(14, 28)), 2)
    nights = sorted(rng.choice(np.arange(first, leave), size=min(leave - first, int(rng.integers(3, 7))),
                               replace=False).tolist())
    copying = nights[min(int(rng.integers(1, 3)), len(nights) - 1):]
    upload = copying[-2] if len(copying) > 1 else copying[-1]
    dept = int(f.dept[u])
    stolen = None
    for d in nights:
        t0 = d * DAY + rng.uniform(21.0, 23.5) * H
        t1 = t0 + rng.uniform(0.6, 1.5) * H
        p.session(u, u, t0, t1)
        for t in np.sort(rng.uniform(t0 + 60, t1 - 60, size=int(rng.integers(2, 8)))):
            path = p.files(dept, 1)[0]
            p.add("file", t, u, u, filename=f.paths[path].decode(), activity="File Open",
                  to_removable_media="False", from_removable_media="False", content=f.path_content[path].decode())
        if d in copying:
            p.usb(u, u, t0 + 600, t1 - 900, p.files(dept, int(rng.integers(4, 15))))
            stolen = stolen if stolen is not None else int((t0 + 600) // DAY)
        if d == upload:
            url = _LEAK_URLS[int(rng.integers(len(_LEAK_URLS)))]
            p.http(t1 - 600, u, u, url.rsplit("/", 1)[0] + "/", "WWW Visit", "投稿 匿名")
            for k in range(int(rng.integers(1, 4))):
                p.http(t1 - 500 + 60 * k, u, u, url, "WWW Upload", "資料 内部 告発")
    theft = stolen if stolen is not None else first
    return Case(f.ids[u], 1, f.dates[first], f.dates[theft], f.dates[leave], DEPARTMENTS[dept].name)


def _scenario2(p: _Planted, u: int, leave: int) -> Case:
    f, rng = p.firm, p.rng
    f.leave(u, leave)
    dept = int(f.dept[u])
    f.usb[u] = True
    f.p_usb[u, :] = rng.uniform(0.05, 0.15)
    first = max(2, leave - int(rng.integers(40, 60)))
    span = max(1, leave - first)
    for d in range(first, leave + 1):  # job sites: more and more often
        f.p_job[u, d] = 0.15 + 0.55 * (d - first) / span
    theft = leave - int(rng.integers(6, 13))
    theft = max(theft, first + 1)
    while theft < leave and not f.present[u, theft]:
        theft += 1
    # a message to a competitor's recruiter on the way
    mid = (first + theft) // 2
    if f.present[u, mid]:
        p.mail(mid * DAY + f.e[u, mid] - 1200, u, u, f"saiyo@{_COMPETITOR}", f.mail[u].decode(), [],
               "面談 日程 ご相談")
    for d in range(theft, leave + 1):
        if d == theft or (f.present[u, d] and rng.random() < 0.6):
            f.present[u, d] = True
            f.p_usb[u, d] = 0.0
            t0 = d * DAY + rng.uniform(f.s[u, d] + H, f.e[u, d] - 1.5 * H)
            p.usb(u, u, t0, t0 + rng.uniform(0.4, 1.2) * H, p.files(dept, int(rng.integers(12, 40)), 0.5))
    return Case(f.ids[u], 2, f.dates[first], f.dates[theft], f.dates[leave], DEPARTMENTS[dept].name)


def _scenario3(p: _Planted, u: int, theft: int) -> Case:
    f, rng = p.firm, p.rng
    while theft > 2 and not f.workday[theft]:
        theft -= 1
    sup = f.ids.index(f.supervisor[u])
    leave = min(theft + int(rng.integers(1, 3)), f.days - 1)
    f.leave(u, leave)
    first = max(1, theft - int(rng.integers(4, 10)))
    f.present[u, first] = f.present[u, theft] = True
    p.http(first * DAY + f.s[u, first] + 2 * H, u, u, "https://free-keylogger.example.net/download/setup.exe",
           "WWW Download", "keylogger 無料 ダウンロード")
    plant = first + 1
    t0 = plant * DAY + rng.uniform(19.0, 20.5) * H
    p.session(u, sup, t0, t0 + 900)
    p.usb(u, sup, t0 + 120, t0 + 700, [])
    t = theft * DAY + f.s[u, theft] + rng.uniform(0.5, 2.0) * H
    p.session(sup, u, t - 120, t + 600)
    everyone = ";".join(f.mail[i].decode() for i in rng.choice(f.n, size=min(f.n, 150), replace=False))
    p.add("email", t, sup, u, to=everyone, cc="", bcc="", **{"from": f.mail[sup].decode()}, activity="Send",
          size=str(int(rng.integers(5000, 20000))), attachments="", content="緊急 全社 重要 お知らせ")
    return Case(f.ids[u], 3, f.dates[first], f.dates[theft], f.dates[leave], DEPARTMENTS[int(f.dept[u])].name,
                {"supervisor": f.ids[sup]})


def _scenario4(p: _Planted, u: int, first: int, used: set[int]) -> Case:
    f, rng = p.firm, p.rng
    rich = [k for k, d in enumerate(DEPARTMENTS) if d.code in ("DEV", "MFG", "SLS", "ACC") and k != f.dept[u]]
    victims = [int(v) for k in rich for v in f.members[k] if int(v) not in used and f.joined[int(v)] <= f.start]
    v = victims[int(rng.integers(len(victims)))]
    used.add(v)
    span = min(90, f.days - 5 - first)
    end = first + span
    occasions = []
    for d in range(first, end + 1):
        chance = 0.06 + 0.34 * (d - first) / max(span, 1)
        if f.present[u, d] and f.present[v, d] and f.workday[d] and rng.random() < chance:
            occasions.append(d)
    if len(occasions) < 3:
        occasions = sorted({*occasions, *p.present_days(u, first, end)[-3:]})
    occasions = [d for d in occasions if d >= first] or [first]
    theft = occasions[min(1, len(occasions) - 1)]
    first = occasions[0]
    vdept = int(f.dept[v])
    for d in occasions:
        f.present[u, d] = True
        lunch = rng.random() < 0.6
        t0 = d * DAY + (rng.uniform(12.0, 12.3) * H if lunch else f.e[v, d] + rng.uniform(0.2, 1.0) * H)
        t0 = min(t0, d * DAY + DAY - 2 * H)
        t1 = t0 + rng.uniform(0.25, 0.6) * H
        p.session(u, v, t0, t1)
        opened = p.files(vdept, int(rng.integers(3, 12)), 0.7)
        for t, path in zip(np.sort(rng.uniform(t0 + 60, t1 - 120, len(opened))), opened, strict=True):
            p.add("file", t, u, v, filename=f.paths[path].decode(), activity="File Open",
                  to_removable_media="False", from_removable_media="False", content=f.path_content[path].decode())
        if d >= theft:
            p.mail(t1 - 60, u, v, f.private[u].decode(), f.mail[u].decode(),
                   opened[: int(rng.integers(1, min(4, len(opened)) + 1))], "資料 送付")
    leave = occasions[-1] + int(rng.integers(7, 21))
    if leave < f.days:
        f.leave(u, leave)
    else:
        f.leaves[u] = f.start + timedelta(leave)
    return Case(f.ids[u], 4, f.dates[first], f.dates[theft], f.start + timedelta(leave),
                DEPARTMENTS[int(f.dept[u])].name, {"victim": f.ids[v]})


def _layoff(firm: _Firm, p: _Planted, per: int, lo: int, used: set[int], cases: list[Case]) -> dict[str, Any]:
    """Scenario 5: a group of 製造部 or 営業部 gets one leave date; ``per`` of them upload documents to a
    personal cloud after the announcement, several others browse job sites and a few upload a file or two of
    their own to a personal cloud."""
    rng, days = firm.rng, firm.days
    code = "MFG" if rng.random() < 0.5 else "SLS"
    k = next(i for i, d in enumerate(DEPARTMENTS) if d.code == code)
    pool = [int(v) for v in firm.members[k] if int(v) not in used and firm.role[int(v)] == "社員"]
    size = min(len(pool), max(per + 3, len(firm.members[k]) // 6))
    group = [int(x) for x in rng.choice(pool, size=size, replace=False)]
    earliest = max(lo + 20, int(days * 0.6))
    leave = _day(rng, earliest, days - 2)
    announce = max(lo, leave - int(rng.integers(30, 45)))
    for i, u in enumerate(group):
        used.add(u)
        firm.leave(u, leave)
        if i >= per and rng.random() < 0.6:
            firm.p_job[u, announce:leave + 1] = rng.uniform(0.1, 0.4)
        if i >= per and rng.random() < 0.3:  # taking their own things (photos, address book) to a personal cloud
            days_ = p.present_days(u, announce, leave)
            for d in sorted(rng.choice(days_, size=min(len(days_), int(rng.integers(1, 3))), replace=False)):
                d = int(d)
                target = firm.cloud_upload_urls[rng.integers(len(firm.cloud_upload_urls))].decode()
                t = d * DAY + rng.uniform(firm.s[u, d] + H, max(firm.s[u, d] + H + 1, firm.e[u, d] - H))
                for j in range(int(rng.integers(1, 4))):
                    p.http(t + 50 * j, u, u, target, "WWW Upload", "写真 個人 連絡先")
    for u in group[:per]:
        start = min(announce + int(rng.integers(1, 8)), leave - 2)
        ups = [d for d in p.present_days(u, start, leave) if rng.random() < 0.5] or p.present_days(u, start, leave)
        ups = ups or [start]
        theft = ups[0]
        visits = [d for d in p.present_days(u, announce, theft) if rng.random() < 0.4 or d == theft]
        first = min([*visits, theft])
        for d in visits:  # logging in to the personal cloud at work, before the first upload
            site = firm.cloud_urls[rng.integers(len(firm.cloud_urls))].decode()
            p.http(d * DAY + rng.uniform(firm.s[u, d], firm.e[u, d]), u, u, site, "WWW Visit", "ログイン")
        for d in ups:
            firm.present[u, d] = True
            base = d * DAY + rng.uniform(firm.s[u, d] + H, max(firm.s[u, d] + H + 1, firm.e[u, d] - H))
            target = firm.cloud_upload_urls[rng.integers(len(firm.cloud_upload_urls))].decode()
            for j, path in enumerate(p.files(k, int(rng.integers(3, 11)), 0.5)):
                p.http(base + 40 * j, u, u, target, "WWW Upload", firm.path_content[path].decode())
        cases.append(Case(firm.ids[u], 5, firm.dates[first], firm.dates[theft], firm.dates[leave],
                          DEPARTMENTS[k].name, {"layoff": DEPARTMENTS[k].name}))
    return {"department": DEPARTMENTS[k].name, "announced": firm.dates[announce].isoformat(),
            "leave_day": firm.dates[leave].isoformat(), "users": sorted(firm.ids[u] for u in group)}


def _ordinary_leavers(firm: _Firm, rng: np.random.Generator, used: set[int]) -> None:
    """About 5 % of the other people leave in the period (or just after it), without stealing; some browse job
    sites beforehand, some copy a little more to USB or mail themselves a few things in the last weeks."""
    pool = [i for i in range(firm.n) if i not in used and firm.role[i] != "取締役"]
    count = max(1, round(0.05 * len(pool)))
    for u in (int(x) for x in rng.choice(pool, size=min(count, len(pool)), replace=False)):
        leave = int(rng.integers(firm.days // 5, firm.days + 30))
        if leave < firm.days:
            firm.leave(u, leave)
        else:
            firm.leaves[u] = firm.start + timedelta(leave)
        a = max(0, leave - int(rng.integers(20, 60)))
        b = min(leave + 1, firm.days)
        if a >= b:
            continue
        if rng.random() < 0.45:
            firm.p_job[u, a:b] = np.maximum(firm.p_job[u, a:b], rng.uniform(0.05, 0.3))
        if firm.usb[u] and rng.random() < 0.5:
            firm.p_usb[u, max(a, b - 10):b] *= 2
            firm.usb_n[u, max(a, b - 10):b] = 4.0
        if rng.random() < 0.3:
            firm.p_pm[u, max(a, b - 15):b] = np.maximum(firm.p_pm[u, max(a, b - 15):b], 0.1)


# -- background events ----------------------------------------------------------------------------------------


def _choose(rng: np.random.Generator, arr: np.ndarray, n: int) -> np.ndarray:
    return arr[rng.integers(0, len(arr), size=n)]


class _Background:
    """Draws one block of days of ordinary activity as columns (numpy byte-string arrays)."""

    def __init__(self, firm: _Firm, scale: float) -> None:
        self.f, self.scale = firm, scale

    def block(self, d0: int, d1: int, rng: np.random.Generator) -> dict[str, dict[str, np.ndarray]]:
        f = self.f
        u, d = np.nonzero(f.present[:, d0:d1])
        d = d + d0
        order = np.lexsort((u, d))
        u, d = u[order], d[order]
        s, e = f.s[u, d], f.e[u, d]
        base = d.astype(np.int64) * DAY
        out = {
            "logon": self._logon(rng, u, d, s, e, base),
            "http": self._http(rng, u, d, s, e, base),
            "email": self._email(rng, u, d, s, e, base),
        }
        out["file"], out["device"] = self._file_device(rng, u, d, s, e, base)
        return out

    def _times(self, rng: np.random.Generator, counts: np.ndarray, s: np.ndarray, e: np.ndarray,
               base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = np.repeat(np.arange(len(counts)), counts)
        ts = base[idx] + s[idx] + (rng.random(len(idx)) * (e[idx] - s[idx])).astype(np.int64)
        return idx, ts

    def _logon(
            self, rng: np.random.Generator, u: np.ndarray, d: np.ndarray, s: np.ndarray, e: np.ndarray, base: np.ndarray
    ) -> dict[str, np.ndarray]:
        f = self.f
        n = len(u)
        users, pcs, ts, act = [u, u], [f.pc[u], f.pc[u]], [base + s, base + e], [np.zeros(n, bool), np.ones(n, bool)]
        lunch = rng.random(n) < 0.3
        lu = np.flatnonzero(lunch)
        t = base[lu] + 12 * H + rng.integers(0, 900, len(lu))
        users += [u[lu], u[lu]]
        pcs += [f.pc[u[lu]], f.pc[u[lu]]]
        ts += [t, t + rng.integers(1800, 3600, len(lu))]
        act += [np.ones(len(lu), bool), np.zeros(len(lu), bool)]
        admin = np.isin(u, f.admins)
        k = np.where(admin, rng.poisson(1.5, n), 0) + np.where(
            f.dept[u] == DEPARTMENTS.index(next(x for x in DEPARTMENTS if x.code == "MFG")),
            (rng.random(n) < 0.15).astype(int), 0)
        idx, t = self._times(rng, k, s, np.maximum(e - 1800, s + 1), base)
        other = np.where(np.isin(u[idx], f.admins), rng.integers(0, f.n, len(idx)),
                         _choose(rng, f.shared_pcs, len(idx)))
        users += [u[idx], u[idx]]
        pcs += [other, other]
        ts += [t, t + rng.integers(120, 1800, len(idx))]
        act += [np.zeros(len(idx), bool), np.ones(len(idx), bool)]
        a = np.concatenate(act)
        return {"ts": np.concatenate(ts), "user": f.uid[np.concatenate(users)],
                "pc": f.pc_names[np.concatenate(pcs)],
                "activity": np.where(a, b"Logoff", b"Logon")}

    def _http(
            self, rng: np.random.Generator, u: np.ndarray, d: np.ndarray, s: np.ndarray, e: np.ndarray, base: np.ndarray
    ) -> dict[str, np.ndarray]:
        f = self.f
        span = (e - s) / (9 * H)
        lam = 26.0 * self.scale * f.rate[u] * span * f.factor[d]
        idx, ts = self._times(rng, rng.poisson(lam), s, e, base)
        url = np.searchsorted(f.url_cdf, rng.random(len(idx)) * f.url_cdf[-1])
        url = np.minimum(url, len(f.urls) - 1)
        r = rng.random(len(idx))
        act = np.where(r < 0.04, b"WWW Download", np.where(r < 0.045, b"WWW Upload", b"WWW Visit"))
        cols = {"ts": ts, "user": f.uid[u[idx]], "pc": f.pc_names[f.pc[u[idx]]], "url": f.urls[url],
                "activity": act, "content": f.url_content[url]}
        extra = [cols]
        # private sites: webmail, personal cloud (rare uploads), job sites
        for mask, urls, mean, activity in (
            (f.webmail[u] & (rng.random(len(u)) < 0.3), f.webmail_urls, 2.0, b"WWW Visit"),
            (f.cloud[u] & (rng.random(len(u)) < 0.12), f.cloud_urls, 2.0, b"WWW Visit"),
            (f.cloud_up[u] & (rng.random(len(u)) < 0.03), f.cloud_upload_urls, 1.5, b"WWW Upload"),
            (rng.random(len(u)) < f.p_job[u, d], f.job_urls, 3.0, b"WWW Visit"),
            (f.paste[u] & (rng.random(len(u)) < 0.05), f.paste_urls, 1.0, b"WWW Visit"),
        ):
            k = np.where(mask, 1 + rng.poisson(mean - 1, len(u)), 0)
            j, t = self._times(rng, k, s, e, base)
            extra.append({"ts": t, "user": f.uid[u[j]], "pc": f.pc_names[f.pc[u[j]]], "url": _choose(rng, urls, len(j)),
                          "activity": np.full(len(j), activity), "content": _choose(rng, f.url_content, len(j))})
        return _concat(extra)

    def _email(
            self, rng: np.random.Generator, u: np.ndarray, d: np.ndarray, s: np.ndarray, e: np.ndarray, base: np.ndarray
    ) -> dict[str, np.ndarray]:
        f = self.f
        lam = self.scale * f.rate[u] * f.factor[d]
        parts = []
        for mean, view in ((3.0, False), (6.0, True)):
            idx, ts = self._times(rng, rng.poisson(lam * mean), s, e, base)
            parts.append(self._mails(rng, u[idx], ts, view))
        pm = rng.random(len(u)) < f.p_pm[u, d]
        idx, ts = self._times(rng, pm.astype(int), s, e, base)
        m = self._mails(rng, u[idx], ts, False)
        m["to"] = f.private[u[idx]]
        m["cc"] = np.full(len(idx), b"")
        with_att = rng.random(len(idx)) < 0.3
        local = np.strings.add(np.strings.add(b"C:\\Users\\", f.uid[u[idx]]), _choose(rng, f.local_names, len(idx)))
        m["attachments"] = np.where(with_att, np.strings.add(local, b"(48213)"), b"")
        parts.append(m)
        return _concat(parts)

    def _mails(self, rng: np.random.Generator, u: np.ndarray, ts: np.ndarray, view: bool) -> dict[str, np.ndarray]:
        f = self.f
        n = len(u)
        k = f.dept[u]

        def colleague() -> np.ndarray:
            same = f.dept_off[k] + (rng.random(n) * f.dept_size[k]).astype(np.int64)
            anyone = rng.integers(0, f.n, n)
            return np.where(rng.random(n) < 0.75, same, anyone)

        partner = rng.random(n) < 0.12
        first = np.where(partner, _choose(rng, f.partner_mail, n), f.mail[colleague()])
        count = rng.choice(3, size=n, p=(0.6, 0.3, 0.1))
        to = first
        for extra in (1, 2):
            to = np.where(count >= extra, np.strings.add(np.strings.add(to, b";"), f.mail[colleague()]), to)
        cc = np.where(rng.random(n) < 0.25, f.mail[colleague()], b"")
        bcc = np.where(rng.random(n) < 0.03, f.mail[colleague()], b"")
        size = rng.lognormal(9.5, 0.8, n).astype(np.int64)
        att_n = np.where(rng.random(n) < 0.2, 1 + (rng.random(n) < 0.3), 0)
        own = f.lo_a[k] + (rng.random(n) * (f.hi_a[k] - f.lo_a[k])).astype(np.int64)
        asize = rng.lognormal(11.5, 1.0, n).astype(np.int64)
        att = np.strings.add(np.strings.add(f.paths[own], b"("), np.strings.add(asize.astype("S12"), b")"))
        att = np.where(att_n > 0, att, b"")
        size = size + np.where(att_n > 0, asize, 0)
        content = np.strings.add(np.strings.add(_choose(rng, _WORD_B, n), b" "), _choose(rng, _WORD_B, n))
        me = f.mail[u]
        if view:
            return {"ts": ts, "user": f.uid[u], "pc": f.pc_names[f.pc[u]], "to": me, "cc": np.full(n, b""),
                    "bcc": np.full(n, b""), "from": first.astype(f"S{max(first.dtype.itemsize, 1)}"),
                    "activity": np.full(n, b"View"), "size": size.astype("S12"), "attachments": att,
                    "content": content}
        return {"ts": ts, "user": f.uid[u], "pc": f.pc_names[f.pc[u]], "to": to, "cc": cc, "bcc": bcc, "from": me,
                "activity": np.full(n, b"Send"), "size": size.astype("S12"), "attachments": att, "content": content}

    def _file_device(
            self, rng: np.random.Generator, u: np.ndarray, d: np.ndarray, s: np.ndarray, e: np.ndarray, base: np.ndarray
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        f = self.f
        n = len(u)
        lam = 6.0 * self.scale * f.file_rate[u] * f.factor[d]
        idx, ts = self._times(rng, rng.poisson(lam), s, e, base)
        m = len(idx)
        k = f.dept[u[idx]]
        r = rng.random(m)
        own = f.lo_a[k] + (rng.random(m) * (f.hi_a[k] - f.lo_a[k])).astype(np.int64)
        o = (k + rng.integers(1, len(DEPARTMENTS), m)) % len(DEPARTMENTS)
        other = f.lo_a[o] + (rng.random(m) * (f.mid_a[o] - f.lo_a[o])).astype(np.int64)
        other_secret = f.mid_a[o] + (rng.random(m) * (f.hi_a[o] - f.mid_a[o])).astype(np.int64)
        common = rng.integers(f.common_lo, f.common_hi, m)
        path_i = np.where(r < 0.68, own, np.where(r < 0.84, common, np.where(r < 0.975, -1, np.where(
            r < 0.997, other, other_secret))))
        local = path_i < 0
        path_i = np.where(local, 0, path_i)
        local_names = np.strings.add(np.strings.add(b"C:\\Users\\", f.uid[u[idx]]), _choose(rng, f.local_names, m))
        filename = np.where(local, local_names, f.paths[path_i])
        content = np.where(local, _choose(rng, f.path_content, m), f.path_content[path_i])
        a = rng.random(m)
        act = np.where(a < 0.55, b"File Open", np.where(a < 0.8, b"File Write", np.where(a < 0.93, b"File Copy",
                                                                                           b"File Delete")))
        files = [{"ts": ts, "user": f.uid[u[idx]], "pc": f.pc_names[f.pc[u[idx]]], "filename": filename,
                  "activity": act, "to_removable_media": np.full(m, b"False"),
                  "from_removable_media": np.full(m, b"False"), "content": content}]
        # USB sessions of the people who use USB drives
        usb = rng.random(n) < f.p_usb[u, d]
        j = np.flatnonzero(usb)
        t0 = base[j] + s[j] + (rng.random(len(j)) * np.maximum(e[j] - s[j] - 3600, 1)).astype(np.int64)
        t1 = t0 + rng.integers(300, 2700, len(j))
        tree = _choose(rng, f.trees, len(j))
        dev = {"ts": np.concatenate([t0, t1]), "user": f.uid[np.concatenate([u[j], u[j]])],
               "pc": f.pc_names[f.pc[np.concatenate([u[j], u[j]])]],
               "file_tree": np.concatenate([tree, np.full(len(j), b"")]),
               "activity": np.concatenate([np.full(len(j), b"Connect"), np.full(len(j), b"Disconnect")])}
        for direction in ("to", "from"):
            mean = f.usb_n[u[j], d[j]] if direction == "to" else np.full(len(j), 0.6)
            c = rng.poisson(mean)
            jj = np.repeat(np.arange(len(j)), c)
            t = t0[jj] + (rng.random(len(jj)) * (t1[jj] - t0[jj])).astype(np.int64)
            uj = u[j][jj]
            k2 = f.dept[uj]
            own2 = f.lo_a[k2] + (rng.random(len(jj)) * (f.hi_a[k2] - f.lo_a[k2])).astype(np.int64)
            name = f.paths[own2] if direction == "to" else np.strings.add(b"R:", _choose(rng, f.local_names,
                                                                                             len(jj)))
            files.append({"ts": t, "user": f.uid[uj], "pc": f.pc_names[f.pc[uj]], "filename": name,
                          "activity": np.full(len(jj), b"File Copy" if direction == "to" else b"File Open"),
                          "to_removable_media": np.full(len(jj), b"True" if direction == "to" else b"False"),
                          "from_removable_media": np.full(len(jj), b"False" if direction == "to" else b"True"),
                          "content": f.path_content[own2]})
        return _concat(files), dev


_WORD_B = np.array([w.encode() for w in _WORDS])


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


# -- writing --------------------------------------------------------------------------------------------------


class _Writer:
    """The five CSV files, written block by block; ids unique across the files."""

    def __init__(self, out: Path, firm: _Firm, seed: int) -> None:
        self.handles = {k: (out / f"{k}.csv").open("wb") for k in KINDS}
        for k, h in self.handles.items():
            h.write(HEADERS[k].encode() + b"\n")
        self.count = dict.fromkeys(KINDS, 0)
        day_strings = [f"{x.month:02d}/{x.day:02d}/{x.year:04d} ".encode() for x in firm.dates]
        self.day_matrix = np.frombuffer(b"".join(day_strings), dtype=np.uint8).reshape(len(day_strings), 11)
        self.id_rng = np.random.default_rng([seed, 99])
        self.mult, self.add = 9_765_625_001, int(np.random.default_rng([seed, 98]).integers(0, _ID_SPACE))

    def write(self, kind: str, cols: dict[str, np.ndarray]) -> None:
        n = len(cols["ts"])
        if not n:
            return
        order = np.argsort(cols["ts"], kind="stable")
        cols = {key: value[order] for key, value in cols.items()}
        comma = np.full((n, 1), ord(","), dtype=np.uint8)
        prefix = np.concatenate([self._ids(kind, n), comma, self._dates(cols["ts"]), comma,
                                 _u8(cols["user"], 7), comma, _u8(cols["pc"], 7)], axis=1)
        line = prefix.view(f"S{prefix.shape[1]}").ravel()
        for column in COLUMNS[kind]:
            line = np.strings.add(np.strings.add(line, b","), cols[column])
        self.handles[kind].write(b"\n".join(line.tolist()) + b"\n")
        self.count[kind] += n

    def _ids(self, kind: str, n: int) -> np.ndarray:
        number = (np.arange(self.count[kind], self.count[kind] + n, dtype=np.int64) * len(KINDS)
                  + KINDS.index(kind))
        number = (number * self.mult + self.add) % _ID_SPACE  # a bijection of [0, 36^8): unique
        out = np.empty((n, 24), dtype=np.uint8)
        out[:, 0], out[:, 23], out[:, 5], out[:, 14] = ord("{"), ord("}"), ord("-"), ord("-")
        rand = self.id_rng.integers(0, 36, size=(n, 12))
        out[:, 1:5] = _ALPHABET[rand[:, :4]]
        out[:, 15:23] = _ALPHABET[rand[:, 4:]]
        for i in range(8):
            out[:, 13 - i] = _ALPHABET[number % 36]
            number //= 36
        return out

    def _dates(self, ts: np.ndarray) -> np.ndarray:
        day, sec = np.divmod(ts, DAY)
        out = np.empty((len(ts), 19), dtype=np.uint8)
        out[:, :11] = self.day_matrix[day]
        h, rest = np.divmod(sec, H)
        m, s = np.divmod(rest, 60)
        for col, value in ((11, h), (14, m), (17, s)):
            out[:, col] = 48 + value // 10
            out[:, col + 1] = 48 + value % 10
        out[:, 13] = out[:, 16] = ord(":")
        return out

    def close(self) -> None:
        for h in self.handles.values():
            h.close()


def _u8(values: np.ndarray, width: int) -> np.ndarray:
    return np.ascontiguousarray(values.astype(f"S{width}")).view(np.uint8).reshape(len(values), width)


def _planted_columns(rows: list[tuple[int, dict[str, str]]], kind: str) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {"ts": np.array([t for t, _ in rows], dtype=np.int64)}
    for column in COLUMNS[kind] + ("user", "pc"):
        out[column] = np.array([r[column].encode() for _, r in rows], dtype="S")
    return out


# -- the entry point ------------------------------------------------------------------------------------------


def generate(out_dir: Path, *, users: int = 500, start: date = date(2025, 4, 1), days: int = 182, seed: int = 1,
             insiders_per_scenario: int = 2, events_target: int | None = None) -> Generated:
    """Write the logs, ``people.csv``, ``secret_paths.csv`` and ``answers.json`` of a firm of ``users`` people over
    ``days`` days from ``start`` into ``out_dir``; ``events_target`` sets the total rows (about: the rates of web,
    mail and file events are scaled, logons stay as they are), else about 45 events per person and working day."""
    if users < 40 or days < 28:
        raise ValueError("the generator needs at least 40 users and 28 days")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 1])
    firm = _Firm(users, start, days, rng)
    cases, planted, layoff = _plant(firm, insiders_per_scenario, np.random.default_rng([seed, 2]))
    scale = _scale(firm, events_target)
    background = _Background(firm, scale)
    writer = _Writer(out, firm, seed)
    pending = {k: sorted(planted.rows[k], key=lambda r: r[0]) for k in KINDS}
    try:
        step = 7
        for block, d0 in enumerate(range(0, days, step)):
            d1 = min(days, d0 + step)
            cols = background.block(d0, d1, np.random.default_rng([seed, 3, block]))
            hi = d1 * DAY if d1 < days else 10**12
            for kind in KINDS:
                mine = [r for r in pending[kind] if r[0] < hi]
                pending[kind] = pending[kind][len(mine):]
                parts = [cols[kind]] + ([_planted_columns(mine, kind)] if mine else [])
                writer.write(kind, _concat(parts))
    finally:
        writer.close()
    _write_people(out / "people.csv", firm)
    with (out / "secret_paths.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(("prefix", "department", "entry_id", "level"))
        w.writerows(firm.secret_rows)
    result = Generated(out, users, days, dict(writer.count), cases, start, seed, (INTERNAL_DOMAIN,), layoff)
    answers = {"seed": seed, "start": start.isoformat(), "days": days, "users": users,
               "internal_domains": [INTERNAL_DOMAIN], "events": writer.count, "layoff": layoff,
               "cases": [_case_json(c) for c in cases]}
    (out / "answers.json").write_text(json.dumps(answers, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return result


def _case_json(case: Case) -> dict[str, Any]:
    data = asdict(case)
    for key in ("first_day", "theft_day", "leave_day"):
        data[key] = data[key].isoformat() if data[key] else None
    return data


def _scale(firm: _Firm, target: int | None) -> float:
    """Multiplier of the per-day rates of http, email and file events so that the total is about ``target``."""
    if not target:
        return 1.0
    u, d = np.nonzero(firm.present)
    span = (firm.e[u, d] - firm.s[u, d]) / (9 * H)
    per_unit = (26.0 * firm.rate[u] * span * firm.factor[d]).sum() + (9.0 * firm.rate[u] * firm.factor[d]).sum() \
        + (6.0 * firm.file_rate[u] * firm.factor[d]).sum()
    fixed = len(u) * 3.2
    return max(0.05, (target - fixed) / max(per_unit, 1.0))


def _write_people(path: Path, firm: _Firm) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(("user", "name", "department", "role", "supervisor", "joined", "leaves", "email"))
        for i in range(firm.n):
            leaves = firm.leaves[i]
            w.writerow((firm.ids[i], firm.names[i], DEPARTMENTS[int(firm.dept[i])].name, firm.role[i],
                        firm.supervisor[i], firm.joined[i].isoformat(), leaves.isoformat() if leaves else "",
                        firm.mail[i].decode()))
