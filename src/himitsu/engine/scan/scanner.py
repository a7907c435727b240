"""Scan file stores with the detection engine: walk, compare with the catalogue, read and inspect what
changed — in parallel worker processes — and keep the catalogue of what was seen.

One code path for every caller (the CLI, the web app's background worker, a plain script)::

    scanner = Scanner(EngineSpec(index_dir, key, secrets), catalogue="scans/share.sqlite", workers=2)
    report = scanner.run([SourceSpec("smb://fs01/share")], on_file=..., on_progress=...)

What is read again: a file whose size, modification time or ETag changed, a file whose last read failed,
and every file when the engine changed since it was inspected (a document registered or removed, other
detectors): any file could hold the new secret. A changed file whose SHA-256 is the one already inspected
is not inspected again. ``full=True`` reads everything.

Workers are processes (``forkserver``), each with its own engine on the same index (read-only, memory-
mapped) and its own connection to the source; the parent walks, decides and records. ``workers=1``
inspects in the calling process. Scanning beyond one machine is described in docs/scanning.md.
"""

from __future__ import annotations

import fcntl
import hashlib
import multiprocessing
import posixpath
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path

from himitsu.engine.check import Engine
from himitsu.engine.scan.catalogue import Catalogue
from himitsu.engine.scan.model import EngineSpec, FileResult, Progress, ScanLimits, ScanReport, keep_strongest
from himitsu.engine.scan.sources import open_source
from himitsu.engine.scan.sources.base import Entry, ScanIOError, Source, SourceSpec, WalkError

#: bump when what an inspection finds changes for the same engine state (invalidates every catalogue)
ENGINE_VERSION = "1"
#: results are committed to the catalogue at least this often (files, seconds)
FLUSH_FILES = 500
FLUSH_SECONDS = 2.0
PROGRESS_SECONDS = 0.2
#: files handed to a worker process in one task: at most this many, and at most this many bytes
BATCH_FILES = 32
BATCH_BYTES = 8 * 1024 * 1024


class ScanBusy(Exception):
    """Another process is scanning with the same catalogue."""


@dataclass(frozen=True)
class _Same:
    """A worker's answer when the bytes are the ones already inspected (only the metadata changed)."""

    entry: Entry
    sha256: str


def _open_engine(spec: EngineSpec, limits: ScanLimits) -> Engine:
    secrets = dict(spec.secrets)
    return Engine(index_dir=spec.index_dir, key=spec.key, limits=limits.inspect, detectors=spec.detectors,
                  resolve=secrets.get)


def _failed(entry: Entry, code: str, detail: str) -> FileResult:
    """The result of a file that could not be read (no findings)."""
    return FileResult(entry.path, entry.size, entry.mtime, entry.etag, entry.exposure,
                      error=WalkError(entry.path, code, detail[:500]))


def _name(path: str) -> str:
    return posixpath.basename(path.replace("\\", "/")) or path


class _Inspector:
    """Reads and inspects one entry; one per process (the parent when inline, each worker otherwise)."""

    def __init__(self, spec: EngineSpec, limits: ScanLimits) -> None:
        self.engine = _open_engine(spec, limits)
        self.limits = limits
        self.sources: dict[str, Source] = {}

    def source(self, spec: SourceSpec) -> Source:
        key = repr((spec.url, sorted(spec.options.items())))
        if key not in self.sources:
            self.sources[key] = open_source(spec)
        return self.sources[key]

    def inspect(self, spec: SourceSpec, entry: Entry, known_sha: str) -> FileResult | _Same:
        try:
            data = self.source(spec).read(entry, self.limits.max_file_bytes)
        except ScanIOError as exc:
            return _failed(entry, exc.code, exc.detail)
        sha = hashlib.sha256(data).hexdigest()
        if sha == known_sha:
            return _Same(entry, sha)
        result = self.engine.check(data, _name(entry.path))
        findings, totals = keep_strongest(result.findings)
        return FileResult(entry.path, len(data), entry.mtime, entry.etag, entry.exposure, sha,
                          findings, tuple(result.problems), totals=totals)

    def close(self) -> None:
        for source in self.sources.values():
            source.close()
        self.sources.clear()


_WORKER: _Inspector | None = None


def _worker_init(spec: EngineSpec, limits: ScanLimits) -> None:
    global _WORKER
    _WORKER = _Inspector(spec, limits)


def _worker_inspect(spec: SourceSpec, batch: list[tuple[Entry, str]]) -> list[FileResult | _Same]:
    """Several files per task: one message each way for many small files."""
    assert _WORKER is not None
    return [_WORKER.inspect(spec, entry, known_sha) for entry, known_sha in batch]


class Scanner:
    def __init__(self, engine: EngineSpec, catalogue: str | Path, *, workers: int = 1,
                 limits: ScanLimits | None = None, full: bool = False) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.spec = engine
        self.catalogue_path = Path(catalogue)
        self.workers = workers
        self.limits = limits or ScanLimits()
        self.full = full

    # -- the engine state a result was produced with ----------------------------------------------

    def _state(self, engine: Engine) -> str:
        generation = engine.index.generation if engine.index is not None else 0
        detectors = ",".join(d.id for d in engine.detectors)
        return f"{ENGINE_VERSION}|{engine.fingerprinter.id}|{generation}|{detectors}|{self.limits.inspect}"

    def run(self, targets: Sequence[SourceSpec], *, on_file: Callable[[FileResult], None] | None = None,
            on_vanished: Callable[[str], None] | None = None,
            on_progress: Callable[[Progress], None] | None = None,
            should_stop: Callable[[], bool] | None = None) -> ScanReport:
        self.catalogue_path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(str(self.catalogue_path) + ".lock", "a+b")  # noqa: SIM115 - held for the whole run
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise ScanBusy(str(self.catalogue_path)) from exc
            return _Run(self, list(targets), on_file, on_vanished, on_progress, should_stop).go()
        finally:
            lock.close()


class _Run:
    def __init__(self, scanner: Scanner, targets: list[SourceSpec], on_file: Callable[[FileResult], None] | None,
                 on_vanished: Callable[[str], None] | None, on_progress: Callable[[Progress], None] | None,
                 should_stop: Callable[[], bool] | None) -> None:
        self.s = scanner
        self.targets = targets
        self.on_file = on_file or (lambda r: None)
        self.on_vanished = on_vanished or (lambda p: None)
        self.on_progress = on_progress
        self.should_stop = should_stop or (lambda: False)
        self.progress = Progress()
        self.catalogue = Catalogue(scanner.catalogue_path)
        self.inline = _Inspector(scanner.spec, scanner.limits)
        self.state = scanner._state(self.inline.engine)
        self.pool: ProcessPoolExecutor | None = None
        self.buffer: list[FileResult] = []
        self.flushed = time.monotonic()
        self.reported = 0.0
        self.stopped = False

    # -- helpers ----------------------------------------------------------------------------------

    def _tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.on_progress is not None and (force or now - self.reported >= PROGRESS_SECONDS):
            self.reported = now
            self.on_progress(self.progress)

    def _flush(self, target: str, run_id: int, force: bool = False) -> None:
        if self.buffer and (force or len(self.buffer) >= FLUSH_FILES
                            or time.monotonic() - self.flushed >= FLUSH_SECONDS):
            self.catalogue.record(target, run_id, self.state, self.buffer)
            self.buffer = []
            self.flushed = time.monotonic()

    def _done(self, result: FileResult) -> None:
        self.progress.files_done += 1
        if result.error is not None:
            self.progress.errors += 1
        else:
            self.progress.files_read += 1
            self.progress.bytes_read += result.size
        self.on_file(result)  # first: a result the caller failed to record is not committed as seen
        self.buffer.append(result)

    def _pool(self) -> ProcessPoolExecutor:
        if self.pool is None:
            context = multiprocessing.get_context("forkserver")
            self.pool = ProcessPoolExecutor(self.s.workers, mp_context=context, initializer=_worker_init,
                                            initargs=(self.s.spec, self.s.limits))
        return self.pool

    def _answer(self, entry: Entry, answer: FileResult | _Same, spec: SourceSpec) -> FileResult:
        if isinstance(answer, _Same):
            previous = self.catalogue.result(entry.path)
            if previous is not None:
                return replace(previous, size=entry.size, mtime=entry.mtime, etag=entry.etag,
                               exposure=entry.exposure, sha256=answer.sha256)
            # the catalogue lost the row (cannot happen without a concurrent writer): inspect again
            return self._inspect_now(spec, entry, "")
        return answer

    def _inspect_now(self, spec: SourceSpec, entry: Entry, known_sha: str) -> FileResult:
        answer = self.inline.inspect(spec, entry, known_sha)
        return answer if isinstance(answer, FileResult) else self._answer(entry, answer, spec)

    # -- the run ----------------------------------------------------------------------------------

    def go(self) -> ScanReport:
        started = time.monotonic()
        urls = [t.url for t in self.targets]
        run_id, resumed = self.catalogue.begin(urls)
        report = ScanReport(run_id=run_id, targets=urls, progress=self.progress, resumed_run=resumed)
        try:
            for spec in self.targets:
                if self.stopped:
                    break
                self._target(spec, run_id, report)
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)
            self.inline.close()
            self.progress.files_total = self.progress.files_seen
            self.catalogue.finish(run_id, "running" if self.stopped else "finished")
            self.catalogue.close()
            report.seconds = time.monotonic() - started
            report.stopped = self.stopped
            self._tick(force=True)
        return report

    def _target(self, spec: SourceSpec, run_id: int, report: ScanReport) -> None:
        limit = self.s.limits.max_file_bytes
        known = self.catalogue.known(spec.url)
        seen: set[str] = set()
        complete = True
        pending: dict[Future[list[FileResult | _Same]], list[Entry]] = {}
        max_pending = self.s.workers * 2
        batch: list[tuple[Entry, str]] = []
        batch_bytes = 0
        try:
            source = open_source(spec)
        except ScanIOError as exc:
            report.errors.append(WalkError(spec.url, exc.code, exc.detail))
            report.failed_targets.append(spec.url)
            self.progress.errors += 1
            return

        def collect(block: bool) -> None:
            if not pending:
                return
            done, _ = wait(list(pending), timeout=None if block else 0, return_when=FIRST_COMPLETED)
            for future in done:
                entries = pending.pop(future)
                try:
                    answers = future.result()
                except BrokenProcessPool:
                    self.pool = None  # a worker died (killed, out of memory): these files are errors, go on
                    answers = [_failed(e, "scan.io", "the worker process died") for e in entries]
                for entry, answer in zip(entries, answers, strict=True):
                    self._done(self._answer(entry, answer, spec))

        def submit() -> None:
            nonlocal batch, batch_bytes
            if batch:
                pending[self._pool().submit(_worker_inspect, spec, batch)] = [e for e, _ in batch]
                batch, batch_bytes = [], 0
            while len(pending) >= max_pending:
                collect(block=True)
            collect(block=False)

        try:
            for item in source.walk():
                if self.should_stop():
                    self.stopped = True
                    complete = False
                    break
                seen.add(item.path)
                if isinstance(item, WalkError):
                    report.errors.append(item)
                    self.progress.errors += 1
                    self._tick()
                    continue
                entry = item
                self.progress.files_seen += 1
                k = known.get(entry.path)
                if (k is not None and not self.s.full and not k.failed and k.state == self.state
                        and k.size == entry.size and k.mtime == entry.mtime and k.etag == entry.etag):
                    self.progress.unchanged += 1
                    self.progress.files_done += 1
                    if k.run == run_id:
                        self.progress.resumed += 1
                    if k.exposure != entry.exposure:  # permissions changed, content did not
                        previous = self.catalogue.result(entry.path)
                        if previous is not None:
                            changed = replace(previous, exposure=entry.exposure)
                            self.on_file(changed)
                            self.buffer.append(changed)
                    self._flush(spec.url, run_id)
                    self._tick()
                    continue
                if entry.size > limit:
                    self._done(_failed(entry, "scan.too_large", str(limit)))
                    continue
                self.progress.bytes_total += entry.size
                known_sha = k.sha256 if k is not None and k.state == self.state and not self.s.full else ""
                if self.s.workers == 1:
                    self._done(self._inspect_now(spec, entry, known_sha))
                else:
                    batch.append((entry, known_sha))
                    batch_bytes += entry.size
                    if len(batch) >= BATCH_FILES or batch_bytes >= BATCH_BYTES or len(pending) < self.s.workers:
                        submit()
                self._flush(spec.url, run_id)
                self._tick()
        except ScanIOError as exc:  # the target itself failed (cannot connect, not found, dropped)
            report.errors.append(WalkError(spec.url, exc.code, exc.detail))
            report.failed_targets.append(spec.url)
            self.progress.errors += 1
            complete = False
        finally:
            if batch and not self.stopped:
                submit()
            while pending:
                collect(block=True)
            self._flush(spec.url, run_id, force=True)
            source.close()
        if complete:
            gone = sorted(set(known) - seen)
            self.catalogue.forget(gone)
            for path in gone:
                report.vanished.append(path)
                self.on_vanished(path)
        self._tick(force=True)
