"""Baselines and scores: a short daily list of people worth a look, with the reasons.

Method (all in DuckDB over the user-day features of :mod:`~himitsu.insider.features`; defaults in
:class:`~himitsu.insider.enrich.Config`):

1. **Own baseline.** For each feature, the user's previous ``lookback_days`` (60) active days: median ``m``,
   median absolute deviation ``mad`` and 90th percentile ``q90``. The spread is
   ``max(floor, 1.4826 * mad, (q90 - m) / 1.2816)``: robust to a few odd days, yet a behaviour the person shows on
   more than one day in ten (a Saturday worker, a regular USB user) widens it, and the per-feature floor keeps one
   extra file open from counting. ``own z = (value - m) / spread``. A behaviour never seen in the baseline (its
   maximum is 0: the first USB write, the first upload to a personal cloud) gets at least ``novelty_z`` (4).
   With fewer than ``min_history_days`` (10) days of history there is no own baseline and the peer z stands in.
2. **Peer baseline.** The same statistics over the people of the same department active the same day (at least
   ``min_peers``, 5; otherwise the own z stands in). People without a department form one group.
3. **Combined z** per feature: ``own_weight * clip(own z) + peer_weight * clip(peer z)`` (0.7 / 0.3, each clipped
   to ``[0, z_cap]``, 6); its **contribution** is ``weight * max(0, z - z_dead)`` (z_dead 1): only movements of
   more than one spread count. Weights say how much a feature says about data leaving: uploads to leak sites or a
   personal cloud 4, USB writes and logons to other people's PCs 3, mail to personal addresses and access to other
   departments' secrets 2.5, ... after-hours activity 1, volumes 0.5 (:data:`~himitsu.insider.features.
   FEATURE_DEFAULTS`; override with ``Config.weights`` / ``Config.floors``).
4. **Day score** = sum of contributions, multiplied by ``hr_weight`` (2) inside the HR window: from
   ``hr_before_days`` (30) before a person's leave date to ``hr_after_days`` (14) after it.
5. **Accumulation** (slow ramps, CERT scenario 4): score = day score + ``sum(decay**k * day score k active days
   earlier)`` for k = 1..``accumulate_days`` (decay 0.5, 7 days; only days within twice that many calendar days).
6. **Rank** per day by score (ties by user id). ``Alert.extra``: ``daily`` (the day score), ``carried`` (what
   earlier days added) and ``alert`` (score >= ``alert_threshold``, the level at which a person is worth a look
   even outside the analyst's budget; default 12, about 0.1 false alerts a day per 500 users on the generator's
   logs).

Every user active on a day is scored; people in their HR window who were not active get a row with score 0.
Scoring a range reads the events of about ``1.5 * lookback_days + 2 * accumulate_days + 21`` days before it for
the baselines; in the first ``min_history_days`` of a store's history people have no own baseline yet (warm-up).
``scores.reasons`` holds ``{"indicators": [{name, value, own_baseline, peer_baseline, own_z, peer_z,
contribution}, ...], "daily", "carried", "hr_weight", "days_to_leave", "department"}``. Own z in an indicator is
the one used (the peer z when there was no own baseline) before clipping.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from himitsu.insider.enrich import Config, connection, utc_offset
from himitsu.insider.features import FEATURE_DEFAULTS, FEATURES, build, drop_work_tables, run
from himitsu.insider.schema import Alert, Indicator

__all__ = ["last_day", "score_day", "score_range", "timeline"]

_K = 1.4826      # MAD -> standard deviation of a normal distribution
_Q90 = 1.2816    # 90th percentile of the standard normal


def last_day(store: Any, config: Config | None = None) -> date | None:
    """The latest local day with events (None for an empty store)."""
    config = config or Config()
    latest = connection(store).execute("SELECT max(ts) FROM events").fetchone()[0]
    if latest is None:
        return None
    offset = utc_offset(config.tz)
    if offset is None:  # zones with DST
        return latest.replace(tzinfo=UTC).astimezone(ZoneInfo(config.tz)).date()
    return (latest + offset).date()


def score_day(store: Any, day: date, config: Config | None = None) -> list[Alert]:
    """Score one local day (see :func:`score_range`)."""
    return score_range(store, day, day, config)[day]


def score_range(store: Any, start: date, end: date, config: Config | None = None) -> dict[date, list[Alert]]:
    """Score every local day from start to end (inclusive): the day's alerts ranked (rank 1 first) for every day,
    also written to the scores table (replacing those days' rows)."""
    config = config or Config()
    config.check(FEATURES)
    con = connection(store)
    _compute(con, start, end, config)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM scores WHERE day BETWEEN ? AND ?", [start, end])
        con.execute("""
            INSERT INTO scores (day, "user", score, rank, reasons)
            SELECT r.day, r."user", r.score, r.rank, json_object(
                'indicators', coalesce(i.list, CAST('[]' AS JSON)), 'daily', r.daily, 'carried', r.score - r.daily,
                'hr_weight', r.hrw, 'days_to_leave', r.days_to_leave, 'department', r.department)
            FROM _ins_rank r LEFT JOIN (
                SELECT "user", day, to_json(list({'name': name, 'value': value,
                    'own_baseline': own_baseline, 'peer_baseline': peer_baseline, 'own_z': own_z,
                    'peer_z': peer_z, 'contribution': contribution} ORDER BY contribution DESC, name)) AS list
                FROM _ins_ind GROUP BY "user", day
            ) i ON i."user" = r."user" AND i.day = r.day""")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    try:
        return _alerts(con, start, end, config)
    finally:
        drop_work_tables(con)


def timeline(store: Any, user: str, start: date, end: date, config: Config | None = None) -> list[dict[str, Any]]:
    """One dict per local day from start to end: {"day", "score" (from the scores table, None when the day was
    not scored or the person not active), "features" (feature id -> value, 0 when not active)}."""
    config = config or Config()
    config.check(FEATURES)
    con = connection(store)
    build(con, start, end, config, user=user)
    names = list(FEATURES)
    values = {row[0]: dict(zip(names, row[1:], strict=True)) for row in con.execute(
        f'SELECT day, {", ".join(names)} FROM _ins_f WHERE "user" = ? AND day BETWEEN ? AND ?',
        [user, start, end]).fetchall()}
    drop_work_tables(con)
    scores = dict(con.execute('SELECT day, score FROM scores WHERE "user" = ? AND day BETWEEN ? AND ?',
                              [user, start, end]).fetchall())
    out = []
    day = start
    while day <= end:
        out.append({"day": day, "score": scores.get(day),
                    "features": values.get(day, dict.fromkeys(names, 0.0))})
        day += timedelta(days=1)
    return out


# ---- the SQL ------------------------------------------------------------------------------------------------------

def _params(config: Config, feature: str) -> tuple[float, float, bool]:
    weight, floor, novelty = FEATURE_DEFAULTS[feature]
    return (float(config.weights.get(feature, weight)), float(config.floors.get(feature, floor)), novelty)


def _compute(con: Any, start: date, end: date, config: Config) -> None:
    lead = timedelta(days=2 * config.accumulate_days + 7)
    first = start - lead
    build(con, first, end, config)
    names = list(FEATURES)
    stats = ", ".join(
        f"median({f}) OVER w AS {f}_m, mad({f}) OVER w AS {f}_d, quantile_cont({f}, 0.9) OVER w AS {f}_q, "
        f"max({f}) OVER w AS {f}_x" for f in names)
    peer = ", ".join(f"median({f}) AS {f}_pm, mad({f}) AS {f}_pd, quantile_cont({f}, 0.9) AS {f}_pq" for f in names)
    run(con, f"""
        CREATE OR REPLACE TEMP TABLE _ins_own AS
        SELECT * FROM (
            SELECT "user", day, department, {", ".join(names)}, count(*) OVER w AS n_hist, {stats}
            FROM _ins_f
            WINDOW w AS (PARTITION BY "user" ORDER BY day ROWS BETWEEN {int(config.lookback_days)} PRECEDING
                AND 1 PRECEDING)
        ) WHERE day >= $first""", {"first": first})
    run(con, f"""
        CREATE OR REPLACE TEMP TABLE _ins_peer AS
        SELECT department, day, count(*) AS n_peers, {peer} FROM _ins_f WHERE day >= $first
        GROUP BY department, day""", {"first": first})
    _z_table(con, config, names)
    _rank_table(con, start, end, config, names)
    _indicator_table(con, names)


def _z_table(con: Any, config: Config, names: list[str]) -> None:
    minh, minp = int(config.min_history_days), int(config.min_peers)
    cap, dead = float(config.z_cap), float(config.z_dead)
    level1, level2, level3 = [], [], []
    for f in names:
        weight, floor, novelty = _params(config, f)
        own = f"(o.{f} - o.{f}_m) / greatest({floor}, {_K} * o.{f}_d, (o.{f}_q - o.{f}_m) / {_Q90})"
        if novelty:
            own = f"CASE WHEN o.{f}_x = 0 AND o.{f} > 0 THEN greatest({own}, {float(config.novelty_z)}) ELSE {own} END"
        level1.append(f"CASE WHEN o.n_hist >= {minh} THEN {own} END AS {f}_oz")
        level1.append(f"CASE WHEN p.n_peers >= {minp} THEN (o.{f} - p.{f}_pm) / greatest({floor}, "
                      f"{_K} * p.{f}_pd, (p.{f}_pq - p.{f}_pm) / {_Q90}) END AS {f}_pz")
        level1.append(f"o.{f}_m, p.{f}_pm")
        level2.append(f"coalesce({f}_oz, {f}_pz, 0) AS {f}_oz2, coalesce({f}_pz, {f}_oz, 0) AS {f}_pz2")
        z = (f"{float(config.own_weight)} * least(greatest({f}_oz2, 0), {cap}) + "
             f"{float(config.peer_weight)} * least(greatest({f}_pz2, 0), {cap})")
        level3.append(f"{weight} * greatest(0, {z} - {dead}) AS {f}_c")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _ins_z AS
        WITH a AS (
            SELECT o."user", o.day, o.department, {", ".join("o." + f for f in names)}, {", ".join(level1)}
            FROM _ins_own o LEFT JOIN _ins_peer p ON p.department = o.department AND p.day = o.day
        ), b AS (SELECT *, {", ".join(level2)} FROM a)
        SELECT *, {", ".join(level3)} FROM b""")


def _rank_table(con: Any, start: date, end: date, config: Config, names: list[str]) -> None:
    lags = " + ".join(
        f"CASE WHEN d.day - lag(d.day, {k}) OVER u <= {2 * config.accumulate_days} "
        f"THEN {float(config.decay) ** k} * lag(d.daily, {k}) OVER u ELSE 0 END"
        for k in range(1, int(config.accumulate_days) + 1)) or "0"
    window = (f"p.leaves IS NOT NULL AND {{day}} BETWEEN p.leaves - INTERVAL {int(config.hr_before_days)} DAYS "
              f"AND p.leaves + INTERVAL {int(config.hr_after_days)} DAYS")
    run(con, f"""
        CREATE OR REPLACE TEMP TABLE _ins_rank AS
        WITH h AS (
            SELECT z."user", z.day, z.department,
                CAST(CASE WHEN {window.format(day="z.day")} THEN {float(config.hr_weight)} ELSE 1.0 END AS DOUBLE)
                    AS hrw,
                CASE WHEN {window.format(day="z.day")} THEN CAST(p.leaves - z.day AS INTEGER) END AS days_to_leave,
                {" + ".join(f"z.{f}_c" for f in names)} AS raw
            FROM _ins_z z LEFT JOIN people p ON p."user" = z."user"
        ), idle AS (
            SELECT p."user", c.day, coalesce(p.department, '') AS department,
                CAST({float(config.hr_weight)} AS DOUBLE) AS hrw,
                CAST(p.leaves - c.day AS INTEGER) AS days_to_leave, CAST(0 AS DOUBLE) AS raw
            FROM people p JOIN _ins_cal c ON {window.format(day="c.day")}
            WHERE c.day BETWEEN $start AND $end
                AND NOT EXISTS (SELECT 1 FROM _ins_z z WHERE z."user" = p."user" AND z.day = c.day)
        ), d AS (
            SELECT *, round(raw * hrw, 3) AS daily FROM (SELECT * FROM h UNION ALL SELECT * FROM idle)
        ), s AS (
            SELECT d.*, round(d.daily + {lags}, 3) AS score FROM d WINDOW u AS (PARTITION BY d."user" ORDER BY d.day)
        )
        SELECT *, row_number() OVER (PARTITION BY day ORDER BY score DESC, "user") AS rank
        FROM s WHERE day BETWEEN $start AND $end""", {"start": start, "end": end})


def _indicator_table(con: Any, names: list[str]) -> None:
    parts = [
        f"""SELECT z."user", z.day, '{f}' AS name, z.{f} AS value, coalesce(z.{f}_m, 0) AS own_baseline,
            coalesce(z.{f}_pm, 0) AS peer_baseline, z.{f}_oz2 AS own_z, z.{f}_pz2 AS peer_z,
            z.{f}_c * r.hrw AS contribution
        FROM _ins_z z JOIN _ins_rank r ON r."user" = z."user" AND r.day = z.day WHERE z.{f}_c > 0"""
        for f in names]
    con.execute("CREATE OR REPLACE TEMP TABLE _ins_ind AS " + " UNION ALL ".join(parts))


def _alerts(con: Any, start: date, end: date, config: Config) -> dict[date, list[Alert]]:
    indicators: dict[tuple[str, date], list[Indicator]] = defaultdict(list)
    for user, day, name, value, own_b, peer_b, own_z, peer_z, contribution in con.execute(
            'SELECT "user", day, name, value, own_baseline, peer_baseline, own_z, peer_z, contribution '
            'FROM _ins_ind ORDER BY "user", day, contribution DESC, name').fetchall():
        indicators[(user, day)].append(Indicator(name, round(value, 3), round(own_b, 3), round(peer_b, 3),
                                                 round(own_z, 2), round(peer_z, 2), round(contribution, 3)))
    out: dict[date, list[Alert]] = {}
    day = start
    while day <= end:
        out[day] = []
        day += timedelta(days=1)
    threshold = config.alert_threshold
    for user, day, score, rank, department, days_to_leave, hrw, daily in con.execute(
            'SELECT "user", day, score, rank, department, days_to_leave, hrw, daily FROM _ins_rank '
            "ORDER BY day, rank").fetchall():
        out[day].append(Alert(
            day=day, user=user, score=score, rank=rank,
            indicators=tuple(indicators.get((user, day), ())), department=department or "",
            days_to_leave=days_to_leave, hr_weight=hrw,
            extra={"daily": round(daily, 3), "carried": round(score - daily, 3), "alert": score >= threshold}))
    return out
