"""Insider-risk analytics benchmark (issue 7): `.venv/bin/python -m tests.bench.insider`, Markdown on stdout.

Quality: :func:`himitsu.insider.generate.generate` writes a fictional firm (``--users`` 500, ``--days`` 182 from
``--start`` 2025-04-01, held-out ``--seed`` 2026, 4 planted insiders per CERT scenario, an ordinary 5 % of leavers
and a laid-off group), the five CERT files are ingested into a fresh store (``ingest_file(..., "cert")``), people
from ``people.csv`` (``load_people_csv`` / ``set_people``), the register's storage locations from
``secret_paths.csv`` (``Config.secret_paths``) and the firm's mail domain (``Config.internal_domains``); then
``score_range`` over every day. Reported:

- per planted insider: their rank on each day from ``first_day`` to ``leave_day`` (``--json FILE``), the best
  daily rank from ``first_day`` to ``theft_day`` and from then to ``leave_day``, the
  rank on the theft day, and the first day in ``[first_day, theft_day]`` on which they are in the top 5 / top 10,
  as days relative to the theft (0 = the theft day, -3 = three days before; "–" = not by the theft day); a rank
  counts only with a score above 0 (on a quiet weekend someone with nothing against them can be among the first 5);
- per scenario: the share found in the daily top 5 / top 10 on or before the theft day;
- false alerts per day, per 500 users. An entry of a day's top k is *true* when it is a planted insider between
  their ``first_day`` and ``leave_day`` (inclusive); every other entry is *false*. Two counts: every false entry of
  the top k (a fixed budget is always full, so this is about k minus the insiders of the day), and the false
  entries whose score reaches the alert threshold (``Alert.extra["alert"]``: the people the list would show as
  worth a look). Averaged over working days and over all days.

Throughput: ``--events`` (30 M, CERT r4.2's size) events of a 1,000-person firm over 500 days are generated once
and kept under ``var/bench/insider-30m/`` (other sizes ``insider-<events>/``; reused when present with the same
parameters and :data:`~himitsu.insider.generate.VERSION`); a child process ingests
the five files into a fresh store next to it and scores every day with ``score_range``; wall clock of each step
and the child's peak RSS (``ru_maxrss``). ``--skip-throughput`` leaves it out, ``--skip-quality`` the other half.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from himitsu.insider.generate import INTERNAL_DOMAIN, KINDS, VERSION, Case, generate
from tests.bench.detect_data import machine_reference, table

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "var" / "bench" / "insider-30m"
BIG = {"users": 1000, "days": 500, "start": "2025-01-06", "seed": 42}
TARGET_SCENARIOS = (1, 2, 4, 5)
TARGET_FALSE_PER_DAY = 1.0


def log(message: str) -> None:
    print(f"<!-- {message} -->", file=sys.stderr, flush=True)


# -- the analytics under test (engineers B and C's modules, called as agreed) ---------------------------------


def config_for(out: Path) -> Any:
    from himitsu.insider.enrich import Config, SecretPath

    with (out / "secret_paths.csv").open(encoding="utf-8", newline="") as fh:
        paths = tuple(SecretPath(r["prefix"], r["department"], r["entry_id"], r["level"]) for r in csv.DictReader(fh))
    return Config(secret_paths=paths, internal_domains=(INTERNAL_DOMAIN,))


def load(store: Any, out: Path) -> tuple[list[Any], float]:
    """Ingest the five files and the people; (reports, seconds of ingest)."""
    from himitsu.insider.enrich import load_people_csv, set_people
    from himitsu.insider.ingest import ingest_file

    reports = []
    t0 = time.perf_counter()
    for kind in KINDS:
        report = ingest_file(store, out / f"{kind}.csv", "cert")
        log(f"{kind}: {report.added:,} added, {report.rejected:,} rejected, {report.duplicates:,} duplicates")
        reports.append(report)
    seconds = time.perf_counter() - t0
    set_people(store, load_people_csv(out / "people.csv"))
    return reports, seconds


# -- quality --------------------------------------------------------------------------------------------------


def rel(day: date | None, theft: date) -> str:
    return "–" if day is None else f"{(day - theft).days:+d}"


def evaluate(cases: list[Case], alerts: dict[date, list[Any]], users: int, threshold_key: str = "alert"
             ) -> dict[str, Any]:
    last = max(alerts)
    rank: dict[tuple[str, date], int] = {}
    for day, day_alerts in alerts.items():
        for a in day_alerts:
            if a.score > 0:  # a person ranked with nothing against them (a quiet weekend) was not found
                rank[(a.user, day)] = a.rank
    per_case = []
    for c in cases:
        end = min(c.leave_day or last, last)

        def best(a: date, b: date, user: str = c.user) -> int | None:
            days = (a + timedelta(i) for i in range((b - a).days + 1))
            found = [rank[(user, d)] for d in days if (user, d) in rank]
            return min(found) if found else None

        def first_in(k: int, c: Case = c) -> date | None:
            day = c.first_day
            while day <= c.theft_day:
                if rank.get((c.user, day), 10**9) <= k:
                    return day
                day += timedelta(1)
            return None

        daily = {}
        day = c.first_day
        while day <= end:
            daily[day.isoformat()] = rank.get((c.user, day))
            day += timedelta(1)
        per_case.append({"case": c, "daily": daily, "best_before": best(c.first_day, c.theft_day),
                         "best_after": best(c.theft_day, end) if c.theft_day <= end else None,
                         "on_theft": rank.get((c.user, c.theft_day)), "top5": first_in(5), "top10": first_in(10)})
    windows = [(c.user, c.first_day, c.leave_day or last) for c in cases]

    def planted(user: str, day: date) -> bool:
        return any(u == user and a <= day <= b for u, a, b in windows)

    false: dict[int, dict[str, list[float]]] = {}
    for k in (5, 10):
        stats: dict[str, list[float]] = {"all": [], "all_alert": [], "work": [], "work_alert": []}
        for day, day_alerts in alerts.items():
            top = [a for a in day_alerts if a.rank <= k and not planted(a.user, day)]
            above = [a for a in top if a.extra.get(threshold_key, True)]
            stats["all"].append(len(top))
            stats["all_alert"].append(len(above))
            if _working(day):
                stats["work"].append(len(top))
                stats["work_alert"].append(len(above))
        false[k] = stats
    return {"cases": per_case, "false": false, "scale": 500 / users}


def _working(day: date) -> bool:
    from himitsu.insider.enrich import is_working_day

    return is_working_day(day)


def quality(args: argparse.Namespace) -> None:
    from himitsu.insider.score import score_range
    from himitsu.insider.store import Store

    work = Path(tempfile.mkdtemp(prefix="himitsu-insider-bench-"))
    try:
        t0 = time.perf_counter()
        firm = generate(work / "logs", users=args.users, start=args.start, days=args.days, seed=args.seed,
                        insiders_per_scenario=args.per_scenario)
        t_gen = time.perf_counter() - t0
        log(f"generated {firm.total_events:,} events in {t_gen:.1f} s")
        config = config_for(firm.out_dir)
        with Store(work / "insider.duckdb") as store:
            reports, t_ingest = load(store, firm.out_dir)
            end = args.start + timedelta(args.days - 1)
            t0 = time.perf_counter()
            alerts = score_range(store, args.start, end, config)
            t_score = time.perf_counter() - t0
        result = evaluate(firm.insiders, alerts, args.users)
        report_quality(args, firm, reports, result, t_gen, t_ingest, t_score)
        if args.json:
            dump(args.json, result)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report_quality(args: argparse.Namespace, firm: Any, reports: list[Any], result: dict[str, Any], t_gen: float,
                   t_ingest: float, t_score: float) -> None:
    print(f"\n### Planted insiders (seed {args.seed}, {args.users} users, {args.days} days from {args.start}, "
          f"{firm.total_events:,} events; layoff: {len(firm.layoff.get('users', []))} people of "
          f"{firm.layoff.get('department', '')})\n")
    print(f"Generated in {t_gen:.1f} s, ingested in {t_ingest:.1f} s "
          f"({sum(r.rejected for r in reports):,} rejected rows), scored {args.days} days in {t_score:.1f} s.\n")
    rows = []
    for r in result["cases"]:
        c = r["case"]
        rows.append([c.user, c.scenario, c.first_day, c.theft_day, c.leave_day or "–", _r(r["best_before"]),
                     _r(r["on_theft"]), _r(r["best_after"]), rel(r["top5"], c.theft_day),
                     rel(r["top10"], c.theft_day)])
    table(["user", "scenario", "first day", "theft day", "leave day", "best rank to theft", "rank on theft day",
           "best rank theft to leave", "first top 5 (days to theft)", "first top 10"], rows)
    rows = []
    for s in range(1, 6):
        mine = [r for r in result["cases"] if r["case"].scenario == s]
        if not mine:
            continue
        t5 = [r for r in mine if r["top5"]]
        t10 = [r for r in mine if r["top10"]]
        lead = [(r["case"].theft_day - r["top5"]).days for r in t5]
        rows.append([s, len(mine), f"{len(t5)}/{len(mine)}", f"{len(t10)}/{len(mine)}",
                     f"{statistics.median(lead):.0f}" if lead else "–",
                     "target" if s in TARGET_SCENARIOS else "reported"])
    all5 = [r for r in result["cases"] if r["case"].scenario in TARGET_SCENARIOS]
    rows.append(["1, 2, 4, 5", len(all5), f"{sum(1 for r in all5 if r['top5'])}/{len(all5)}",
                 f"{sum(1 for r in all5 if r['top10'])}/{len(all5)}", "", "target: all in top 5"])
    table(["scenario", "cases", "top 5 by theft day", "top 10 by theft day", "median days ahead (top 5)", ""], rows)
    scale = result["scale"]
    rows = []
    for k, stats in result["false"].items():
        rows.append([f"top {k}", f"{_mean(stats['work']):.2f}", f"{_mean(stats['all']):.2f}",
                     f"{_mean(stats['work_alert']) * scale:.2f}", f"{_mean(stats['all_alert']) * scale:.2f}",
                     f"{max(stats['work_alert'] or [0])}"])
    print(f"False alerts per day: 'false entries' = non-insiders in the day's top k (a full budget always shows k "
          f"people); 'above threshold' = those of them with Alert.extra['alert'] (score >= the alert threshold), "
          f"per 500 users (target <= {TARGET_FALSE_PER_DAY:g}):\n")
    table(["budget", "false entries / day, working days", "false entries / day, all days",
           "above threshold / day / 500 users, working days", "above threshold, all days",
           "above threshold, worst working day (count)"], rows)


def dump(path: Path, result: dict[str, Any]) -> None:
    """Per case its rank on each day from first_day to leave_day (None: not active / not scored that day)."""
    cases = [{**{k: str(v) if isinstance(v, date) else v for k, v in vars(r["case"]).items()},
              "daily_rank": r["daily"], "first_top5": str(r["top5"] or ""), "first_top10": str(r["top10"] or "")}
             for r in result["cases"]]
    false = {f"top{k}": {name: _mean(v) for name, v in stats.items()} for k, stats in result["false"].items()}
    path.write_text(json.dumps({"cases": cases, "false_per_day": false}, ensure_ascii=False, indent=1))


def _r(value: int | None) -> str:
    return "–" if value is None else str(value)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


# -- throughput -----------------------------------------------------------------------------------------------


def big_data(events: int) -> tuple[Path, float | None]:
    """The 30 M-event firm under var/bench/insider-30m/ (other sizes: insider-<events>/), generated unless already
    there with the same parameters and generator version."""
    cache = CACHE if events == 30_000_000 else CACHE.with_name(f"insider-{events}")
    meta = {**BIG, "events_target": events, "generator": VERSION}
    stamp = cache / "generated.json"
    if stamp.exists() and json.loads(stamp.read_text())["params"] == meta:
        log(f"reusing {cache}")
        return cache, None
    shutil.rmtree(cache, ignore_errors=True)
    log(f"generating {events:,} events into {cache}")
    t0 = time.perf_counter()
    firm = generate(cache, users=BIG["users"], days=BIG["days"], start=date.fromisoformat(BIG["start"]),
                    seed=BIG["seed"], events_target=events)
    seconds = time.perf_counter() - t0
    stamp.write_text(json.dumps({"params": meta, "events": firm.events, "seconds": seconds}))
    return cache, seconds


def throughput_child(data: Path) -> None:
    """In a child process: ingest + score into a fresh store; prints one JSON line."""
    from himitsu.insider.score import score_range
    from himitsu.insider.store import Store

    work = Path(tempfile.mkdtemp(prefix="store-", dir=data.parent))
    try:
        config = config_for(data)
        with Store(work / "insider.duckdb") as store:
            reports, t_ingest = load(store, data)
            start = date.fromisoformat(BIG["start"])
            end = start + timedelta(BIG["days"] - 1)
            t0 = time.perf_counter()
            alerts = score_range(store, start, end, config)
            t_score = time.perf_counter() - t0
            rows = sum(r.rows for r in reports)
            added = sum(r.added for r in reports)
            scored = sum(len(v) for v in alerts.values())
        size = sum(p.stat().st_size for p in work.iterdir() if p.is_file())
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(json.dumps({"rows": rows, "added": added, "ingest": t_ingest, "score": t_score, "rss": rss,
                          "store_bytes": size, "user_days": scored}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def throughput(args: argparse.Namespace) -> None:
    data, t_gen = big_data(args.events)
    stamp = json.loads((data / "generated.json").read_text())
    input_bytes = sum((data / f"{k}.csv").stat().st_size for k in KINDS)
    t0 = time.perf_counter()
    child = subprocess.run([sys.executable, "-m", "tests.bench.insider", "--throughput-child", str(data)],
                           cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    sys.stderr.write(child.stderr)
    if child.returncode != 0:
        print(f"\nThroughput run failed (exit {child.returncode}); see the log above.\n")
        return
    r = json.loads(child.stdout.strip().splitlines()[-1])
    total = r["ingest"] + r["score"]
    print(f"\n### Throughput ({BIG['users']:,} users, {BIG['days']} days, {stamp['params']['events_target']:,} "
          f"events targeted)\n")
    table(["measure", "result"], [
        ["events in the five CSV files", f"{sum(stamp['events'].values()):,} ({input_bytes / 1e9:.2f} GB)"],
        ["generation (once, cached)", f"{stamp['seconds']:.0f} s" + ("" if t_gen is not None else " (reused)")],
        ["ingest, five files into a fresh store", f"{r['ingest']:.1f} s ({r['rows'] / r['ingest']:,.0f} rows/s, "
                                                  f"{r['added']:,} added)"],
        ["score_range over every day", f"{r['score']:.1f} s ({r['user_days']:,} user-days scored)"],
        ["ingest + score", f"{total:.1f} s (target <= 180 s: {'met' if total <= 180 else 'not met'})"],
        ["child process wall clock (with start-up)", f"{wall:.1f} s"],
        ["peak RSS of the child", f"{r['rss'] / 2**30:.2f} GiB"],
        ["store size", f"{r['store_bytes'] / 1e9:.2f} GB"],
    ])


# -- main -----------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.insider", description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--days", type=int, default=182)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 4, 1))
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--per-scenario", type=int, default=4)
    parser.add_argument("--events", type=int, default=30_000_000)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--json", type=Path, help="also write every insider's daily ranks to this file")
    parser.add_argument("--throughput-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.throughput_child:
        throughput_child(args.throughput_child)
        return 0
    print("## Insider-risk analytics (issue 7)")
    print(machine_reference())
    if not args.skip_quality:
        quality(args)
    if not args.skip_throughput:
        throughput(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
