"""The scanner over real local folders: walking with bad entries, the catalogue (incremental, resumable),
worker processes, and the placement rules. Real engine and index (pages of the shared corpus)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from himitsu.engine.check import Engine
from himitsu.engine.model import SecretRef
from himitsu.engine.scan import placement
from himitsu.engine.scan.model import EngineSpec, FileResult, ScanLimits
from himitsu.engine.scan.scanner import ScanBusy, Scanner
from himitsu.engine.scan.sources import open_source, scheme_of
from himitsu.engine.scan.sources.base import Entry, ScanIOError, SourceSpec, WalkError
from himitsu.engine.scan.sources.local import LocalSource
from tests.corpus import CORPUS
from tests.scan_files import open_folder, write

KEY = b"scanner-test-key-0123456789abcdef"
PAGES = sorted((CORPUS / "library" / "ja").iterdir())
SECRET_PAGE = CORPUS / "library" / "ja" / "argparse.txt"
SECRET = SecretRef(7, "焼結条件", "極秘")


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("index")
    Engine(index_dir=path, key=KEY).register(1, SECRET_PAGE.read_bytes(), "argparse.txt")
    return str(path)


@pytest.fixture
def spec(index: str) -> EngineSpec:
    return EngineSpec(index_dir=index, key=KEY, secrets={1: SECRET})


def tree(root: Path, n: int = 20) -> Path:
    """n unrelated corpus pages, a copy of the registered page inside other text, a 極秘-marked memo."""
    root.mkdir(parents=True, exist_ok=True)
    for page in PAGES[:n]:
        if page.name != SECRET_PAGE.name:
            (root / page.name).write_bytes(page.read_bytes())
    (root / "開発部").mkdir(exist_ok=True)
    copied = "会議メモ\n" + SECRET_PAGE.read_text()[:3000] + "\n以上"
    (root / "開発部" / "コピー.txt").write_text(copied, encoding="utf-8")
    (root / "【極秘】メモ.txt").write_text("【極秘】\n新製品の価格方針について\n" + PAGES[30].read_text()[:1500],
                                           encoding="utf-8")
    return root


def count(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file())


def scan(spec: EngineSpec, root: Path, catalogue: Path, **kw):
    got: list[FileResult] = []
    gone: list[str] = []
    options = {k: kw.pop(k) for k in ("on_progress", "should_stop") if k in kw}
    report = Scanner(spec, catalogue, **kw).run([SourceSpec(str(root))], on_file=got.append,
                                                on_vanished=gone.append, **options)
    return report, {r.path: r for r in got}, gone


# -- the local source ------------------------------------------------------------------------------


def test_walk_reports_bad_entries_and_goes_on(tmp_path: Path) -> None:
    root = tree(tmp_path / "t", 5)
    (root / "sub").mkdir()
    os.symlink("..", root / "sub" / "back")           # loop
    os.symlink("missing.txt", root / "dangling")      # broken link
    os.mkfifo(root / "pipe")                          # not a regular file
    sjis = "見積書.txt".encode("cp932")               # a Shift_JIS name from an old file server
    with open(os.fsencode(root) + b"/" + sjis, "wb") as f:
        f.write("見積金額 100万円".encode("cp932"))
    (root / "empty.txt").write_bytes(b"")
    items = list(LocalSource(SourceSpec(str(root))).walk())
    errors = {Path(e.path).name: e.code for e in items if isinstance(e, WalkError)}
    entries = {Path(e.path).name: e for e in items if isinstance(e, Entry)}
    assert errors == {"back": "scan.loop", "dangling": "scan.io", "pipe": "scan.not_regular",
                      "見積書.txt": "scan.name_encoding"}
    assert "見積書.txt" in entries and "empty.txt" in entries and "コピー.txt" in entries
    source = LocalSource(SourceSpec(str(root)))
    assert source.read(entries["見積書.txt"], 1000) == "見積金額 100万円".encode("cp932")  # read by its raw name
    assert source.read(entries["empty.txt"], 10) == b""
    with pytest.raises(ScanIOError) as exc:
        source.read(entries["コピー.txt"], 100)
    assert exc.value.code == "scan.too_large"
    os.remove(root / "empty.txt")
    with pytest.raises(ScanIOError) as exc:
        source.read(entries["empty.txt"], 10)
    assert exc.value.code == "scan.vanished"


def test_target_errors(tmp_path: Path) -> None:
    with pytest.raises(ScanIOError) as exc:
        list(LocalSource(SourceSpec(str(tmp_path / "nowhere"))).walk())
    assert exc.value.code == "scan.not_found"
    (tmp_path / "one.txt").write_text("x")
    assert [e.path for e in LocalSource(SourceSpec(str(tmp_path / "one.txt"))).walk()] == [str(tmp_path / "one.txt")]
    assert scheme_of("smb://fs/share") == "smb" and scheme_of("S3://b/p") == "s3" and scheme_of("/srv") == "file"
    assert isinstance(open_source(f"file://{tmp_path}"), LocalSource)


def test_world_readable_needs_every_folder_open(tmp_path: Path) -> None:
    root = tmp_path / "share"
    (root / "closed").mkdir(parents=True)
    (root / "open").mkdir()
    for folder in ("closed", "open"):
        (root / folder / "a.txt").write_text("x")
        (root / folder / "a.txt").chmod(0o644)
    (root / "open" / "private.txt").write_text("x")
    (root / "open" / "private.txt").chmod(0o600)
    (root / "closed").chmod(0o700)
    for folder in (tmp_path, root, root / "open"):
        folder.chmod(0o755)
    walked = {str(Path(e.path).relative_to(root)): e.exposure for e in LocalSource(SourceSpec(str(root))).walk()}
    # tmp_path's ancestors (pytest's base temp folder) may be closed to others: then nothing is world-readable
    open_above = all(os.stat(p).st_mode & 0o001 for p in [*tmp_path.parents, tmp_path])
    assert walked["open/a.txt"] == ("posix.world_readable" if open_above else "")
    assert walked["closed/a.txt"] == "" and walked["open/private.txt"] == ""


def test_world_readable_in_an_open_tree() -> None:
    with open_folder("himitsu-open-") as base:
        write(base / "a.txt", "x", 0o644)
        write(base / "b.txt", "x", 0o640)
        walked = {Path(e.path).name: e.exposure for e in LocalSource(SourceSpec(str(base))).walk()}
    assert walked == {"a.txt": "posix.world_readable", "b.txt": ""}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become nobody")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_permission_denied_is_recorded_as_nobody() -> None:
    """As root nothing is denied: a forked child becomes nobody and walks a tree with a closed folder and file."""
    with open_folder("himitsu-perm-") as base:
        write(base / "ok.txt", "社内の連絡事項", 0o644)
        write(base / "secret.txt", "x", 0o600)
        (base / "closed").mkdir(mode=0o700)
        (base / "closed" / "inside.txt").write_text("x")
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: drop to nobody, walk, read every entry, report through the pipe
            try:
                os.setgid(65534)
                os.setuid(65534)
                source = LocalSource(SourceSpec(str(base)))
                out: dict[str, str] = {}
                for item in source.walk():
                    if isinstance(item, WalkError):
                        out[Path(item.path).name] = item.code
                        continue
                    try:
                        source.read(item, 1000)
                        out[Path(item.path).name] = "read"
                    except ScanIOError as exc:
                        out[Path(item.path).name] = exc.code
                os.write(write_end, json.dumps(out).encode())
            finally:
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            result = json.loads(pipe.read() or b"{}")
        os.waitpid(pid, 0)
        assert result == {"closed": "scan.permission", "ok.txt": "read", "secret.txt": "scan.permission"}


# -- the scanner and its catalogue -----------------------------------------------------------------


def test_first_scan_then_rescan_reads_only_what_changed(spec: EngineSpec, tmp_path: Path) -> None:
    root = tree(tmp_path / "t")
    catalogue = tmp_path / "cat.sqlite"
    report, files, _ = scan(spec, root, catalogue)
    copy = files[str(root / "開発部" / "コピー.txt")]
    assert [f.secret for f in copy.findings if f.detector == "registered-secret"] == [SECRET]
    assert all(f.snippet != SECRET_PAGE.read_text()[:len(f.snippet)] for f in copy.findings)
    assert report.progress.files_read == report.progress.files_seen == len(files) == 21
    # nothing of the secret's text in the catalogue
    with sqlite3.connect(catalogue) as db:
        stored = " ".join(r[0] for r in db.execute("SELECT result FROM files"))
    assert SECRET_PAGE.read_text()[100:140] not in stored

    report, files, gone = scan(spec, root, catalogue)
    assert (report.progress.unchanged, report.progress.files_read, files, gone) == (21, 0, {}, [])

    memo = root / "【極秘】メモ.txt"
    memo.write_text(memo.read_text() + "追記", encoding="utf-8")
    (root / PAGES[1].name).unlink()
    touched = root / PAGES[2].name
    os.utime(touched, (time.time() + 10, time.time() + 10))  # same bytes, new time: read, not inspected again
    report, files, gone = scan(spec, root, catalogue)
    assert set(files) == {str(memo), str(touched)} and gone == [str(root / PAGES[1].name)]
    assert report.progress.unchanged == 18
    assert files[str(touched)].findings == ()


def test_registering_a_document_makes_the_next_scan_read_everything(spec: EngineSpec, tmp_path: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(spec.index_dir, index)
    own = EngineSpec(str(index), KEY, {1: SECRET, 2: SecretRef(8, "顧客別価格表", "秘")})
    root = tree(tmp_path / "t", 8)
    scan(own, root, tmp_path / "cat.sqlite")
    Engine(index_dir=index, key=KEY).register(2, PAGES[3].read_bytes(), "p.txt")
    report, files, _ = scan(own, root, tmp_path / "cat.sqlite")
    assert report.progress.unchanged == 0 and report.progress.files_read == count(root)
    assert [f.secret.id for f in files[str(root / PAGES[3].name)].findings if f.secret] == [8]


def test_workers_find_the_same_as_inline(spec: EngineSpec, tmp_path: Path) -> None:
    root = tree(tmp_path / "t", 12)
    progress = []
    _, inline, _ = scan(spec, root, tmp_path / "a.sqlite")
    report, pooled, _ = scan(spec, root, tmp_path / "b.sqlite", workers=2, on_progress=progress.append)

    def summary(files: dict[str, FileResult]) -> dict[str, list[tuple]]:
        return {p: [(f.detector, f.start, f.end, f.secret) for f in r.findings] for p, r in files.items()}

    n = count(root)
    assert summary(pooled) == summary(inline) and report.progress.files_read == n
    assert progress and progress[-1].files_done == n and progress[-1].files_total == n


def test_limits_and_busy(spec: EngineSpec, tmp_path: Path) -> None:
    root = tree(tmp_path / "t", 3)
    (root / "big.bin").write_bytes(b"\0" * 5000)
    report, files, _ = scan(spec, root, tmp_path / "c.sqlite", limits=ScanLimits(max_file_bytes=4096))
    assert files[str(root / "big.bin")].error.code == "scan.too_large"
    assert report.progress.errors >= 1
    # a file that could not be read is tried again next time
    _, files, _ = scan(spec, root, tmp_path / "c.sqlite", limits=ScanLimits(max_file_bytes=4096))
    assert str(root / "big.bin") in files
    holder = Scanner(spec, tmp_path / "c.sqlite")
    with pytest.raises(ScanBusy):
        holder.run([SourceSpec(str(root))], on_file=lambda r: Scanner(spec, tmp_path / "c.sqlite").run([]))


def test_target_failure_is_reported_and_others_go_on(spec: EngineSpec, tmp_path: Path) -> None:
    root = tree(tmp_path / "t", 3)
    got: list[FileResult] = []
    report = Scanner(spec, tmp_path / "d.sqlite").run([SourceSpec(str(tmp_path / "missing")), SourceSpec(str(root))],
                                                       on_file=got.append)
    assert report.failed_targets == [str(tmp_path / "missing")]
    assert report.errors[0].code == "scan.not_found" and len(got) == count(root)


def test_stopped_scan_resumes_where_it_stopped(spec: EngineSpec, tmp_path: Path) -> None:
    root = tree(tmp_path / "t", 30)
    done: list[FileResult] = []
    report = Scanner(spec, tmp_path / "e.sqlite").run([SourceSpec(str(root))], on_file=done.append,
                                                      should_stop=lambda: len(done) >= 10)
    assert report.stopped and len(done) == 10
    report, files, gone = scan(spec, root, tmp_path / "e.sqlite")
    assert report.resumed_run and report.progress.resumed == 10 and len(files) == count(root) - 10 and gone == []


def test_killed_scan_resumes(spec: EngineSpec, tmp_path: Path) -> None:
    """A scan killed with SIGKILL half-way keeps what it committed; the next run continues that run."""
    root = tree(tmp_path / "t", 60)
    catalogue = tmp_path / "f.sqlite"
    script = tmp_path / "slow.py"
    script.write_text(textwrap.dedent(f"""
        import time
        from himitsu.engine.model import SecretRef
        from himitsu.engine.scan import scanner
        from himitsu.engine.scan.model import EngineSpec
        from himitsu.engine.scan.sources.base import SourceSpec
        if __name__ == "__main__":
            scanner.FLUSH_FILES = 5
            spec = EngineSpec({spec.index_dir!r}, {KEY!r}, {{1: SecretRef(7, "焼結条件", "極秘")}})
            scanner.Scanner(spec, {str(catalogue)!r}).run([SourceSpec({str(root)!r})],
                                                           on_file=lambda r: time.sleep(0.2))
    """))
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[3] / "src"))
    proc = subprocess.Popen([sys.executable, str(script)], env=env)
    try:
        deadline = time.monotonic() + 60
        rows = 0
        while time.monotonic() < deadline and proc.poll() is None:
            if catalogue.exists():
                try:
                    with sqlite3.connect(catalogue) as db:
                        rows = db.execute("SELECT count(*) FROM files").fetchone()[0]
                except sqlite3.OperationalError:
                    rows = 0
                if rows >= 10:
                    break
            time.sleep(0.05)
        assert proc.poll() is None, "the scan ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    report, files, _ = scan(spec, root, catalogue)
    assert report.resumed_run and report.progress.resumed >= 10
    assert report.progress.files_read + report.progress.resumed == count(root)
    assert len(files) == report.progress.files_read


# -- placement rules -------------------------------------------------------------------------------


def test_location_keys_fold_spellings() -> None:
    key = placement.location_key
    assert key("\\\\FS01\\開発部\\焼結条件\\") == key("smb://fs01/開発部/焼結条件") == "smb://fs01/開発部/焼結条件"
    assert key("s3://Bucket/設計/") == "s3://bucket/設計"
    assert key("/srv/share//dev/") == "/srv/share/dev"
    assert key("file:///srv/share") == "/srv/share"
    assert key("キャビネット: 本社2F 書庫B") is None and key("Box: 営業") is None
    assert key("Z:\\設計\\図面") == "z:/設計/図面"
    assert key("smb://fs01:4450/開発部/") == key("\\\\fs01\\開発部") == "smb://fs01/開発部"


def _result(path: str, *findings, exposure: str = "") -> FileResult:
    return FileResult(path, 10, 0.0, exposure=exposure, findings=tuple(findings))


def _finding(detector: str, secret: SecretRef | None = None, **params):
    from himitsu.engine.model import Finding

    return Finding(detector, 0.9, 0, 10, "…", f"{detector}.x", "x", secret=secret, params=params)


def test_placement_rules() -> None:
    allowed = {7: ("\\\\fs01\\開発部\\焼結条件\\L3\\", "キャビネット: 書庫B"), 8: ("キャビネット",)}
    rules = placement.Rules(allowed=allowed, levels={7: "極秘", 8: "秘"})
    inside = _result("smb://fs01/開発部/焼結条件/L3/条件表.xlsx", _finding("registered-secret", SECRET))
    assert placement.evaluate(inside, rules) == []
    outside = _result("smb://fs01/全社共有/条件表.xlsx", _finding("registered-secret", SECRET),
                      exposure="smb.everyone")
    hits = {(h.kind, h.reason) for h in placement.evaluate(outside, rules)}
    assert hits == {("misplaced", "placement.outside_allowed"), ("overexposed", "exposure.smb.everyone")}
    # a sibling folder whose name starts the same is not inside
    sibling = _result("smb://fs01/開発部/焼結条件/L30/x.txt", _finding("registered-secret", SECRET))
    assert [h.reason for h in placement.evaluate(sibling, rules)] == ["placement.outside_allowed"]
    nowhere = _result("/srv/x.txt", _finding("registered-secret", SecretRef(8, "価格表", "秘")))
    assert [h.reason for h in placement.evaluate(nowhere, rules)] == ["placement.no_locations"]
    marked = _result("s3://public/memo.txt", _finding("marking", level="極秘"), exposure="s3.public_object")
    assert {(h.kind, h.reason, h.level) for h in placement.evaluate(marked, rules)} == {
        ("unregistered", "marking.unregistered", "極秘"), ("misplaced", "placement.marked_outside", "極秘"),
        ("overexposed", "exposure.s3.public_object", "極秘")}
    marked_in_place = _result("smb://fs01/開発部/焼結条件/L3/memo.txt", _finding("marking", level="極秘"))
    assert [h.kind for h in placement.evaluate(marked_in_place, rules)] == ["unregistered"]
    personal = _result("/srv/pub/list.csv", _finding("customer-list"), exposure="posix.world_readable")
    assert [(h.kind, h.params) for h in placement.evaluate(personal, rules)] == [
        ("overexposed", {"detectors": "customer-list"})]
    assert placement.evaluate(_result("/srv/pub/a.txt", _finding("email-address"), exposure="posix.world_readable"),
                              rules) == []


def test_bad_files_are_recorded_and_the_scan_goes_on(spec: EngineSpec, tmp_path: Path) -> None:
    """A 10 GB (sparse) file is not read, a zip bomb and a damaged document are reported, empty files are clean."""
    from tests.engine.test_extract_fixtures import zip_bomb

    root = tree(tmp_path / "t", 3)
    with open(root / "huge.iso", "wb") as f:
        f.truncate(10 * 1024**3)
    (root / "bomb.zip").write_bytes(zip_bomb(tmp_path / "bomb.zip"))
    (root / "broken.docx").write_bytes(b"PK\x03\x04 this is not a document")
    (root / "empty.txt").write_bytes(b"")
    report, files, _ = scan(spec, root, tmp_path / "g.sqlite")
    assert files[str(root / "huge.iso")].error.code == "scan.too_large"
    assert {p.code for p in files[str(root / "bomb.zip")].problems} == {"limit.ratio"}
    assert {p.code for p in files[str(root / "broken.docx")].problems} == {"corrupt"}
    empty = files[str(root / "empty.txt")]
    assert empty.error is None and empty.findings == ()
    assert report.progress.files_done == count(root) and report.progress.bytes_read < 10 * 1024**2


def test_many_findings_of_one_kind_keep_the_strongest_and_a_count() -> None:
    from himitsu.engine.model import Finding
    from himitsu.engine.scan.model import MAX_PER_GROUP, group_key, keep_strongest

    phones = [Finding("jp-phone", 0.5 + i / 1000, i * 20, i * 20 + 13, "090-****-0000", "jp_phone.mobile", "x")
              for i in range(100)]
    other = Finding("marking", 0.9, 5, 7, "極秘", "marking.body", "x")
    kept, totals = keep_strongest([*phones[:50], other, *phones[50:]])
    assert totals == {group_key(phones[0]): 100}
    assert other in kept and len(kept) == MAX_PER_GROUP + 1
    assert [f.start for f in kept if f.detector == "jp-phone"] == [p.start for p in phones[-MAX_PER_GROUP:]]
    assert keep_strongest(phones[:5]) == (tuple(phones[:5]), {})
