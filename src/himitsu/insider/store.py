"""The analytics store: one DuckDB file holding the tables of :mod:`himitsu.insider.schema`.

DuckDB allows one writing process per file (or many read-only ones). Large ingests spill to a temporary folder
next to the store (``insider.duckdb.tmp``), never to the system's ``/tmp``, and DuckDB's memory is capped.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

import duckdb

from himitsu.insider.errors import InsiderError
from himitsu.insider.schema import DDL

__all__ = ["STORE_NAME", "Store", "open_store"]

STORE_NAME = "insider.duckdb"


def _default_memory_limit() -> str:
    """A quarter of the machine's memory, between 1 GB and 4 GB. DuckDB spills to the temporary folder beyond it;
    a 10-million-row ingest runs as fast with 2 GB as with 8 GB."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "2GB"
    gib = max(1, min(4, total // 4 // 2**30))
    return f"{gib}GB"


class Store:
    """An open store. ``con`` is the DuckDB connection (use it from one thread at a time).

    ``memory_limit`` (DuckDB syntax, e.g. ``"4GB"``) and ``threads`` default to a quarter of the memory (1-4 GB)
    and all cores. The schema is created on first open unless ``read_only``.
    """

    def __init__(self, path: str | Path, *, read_only: bool = False, memory_limit: str | None = None,
                 threads: int | None = None) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.temp_directory = self.path.with_name(self.path.name + ".tmp")
        config: dict[str, str | bool | int] = {
            "memory_limit": memory_limit or _default_memory_limit(),
            "temp_directory": str(self.temp_directory),
        }
        if threads:
            config["threads"] = threads
        try:
            if not read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            elif not self.path.exists():
                raise InsiderError("insider.store.unavailable", path=str(self.path), reason="no such file")
            self.con = duckdb.connect(str(self.path), read_only=read_only, config=config)
        except (duckdb.Error, OSError) as exc:
            raise InsiderError("insider.store.unavailable", path=str(self.path), reason=str(exc)) from exc
        if not read_only:
            self.con.execute(DDL)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        return f"<Store {self.path} {mode}>"


def open_store(home: Path, read_only: bool = False) -> Store:
    """The store of a Himitsu home folder: ``home / "insider.duckdb"``."""
    return Store(Path(home) / STORE_NAME, read_only=read_only)
