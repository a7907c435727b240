"""Ingest activity logs into the store: a file is taken whole, in one transaction, or not at all.

How a file goes in (all per-row work in DuckDB, none in Python):

1. Python checks the size limit, sniffs the encoding and the header (the format's layout), then reads the file
   once to compute its SHA-256 (a file already ingested is skipped), count its lines and check that it is UTF-8
   (or CP932 / Shift_JIS, which is transcoded to a UTF-8 copy next to the store).
2. In one transaction DuckDB reads it with ``read_csv`` (every column ``VARCHAR``, explicit column names, RFC 4180
   quoting; malformed rows go to a rejects table with their line), numbers the rows in file order, and parses
   and validates them in SQL into a temporary table.
3. Line numbers: when every line of the file is one record (the usual case), a row's line is its position plus
   the header and the rejected lines before it; otherwise (quoted newlines, blank lines) Python's ``csv`` module
   finds the line where each record starts.
4. Events not already present are inserted with one ``INSERT ... SELECT`` and an anti-join on ``key`` (no unique
   index: maintaining one over tens of millions of keys is far slower than a hash anti-join per file); a key
   seen twice in the same file keeps its first row. Rejected rows (line, code, column) and the file's summary
   row follow, then COMMIT. Any error rolls everything back.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np

from himitsu.insider import formats
from himitsu.insider.errors import InsiderError
from himitsu.insider.formats import Plan, sql_str
from himitsu.insider.store import Store

__all__ = ["DEFAULT_MAX_BYTES", "FORMATS", "IngestReport", "ingest_file"]

DEFAULT_MAX_BYTES = 20 * 1024**3
FORMATS = ("cert", "m365")
SAMPLES = 20
_CHUNK = 8 * 1024 * 1024
_HEAD = 1024 * 1024

Progress = Callable[[int, int], object]

# DuckDB's CSV error types -> our row codes
_CSV_ERRORS = {
    "MISSING COLUMNS": "insider.row.columns",
    "TOO MANY COLUMNS": "insider.row.columns",
    "UNQUOTED VALUE": "insider.row.quoting",
    "LINE SIZE OVER MAXIMUM": "insider.row.too_long",
}


@dataclass
class IngestReport:
    """What happened to one file. ``rows`` = data rows read = added + duplicates + rejected + ignored;
    ``ignored`` rows are skipped by design (e.g. Microsoft 365 operations Himitsu does not use; see
    ``ignored_by``). ``samples``: up to 20 rejected rows as (line, code, column)."""

    path: str
    name: str
    sha256: str
    format: str
    kind: str | None
    rows: int
    added: int
    duplicates: int
    rejected: int
    skipped: bool
    first_ts: datetime | None
    last_ts: datetime | None
    samples: list[tuple[int, str, str]] = field(default_factory=list)
    file_id: int | None = None
    ignored: int = 0
    ignored_by: dict[str, int] = field(default_factory=dict)


def ingest_file(store: Store, path: str | Path, fmt: str, *, tz: str = "Asia/Tokyo", progress: Progress | None = None,
                max_bytes: int = DEFAULT_MAX_BYTES) -> IngestReport:
    """Ingest one file into ``store``; ``fmt`` is ``"cert"``, ``"m365"`` or the path of a mapping YAML file.

    ``tz`` is the zone of local times (CERT dates; a mapping's times unless it names its own zone).
    ``progress(done, total)`` is called now and then; the unit is bytes and each byte counts twice (read once
    to hash and check it, once by DuckDB), so ``total`` is twice the file's size; it may be called from a worker
    thread while DuckDB reads the file. If it raises, the ingest is rolled back and the exception propagates.
    Raises :class:`InsiderError` (nothing added) when the file cannot be ingested at all.
    """
    p = Path(path)
    name = p.name
    try:
        size = p.stat().st_size
        if not p.is_file():
            raise OSError("not a file")
    except OSError as exc:
        raise InsiderError("insider.file.missing", path=str(p)) from exc
    if size > max_bytes:
        raise InsiderError("insider.file.too_large", name=name, size=size, limit=max_bytes)
    if size == 0:
        raise InsiderError("insider.file.empty", name=name)
    formats.normalize_tz(tz)
    mapping = _mapping(fmt)
    with p.open("rb") as fh:
        head = fh.read(_HEAD)
    if b"\x00" in head:
        raise InsiderError("insider.file.binary", name=name)
    allowed = ("utf-8",) if mapping is not None and mapping.format == "jsonl" else \
        _mapping_encodings(mapping)
    encoding = _sniff(head, allowed, name, complete=size <= _HEAD)
    text = head.decode(encoding, errors="ignore")
    if not text.strip("\ufeff \t\r\n"):
        raise InsiderError("insider.file.empty", name=name)
    plan = _plan(fmt, mapping, text, tz, name)
    scan = _Scan(p, size, name)
    if encoding == "utf-8":
        try:
            return _Load(store, p, p, plan, scan, progress).run()
        except _NotUtf8 as exc:
            if "cp932" not in plan.encodings:
                raise InsiderError("insider.file.encoding", name=name, encodings=_enc_names(plan.encodings),
                                   offset=exc.offset) from None
    else:
        scan.run()
    source = _transcode(p, "cp932", store.temp_directory, scan.sha256, name)
    try:
        return _Load(store, p, source, plan, scan, progress).run()
    finally:
        source.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------ preparation

def _mapping(fmt: str) -> formats.Mapping | None:
    if fmt in FORMATS:
        return None
    p = Path(fmt)
    if p.suffix.lower() in (".yml", ".yaml") or p.is_file():
        return formats.load_mapping(p)
    raise InsiderError("insider.format.unknown", format=fmt)


def _mapping_encodings(mapping: formats.Mapping | None) -> tuple[str, ...]:
    if mapping is None or mapping.encoding == "auto":
        return ("utf-8", "cp932")
    return (mapping.encoding,)


def _sniff(head: bytes, allowed: tuple[str, ...], name: str, *, complete: bool) -> str:
    """The first of ``allowed`` encodings in which the file's first megabyte is valid text."""
    first_error = 0
    for encoding in allowed:
        try:
            codecs.getincrementaldecoder(encoding)().decode(head, final=complete)
            return encoding
        except UnicodeDecodeError as exc:
            first_error = first_error or exc.start
    raise InsiderError("insider.file.encoding", name=name, encodings=_enc_names(allowed), offset=first_error)


def _enc_names(encodings: tuple[str, ...]) -> str:
    return " or ".join({"utf-8": "UTF-8", "cp932": "Shift_JIS (CP932)"}[e] for e in encodings)


def _plan(fmt: str, mapping: formats.Mapping | None, text: str, tz: str, name: str) -> Plan:
    if mapping is not None:
        header: list[str] = []
        if mapping.format == "csv":
            header, _ = formats.parse_header(text, mapping.delimiter, rows=0)
        return formats.mapping_plan(mapping, header, tz, name)
    header, sample = formats.parse_header(text)
    if fmt == "cert":
        found = formats.detect_cert(header, sample, name)
        if found is None:
            raise InsiderError("insider.file.cert_header", name=name, columns=_shown(header))
        return formats.cert_plan(found[0], found[1], tz)
    if "auditdata" not in (formats._norm(h) for h in header):
        raise InsiderError("insider.file.m365_header", name=name, columns=_shown(header))
    return formats.m365_plan(header)


def _shown(header: list[str]) -> str:
    cols = ", ".join(h.strip()[:40] for h in header[:20])
    return cols or "-"


class _Scan(threading.Thread):
    """SHA-256, number of lines and a check for NUL bytes, in one read of the file. It runs in a thread while
    DuckDB reads the file (hashlib and numpy release the GIL), so the two reads overlap."""

    def __init__(self, path: Path, size: int, name: str) -> None:
        super().__init__(daemon=True)
        self.path, self.size, self.name = path, size, name
        self.done = 0
        self.lines = 0
        self.sha256 = ""
        self.binary = False
        self.error: BaseException | None = None
        self.finished = False
        self.cancelled = False

    def run(self) -> None:
        try:
            digest = hashlib.sha256()
            last = b""
            with self.path.open("rb") as fh:
                while not self.cancelled and (chunk := fh.read(_CHUNK)):
                    digest.update(chunk)
                    view = np.frombuffer(chunk, dtype=np.uint8)
                    self.lines += int(np.count_nonzero(view == 10))
                    if not self.binary and not view.all():
                        self.binary = True
                    self.done += len(chunk)
                    last = chunk[-1:]
            if last not in (b"\n", b""):
                self.lines += 1
            if not self.cancelled:
                self.sha256 = digest.hexdigest()
        except BaseException as exc:  # reported by result()
            self.error = exc
        self.finished = True

    def result(self) -> _Scan:
        if not self.finished:
            if self.ident is None:
                self.start()
            self.join()
        if self.error is not None:
            raise InsiderError("insider.file.unreadable", name=self.name, reason=str(self.error)) from self.error
        assert self.sha256, "the scan was cancelled"
        if self.binary:
            raise InsiderError("insider.file.binary", name=self.name)
        return self


class _NotUtf8(Exception):
    """DuckDB found bytes that are not UTF-8 after the first megabyte (which looked like UTF-8)."""

    def __init__(self, offset: int) -> None:
        self.offset = offset


class _Known(Exception):
    """The file's SHA-256 is already in the store."""

    def __init__(self, row: tuple) -> None:
        self.row = row


def _transcode(p: Path, encoding: str, folder: Path, sha: str, name: str) -> Path:
    """A UTF-8 copy of a CP932 file, in the store's temporary folder (removed after the ingest)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"transcode-{sha[:16]}.csv"
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    try:
        with p.open("rb") as src, out.open("w", encoding="utf-8", newline="") as dst:
            while chunk := src.read(_CHUNK):
                dst.write(decoder.decode(chunk))
                offset += len(chunk)
            dst.write(decoder.decode(b"", final=True))
    except UnicodeDecodeError as exc:
        out.unlink(missing_ok=True)
        raise InsiderError("insider.file.encoding", name=name, encodings=_enc_names(("utf-8", encoding)),
                           offset=offset + exc.start) from exc
    return out


# ------------------------------------------------------------------------------------------------ load

class _Load:
    """One file's transaction."""

    def __init__(self, store: Store, path: Path, source: Path, plan: Plan, scan: _Scan,
                 progress: Progress | None) -> None:
        self.con = store.con
        self.path, self.source, self.plan, self.scan, self.size = path, source, plan, scan, scan.size
        self.progress = progress
        self.offset = 1 if plan.header else 0
        self.fraction = 0.0
        self.callback_error: BaseException | None = None

    def _report(self, fraction: float | None = None) -> None:
        """Progress in bytes: the hashing read and DuckDB's read each count for the file's size."""
        if fraction is not None:
            self.fraction = max(self.fraction, min(fraction, 1.0))
        if self.progress is not None:
            self.progress(self.scan.done + int(self.size * self.fraction), 2 * self.size)

    def run(self) -> IngestReport:
        con = self.con
        if not self.scan.finished and self.scan.ident is None:
            self.scan.start()
        con.execute("BEGIN TRANSACTION")
        try:
            report = self._run()
            self._report(1.0)
            con.execute("COMMIT")
        except BaseException as exc:
            if not isinstance(exc, _NotUtf8):  # (after _NotUtf8 the file is read again: the hash is still needed)
                self.scan.cancelled = True
            try:
                con.execute("ROLLBACK")
            except duckdb.Error:  # the transaction is already gone (DuckDB aborted it): nothing was committed
                pass
            if isinstance(exc, _Known):
                row = exc.row
                return IngestReport(path=str(self.path), name=self.path.name, sha256=self.scan.sha256, format=row[1],
                                    kind=row[2], rows=0, added=0, duplicates=0, rejected=0, skipped=True,
                                    first_ts=None, last_ts=None, file_id=row[0])
            if self.callback_error is not None:
                raise self.callback_error from None
            if isinstance(exc, duckdb.InvalidInputException | duckdb.IOException | duckdb.ConversionException):
                raise InsiderError("insider.file.unreadable", name=self.path.name,
                                   reason=str(exc).splitlines()[0][:300]) from exc
            raise
        finally:
            if self.scan.ident is not None:
                self.scan.join()
            for table in ("ins_stage", "ins_rej", "ins_rej_scan", "ins_lines", "ins_corr", "ins_csvrej", "ins_rejmap"):
                try:
                    con.execute(f"DROP TABLE IF EXISTS temp.{table}")
                except duckdb.Error:
                    break
        return report

    def _read_sql(self) -> str:
        plan = self.plan
        path = sql_str(str(self.source))
        if plan.reader == "lines":
            cols = "{'c1': 'VARCHAR'}"
            opts = "header = false, delim = '\x1e', quote = '', escape = ''"
        else:
            cols = "{" + ", ".join(f"'c{i + 1}': 'VARCHAR'" for i in range(len(plan.columns))) + "}"
            opts = (f"header = {str(plan.header).lower()}, delim = {sql_str(plan.delimiter)}, quote = '\"', "
                    f"escape = '\"'")
        sql = (f"SELECT row_number() OVER () AS rn, * FROM read_csv({path}, columns = {cols}, {opts}, "
               f"auto_detect = false, encoding = 'utf-8', ignore_errors = true, store_rejects = true, "
               f"rejects_table = 'ins_rej', rejects_scan = 'ins_rej_scan', rejects_line_size_limit = 1, "
               f"max_line_size = {plan.max_line_size}, "
               f"null_padding = false)")
        if plan.reader == "lines":
            sql = f"SELECT * FROM ({sql}) WHERE nullif(trim(c1), '') IS NOT NULL"
        for step in plan.steps:
            sql = f"SELECT rn, {step} FROM ({sql})"
        return sql

    def _stage(self) -> None:
        con = self.con
        for table in ("ins_rej", "ins_rej_scan"):
            con.execute(f"DROP TABLE IF EXISTS temp.{table}")
        sql = f"CREATE OR REPLACE TEMP TABLE ins_stage AS {self._read_sql()}"
        if self.progress is None:
            con.execute(sql)
            return
        con.execute("SET enable_progress_bar = true")
        con.execute("SET enable_progress_bar_print = false")
        stop = threading.Event()

        def poll() -> None:  # the callback runs in this thread while DuckDB works; if it raises, stop DuckDB
            while not stop.wait(0.25):
                pct = con.query_progress()
                try:
                    self._report(0.7 * pct / 100.0 if pct >= 0 else None)
                except BaseException as exc:
                    self.callback_error = exc
                    con.interrupt()
                    return

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        try:
            con.execute(sql)
        finally:
            stop.set()
            thread.join()
            con.execute("RESET enable_progress_bar")
        if self.callback_error is not None:
            raise self.callback_error

    def _run(self) -> IngestReport:
        con, plan = self.con, self.plan
        file_id = con.execute("SELECT nextval('ingested_seq')").fetchone()[0]  # type: ignore[index]
        self._report(0.0)
        self._stage()
        self._report(0.7)
        scan = self.scan.result()
        known = con.execute("SELECT file_id, format, kind FROM ingested WHERE sha256 = ?", [scan.sha256]).fetchone()
        if known is not None:
            raise _Known(known)
        bad = con.execute("SELECT min(byte_position) FROM ins_rej WHERE error_type = 'INVALID ENCODING'").fetchone()
        if bad is not None and bad[0] is not None:
            raise _NotUtf8(int(bad[0]))
        con.execute("""CREATE OR REPLACE TEMP TABLE ins_csvrej AS
            SELECT line, arg_min(error_type::VARCHAR, coalesce(column_idx, 0)) AS error_type,
                   arg_min(column_name, coalesce(column_idx, 0)) AS column_name
            FROM ins_rej GROUP BY line""")
        accepted = con.execute("SELECT count(*) FROM ins_stage").fetchone()[0]  # type: ignore[index]
        csv_rejected = con.execute("SELECT count(*) FROM ins_csvrej").fetchone()[0]  # type: ignore[index]
        line_sql, join_sql = self._lines(accepted, csv_rejected)
        valid = "s.code IS NULL AND NOT s.ignored"
        # a key twice in this file keeps its first row; a key already in the store is a duplicate
        inserted = con.execute(f"""
            INSERT INTO events (key, file_id, line, ts, "user", pc, kind, action, target, removable, bytes,
                                attachments)
            SELECT s.key, {file_id}, {line_sql}, s.ts, s."user", s.pc, s.kind, s.action, s.target, s.removable,
                   s.bytes, s.attachments
            FROM ins_stage s {join_sql}
            WHERE {valid}
              AND s.rn IN (SELECT min(rn) FROM ins_stage s WHERE {valid} GROUP BY key)
              AND NOT EXISTS (SELECT 1 FROM events e WHERE e.key = s.key AND {self._existing()})""").fetchone()[0]  # type: ignore[index]
        self._report(0.95)
        con.execute(f"""INSERT INTO rejected (file_id, line, code, detail)
            SELECT {file_id}, {line_sql}, s.code, s.detail FROM ins_stage s {join_sql} WHERE s.code IS NOT NULL""")
        self._insert_csv_rejects(file_id)
        stats = con.execute(f"""SELECT count(*) FILTER (WHERE s.code IS NOT NULL),
                count(*) FILTER (WHERE s.code IS NULL AND s.ignored),
                count(*) FILTER (WHERE {valid}), min(s.ts) FILTER (WHERE {valid}), max(s.ts) FILTER (WHERE {valid})
            FROM ins_stage s""").fetchone()
        assert stats is not None
        bad, ignored, candidates, first_ts, last_ts = stats
        rows = accepted + csv_rejected
        rejected = bad + csv_rejected
        if rows == 0:
            raise InsiderError("insider.file.no_rows", name=self.path.name)
        samples = [(int(r[0]), str(r[1]), str(r[2] or "")) for r in con.execute(
            "SELECT line, code, detail FROM rejected WHERE file_id = ? ORDER BY line LIMIT ?",
            [file_id, SAMPLES]).fetchall()]
        if rejected == rows:
            line, code, _ = samples[0]
            raise InsiderError("insider.file.all_rejected", name=self.path.name, rows=rows, problem=code,
                               line=line)
        ignored_by: dict[str, int] = {}
        if ignored:
            ignored_by = {str(k): int(v) for k, v in con.execute(
                """SELECT coalesce(note, '-'), count(*) FROM ins_stage WHERE code IS NULL AND ignored
                   GROUP BY ALL ORDER BY 2 DESC, 1 LIMIT 50""").fetchall()}
        duplicates = candidates - inserted
        con.execute("""INSERT INTO ingested (file_id, sha256, name, format, kind, rows, added, duplicates, rejected,
                first_ts, last_ts, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    [file_id, scan.sha256, self.path.name, plan.format, plan.kind, rows, inserted, duplicates,
                     rejected, first_ts, last_ts, datetime.now(UTC).replace(tzinfo=None)])
        return IngestReport(path=str(self.path), name=self.path.name, sha256=scan.sha256, format=plan.format,
                            kind=plan.kind, rows=rows, added=inserted, duplicates=duplicates, rejected=rejected,
                            skipped=False, first_ts=first_ts, last_ts=last_ts, samples=samples, file_id=file_id,
                            ignored=ignored, ignored_by=ignored_by)

    def _existing(self) -> str:
        """Which stored events can share a key with this file's: those of the same source (keys start with it;
        a range on ``key`` lets DuckDB skip row groups by their min/max) and, for CERT, of the same kind (an id
        names one event of one log). The anti-join then costs little however large the store grows."""
        src = self.plan.source
        cond = f"e.key >= {sql_str(src + ':')} AND e.key < {sql_str(src + ';')}"
        if self.plan.kind is not None:
            cond += f" AND e.kind = {sql_str(self.plan.kind)}"
        return cond

    # --------------------------------------------------------------------------------------- line numbers

    def _lines(self, accepted: int, csv_rejected: int) -> tuple[str, str]:
        """SQL of a staged row's line in the file, and the join it needs."""
        con = self.con
        if self.plan.reader == "lines" or self.scan.lines == accepted + csv_rejected + self.offset:
            # every line is one record (JSON lines: blank lines too, numbered before they are dropped): the
            # row's position plus the header and the rejected lines before it
            self.csv_line_sql = "r.line"
            if csv_rejected == 0:
                return f"s.rn + {self.offset}", ""
            con.execute(f"""CREATE OR REPLACE TEMP TABLE ins_corr AS
                SELECT a, max(j) AS c FROM (
                    SELECT line - {self.offset} - row_number() OVER (ORDER BY line) AS a,
                           row_number() OVER (ORDER BY line) AS j FROM ins_csvrej)
                GROUP BY a""")
            return f"s.rn + {self.offset} + coalesce(k.c, 0)", "ASOF LEFT JOIN ins_corr k ON s.rn > k.a"
        phys, duck = self._record_starts()
        rejected_lines = {r[0] for r in con.execute("SELECT line FROM ins_csvrej").fetchall()}
        kept = [ph for ph, dk in zip(phys, duck, strict=True) if dk not in rejected_lines]
        if len(kept) != accepted:  # the parsers disagree on a malformed file: DuckDB's numbering
            self.csv_line_sql = "r.line"
            return f"s.rn + {self.offset}", ""
        to_phys = dict(zip(duck, phys, strict=True))
        con.execute("CREATE OR REPLACE TEMP TABLE ins_lines (rn BIGINT, line BIGINT)")
        con.execute("INSERT INTO ins_lines SELECT generate_subscripts($1, 1), unnest($1)", [kept])
        con.execute("CREATE OR REPLACE TEMP TABLE ins_rejmap (duck BIGINT, line BIGINT)")
        pairs = [(d, to_phys[d]) for d in rejected_lines if d in to_phys]
        if pairs:
            con.execute("INSERT INTO ins_rejmap SELECT unnest($1), unnest($2)",
                        [[d for d, _ in pairs], [ph for _, ph in pairs]])
        self.csv_line_sql = "coalesce((SELECT m.line FROM ins_rejmap m WHERE m.duck = r.line), r.line)"
        return "l.line", "JOIN ins_lines l ON l.rn = s.rn"

    def _record_starts(self) -> tuple[list[int], list[int]]:
        """For each record (data row) of the file: the line it starts on, and the line DuckDB reports for it
        (DuckDB does not count newlines inside quoted fields)."""
        phys: list[int] = []
        duck: list[int] = []
        with self.source.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, delimiter=self.plan.delimiter)
            start, embedded = 1, 0
            try:
                for row in reader:
                    end = reader.line_num
                    if row and not (self.plan.header and start == 1):
                        phys.append(start)
                        duck.append(start - embedded)
                    embedded += end - start
                    start = end + 1
            except csv.Error:
                pass
        return phys, duck

    def _insert_csv_rejects(self, file_id: int) -> None:
        cases = " ".join(f"WHEN {sql_str(k)} THEN {sql_str(v)}" for k, v in _CSV_ERRORS.items())
        self.con.execute(f"""INSERT INTO rejected (file_id, line, code, detail)
            SELECT {file_id}, {self.csv_line_sql}, CASE r.error_type {cases} ELSE 'insider.row.unreadable' END,
                   CASE WHEN r.error_type IN ('MISSING COLUMNS', 'TOO MANY COLUMNS') THEN 'columns'
                        ELSE coalesce(r.column_name, lower(r.error_type)) END
            FROM ins_csvrej r""")
