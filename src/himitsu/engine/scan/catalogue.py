"""The catalogue of what a scan has seen: one SQLite file per scanned place (WAL, so a reader such as the
web app can look while a scan writes).

Per file it keeps size, modification time, ETag, exposure, SHA-256, the engine state it was inspected
with, the run that last read it and its result (findings as offsets, scores and redacted snippets — never
text). A rescan compares what the walk reports with this and reads only what changed; results are
committed every few hundred files, so a scan killed half-way loses at most that batch and the next run
resumes where it stopped (the interrupted run is continued, keeping its id).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from himitsu.engine.model import Finding, Problem, SecretRef
from himitsu.engine.scan.model import FileResult
from himitsu.engine.scan.sources.base import WalkError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    targets TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    target TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    etag TEXT NOT NULL,
    exposure TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    state TEXT NOT NULL,
    run INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    result TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS files_target ON files(target);
"""


@dataclass(frozen=True)
class Known:
    """What the catalogue remembers of one file, enough to decide whether to read it again."""

    size: int
    mtime: float
    etag: str
    exposure: str
    sha256: str
    state: str
    run: int
    failed: bool


def _finding_dict(f: Finding) -> dict[str, Any]:
    return {"detector": f.detector, "score": f.score, "start": f.start, "end": f.end, "snippet": f.snippet,
            "reason": f.reason, "explanation": f.explanation, "part": f.part,
            "secret": None if f.secret is None else [f.secret.id, f.secret.title, f.secret.level],
            "matched_chars": f.matched_chars, "params": f.params}


def _finding(d: dict[str, Any]) -> Finding:
    secret = d.get("secret")
    return Finding(detector=d["detector"], score=d["score"], start=d["start"], end=d["end"], snippet=d["snippet"],
                   reason=d["reason"], explanation=d["explanation"], part=d.get("part", ""),
                   secret=None if secret is None else SecretRef(*secret), matched_chars=d.get("matched_chars"),
                   params=d.get("params") or {})


def dump_result(result: FileResult) -> str:
    return json.dumps({
        "findings": [_finding_dict(f) for f in result.findings],
        "problems": [[p.code, p.path, p.detail] for p in result.problems],
        "error": None if result.error is None else [result.error.code, result.error.detail],
        "totals": result.totals,
    }, ensure_ascii=False, separators=(",", ":"), default=str)


def load_result(path: str, row: Known, text: str) -> FileResult:
    data = json.loads(text)
    error = data.get("error")
    return FileResult(path=path, size=row.size, mtime=row.mtime, etag=row.etag, exposure=row.exposure,
                      sha256=row.sha256, findings=tuple(_finding(d) for d in data.get("findings", ())),
                      problems=tuple(Problem(*p) for p in data.get("problems", ())),
                      error=None if error is None else WalkError(path, error[0], error[1]),
                      totals=data.get("totals") or {})


class Catalogue:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # -- runs ------------------------------------------------------------------------------------

    def begin(self, targets: list[str]) -> tuple[int, bool]:
        """A run id, and whether it continues an interrupted run of the same targets."""
        row = self.db.execute("SELECT id, targets, status FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        if row is not None and row[2] == "running" and json.loads(row[1]) == targets:
            return int(row[0]), True
        if row is not None and row[2] == "running":
            self.db.execute("UPDATE runs SET status='interrupted' WHERE id=?", (row[0],))
        cur = self.db.execute("INSERT INTO runs (targets, started, status) VALUES (?, ?, 'running')",
                              (json.dumps(targets, ensure_ascii=False), time.time()))
        return int(cur.lastrowid or 0), False

    def finish(self, run_id: int, status: str = "finished") -> None:
        self.db.execute("UPDATE runs SET finished=?, status=? WHERE id=?", (time.time(), status, run_id))

    # -- files -----------------------------------------------------------------------------------

    def known(self, target: str) -> dict[str, Known]:
        rows = self.db.execute("SELECT path, size, mtime, etag, exposure, sha256, state, run, failed FROM files "
                               "WHERE target=?", (target,))
        return {r[0]: Known(r[1], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8])) for r in rows}

    def result(self, path: str) -> FileResult | None:
        row = self.db.execute("SELECT size, mtime, etag, exposure, sha256, state, run, failed, result FROM files "
                              "WHERE path=?", (path,)).fetchone()
        if row is None:
            return None
        return load_result(path, Known(row[0], row[1], row[2], row[3], row[4], row[5], row[6], bool(row[7])), row[8])

    def results(self, target: str) -> Iterator[FileResult]:
        rows = self.db.execute("SELECT path, size, mtime, etag, exposure, sha256, state, run, failed, result "
                               "FROM files WHERE target=? ORDER BY path", (target,))
        for r in rows:
            yield load_result(r[0], Known(r[1], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8])), r[9])

    def record(self, target: str, run_id: int, state: str, results: Iterable[FileResult]) -> None:
        """Store results in one transaction (a crash keeps the batch whole or not at all)."""
        rows = [(r.path, target, r.size, r.mtime, r.etag, r.exposure, r.sha256, state, run_id,
                 int(r.error is not None), dump_result(r)) for r in results]
        if not rows:
            return
        self.db.execute("BEGIN")
        try:
            self.db.executemany("INSERT OR REPLACE INTO files (path, target, size, mtime, etag, exposure, sha256, "
                                "state, run, failed, result) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def forget(self, paths: Iterable[str]) -> None:
        rows = [(p,) for p in paths]
        if rows:
            self.db.execute("BEGIN")
            self.db.executemany("DELETE FROM files WHERE path=?", rows)
            self.db.execute("COMMIT")
