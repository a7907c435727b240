"""A realistic office file share for the scanner benchmark (`tests.bench.scan`), generated from a seed and cached.

``ensure(folder)`` returns the corpus in ``folder`` (e.g. var/bench/scan-corpus), building it only when it is
missing or was built by another :data:`VERSION`, seed or file count:

* ``folder/tree/<部署>/<年度>/<案件>/...``: about 2,500 files, 100-200 MB: UTF-8 and Shift_JIS (CP932) text and
  CSV, .docx (some with pictures), .xlsx (a third of them customer lists of synthetic people: names, phones,
  e-mail addresses at example domains, addresses), .pptx (some with pictures), .pdf (pages of ONE long HTML
  printed by Debian's Chromium, split into many files with pypdfium2), .eml (ISO-2022-JP headers and body,
  some with attachments) and .zip (a few of the others). Sizes follow an office share: many small files,
  some of several MB. Text is real: pages of the shared python-docs-ja corpus (tests.corpus.CORPUS).
* ``folder/index``: a fresh engine index with 50 registered documents (25 library pages, in Japanese and
  English: doc ids 1-50), whose pages are never used as ordinary text (nor are the pages that share a passage
  with them: the engine's registered-secret detector finds nothing in the filler pages);
* ``folder/manifest.json``: the version, the secrets (doc id -> page), and the ground truth: ``planted``
  (path relative to the tree -> doc ids of the excerpts of 300-3,000 characters planted in it, about 5 % of
  the files, every format) and ``marked`` (path -> the 極秘 / 社外秘 marking written into it).

``ensure_small_files(folder, n)`` is the rescan target: ``n`` files of 100-500 bytes in folders of 100.

The content is deterministic from the seed (one ``random.Random`` per file); the bytes of zip-based formats
are not (zip and openpyxl write the current time), which does not matter to the benchmark.
"""

from __future__ import annotations

import email.utils
import html
import io
import json
import math
import os
import random
import shutil
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path
from typing import Any

from tests.corpus import CORPUS

#: bump when what is generated changes (the cached corpus is then rebuilt)
VERSION = "2"
SEED = 2026
FILES = 2500
KEY = b"bench-scan-key-" * 2
SECRET_STEMS = 25  # library pages registered as secrets, in ja and en: 50 documents

DEPARTMENTS = ("営業部", "開発部", "製造部", "総務部", "人事部", "経理部", "品質保証部", "法務部", "購買部",
               "情報システム部")
YEARS = ("2022年度", "2023年度", "2024年度", "2025年度")
PROJECTS = ("A社向け提案", "新製品開発", "定例会議", "設備更新", "顧客管理", "予算策定", "監査対応", "採用活動",
            "品質改善", "契約書レビュー", "システム移行", "展示会", "取引先評価", "研修資料", "社内報",
            "業務マニュアル")

#: format -> share of the files
FORMATS = {"txt": 0.17, "sjis": 0.10, "docx": 0.21, "xlsx": 0.12, "pptx": 0.10, "pdf": 0.10, "eml": 0.15,
           "zip": 0.05}
PLANT_SHARE = 0.065  # files chosen; with the containers' members: about 5 % of the files
MARK_SHARE = 0.02

SURNAMES = ("佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田", "佐々木",
            "山口", "松本", "井上", "木村", "林", "斎藤", "清水", "山崎", "森", "池田", "橋本", "阿部", "石川")
SURNAMES_KANA = ("サトウ", "スズキ", "タカハシ", "タナカ", "イトウ", "ワタナベ", "ヤマモト", "ナカムラ", "コバヤシ",
                 "カトウ", "ヨシダ", "ヤマダ", "ササキ", "ヤマグチ", "マツモト", "イノウエ", "キムラ", "ハヤシ",
                 "サイトウ", "シミズ", "ヤマザキ", "モリ", "イケダ", "ハシモト", "アベ", "イシカワ")
GIVEN = (("太郎", "タロウ"), ("花子", "ハナコ"), ("健一", "ケンイチ"), ("美咲", "ミサキ"), ("大輔", "ダイスケ"),
         ("陽子", "ヨウコ"), ("翔太", "ショウタ"), ("由美", "ユミ"), ("誠", "マコト"), ("彩", "アヤ"),
         ("拓也", "タクヤ"), ("恵", "メグミ"), ("直樹", "ナオキ"), ("愛", "アイ"), ("浩", "ヒロシ"))
ROMAN = ("sato", "suzuki", "takahashi", "tanaka", "ito", "watanabe", "yamamoto", "nakamura", "kobayashi", "kato",
         "yoshida", "yamada", "sasaki", "yamaguchi", "matsumoto", "inoue", "kimura", "hayashi", "saito", "shimizu",
         "yamazaki", "mori", "ikeda", "hashimoto", "abe", "ishikawa")
PREFS = (("東京都", "千代田区丸の内", "03"), ("東京都", "新宿区西新宿", "03"), ("大阪府", "大阪市北区梅田", "06"),
         ("愛知県", "名古屋市中村区名駅", "052"), ("神奈川県", "横浜市西区みなとみらい", "045"),
         ("福岡県", "福岡市博多区博多駅前", "092"), ("北海道", "札幌市中央区北一条西", "011"))
COMPANIES = ("株式会社サンプル商事", "テスト工業株式会社", "見本電機株式会社", "例示物産株式会社", "架空精機株式会社",
             "株式会社ダミー製作所", "模擬システム株式会社")


@dataclass(frozen=True)
class Corpus:
    folder: Path
    manifest: dict[str, Any]

    @property
    def tree(self) -> Path:
        return self.folder / "tree"

    @property
    def index_dir(self) -> Path:
        return self.folder / "index"

    @property
    def planted(self) -> dict[str, list[int]]:
        return self.manifest["planted"]

    @property
    def marked(self) -> dict[str, str]:
        return self.manifest["marked"]

    def secret_refs(self) -> dict[int, Any]:
        from himitsu.engine.model import SecretRef

        return {int(i): SecretRef(int(i), s["title"], s["level"]) for i, s in self.manifest["secrets"].items()}


# -- text ------------------------------------------------------------------------------------------


@dataclass
class Texts:
    secrets: dict[int, tuple[str, str]]  # doc id -> (page name, text)
    filler: dict[str, list[str]]          # lang -> page texts

    def body(self, rnd: random.Random, chars: int, lang: str | None = None) -> str:
        """About ``chars`` characters of consecutive lines from random filler pages."""
        lang = lang or ("ja" if rnd.random() < 0.75 else "en")
        out: list[str] = []
        total = 0
        while total < chars:
            page = rnd.choice(self.filler[lang])
            lines = page.splitlines()
            start = rnd.randrange(max(1, len(lines) - 5))
            for line in lines[start:]:
                out.append(line)
                total += len(line) + 1
                if total >= chars:
                    break
        return "\n".join(out)

    def excerpt(self, rnd: random.Random, doc_id: int) -> str:
        text = self.secrets[doc_id][1]
        length = min(rnd.randint(300, 3000), len(text) - 1)
        start = rnd.randrange(0, len(text) - length)
        nl = text.rfind("\n", max(0, start - 200), start)  # start at a line when one is near
        start = nl + 1 if nl >= 0 else start
        return text[start:start + length]

    def planted_body(self, rnd: random.Random, chars: int, ids: list[int], lang: str | None = None) -> str:
        """Filler with the excerpts of ``ids`` inserted at line boundaries."""
        text = self.body(rnd, chars, lang)
        for doc_id in ids:
            lines = text.split("\n")
            at = rnd.randrange(len(lines) + 1)
            lines.insert(at, self.excerpt(rnd, doc_id))
            text = "\n".join(lines)
        return text


def load_texts(seed: int) -> Texts:
    folder = CORPUS / "library"
    stems = sorted({p.stem for p in (folder / "ja").glob("*.txt")} & {p.stem for p in (folder / "en").glob("*.txt")})
    random.Random(seed).shuffle(stems)
    secrets: dict[int, tuple[str, str]] = {}
    chosen: set[str] = set()
    for stem in stems:
        ja, en = ((folder / lang / f"{stem}.txt").read_text("utf-8") for lang in ("ja", "en"))
        if len(ja) >= 4000 and len(en) >= 4000:
            chosen.add(stem)
            secrets[2 * len(chosen) - 1] = (f"library/ja/{stem}", ja)
            secrets[2 * len(chosen)] = (f"library/en/{stem}", en)
        if len(chosen) == SECRET_STEMS:
            break
    filler = {lang: [p.read_text("utf-8") for p in sorted((folder / lang).glob("*.txt")) if p.stem not in chosen]
              for lang in ("ja", "en")}
    return Texts(secrets, filler)


# -- people ----------------------------------------------------------------------------------------


def person(rnd: random.Random, n: int) -> list[object]:
    s = rnd.randrange(len(SURNAMES))
    given, kana = rnd.choice(GIVEN)
    pref, city, area = rnd.choice(PREFS)
    mobile = rnd.random() < 0.5
    if mobile:
        phone = f"0{rnd.choice('789')}0-{rnd.randint(1000, 9999)}-{rnd.randint(1000, 9999)}"
    else:
        middle = rnd.randint(1000, 9999) if len(area) == 2 else rnd.randint(100, 999)
        phone = f"{area}-{middle}-{rnd.randint(1000, 9999)}"
    mail = f"{ROMAN[s]}.{n}@{rnd.choice(('example.com', 'example.co.jp', 'example.jp', 'example.net'))}"
    return [f"C{n:06d}", f"{SURNAMES[s]} {given}", f"{SURNAMES_KANA[s]} {kana}", rnd.choice(COMPANIES), phone, mail,
            f"〒{rnd.randint(100, 999)}-{rnd.randint(1000, 9999)} {pref}{city}"
            f"{rnd.randint(1, 9)}-{rnd.randint(1, 30)}-{rnd.randint(1, 20)}",
            f"{rnd.randint(2019, 2025)}/{rnd.randint(1, 12):02d}/{rnd.randint(1, 28):02d}"]


CUSTOMER_HEADER = ["顧客番号", "氏名", "フリガナ", "会社名", "電話番号", "メールアドレス", "住所", "最終接触日"]


# -- files -----------------------------------------------------------------------------------------


@dataclass
class Plan:
    index: int
    rel: str
    fmt: str
    plant: list[int]
    mark: str  # "" or 極秘 / 社外秘
    chars: int
    lang: str


def _chars(rnd: random.Random) -> int:
    """Text length of one file: log-normal around 4,000 characters, a few large ones."""
    if rnd.random() < 0.01:
        return rnd.randint(200_000, 800_000)
    return int(min(150_000, max(200, rnd.lognormvariate(math.log(3000), 1.1))))


_NAMES = {
    "txt": ("メモ", "議事録", "作業ログ", "readme", "連絡事項", "手順メモ", "打合せメモ"),
    "sjis": ("旧システム出力", "議事録", "日報", "連絡票", "データ"),
    "docx": ("議事録", "報告書", "仕様書", "提案書", "企画書", "手順書", "契約書案", "稟議書"),
    "xlsx": ("見積書", "集計表", "進捗管理表", "予算表", "在庫一覧", "工程表"),
    "pptx": ("提案資料", "説明資料", "報告資料", "研修資料", "会議資料"),
    "pdf": ("仕様書", "報告書", "マニュアル", "議事録", "規程", "カタログ"),
    "eml": ("Re_見積の件", "打合せのお礼", "資料送付", "Fw_ご確認のお願い", "日程調整"),
    "zip": ("資料一式", "提出物", "バックアップ", "送付資料", "過去資料"),
}
_EXT = {"txt": ".txt", "sjis": ".txt", "docx": ".docx", "xlsx": ".xlsx", "pptx": ".pptx", "pdf": ".pdf",
        "eml": ".eml", "zip": ".zip"}


def plan(seed: int, files: int, secret_ids: list[int]) -> list[Plan]:
    rnd = random.Random(f"{seed}:plan")
    folders: list[str] = []
    for dept in DEPARTMENTS:
        folders.append(f"{dept}/共有")
        for year in YEARS:
            for project in rnd.sample(PROJECTS, rnd.randint(2, 5)):
                folders.append(f"{dept}/{year}/{project}")
    fmts, weights = zip(*FORMATS.items(), strict=True)
    plans = []
    for i in range(files):
        fmt = rnd.choices(fmts, weights)[0]
        folder = rnd.choice(folders)
        plant = []
        if rnd.random() < PLANT_SHARE:
            plant = rnd.sample(secret_ids, 2 if rnd.random() < 0.15 else 1)
        mark = rnd.choice(("極秘", "社外秘")) if rnd.random() < MARK_SHARE and fmt != "pdf" else ""
        stem = rnd.choice(_NAMES[fmt])
        if fmt == "sjis" and rnd.random() < 0.3:
            stem, ext = "顧客一覧", ".csv"
        else:
            ext = _EXT[fmt]
        prefix = f"【{mark}】" if mark and rnd.random() < 0.5 else ""
        rel = f"{folder}/{prefix}{stem}_{i:04d}{ext}"
        lang = "ja" if rnd.random() < (0.4 if fmt == "pdf" else 0.75) else "en"
        plans.append(Plan(i, rel, fmt, plant, mark, _chars(rnd), lang))
    return plans


def _picture(rnd: random.Random, size: int) -> tuple[str, bytes]:
    if rnd.random() < 0.5:
        return "image.png", b"\x89PNG\r\n\x1a\n" + rnd.randbytes(size)
    return "image.jpeg", b"\xff\xd8\xff\xe0" + rnd.randbytes(size)


def _with_media(data: bytes, folder: str, pictures: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO(data)
    with zipfile.ZipFile(buf, "a", zipfile.ZIP_STORED) as zf:
        for n, (name, blob) in enumerate(pictures, start=1):
            zf.writestr(f"{folder}/{n}{name}", blob)
    return buf.getvalue()


class Builder:
    def __init__(self, texts: Texts, pdf_pages: Callable[[random.Random, list[int], str], bytes]) -> None:
        self.texts = texts
        self.pdf_pages = pdf_pages

    def text_of(self, rnd: random.Random, p: Plan) -> str:
        text = self.texts.planted_body(rnd, p.chars, p.plant, p.lang)
        if p.mark:
            text = f"【{p.mark}】\n" + text
        return text

    def build(self, rnd: random.Random, p: Plan) -> bytes:
        return getattr(self, p.fmt)(rnd, p)

    def txt(self, rnd: random.Random, p: Plan) -> bytes:
        return self.text_of(rnd, p).encode("utf-8")

    def sjis(self, rnd: random.Random, p: Plan) -> bytes:
        if p.rel.endswith(".csv"):
            rows = [CUSTOMER_HEADER] + [person(rnd, n) for n in range(rnd.randint(20, 2000))]
            text = "\r\n".join(",".join(str(c) for c in r) for r in rows)
            if p.plant or p.mark:
                text += "\r\n備考\r\n" + self.text_of(rnd, Plan(**{**p.__dict__, "chars": 200}))
        else:
            text = self.text_of(rnd, p).replace("\n", "\r\n")
        return text.encode("cp932", errors="replace")

    def docx(self, rnd: random.Random, p: Plan) -> bytes:
        from tests.engine.test_extract_fixtures import docx

        text = self.texts.planted_body(rnd, p.chars, p.plant, p.lang)
        data = docx([line for line in text.split("\n") if line.strip()], header=p.mark or None,
                    footer=f"{p.index} / 社内資料")
        if rnd.random() < 0.15:
            data = _with_media(data, "word/media", [_picture(rnd, int(rnd.lognormvariate(math.log(150_000), 1.0)))])
        return data

    def pptx(self, rnd: random.Random, p: Plan) -> bytes:
        from tests.engine.test_extract_fixtures import pptx

        text = self.texts.planted_body(rnd, min(p.chars, 40_000), p.plant, p.lang)
        lines = [line for line in text.split("\n") if line.strip()]
        slides, current = [], []
        for line in lines:
            current.append(line)
            if sum(len(c) for c in current) > 400:
                slides.append("\n".join(current))
                current = []
        slides.append("\n".join(current))
        data = pptx(slides, footer=p.mark or None)
        if rnd.random() < 0.25:
            pictures = [_picture(rnd, int(rnd.lognormvariate(math.log(60_000), 1.0)))
                        for _ in range(rnd.randint(1, 3))]
            data = _with_media(data, "ppt/media", pictures)
        return data

    def xlsx(self, rnd: random.Random, p: Plan) -> bytes:
        from tests.engine.test_extract_fixtures import xlsx

        sheets: dict[str, list[list[object]]] = {}
        if rnd.random() < 0.35:
            rows = min(5000, int(rnd.lognormvariate(5.5, 1.0)))
            sheets["顧客一覧"] = [CUSTOMER_HEADER] + [person(rnd, n) for n in range(rows)]
        else:
            lines = [line for line in self.texts.body(rnd, min(p.chars, 30_000), p.lang).split("\n") if line.strip()]
            sheets["明細"] = [["番号", "項目", "説明", "数量", "単価", "金額"]] + [
                [n + 1, line[:20], line, q := rnd.randint(1, 500), u := rnd.randint(100, 90_000), q * u]
                for n, line in enumerate(lines)]
        if p.plant:
            note = "\n".join(self.texts.excerpt(rnd, i) for i in p.plant)
            sheets["備考"] = [[line] for line in note.split("\n") if line.strip()]
        return xlsx(sheets, header=p.mark or None)

    def pdf(self, rnd: random.Random, p: Plan) -> bytes:
        return self.pdf_pages(rnd, p.plant, p.lang)

    def eml(self, rnd: random.Random, p: Plan) -> bytes:
        body_plan = Plan(**{**p.__dict__, "chars": min(p.chars, 6000), "lang": "ja"})
        attach = rnd.random() < 0.45
        if attach and p.plant and rnd.random() < 0.5:  # the secret travels in the attachment
            body_plan.plant, inner_plant = [], p.plant
        else:
            inner_plant = []
        body = self.text_of(rnd, body_plan)
        body = "".join(ch for ch in body if _jis(ch))
        msg = MIMEMultipart() if attach else MIMEText(body, "plain", "iso-2022-jp")
        if attach:
            msg.attach(MIMEText(body, "plain", "iso-2022-jp"))
            for _ in range(rnd.randint(1, 2)):
                fmt = rnd.choice(("docx", "xlsx", "txt") + (() if inner_plant else ("pdf",)) + ("docx", "txt"))
                inner = Plan(p.index, f"添付資料{_EXT[fmt]}", fmt, inner_plant, "", min(p.chars, 20_000), p.lang)
                inner_plant = []
                part = MIMEApplication(self.build(rnd, inner))
                # the RFC 2047 way of Japanese mailers (not RFC 2231)
                part.add_header("Content-Disposition", "attachment", filename=Header(inner.rel, "iso-2022-jp").encode())
                msg.attach(part)
        sender, to = person(rnd, p.index), person(rnd, p.index + 1)
        msg["Subject"] = Header(f"{_NAMES['eml'][p.index % 5].replace('_', ': ')} ({p.index})", "iso-2022-jp")
        msg["From"] = email.utils.formataddr((str(sender[1]), str(sender[5])), charset="iso-2022-jp")
        msg["To"] = email.utils.formataddr((str(to[1]), str(to[5])), charset="iso-2022-jp")
        msg["Date"] = email.utils.formatdate(1_700_000_000 + p.index * 3600)
        msg["Message-ID"] = f"<bench-{p.index}@example.co.jp>"
        return msg.as_bytes()

    def zip(self, rnd: random.Random, p: Plan) -> bytes:
        members: dict[str, bytes] = {}
        plant = list(p.plant)
        for n in range(rnd.randint(2, 5)):
            give = [plant.pop()] if plant and (n >= 1 or rnd.random() < 0.5) else []
            fmt = rnd.choice(("txt", "txt", "sjis", "docx", "docx", "xlsx", "pptx") + (() if give else ("pdf",)))
            inner = Plan(p.index, f"資料/{n + 1:02d}_{rnd.choice(_NAMES[fmt])}{_EXT[fmt]}", fmt, give, "",
                         min(p.chars, 20_000), "ja" if fmt == "pdf" and rnd.random() < 0.5 else p.lang)
            members[inner.rel] = self.build(rnd, inner)
        if plant:  # not placed yet: one more member
            inner = Plan(p.index, "資料/追加.txt", "txt", plant, "", 2000, p.lang)
            members[inner.rel] = self.build(rnd, inner)
        if p.mark:
            members["【" + p.mark + "】注意.txt"] = f"【{p.mark}】\n取扱いに注意すること。".encode()
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members.items():
                zf.writestr(name, data)
        return buf.getvalue()


_JIS_OK: dict[str, bool] = {}


def _jis(ch: str) -> bool:
    ok = _JIS_OK.get(ch)
    if ok is None:
        try:
            ch.encode("iso2022_jp")
            ok = True
        except UnicodeEncodeError:
            ok = False
        _JIS_OK[ch] = ok
    return ok


# -- PDF: one printed document, split ---------------------------------------------------------------


class Printed:
    """One long HTML of sections printed once; a PDF file is the pages of one section (or a run of them)."""

    def __init__(self, texts: Texts, plans: list[Plan], seed: int, work: Path, log: Callable[[str], None]) -> None:
        import pypdfium2 as pdfium

        from tests.engine.test_extract_fixtures import pdf_with_text

        rnd = random.Random(f"{seed}:pdf")
        self.filler: dict[str, list[int]] = {"ja": [], "en": []}
        self.secret: dict[tuple[int, ...], list[int]] = {}
        sections: list[tuple[str, str]] = []  # (lang, text)
        for n in range(120):
            lang = "ja" if n % 2 == 0 else "en"
            self.filler[lang].append(len(sections))
            sections.append((lang, texts.body(rnd, int(rnd.lognormvariate(math.log(5000), 0.9)) + 800, lang)))
        for p in plans:  # one section per PDF (alone or inside a zip or a mail) that carries a secret
            if p.fmt == "pdf" and p.plant:
                self.secret.setdefault(tuple(p.plant), []).append(len(sections))
                sections.append((p.lang, texts.planted_body(rnd, rnd.randint(1000, 6000), p.plant, p.lang)))
        style = ("@page{size:A4;margin:18mm}body{font-size:10.5pt;line-height:1.6}"
                 "section{page-break-before:always}.ja{font-family:'Noto Sans CJK JP'}"
                 ".en{font-family:'Liberation Serif'}h2{font-size:9pt;color:#888}")
        parts = [f'<section class="{lang}"><h2>SEC{n:04d}</h2>'
                 + "".join(f"<p>{html.escape(line)}</p>" for line in text.split("\n") if line.strip()) + "</section>"
                 for n, (lang, text) in enumerate(sections)]
        doc = (f'<!doctype html><html><head><meta charset="utf-8"><style>{style}</style></head>'
               f'<body>{"".join(parts)}</body></html>')
        work.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        data = pdf_with_text(doc, work)
        if data is None:
            raise RuntimeError("Debian's chromium is needed to print the benchmark's PDF (apt-get install chromium "
                               "fonts-noto-cjk)")
        self.doc = pdfium.PdfDocument(data)
        starts: dict[int, int] = {}
        for page_no in range(len(self.doc)):
            page = self.doc[page_no]
            head = page.get_textpage().get_text_range()[:200]
            at = head.find("SEC")
            if at >= 0 and head[at + 3:at + 7].isdigit():
                starts.setdefault(int(head[at + 3:at + 7]), page_no)
        missing = [n for n in range(len(sections)) if n not in starts]
        if missing:
            raise RuntimeError(f"sections not found in the printed PDF: {missing[:5]}")
        bounds = [starts[n] for n in range(len(sections))] + [len(self.doc)]
        self.pages = {n: list(range(bounds[n], bounds[n + 1])) for n in range(len(sections))}
        log(f"printed {len(sections)} sections into {len(self.doc)} pages ({len(data) / 1e6:.1f} MB) "
            f"in {time.perf_counter() - started:.0f} s")

    def file(self, rnd: random.Random, plant: list[int], lang: str) -> bytes:
        import pypdfium2 as pdfium

        if plant:
            choices = self.secret.get(tuple(plant))
            if not choices:
                raise KeyError(f"no printed section holds {plant}")
            pages = self.pages[choices.pop()]
        else:
            pages = self.pages[rnd.choice(self.filler[lang])]
            if len(pages) > 2 and rnd.random() < 0.4:
                first = rnd.randrange(len(pages) - 1)
                pages = pages[first:first + rnd.randint(1, len(pages) - first)]
        new = pdfium.PdfDocument.new()
        new.import_pages(self.doc, pages)
        buf = io.BytesIO()
        new.save(buf)
        new.close()
        return buf.getvalue()


# -- building and caching ----------------------------------------------------------------------------


def _manifest(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / "manifest.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None


def ensure(folder: str | Path, *, seed: int = SEED, files: int = FILES,
           log: Callable[[str], None] = print) -> Corpus:
    folder = Path(folder)
    manifest = _manifest(folder)
    if manifest and (manifest.get("version"), manifest.get("seed"), manifest.get("files")) == (VERSION, seed, files):
        return Corpus(folder, manifest)
    log(f"building the scan corpus in {folder} ({files} files, seed {seed}) ...")
    started = time.perf_counter()
    for sub in ("tree", "index", "work"):
        shutil.rmtree(folder / sub, ignore_errors=True)
    (folder / "manifest.json").unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    texts = load_texts(seed)
    plans = plan(seed, files, sorted(texts.secrets))

    from himitsu.engine.check import Engine

    engine = Engine(index_dir=folder / "index", key=KEY)
    with engine.registering() as register:
        for doc_id, (name, text) in sorted(texts.secrets.items()):
            register(doc_id, text.encode("utf-8"), name.rsplit("/", 1)[-1] + ".txt")
    # filler pages that share a passage with a registered page (the documentation repeats itself) are left out:
    # a finding in a file without a planted excerpt is then the engine's error, not the corpus's
    checker = Engine(index_dir=folder / "index", key=KEY, detectors=["registered-secret"])
    for lang, pages in texts.filler.items():
        kept = [page for page in pages if not checker.check_text(page).findings]
        log(f"filler pages ({lang}): {len(kept)} of {len(pages)} share no passage with a registered page")
        texts.filler[lang] = kept
    printed = Printed(texts, plans, seed, folder / "work", log)
    builder = Builder(texts, printed.file)
    tree = folder / "tree"
    planted: dict[str, list[int]] = {}
    marked: dict[str, str] = {}
    by_fmt: dict[str, list[int]] = {}
    base = time.mktime((2022, 4, 1, 9, 0, 0, 0, 0, -1))
    for p in plans:
        rnd = random.Random(f"{seed}:{p.index}")
        data = builder.build(rnd, p)
        path = tree / p.rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        stamp = base + p.index * 40_000 + rnd.randrange(3600)
        os.utime(path, (stamp, stamp))
        if p.plant:
            planted[p.rel] = sorted(p.plant)
        if p.mark:
            marked[p.rel] = p.mark
        counts = by_fmt.setdefault(p.fmt, [0, 0])
        counts[0] += 1
        counts[1] += len(data)
        if (p.index + 1) % 500 == 0:
            log(f"  {p.index + 1} / {len(plans)} files")
    shutil.rmtree(folder / "work", ignore_errors=True)
    manifest = {
        "version": VERSION, "seed": seed, "files": files, "key": KEY.decode(),
        "bytes": sum(v[1] for v in by_fmt.values()), "formats": by_fmt,
        "secrets": {str(i): {"page": name, "title": name.rsplit("/", 1)[-1], "level": "極秘" if i % 2 else "秘"}
                    for i, (name, _) in sorted(texts.secrets.items())},
        "planted": planted, "marked": marked,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), "utf-8")
    log(f"built in {manifest['seconds']:.0f} s: {files} files, {manifest['bytes'] / 1e6:.0f} MB, "
        f"{len(planted)} with planted secrets, {len(marked)} marked")
    return Corpus(folder, manifest)


SMALL_VERSION = "1"


def ensure_small_files(folder: str | Path, n: int = 100_000, *, per_folder: int = 100,
                       log: Callable[[str], None] = print) -> Path:
    """``n`` files of 100-500 bytes (Japanese text lines) in folders of ``per_folder``; cached."""
    folder = Path(folder)
    stamp = folder / "manifest.json"
    want = {"version": SMALL_VERSION, "files": n, "per_folder": per_folder}
    try:
        if json.loads(stamp.read_text()) == want:
            return folder / "tree"
    except (OSError, ValueError):
        pass
    log(f"creating {n:,} small files in {folder} ...")
    shutil.rmtree(folder / "tree", ignore_errors=True)
    stamp.unlink(missing_ok=True)
    rnd = random.Random(f"{SEED}:small")
    lines = [line for line in (CORPUS / "library" / "ja" / "stdtypes.txt").read_text("utf-8").splitlines()
             if 20 <= len(line.encode()) <= 400][:2000] or ["社内連絡事項の控え"]
    started = time.perf_counter()
    for i in range(n):
        sub = folder / "tree" / f"部署{i // (per_folder * 100):02d}" / f"フォルダ{i // per_folder:05d}"
        if i % per_folder == 0:
            sub.mkdir(parents=True, exist_ok=True)
        data = b""
        size = rnd.randint(100, 500)
        while len(data) < size:
            data += (rnd.choice(lines) + "\n").encode()
        (sub / f"メモ{i:06d}.txt").write_bytes(data[:size])
        if (i + 1) % 10_000 == 0:
            log(f"  {i + 1:,} files ({time.perf_counter() - started:.0f} s)")
    stamp.write_text(json.dumps(want))
    return folder / "tree"
