"""Enrichment: who is who (people), when people work (calendar, usual hours) and where data leaves (register).

* **People** (:class:`Person`): user id as the logs spell it, department (the peer group), role, supervisor,
  join and leave dates (the leave date opens the HR window of :mod:`~himitsu.insider.score`), e-mail address
  (its local part recognises mail a person sends to themselves at an outside address; its domain is internal).
  Loaded from the people module by the caller, or from a CSV with :func:`load_people_csv`; stored in the store's
  ``people`` table by :func:`set_people`.
* **Working calendar**: Saturdays, Sundays, Japanese public holidays (``jpholiday``, including 振替休日 and
  国民の休日) and the organisation's closed days (:attr:`Config.closed_days`, by default the year-end break
  12/29–1/3) are non-working days. Activity on a non-working day is after-hours activity.
* **Usual hours** are learned per person from their own history (see :mod:`~himitsu.insider.features`): a
  person who always works late is not flagged for working late.
* **Register**: :class:`SecretPath` prefixes (paths or URL prefixes that hold secrets, with the owning
  department) and destination domains by category (personal cloud, webmail, job sites, leak sites) from
  ``catalog/insider_domains.yaml`` plus :attr:`Config.extra_domains`. A host matches a domain when it is the
  domain or ends with ``"." + domain``. Internal mail domains are :attr:`Config.internal_domains`, else the
  domains of the people's e-mail addresses, else (CERT-style logs without either) any domain receiving at least
  10 % of all recipients.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jpholiday

from himitsu import catalog
from himitsu.errors import MESSAGES, gettext_noop
from himitsu.insider.errors import InsiderError

__all__ = [
    "CATEGORIES",
    "Config",
    "Person",
    "SecretPath",
    "domain_category",
    "domains",
    "is_working_day",
    "load_people_csv",
    "set_people",
    "utc_offset",
]

ENRICH_MESSAGES: dict[str, str] = {
    "insider.people_empty": gettext_noop("The people file {path} has no header row."),
    "insider.people_columns": gettext_noop("The people file {path} has no user column (columns: {columns})."),
    "insider.people_invalid": gettext_noop(
        "{count} rows of the people file {path} are invalid; nothing was loaded: {rows}"),
    "insider.people_unreadable": gettext_noop("The people file {path} cannot be read: {reason}"),
    "insider.config_invalid": gettext_noop("The insider-risk setting {setting} has an invalid value: {value}"),
}
MESSAGES.update(ENRICH_MESSAGES)

CATEGORIES = ("personal_cloud", "webmail", "job_site", "leak_site")
PEOPLE_COLUMNS = ("user", "name", "department", "role", "supervisor", "joined", "leaves", "email")


@dataclass(frozen=True)
class Person:
    """One person as the logs know them (``user`` is the id the logs spell)."""

    user: str
    name: str = ""
    department: str = ""
    role: str = ""
    supervisor: str = ""
    joined: date | None = None
    leaves: date | None = None
    email: str = ""


@dataclass(frozen=True)
class SecretPath:
    """A register entry's storage location: a path prefix (``\\\\fs01\\rd\\``, ``/srv/rd/``) or a URL prefix /
    site, with the department that owns the secret. Matching ignores case and treats ``\\`` as ``/``."""

    prefix: str
    department: str = ""
    entry_id: str = ""
    level: str = ""


@dataclass
class Config:
    """Settings of enrichment, features and scoring (every field has a documented default).

    ``weights`` / ``floors`` override the per-feature defaults of :data:`himitsu.insider.features.FEATURE_DEFAULTS`
    (feature id -> value). See :mod:`himitsu.insider.score` for how each number is used.
    """

    tz: str = "Asia/Tokyo"
    lookback_days: int = 60           # the user's previous active days forming their own baseline
    min_history_days: int = 10        # fewer days of history: no own baseline / no novelty / no usual PCs yet
    hr_before_days: int = 30          # HR window: from this many days before a leave date ...
    hr_after_days: int = 14           # ... to this many days after it
    hr_weight: float = 2.0            # the day's score is multiplied by this inside the HR window
    secret_paths: tuple[SecretPath, ...] = ()
    extra_domains: dict[str, tuple[str, ...]] = field(default_factory=dict)
    internal_domains: tuple[str, ...] = ()
    closed_days: tuple[str, ...] = ("12-29", "12-30", "12-31", "01-02", "01-03")  # MM-DD, besides holidays
    office_start: float = 8.0         # local hours always counted as usual, whatever a person's history ...
    office_end: float = 19.0          # ... (so a 9-to-5 person starting at 8:30 is not after-hours)
    hours_quantiles: tuple[float, float] = (0.1, 0.9)  # usual hours: these quantiles of first / last activity
    hours_margin: float = 0.5         # hours of slack around a person's usual hours
    usual_pc_share: float = 0.5       # a PC is usual for a person logging on to it on >= this share of their days
    other_pc_min_days: int = 5        # ... and another person's PC when others used it on >= this many days
    own_weight: float = 0.7           # combined z = own_weight * own z + peer_weight * peer z (each capped)
    peer_weight: float = 0.3
    min_peers: int = 5                # smaller peer groups: the peer z is the own z
    z_cap: float = 6.0
    z_dead: float = 1.0               # z at or below this adds nothing
    novelty_z: float = 4.0            # own z of a behaviour never seen in the user's baseline
    decay: float = 0.5                # accumulation: score = day + sum(decay**k * previous day k), k <= window
    accumulate_days: int = 7
    alert_threshold: float = 12.0     # Alert.extra["alert"] is true at or above this score
    weights: dict[str, float] = field(default_factory=dict)
    floors: dict[str, float] = field(default_factory=dict)

    def check(self, features: Iterable[str] = ()) -> None:
        """Raise :class:`InsiderError` ``insider.config_invalid`` for a setting that cannot work (before any work
        starts): an unknown time zone, a look-back under one day, negative weights, spreads that are not
        positive, or weights / floors of features that do not exist (``features``: the known ids)."""
        try:
            ZoneInfo(self.tz)
        except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
            raise InsiderError("insider.config_invalid", setting="tz", value=self.tz) from exc
        numbers = {"lookback_days": self.lookback_days, "min_history_days": self.min_history_days,
                   "hr_before_days": self.hr_before_days, "hr_after_days": self.hr_after_days,
                   "hr_weight": self.hr_weight, "accumulate_days": self.accumulate_days, "z_cap": self.z_cap,
                   "own_weight": self.own_weight, "peer_weight": self.peer_weight}
        for name, value in numbers.items():
            if value < 0 or (name == "lookback_days" and value < 1):
                raise InsiderError("insider.config_invalid", setting=name, value=value)
        if not 0 <= self.decay < 1 or not 0 < self.usual_pc_share <= 1:
            raise InsiderError("insider.config_invalid", setting="decay / usual_pc_share",
                               value=f"{self.decay} / {self.usual_pc_share}")
        known = set(features)
        for setting, table in (("weights", self.weights), ("floors", self.floors)):
            for name, value in table.items():
                if (known and name not in known) or value < 0 or (setting == "floors" and value == 0):
                    raise InsiderError("insider.config_invalid", setting=f"{setting}[{name}]", value=value)


# ---- calendar -------------------------------------------------------------------------------------------------

def is_working_day(day: date, config: Config | None = None) -> bool:
    """Monday to Friday, not a Japanese public holiday (振替休日 included), not one of the closed days."""
    closed = (config or Config()).closed_days
    if day.weekday() >= 5 or jpholiday.is_holiday(day):
        return False
    return f"{day.month:02d}-{day.day:02d}" not in closed


def calendar(start: date, end: date, config: Config | None = None) -> list[tuple[date, bool]]:
    """(day, working) for every day from start to end inclusive."""
    out = []
    day = start
    while day <= end:
        out.append((day, is_working_day(day, config)))
        day += timedelta(days=1)
    return out


def utc_offset(tz: str) -> timedelta | None:
    """The zone's fixed offset from UTC, or None when it changes during the year (DST)."""
    zone = ZoneInfo(tz)
    winter = datetime(2025, 1, 15, tzinfo=zone).utcoffset()
    summer = datetime(2025, 7, 15, tzinfo=zone).utcoffset()
    return winter if winter == summer else None


# ---- register: domains ------------------------------------------------------------------------------------------

def domains(config: Config | None = None) -> dict[str, tuple[str, ...]]:
    """Category -> domains: the shipped catalogue plus the organisation's own (lower case)."""
    config = config or Config()
    data = catalog.load("insider_domains.yaml")
    out: dict[str, tuple[str, ...]] = {}
    for category in CATEGORIES:
        shipped = data.get("categories", {}).get(category, {}).get("domains", [])
        extra = config.extra_domains.get(category, ())
        out[category] = tuple(dict.fromkeys(d.strip().lower().lstrip(".") for d in [*shipped, *extra] if d))
    for category, extra in config.extra_domains.items():
        if category not in out:
            out[category] = tuple(d.strip().lower().lstrip(".") for d in extra if d)
    return out


def _suffixes(host: str) -> Iterable[str]:
    parts = host.split(".")
    for i in range(len(parts) - 1):
        yield ".".join(parts[i:])


def domain_category(host: str, table: dict[str, tuple[str, ...]], categories: Sequence[str]) -> str | None:
    """The first of ``categories`` whose domains match ``host`` (the host itself or a parent domain)."""
    host = host.strip().lower().rstrip(".")
    if not host:
        return None
    for category in categories:
        listed = set(table.get(category, ()))
        if any(s in listed for s in _suffixes(host)) or host in listed:
            return category
    return None


# ---- people ------------------------------------------------------------------------------------------------------

_DATE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$")


def _parse_date(text: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    match = _DATE.match(text[:10] if len(text) > 10 and text[10] in " T" else text)
    if not match:
        raise ValueError(text)
    return date(int(match[1]), int(match[2]), int(match[3]))


def load_people_csv(path: str | Path) -> list[Person]:
    """People from a CSV (UTF-8 with or without BOM, or Shift_JIS; columns user, name, department, role,
    supervisor, joined, leaves, email; only user is required; dates as 2026-04-01 or 2026/4/1). Any bad row (no
    user, a duplicate user, a bad date, leaving before joining, a wrong number of columns) makes the whole file
    fail with :class:`InsiderError` ``insider.people_invalid`` naming each bad line (1-based, the header is line
    1); ``error.params["errors"]`` lists them all as (line, what)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InsiderError("insider.people_unreadable", path=str(path), reason=exc.strerror or str(exc)) from exc
    for encoding in ("utf-8-sig", "cp932"):  # UTF-8, or Shift_JIS as Excel in Japan saves CSV
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InsiderError("insider.people_unreadable", path=str(path), reason="neither UTF-8 nor Shift_JIS")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        raise InsiderError("insider.people_empty", path=str(path))
    names = [h.strip().lower() for h in header]
    if "user" not in names:
        raise InsiderError("insider.people_columns", path=str(path), columns=", ".join(names))
    people, errors = _people_rows(reader, names)
    if errors:
        shown = "; ".join(f"line {line}: {what}" for line, what in errors[:20])
        raise InsiderError("insider.people_invalid", path=str(path), count=len(errors), rows=shown, errors=errors)
    return people


def _people_rows(reader: Any, names: list[str]) -> tuple[list[Person], list[tuple[int, str]]]:
    people: list[Person] = []
    errors: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(names):
            errors.append((line, f"{len(row)} columns, expected {len(names)}"))
            continue
        values = {n: v.strip() for n, v in zip(names, row, strict=True) if n in PEOPLE_COLUMNS}
        user = values.get("user", "")
        if not user:
            errors.append((line, "user is empty"))
            continue
        if user in seen:
            errors.append((line, f"user {user} already on line {seen[user]}"))
            continue
        seen[user] = line
        dates: dict[str, date | None] = {}
        for column in ("joined", "leaves"):
            try:
                dates[column] = _parse_date(values.get(column, ""))
            except ValueError:
                errors.append((line, f"{column} is not a date"))
        if len(dates) < 2:
            continue
        if dates["joined"] and dates["leaves"] and dates["leaves"] < dates["joined"]:
            errors.append((line, "leaves is before joined"))
            continue
        people.append(Person(user=user, name=values.get("name", ""), department=values.get("department", ""),
                             role=values.get("role", ""), supervisor=values.get("supervisor", ""),
                             joined=dates["joined"], leaves=dates["leaves"], email=values.get("email", "")))
    return people, errors


def connection(store: Any) -> Any:
    """The DuckDB connection of a :class:`~himitsu.insider.store.Store` (or a connection itself)."""
    return getattr(store, "con", store)


def set_people(store: Any, people: Iterable[Person]) -> int:
    """Replace the store's people table with ``people``; returns how many were stored."""
    con = connection(store)
    rows = [(p.user, p.name, p.department, p.role, p.supervisor, p.joined, p.leaves, p.email) for p in people]
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM people")
        if rows:  # one statement with a list per column (a row at a time is slow in DuckDB)
            columns = [list(c) for c in zip(*rows, strict=True)]
            con.execute('INSERT INTO people ("user", name, department, role, supervisor, joined, leaves, email) '
                        "SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
                        "unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::DATE[]), unnest(?::DATE[]), "
                        "unnest(?::VARCHAR[])", columns)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return len(rows)
