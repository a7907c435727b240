"""Scanner benchmark (issue 5, `make bench`): `.venv/bin/python -m tests.bench.scan`, Markdown on standard output.

- The mixed office corpus of `tests.bench.scan_corpus` (about 2,500 files, PDF / DOCX / XLSX / PPTX / UTF-8 and
  Shift_JIS text and CSV / e-mail / ZIP, 50 registered secrets planted in about 5 % of the files), cached in
  ``--corpus-dir`` (default var/bench/scan-corpus) and rebuilt only when missing or of another version.
- For workers 1 and 2: a first scan (fresh catalogue) and a rescan of the unchanged tree: files/s, MB/s of file
  bytes (and per worker), wall and CPU time (this process + its children, worker processes included), planted
  secrets found / expected, markings found, errors and extraction problems by code, and the machine's load.
- Where the time goes: a sample of each format checked inline (`extract` then `Engine.inspect`), CPU per MB.
- The rescan target: ``--small-files`` (100,000) files of 100-500 bytes in folders of 100 (created once, cached),
  a first scan with 2 workers, then the rescan of the unchanged tree against the 30 s target.

All runs read from the page cache (the corpus was just written or read): disk throughput is not measured.
Options: ``--files N`` (a smaller corpus, cached separately by its manifest), ``--skip-100k``, ``--workers 1,2``,
``--sample N`` (files per format in the per-format pass, 0 skips it).
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.forkserver
import os
import random
import resource
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench.detect_data import machine_reference, section, table
from tests.bench.scan_corpus import FILES, KEY, SEED, Corpus, ensure, ensure_small_files

ROOT = Path(__file__).resolve().parents[2]
#: anchors of issue 5
PEER_MB_S_PER_CORE = 1.8e3 / 3600 / 4  # a commercial discovery agent: ~1.8 GB/hour on 4 cores
TARGET_MB_S_PER_CORE = 10.0
TARGET_RESCAN_S = 30.0


def log(message: str) -> None:
    print(f"<!-- {message} -->", file=sys.stderr, flush=True)


# -- measuring ---------------------------------------------------------------------------------------


def _cpu() -> float:
    """CPU seconds of this process and of its waited-for descendants."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _busy() -> float:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _stop_forkserver() -> None:
    """Stop the forkserver so that the CPU time of the worker processes (its children, which it has reaped)
    is added to this process's RUSAGE_CHILDREN; the next pool starts a new one."""
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    stop = getattr(server, "_stop", None)
    if stop is not None:
        stop()


@dataclass
class Run:
    label: str
    workers: int
    wall: float = 0.0
    cpu: float = 0.0
    cpu_parent: float = 0.0  # of ``cpu``: this process (walk, decisions, catalogue; everything when inline)
    findings: int = 0  # findings stored in the catalogue by this run
    others_cpu: float = 0.0  # CPU seconds of other processes on the machine during the run
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average before / after
    files_seen: int = 0
    files_read: int = 0
    bytes_read: int = 0
    unchanged: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    problems: Counter[str] = field(default_factory=Counter)
    secret_ids: dict[str, set[int]] = field(default_factory=dict)  # path -> registered-secret ids found
    marked: set[str] = field(default_factory=set)                  # paths with a marking finding
    detectors: Counter[str] = field(default_factory=Counter)       # files with a finding of each detector


def scan(spec, root: Path, catalogue: Path, workers: int, label: str, *, keep: bool = True,
         progress_every: int = 0) -> Run:
    from himitsu.engine.scan.scanner import Scanner
    from himitsu.engine.scan.sources.base import SourceSpec

    run = Run(label, workers)
    prefix = str(root) + os.sep

    def on_file(result) -> None:
        if result.error is not None:
            run.errors[result.error.code] += 1
        for problem in result.problems:
            run.problems[problem.code] += 1
        run.findings += len(result.findings)
        if not keep:
            return
        rel = result.path[len(prefix):] if result.path.startswith(prefix) else result.path
        ids = {f.secret.id for f in result.findings if f.detector == "registered-secret" and f.secret is not None}
        if ids:
            run.secret_ids[rel] = ids
        if any(f.detector == "marking" for f in result.findings):
            run.marked.add(rel)
        for detector in {f.detector for f in result.findings}:
            run.detectors[detector] += 1

    last = [time.monotonic()]

    def on_progress(p) -> None:
        if progress_every and time.monotonic() - last[0] >= progress_every:
            last[0] = time.monotonic()
            log(f"  {label}: {p.files_done:,} files done, {p.files_read:,} read, {p.errors} errors")

    load0 = os.getloadavg()[0]
    own0 = resource.getrusage(resource.RUSAGE_SELF)
    busy0, cpu0, t0 = _busy(), _cpu(), time.perf_counter()
    report = Scanner(spec, catalogue, workers=workers).run([SourceSpec(str(root))], on_file=on_file,
                                                           on_progress=on_progress)
    run.wall = time.perf_counter() - t0
    _stop_forkserver()
    run.cpu = _cpu() - cpu0
    own = resource.getrusage(resource.RUSAGE_SELF)
    run.cpu_parent = own.ru_utime + own.ru_stime - own0.ru_utime - own0.ru_stime
    run.others_cpu = max(0.0, _busy() - busy0 - run.cpu)
    run.load = (load0, os.getloadavg()[0])
    for error in report.errors:
        run.errors[error.code] += 1
    p = report.progress
    run.files_seen, run.files_read, run.bytes_read = p.files_seen, p.files_read, p.bytes_read
    run.unchanged = p.unchanged
    log(f"{label}: {run.wall:.1f} s wall, {run.cpu:.1f} s CPU, {p.files_read} read, {p.unchanged} unchanged")
    return run


# -- reporting helpers --------------------------------------------------------------------------------


def _codes(counter: Counter[str]) -> str:
    return ", ".join(f"{code} {n}" for code, n in counter.most_common()) or "none"


def _found(run: Run, corpus: Corpus) -> tuple[int, int, int, int]:
    """(planted pairs found, pairs expected, files with every planted secret found, other files with a
    registered-secret finding)."""
    found = expected = whole = 0
    for rel, ids in corpus.planted.items():
        got = run.secret_ids.get(rel, set())
        expected += len(ids)
        found += len(set(ids) & got)
        whole += set(ids) <= got
    others = sum(1 for rel in run.secret_ids if rel not in corpus.planted)
    return found, expected, whole, others


def _rate(n: float, seconds: float) -> float:
    return n / seconds if seconds > 0 else 0.0


# -- where the time goes -------------------------------------------------------------------------------


def _kind(path: Path, data: bytes) -> str:
    ext = path.suffix.lower().lstrip(".")
    if ext in ("txt", "csv"):
        try:
            data.decode("utf-8")
            return f"{ext} UTF-8"
        except UnicodeDecodeError:
            return f"{ext} Shift_JIS"
    return ext


def per_format(corpus: Corpus, sample: int) -> float:
    """Prints the per-format table; returns the estimated engine CPU-seconds of checking the whole corpus."""
    from himitsu.engine.check import Engine
    from himitsu.engine.extract import extract

    secrets = corpus.secret_refs()
    engine = Engine(index_dir=corpus.index_dir, key=KEY, resolve=secrets.get)
    files = sorted(p for p in corpus.tree.rglob("*") if p.is_file())
    groups: dict[str, list[tuple[Path, int]]] = {}
    for path in files:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
        ext = path.suffix.lower().lstrip(".")
        kind = _kind(path, head) if ext not in ("txt", "csv") else _kind(path, path.read_bytes())
        groups.setdefault(kind, []).append((path, path.stat().st_size))
    rows = []
    totals = [0.0, 0.0, 0.0]
    estimated: dict[str, float] = {}
    for kind in sorted(groups, key=lambda k: -sum(s for _, s in groups[k])):
        members = groups[kind]
        chosen = random.Random(1).sample(members, min(sample, len(members)))
        nbytes = chars = 0
        t_extract = t_inspect = 0.0
        for path, _ in chosen:
            data = path.read_bytes()
            t0 = time.process_time()
            extraction = extract(data, path.name, engine.limits)
            t1 = time.process_time()
            engine.inspect(extraction)
            t2 = time.process_time()
            nbytes += len(data)
            chars += sum(len(part.text.encode("utf-8")) for part in extraction.parts)
            t_extract += t1 - t0
            t_inspect += t2 - t1
        all_bytes = sum(s for _, s in members)
        per_byte = (t_extract + t_inspect) / max(nbytes, 1)
        estimated[kind] = per_byte * all_bytes
        totals[0] += all_bytes
        rows.append([kind, f"{len(members):,}", f"{all_bytes / 1e6:.1f}", f"{len(chosen)}",
                     f"{nbytes / 1e6:.1f} / {chars / 1e6:.1f}",
                     f"{1e3 * t_extract / len(chosen):.1f} / {1e3 * t_inspect / len(chosen):.1f}",
                     f"{_rate(nbytes / 1e6, t_extract + t_inspect):.1f}", f"{_rate(chars / 1e6, t_inspect):.1f}"])
    whole = sum(estimated.values())
    for row in rows:
        row.append(f"{100 * estimated[row[0]] / whole:.0f} %" if whole else "–")
    section("Where the time goes (per format, inline)",
            f"A sample of up to {sample} files of each kind (chosen with a fixed seed) read from the page cache and "
            "checked in this process: `extract` then `Engine.inspect` (all detectors), CPU time. Text = UTF-8 bytes "
            "of the extracted text. The last column extrapolates each kind's CPU per byte to all its bytes in the "
            f"corpus: its estimated share of a first scan's engine time (about {whole:.0f} CPU-s in all).")
    table(["kind", "files in corpus", "MB in corpus", "sampled", "MB sampled (file / text)",
           "ms per file (extract / inspect)", "MB/s of file bytes per CPU-s", "MB/s of text per CPU-s (inspect)",
           "est. share of engine time"], rows)
    return whole


# -- the benchmark -------------------------------------------------------------------------------------


def mixed(corpus: Corpus, workers_list: list[int], catalogues: Path) -> list[Run]:
    from himitsu.engine.scan.model import EngineSpec

    spec = EngineSpec(str(corpus.index_dir), KEY, corpus.secret_refs())
    runs: list[Run] = []
    for workers in workers_list:
        catalogue = catalogues / f"mixed-w{workers}.sqlite"
        runs.append(scan(spec, corpus.tree, catalogue, workers, f"first scan, {workers} worker{'s' * (workers > 1)}"))
        runs.append(scan(spec, corpus.tree, catalogue, workers, f"rescan, {workers} worker{'s' * (workers > 1)}"))
    m = corpus.manifest
    section("Mixed office corpus",
            f"{m['files']:,} files, {m['bytes'] / 1e6:.0f} MB (seed {m['seed']}, corpus version {m['version']}); "
            + ", ".join(f"{k} {v[0]:,} ({v[1] / 1e6:.0f} MB)" for k, v in sorted(m["formats"].items()))
            + f". 50 registered documents; {len(corpus.planted)} files with planted excerpts "
              f"({sum(len(v) for v in corpus.planted.values())} secret/file pairs), {len(corpus.marked)} with a "
              "極秘 / 社外秘 marking. All detectors. MB = 10^6 bytes of files read; CPU = this process and every "
              "worker process; 'others' = CPU-seconds the rest of the machine used during the run (/proc/stat), a sign "
              "of a busy second core.")
    rows = []
    for r in runs:
        mb = r.bytes_read / 1e6
        rows.append([r.label, f"{r.files_seen:,}", f"{r.files_read:,}", f"{r.wall:.1f}",
                     f"{r.cpu:.1f} ({r.cpu_parent:.1f} / {max(0.0, r.cpu - r.cpu_parent):.1f})",
                     f"{_rate(r.files_seen, r.wall):,.0f}", f"{_rate(mb, r.wall):.2f}",
                     f"{_rate(mb, r.wall) / r.workers:.2f}", f"{_rate(mb, r.cpu):.2f}",
                     f"{r.load[0]:.2f} → {r.load[1]:.2f}", f"{r.others_cpu:.0f}"])
    table(["run", "files seen", "files read", "wall s", "CPU s (parent / workers)", "files/s", "MB/s",
           "MB/s per worker",
           "MB per CPU-s", "load (1 min)", "others' CPU-s"], rows)
    rows = []
    for r in runs:
        if not r.files_read:
            continue
        found, expected, whole, others = _found(r, corpus)
        marked = sum(1 for rel in corpus.marked if rel in r.marked)
        rows.append([r.label, f"{found} / {expected}", f"{whole} / {len(corpus.planted)}", str(others),
                     f"{marked} / {len(corpus.marked)}", f"{r.findings:,}", _codes(r.errors), _codes(r.problems)])
    table(["run", "planted secrets found / expected", "planted files complete", "unplanted files with a "
           "registered-secret finding", "marked files found", "findings stored", "scan errors",
           "extraction problems"], rows)
    first = [r for r in runs if r.files_read]
    if first:
        r = first[0]
        missed = sorted(rel for rel, ids in corpus.planted.items() if not set(ids) <= r.secret_ids.get(rel, set()))
        by_ext = Counter(Path(rel).suffix for rel in missed)
        total_ext = Counter(Path(rel).suffix for rel in corpus.planted)
        print("Planted files found complete, by extension ("
              + ", ".join(f"{ext} {total_ext[ext] - by_ext[ext]}/{total_ext[ext]}" for ext in sorted(total_ext))
              + "). Files with a finding, by detector: " + ", ".join(f"{d} {n}" for d, n in r.detectors.most_common())
              + ".\n")
        if missed:
            log("missed: " + "; ".join(missed[:20]))
        extra = sorted(f"{rel} {sorted(ids)}" for rel, ids in r.secret_ids.items() if rel not in corpus.planted)
        if extra:
            log("registered-secret findings in unplanted files: " + "; ".join(extra[:20]))
    return runs


def small(folder: Path, n: int, catalogues: Path) -> tuple[Run, Run, float]:
    from himitsu.engine.scan.model import EngineSpec
    from himitsu.engine.scan.sources.base import SourceSpec
    from himitsu.engine.scan.sources.local import LocalSource

    tree = ensure_small_files(folder, n, log=log)
    index = folder / "index"  # an empty index: the rescan's cost does not depend on it
    spec = EngineSpec(str(index), KEY, {})
    from himitsu.engine.check import Engine

    Engine(index_dir=index, key=KEY)
    catalogue = catalogues / "small.sqlite"
    t0 = time.perf_counter()
    walked = sum(1 for _ in LocalSource(SourceSpec(str(tree))).walk())
    t_walk = time.perf_counter() - t0
    assert walked == n, walked
    first = scan(spec, tree, catalogue, 2, "first scan, 2 workers", keep=False, progress_every=30)
    again = scan(spec, tree, catalogue, 2, "rescan, unchanged", keep=False)
    section(f"Rescan of {n:,} small files",
            f"{n:,} files of 100-500 bytes (Japanese text) in {n // 100:,} folders of 100, on the local disk (page "
            f"cache warm). The walk alone (`LocalSource.walk`, sorted `scandir` + `stat` per file) took "
            f"{t_walk:.1f} s.")
    rows = [[r.label, f"{r.files_seen:,}", f"{r.files_read:,}", f"{r.unchanged:,}", f"{r.wall:.1f}",
             f"{r.cpu:.1f} ({r.cpu_parent:.1f} / {max(0.0, r.cpu - r.cpu_parent):.1f})",
             f"{_rate(r.files_seen, r.wall):,.0f}", _codes(r.errors), f"{r.load[0]:.2f} → {r.load[1]:.2f}",
             f"{r.others_cpu:.0f}"] for r in (first, again)]
    table(["run", "files seen", "files read", "unchanged", "wall s", "CPU s (parent / workers)", "files/s", "errors",
           "load (1 min)",
           "others' CPU-s"], rows)
    return first, again, t_walk


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.scan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus-dir", type=Path, default=ROOT / "var" / "bench" / "scan-corpus",
                        help="where the generated corpus is cached (default var/bench/scan-corpus)")
    parser.add_argument("--files", type=int, default=FILES, help=f"files of the mixed corpus (default {FILES})")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated (default 1,2)")
    parser.add_argument("--sample", type=int, default=40, help="files per format in the per-format pass (0: skip)")
    parser.add_argument("--skip-100k", action="store_true", help="skip the rescan of many small files")
    parser.add_argument("--small-files", type=int, default=100_000, help="files of the rescan target (default 100,000)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    folder = (args.corpus_dir if args.files == FILES
              else args.corpus_dir.with_name(f"{args.corpus_dir.name}-{args.files}"))
    corpus = ensure(folder, seed=args.seed, files=args.files, log=log)
    catalogues = folder / "catalogues"
    shutil.rmtree(catalogues, ignore_errors=True)
    catalogues.mkdir(parents=True)
    workers = [int(w) for w in args.workers.split(",") if w.strip()]

    print("\n## Scanner (issue 5)\n")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average at start "
          f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())}; corpus in {folder}")
    print(machine_reference())
    runs = mixed(corpus, workers, catalogues)
    if args.sample > 0:
        engine_cpu = per_format(corpus, args.sample)
        inline = next((r for r in runs if r.workers == 1 and r.files_read), None)
        if inline is not None:
            rest = inline.cpu - engine_cpu
            verdict = (f"the rest, ≈ {rest:.1f} s ({100 * rest / inline.cpu:.0f} %), is the scanner's own work (walk, "
                       "read, SHA-256, results into the catalogue)" if rest > 0.1 * inline.cpu else
                       "the scanner's own work (walk, read, SHA-256, results into the catalogue) is within the "
                       "estimate's sampling error (±10 %)")
            print(f"First scan with 1 worker: {inline.cpu:.1f} CPU-s; the engine (`extract` + `inspect`) by this "
                  f"estimate: {engine_cpu:.1f} CPU-s; {verdict}.\n")
    rescan = None
    if not args.skip_100k:
        _, rescan, _ = small(args.corpus_dir.with_name(f"{args.corpus_dir.name}-small-{args.small_files}"),
                             args.small_files, catalogues)

    section("Targets")
    rows = []
    for r in runs:
        if r.files_read and r.label.startswith("first"):
            per_core = _rate(r.bytes_read / 1e6, r.wall) / r.workers
            rows.append([f"≥ {TARGET_MB_S_PER_CORE:.0f} MB/s per core, mixed office corpus ({r.label})",
                         f"{per_core:.2f} MB/s per worker ({_rate(r.bytes_read / 1e6, r.cpu):.2f} MB per CPU-s); "
                         f"{per_core / PEER_MB_S_PER_CORE:.0f}× the peer's {PEER_MB_S_PER_CORE:.3f}",
                         "yes" if per_core >= TARGET_MB_S_PER_CORE else "no"])
    if rescan is not None:
        rows.append([f"rescan of {args.small_files:,} unchanged files ≤ {TARGET_RESCAN_S:.0f} s",
                     f"{rescan.wall:.1f} s ({_rate(rescan.files_seen, rescan.wall):,.0f} files/s)",
                     "yes" if rescan.wall <= TARGET_RESCAN_S else "no"])
    table(["target", "result", "met?"], rows)
    print(f"(scanner benchmark: {time.perf_counter() - started:.0f} s, load average at end "
          f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())})")
    shutil.rmtree(catalogues, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
