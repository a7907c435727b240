"""The analytics store's tables and the shapes every part of :mod:`himitsu.insider` agrees on.

One DuckDB file (``HIMITSU_HOME/insider.duckdb`` by default) holds:

``events``
    one row per activity, whatever log it came from. ``ts`` is **UTC** (a naive ``TIMESTAMP`` meaning UTC);
    local time (the organisation's zone, Asia/Tokyo by default) is derived when features are computed.
    ``kind`` is one of :data:`KINDS`, ``action`` one of :data:`ACTIONS`. ``target`` is what the action was
    done to: a file path (file), a URL (http), the recipients separated by ``;`` (email), the machine (logon,
    device). ``removable`` is true for a file written to or copied onto removable media. ``key`` identifies
    the event across files (the log's own id when it has one, else a hash of the normalised row): re-ingesting
    an overlapping export adds nothing twice.
``ingested``
    one row per file taken in whole (its SHA-256 makes re-ingesting the same file a no-op).
``rejected``
    the rows of a file that could not be read: line number (1-based, in the file) and a stable code.
``people``
    who is who: user id as the logs spell it, department, role, join and leave dates, supervisor (all optional
    except the user).
``scores``
    the result of scoring a day: one row per user, rank among the day's users, reasons as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

__all__ = ["ACTIONS", "DDL", "KINDS", "Alert", "Indicator"]

KINDS = ("logon", "device", "file", "email", "http")

ACTIONS = (
    "logon", "logoff",                      # logon
    "connect", "disconnect",                # device (removable media)
    "file_open", "file_write", "file_copy", "file_delete",  # file
    "email_send", "email_view",             # email
    "http_visit", "http_upload", "http_download",  # http
)

DDL = """
CREATE SEQUENCE IF NOT EXISTS ingested_seq START 1;
CREATE TABLE IF NOT EXISTS ingested (
    file_id INTEGER PRIMARY KEY DEFAULT nextval('ingested_seq'),
    sha256 VARCHAR NOT NULL UNIQUE,
    name VARCHAR NOT NULL,          -- file name as given (no directory)
    format VARCHAR NOT NULL,        -- cert, m365 or the mapping's name
    kind VARCHAR,                   -- for CERT files: logon, device, file, email, http
    rows BIGINT NOT NULL,           -- data rows read
    added BIGINT NOT NULL,          -- events added
    duplicates BIGINT NOT NULL,     -- rows already present (same key)
    rejected BIGINT NOT NULL,       -- rows rejected (see table rejected)
    first_ts TIMESTAMP,
    last_ts TIMESTAMP,
    ingested_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    key VARCHAR NOT NULL,           -- unique across sources: source || ':' || id-or-hash
    file_id INTEGER NOT NULL,
    line BIGINT NOT NULL,
    ts TIMESTAMP NOT NULL,          -- UTC
    "user" VARCHAR NOT NULL,
    pc VARCHAR,
    kind VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    target VARCHAR,
    removable BOOLEAN NOT NULL DEFAULT false,
    bytes BIGINT,
    attachments INTEGER
);
CREATE TABLE IF NOT EXISTS rejected (
    file_id INTEGER NOT NULL,
    line BIGINT NOT NULL,
    code VARCHAR NOT NULL,          -- insider.row.* (see himitsu.insider.errors)
    detail VARCHAR                  -- the column at fault, never the row's content
);
CREATE TABLE IF NOT EXISTS people (
    "user" VARCHAR PRIMARY KEY,
    name VARCHAR,
    department VARCHAR,
    role VARCHAR,
    supervisor VARCHAR,
    joined DATE,
    leaves DATE,
    email VARCHAR
);
CREATE TABLE IF NOT EXISTS scores (
    day DATE NOT NULL,
    "user" VARCHAR NOT NULL,
    score DOUBLE NOT NULL,
    rank INTEGER NOT NULL,
    reasons JSON NOT NULL,
    PRIMARY KEY (day, "user")
);
"""


@dataclass(frozen=True)
class Indicator:
    """One feature of a user-day that moved: its id (``after_hours``, ``usb_writes``, ...), the day's value, the
    user's own baseline (mean over the look-back) and their peers' (same department, same day), how far it
    moved in standard deviations against each, and what it added to the score."""

    name: str
    value: float
    own_baseline: float
    peer_baseline: float
    own_z: float
    peer_z: float
    contribution: float


@dataclass(frozen=True)
class Alert:
    """A user on a day, ranked: the score, its rank among that day's users (1 = most worth a look), the
    indicators that moved (largest contribution first), and the HR context (days until the leave date when in
    the triggered window; negative after it)."""

    day: date
    user: str
    score: float
    rank: int
    indicators: tuple[Indicator, ...] = ()
    department: str = ""
    days_to_leave: int | None = None
    hr_weight: float = 1.0
    extra: dict[str, object] = field(default_factory=dict)
