"""Per user and local day features, computed in DuckDB over all events at once (``GROUP BY user, local day``).

Local time is ``events.ts`` (UTC) shifted to :attr:`Config.tz` (a fixed offset for zones without DST, such as
Japan's; DuckDB's ``timezone()`` otherwise). A user is *active* on a local day when they have any event that day.

Features (value of one user on one local day; :data:`FEATURES` has the ja/en labels):

``after_hours``
    activity events outside the person's usual hours, or any activity on a non-working day. Usual hours are
    learned from the person's own previous working days (up to ``lookback_days``): from the 10th percentile of
    their first logon (first activity when there is no logon) to the 90th percentile of their last activity, with
    ``hours_margin`` of slack, and never narrower than the office hours (``office_start``–``office_end``). Until
    a person has ``min_history_days`` working days of history, the office hours are their usual hours. Events are
    placed in half-hour bins.
``logons_off_hours``
    logons outside the person's usual hours or on a non-working day.
``usb_connects``
    removable media connected.
``usb_writes``
    files written or copied to removable media (file events with ``removable``).
``file_volume``
    file events (opens, writes, copies, deletes).
``secret_access_other_dept``
    file events (and, for URL prefixes, web events) under a :class:`~himitsu.insider.enrich.SecretPath` whose
    department is set and is not the user's department.
``mail_personal`` / ``mail_personal_attachments``
    mails sent with at least one personal recipient — a webmail domain, or an outside address whose local part is
    the sender's own (mailing oneself at home) — and the attachments on those mails.
``mail_external_volume``
    mails sent with at least one recipient outside the internal domains.
``mass_mail``
    the largest number of recipients on one mail sent that day.
``upload_personal_cloud`` / ``upload_leak_site``
    uploads to personal cloud storage / to leak and paste sites.
``leak_site_visits``
    other visits to leak and paste sites (logs without an upload action show only these).
``job_site_visits``
    visits to job sites.
``other_pc_logons``
    distinct PCs logged on to that are not among the user's usual PCs (usual: logged on to on at least
    ``usual_pc_share`` of the user's logon days in the previous ``lookback_days * 7 / 5`` calendar days; users
    with less than ``min_history_days`` logon days have no unusual PCs yet).
``other_user_pc_logons``
    of those, PCs that other people logged on to on at least ``other_pc_min_days`` days in that window (another
    person's machine).

How it runs (:func:`build`): a few scans of ``events`` over the scored days plus the look-back, each a
``GROUP BY user, local day`` in DuckDB — one over all events (counts, first / last activity, a half-hour histogram
of the events outside the office hours), one over web events joined to the categorised hosts (the distinct hosts
are extracted once and matched to the register's domains in Python), one over sent mail (recipients split and
classified in list functions), one over logons (window counts per user and PC), one over file events joined to the
secret paths — then windows over the user-day rows for the usual hours. No Python runs per event.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta
from typing import Any

from himitsu.insider.enrich import (
    Config,
    calendar,
    connection,
    domain_category,
    domains,
    utc_offset,
)

__all__ = ["FEATURES", "FEATURE_DEFAULTS", "build", "context_start", "drop_work_tables", "run"]

FEATURES: dict[str, dict[str, str]] = {
    "after_hours": {"ja": "時間外の操作", "en": "Activity outside usual hours"},
    "logons_off_hours": {"ja": "時間外のログオン", "en": "Logons outside usual hours"},
    "usb_connects": {"ja": "USB機器の接続", "en": "Removable media connected"},
    "usb_writes": {"ja": "USB機器への書き出し", "en": "Files written to removable media"},
    "file_volume": {"ja": "ファイル操作の量", "en": "File activity"},
    "secret_access_other_dept": {"ja": "他部署の秘密情報へのアクセス",
                                 "en": "Access to other departments' secrets"},
    "mail_personal": {"ja": "個人アドレスへのメール", "en": "Mail to personal addresses"},
    "mail_personal_attachments": {"ja": "個人アドレスへの添付ファイル",
                                  "en": "Attachments mailed to personal addresses"},
    "mail_external_volume": {"ja": "社外へのメール", "en": "Mail sent outside"},
    "mass_mail": {"ja": "大量宛先メール", "en": "Recipients on one mail"},
    "upload_personal_cloud": {"ja": "個人向けクラウドへのアップロード", "en": "Uploads to personal cloud storage"},
    "upload_leak_site": {"ja": "ペースト・リークサイトへのアップロード", "en": "Uploads to leak and paste sites"},
    "leak_site_visits": {"ja": "ペースト・リークサイトの閲覧", "en": "Visits to leak and paste sites"},
    "job_site_visits": {"ja": "転職サイトの閲覧", "en": "Visits to job sites"},
    "other_pc_logons": {"ja": "普段と違うPCへのログオン", "en": "Logons to unusual PCs"},
    "other_user_pc_logons": {"ja": "他人のPCへのログオン", "en": "Logons to other people's PCs"},
}

# feature -> (weight: how much it says about data leaving, spread floor: the smallest deviation counted as one
# standard deviation, novelty: whether a first occurrence in the user's history counts strongly).
FEATURE_DEFAULTS: dict[str, tuple[float, float, bool]] = {
    "after_hours": (1.0, 10.0, True),
    "logons_off_hours": (1.0, 1.0, True),
    "usb_connects": (1.0, 1.0, True),
    "usb_writes": (3.0, 2.0, True),
    "file_volume": (0.5, 10.0, False),
    "secret_access_other_dept": (2.5, 2.0, True),
    "mail_personal": (2.5, 1.0, True),
    "mail_personal_attachments": (1.5, 1.0, True),
    "mail_external_volume": (0.5, 3.0, False),
    "mass_mail": (0.5, 10.0, False),
    "upload_personal_cloud": (4.0, 1.0, True),
    "upload_leak_site": (4.0, 1.0, True),
    "leak_site_visits": (2.0, 1.0, True),
    "job_site_visits": (1.5, 2.0, True),
    "other_pc_logons": (1.5, 1.0, True),
    "other_user_pc_logons": (3.0, 1.0, True),
}


def context_start(start: date, config: Config) -> date:
    """The first day read to give ``start`` a full baseline (about ``lookback_days`` working days back)."""
    return start - timedelta(days=math.ceil(config.lookback_days * 1.5) + 14)


def _window_days(config: Config) -> int:
    return math.ceil(config.lookback_days * 7 / 5)


def _local(config: Config) -> str:
    offset = utc_offset(config.tz)
    if offset is not None:
        return f"(ts + INTERVAL {int(offset.total_seconds())} SECOND)"
    tz = config.tz.replace("'", "")
    return f"timezone('{tz}', timezone('UTC', ts))"  # zones with DST (DuckDB ICU)


_HOST = "lower(regexp_extract(target, '^(?:[A-Za-z][A-Za-z0-9+.-]*://)?(?:[^@/?#]*@)?([^/?#:]*)', 1))"
_RCPT = ("lower(trim(CASE WHEN contains(r, '<') THEN split_part(split_part(r, '<', 2), '>', 1) ELSE r END))")


def build(store: Any, start: date, end: date, config: Config, user: str | None = None) -> str:
    """Compute the features of every user-day from :func:`context_start` to ``end`` into the temporary table
    ``_ins_f`` (columns user, day, working, department, n_events, lo, hi and one column per feature) and return
    its name. With ``user``, only that person's days (for their timeline)."""
    con = connection(store)
    first = context_start(start, config)
    offset = utc_offset(config.tz) or timedelta(hours=0)
    lo_ts = _naive(first) - offset - timedelta(hours=14)
    hi_ts = _naive(end + timedelta(days=1)) - offset + timedelta(hours=14)
    local = _local(config)
    day_expr = f"CAST({local} AS DATE)"
    where = "ts >= $lo AND ts < $hi" + (' AND "user" = $user' if user is not None else "")
    params: dict[str, Any] = {"lo": lo_ts, "hi": hi_ts, "first": first, "end": end}
    if user is not None:
        params["user"] = user
    _calendar_table(con, first, end, config)
    _host_table(con, where, params, config)
    maildoms = _mail_domains(con, "ts >= $lo AND ts < $hi", params, config)  # all senders: internal by share
    _main_pass(con, where, params, local, day_expr, config)
    _http_pass(con, where, params, day_expr)
    _mail_pass(con, where, params, day_expr, maildoms)
    _logon_pass(con, params, day_expr, config, user)
    _secret_pass(con, where, params, day_expr, config)
    _assemble(con, config)
    return "_ins_f"


def drop_work_tables(con: Any) -> None:
    """Drop the temporary tables of :func:`build` and of scoring (they can be large)."""
    names = con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary AND table_name LIKE '\\_ins\\_%' "
                        "ESCAPE '\\'").fetchall()
    for (name,) in names:
        con.execute(f'DROP TABLE IF EXISTS temp."{name}"')


def run(con: Any, sql: str, params: dict[str, Any] | None = None) -> Any:
    """Execute with only the named parameters the statement uses (DuckDB refuses unused ones)."""
    used = set(re.findall(r"\$([a-z_]+)", sql))
    return con.execute(sql, {k: v for k, v in (params or {}).items() if k in used})


def _naive(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def _calendar_table(con: Any, first: date, end: date, config: Config) -> None:
    con.execute("CREATE OR REPLACE TEMP TABLE _ins_cal (day DATE, working BOOLEAN)")
    rows = calendar(first, end, config)
    values = ", ".join(f"(DATE '{d.isoformat()}', {'true' if w else 'false'})" for d, w in rows)
    if values:
        con.execute(f"INSERT INTO _ins_cal VALUES {values}")


def _literal(values: list[str]) -> str:
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"[{quoted}]::VARCHAR[]" if values else "[]::VARCHAR[]"


def _host_table(con: Any, where: str, params: dict[str, Any], config: Config) -> None:
    """``_ins_hosts``: the web hosts seen that match a destination category, with the category."""
    hosts = run(con, f"SELECT DISTINCT {_HOST} FROM events WHERE kind = 'http' AND {where}", params).fetchall()
    table = domains(config)
    rows = []
    for (host,) in hosts:
        category = domain_category(host or "", table, ("leak_site", "personal_cloud", "job_site"))
        if category:
            rows.append((host, category))
    con.execute("CREATE OR REPLACE TEMP TABLE _ins_hosts (host VARCHAR, category VARCHAR)")
    if rows:
        con.executemany("INSERT INTO _ins_hosts VALUES (?, ?)", rows)


def _mail_domains(con: Any, where: str, params: dict[str, Any], config: Config) -> dict[str, list[str]]:
    """The recipient domains seen that are internal or webmail (internal: configured, else the people's
    e-mail domains, else any domain receiving at least 10 % of all recipients)."""
    counted = run(
        con, f"SELECT split_part(rc, '@', 2) AS d, count(*) FROM (SELECT {_RCPT} AS rc FROM "
        f"(SELECT unnest(string_split(replace(coalesce(target, ''), ',', ';'), ';')) AS r FROM events "
        f"WHERE kind = 'email' AND action = 'email_send' AND {where})) WHERE rc <> '' GROUP BY d",
        params).fetchall()
    internal = [d.lower() for d in config.internal_domains]
    if not internal:
        internal = [r[0].lower() for r in con.execute(
            "SELECT DISTINCT split_part(email, '@', 2) FROM people WHERE contains(coalesce(email, ''), '@')"
        ).fetchall() if r[0]]
    if not internal:
        total = sum(n for _, n in counted) or 1
        internal = [d for d, n in counted if d and n >= 0.1 * total]
    table = {**domains(config), "internal": tuple(internal)}
    out: dict[str, list[str]] = {"internal": [], "webmail": []}
    for d, _ in counted:
        category = domain_category(d or "", table, ("internal", "webmail"))
        if category:
            out[category].append(d)
    return out


def _main_pass(con: Any, where: str, params: dict[str, Any], local: str, day_expr: str, config: Config) -> None:
    # Usual hours always include the office hours, so only events outside them can be after-hours: only those go
    # into the half-hour histogram and the list of logon hours (a small share of all events).
    outside = f"(e.h < {float(config.office_start)} OR e.h >= {float(config.office_end)})"
    run(con, f"""
        CREATE OR REPLACE TEMP TABLE _ins_a AS
        SELECT e.u, e.day,
            count(*) AS n_events,
            count(*) FILTER (WHERE e.action = 'logon') AS logons,
            min(e.h) AS first_h,
            max(e.h) AS last_h,
            min(e.h) FILTER (WHERE e.action = 'logon') AS first_logon_h,
            histogram(CAST(floor(e.h * 2) AS INTEGER)) FILTER (WHERE {outside}) AS hist,
            list(e.h) FILTER (WHERE e.action = 'logon' AND {outside}) AS logon_hs,
            count(*) FILTER (WHERE e.kind = 'device' AND e.action = 'connect') AS usb_connects,
            count(*) FILTER (WHERE e.kind = 'file' AND e.removable) AS usb_writes,
            count(*) FILTER (WHERE e.kind = 'file') AS file_volume
        FROM (
            SELECT "user" AS u, kind, action, removable, {day_expr} AS day,
                hour({local}) + minute({local}) / 60.0 AS h
            FROM events WHERE {where}
        ) e
        WHERE e.day BETWEEN $first AND $end
        GROUP BY e.u, e.day""", params)


def _http_pass(con: Any, where: str, params: dict[str, Any], day_expr: str) -> None:
    run(con, f"""
        CREATE OR REPLACE TEMP TABLE _ins_h AS
        SELECT e.u, e.day,
            count(*) FILTER (WHERE c.category = 'personal_cloud' AND e.action = 'http_upload')
                AS upload_personal_cloud,
            count(*) FILTER (WHERE c.category = 'leak_site' AND e.action = 'http_upload') AS upload_leak_site,
            count(*) FILTER (WHERE c.category = 'leak_site' AND e.action <> 'http_upload') AS leak_site_visits,
            count(*) FILTER (WHERE c.category = 'job_site') AS job_site_visits
        FROM (
            SELECT "user" AS u, action, {day_expr} AS day, {_HOST} AS host
            FROM events WHERE kind = 'http' AND {where}
        ) e JOIN _ins_hosts c ON c.host = e.host
        WHERE e.day BETWEEN $first AND $end
        GROUP BY e.u, e.day""", params)


def _mail_pass(con: Any, where: str, params: dict[str, Any], day_expr: str, maildoms: dict[str, list[str]]) -> None:
    internal, webmail = _literal(maildoms["internal"]), _literal(maildoms["webmail"])
    run(con, f"""
        CREATE OR REPLACE TEMP TABLE _ins_m AS
        WITH m AS (
            SELECT e."user" AS u, {day_expr} AS day, coalesce(e.attachments, 0) AS att, o.local,
                list_filter(list_transform(string_split(replace(coalesce(e.target, ''), ',', ';'), ';'),
                    lambda r: {_RCPT}), lambda r: r <> '') AS rl
            FROM events e
            LEFT JOIN (SELECT "user", lower(split_part(email, '@', 1)) AS local FROM people
                WHERE contains(coalesce(email, ''), '@')) o ON o."user" = e."user"
            WHERE e.kind = 'email' AND e.action = 'email_send' AND {where.replace('"user"', 'e."user"')}
        ), per AS (
            SELECT u, day, att, len(rl) AS n,
                len(list_filter(rl, lambda r: NOT list_contains({internal}, split_part(r, '@', 2)))) AS n_ext,
                len(list_filter(rl, lambda r: list_contains({webmail}, split_part(r, '@', 2))
                    OR (NOT list_contains({internal}, split_part(r, '@', 2)) AND split_part(r, '@', 1) = local)))
                    AS n_pers
            FROM m WHERE day BETWEEN $first AND $end
        )
        SELECT u, day,
            count(*) FILTER (WHERE n_pers > 0) AS mail_personal,
            coalesce(sum(att) FILTER (WHERE n_pers > 0), 0) AS mail_personal_attachments,
            count(*) FILTER (WHERE n_ext > 0) AS mail_external_volume,
            max(n) AS mass_mail
        FROM per GROUP BY u, day""", params)


def _logon_pass(con: Any, params: dict[str, Any], day_expr: str, config: Config, user: str | None) -> None:
    window = f"RANGE BETWEEN INTERVAL {_window_days(config)} DAYS PRECEDING AND INTERVAL 1 DAYS PRECEDING"
    scope = ""
    if user is not None:
        scope = ("AND pc IN (SELECT DISTINCT pc FROM events WHERE \"user\" = $user AND kind = 'logon' "
                 "AND ts >= $lo AND ts < $hi)")
    run(con, f"""
        CREATE OR REPLACE TEMP TABLE _ins_l AS
        WITH l AS (
            SELECT DISTINCT "user" AS u, pc, {day_expr} AS day FROM events
            WHERE kind = 'logon' AND action = 'logon' AND pc IS NOT NULL AND pc <> ''
                AND ts >= $lo AND ts < $hi {scope}
        ), ud AS (
            SELECT u, day, count(*) OVER (PARTITION BY u ORDER BY day {window}) AS hist_days
            FROM (SELECT DISTINCT u, day FROM l)
        ), w AS (
            SELECT u, pc, day,
                count(*) OVER (PARTITION BY u, pc ORDER BY day {window}) AS own_days,
                count(*) OVER (PARTITION BY pc ORDER BY day {window}) AS all_days
            FROM l
        ), x AS (
            SELECT w.u, w.day, w.all_days - w.own_days AS others,
                ud.hist_days >= {int(config.min_history_days)}
                    AND w.own_days < {float(config.usual_pc_share)} * ud.hist_days AS unusual
            FROM w JOIN ud USING (u, day)
        )
        SELECT u, day, count(*) FILTER (WHERE unusual) AS other_pc_logons,
            count(*) FILTER (WHERE unusual AND others >= {int(config.other_pc_min_days)}) AS other_user_pc_logons
        FROM x WHERE day BETWEEN $first AND $end GROUP BY u, day""", params)


def _secret_pass(con: Any, where: str, params: dict[str, Any], day_expr: str, config: Config) -> None:
    con.execute("CREATE OR REPLACE TEMP TABLE _ins_sp (prefix VARCHAR, department VARCHAR, url BOOLEAN)")
    rows = []
    for sp in config.secret_paths:
        prefix = sp.prefix.strip().replace("\\", "/").lower()
        if prefix and sp.department:
            rows.append((prefix, sp.department, "://" in prefix))
    if rows:
        con.executemany("INSERT INTO _ins_sp VALUES (?, ?, ?)", rows)
    kinds = "('file', 'http')" if any(r[2] for r in rows) else "('file')"
    run(con, f"""
        CREATE OR REPLACE TEMP TABLE _ins_s AS
        SELECT e.u, e.day, count(DISTINCT e.key) AS secret_access_other_dept
        FROM (
            SELECT key, "user" AS u, {day_expr} AS day, kind,
                replace(lower(coalesce(target, '')), '\\', '/') AS t
            FROM events WHERE kind IN {kinds} AND {where}
        ) e
        JOIN _ins_sp s ON starts_with(e.t, s.prefix) AND s.url = (e.kind = 'http')
        LEFT JOIN people p ON p."user" = e.u
        WHERE s.department <> coalesce(p.department, '') AND e.day BETWEEN $first AND $end
        GROUP BY e.u, e.day""", params if rows else {**params, "lo": params["hi"]})


def _assemble(con: Any, config: Config) -> None:
    q_lo, q_hi = config.hours_quantiles
    minh = int(config.min_history_days)
    margin = float(config.hours_margin)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _ins_f AS
        WITH j AS (
            SELECT a.*, c.working, coalesce(p.department, '') AS department,
                coalesce(m.mail_personal, 0) AS mail_personal,
                coalesce(m.mail_personal_attachments, 0) AS mail_personal_attachments,
                coalesce(m.mail_external_volume, 0) AS mail_external_volume,
                coalesce(m.mass_mail, 0) AS mass_mail,
                coalesce(l.other_pc_logons, 0) AS other_pc_logons,
                coalesce(l.other_user_pc_logons, 0) AS other_user_pc_logons,
                coalesce(s.secret_access_other_dept, 0) AS secret_access_other_dept,
                coalesce(h.upload_personal_cloud, 0) AS upload_personal_cloud,
                coalesce(h.upload_leak_site, 0) AS upload_leak_site,
                coalesce(h.leak_site_visits, 0) AS leak_site_visits,
                coalesce(h.job_site_visits, 0) AS job_site_visits
            FROM _ins_a a JOIN _ins_cal c ON c.day = a.day
            LEFT JOIN _ins_h h ON h.u = a.u AND h.day = a.day
            LEFT JOIN _ins_m m ON m.u = a.u AND m.day = a.day
            LEFT JOIN _ins_l l ON l.u = a.u AND l.day = a.day
            LEFT JOIN _ins_s s ON s.u = a.u AND s.day = a.day
            LEFT JOIN people p ON p."user" = a.u
        ), b AS (
            SELECT *,
                quantile_cont(coalesce(first_logon_h, first_h), {float(q_lo)}) FILTER (WHERE working) OVER w AS sq,
                quantile_cont(last_h, {float(q_hi)}) FILTER (WHERE working) OVER w AS eq,
                count(*) FILTER (WHERE working) OVER w AS hist_working
            FROM j
            WINDOW w AS (PARTITION BY u ORDER BY day ROWS BETWEEN {int(config.lookback_days)} PRECEDING
                AND 1 PRECEDING)
        ), c AS (
            SELECT *,
                CASE WHEN hist_working >= {minh} THEN least({float(config.office_start)}, sq - {margin})
                    ELSE {float(config.office_start)} END AS lo,
                CASE WHEN hist_working >= {minh} THEN greatest({float(config.office_end)}, eq + {margin})
                    ELSE {float(config.office_end)} END AS hi
            FROM b
        )
        SELECT u AS "user", day, working, department, n_events, lo, hi,
            CAST(CASE WHEN working THEN coalesce(list_sum(list_transform(map_entries(hist), lambda e:
                CASE WHEN (e.key + 1) / 2.0 <= lo OR e.key / 2.0 >= hi THEN e.value ELSE 0 END)), 0)
                ELSE n_events END AS DOUBLE) AS after_hours,
            CAST(CASE WHEN working THEN len(list_filter(coalesce(logon_hs, []), lambda x: x < lo OR x >= hi))
                ELSE logons END AS DOUBLE) AS logons_off_hours,
            {", ".join(f"CAST({f} AS DOUBLE) AS {f}" for f in FEATURES if f not in ("after_hours", "logons_off_hours"))}
        FROM c""")
