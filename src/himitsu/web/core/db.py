"""Database helpers shared by the apps."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

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


class Recent:
    """Values read from the database, kept for ``seconds`` by the processes that serve requests (the guard's
    tokens and senders, the register entries of matched documents); at most ``limit`` of them (all dropped
    beyond); ``clear()`` when this process changes what they came from."""

    def __init__(self, seconds: float, limit: int = 10_000) -> None:
        self.seconds, self.limit = seconds, limit
        self._values: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        """The value kept for ``key``, or None (never kept, or older than ``seconds``)."""
        found = self._values.get(key)
        if found is None or time.monotonic() - found[0] > self.seconds:
            return None
        return found[1]

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            if len(self._values) > self.limit:
                self._values.clear()
            self._values[key] = (time.monotonic(), value)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
