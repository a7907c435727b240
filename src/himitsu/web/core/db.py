"""Database helpers shared by the apps."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from django.db import connection

_SQLITE_WRITES = threading.Lock()


@contextlib.contextmanager
def serialised_writes() -> Iterator[None]:
    """Around a write made by many threads of one process at a high rate (the guard's decision records).

    SQLite lets one connection write at a time; a thread that finds the database locked sleeps in SQLite's busy
    handler (1, 2, 5, 10 … 100 ms) instead of being woken when the lock is free, so under load writers queue for
    seconds. Taking a lock of this process first hands the database from thread to thread at once (other
    processes still meet the busy handler, far less often). PostgreSQL waits properly: nothing is taken there."""
    if connection.vendor != "sqlite":
        yield
        return
    with _SQLITE_WRITES:
        yield
