"""Checks in worker processes: the gateways' way to use more than one core.

A guard's ``check`` is CPU-bound Python (extraction, the detectors): in the gateway's own process it runs in
threads that share one interpreter lock, so one core does all the checking however many there are. A
:class:`CheckPool` runs ``check`` in ``workers`` processes instead, each with a guard of its own built once
by ``factory(*args)`` (a module-level function: it is sent to the workers by name). The gateway keeps its
own guard for ``identify`` and ``hold`` (quick, and a hold must be kept by the process that answers).
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from himitsu.gateways.base import Guard, Outbound, Verdict

__all__ = ["CheckPool"]

_GUARD: Guard | None = None  # the guard of this worker process


def _start(factory: Callable[..., Guard], args: tuple[Any, ...]) -> None:
    global _GUARD
    _GUARD = factory(*args)


def _check(item: Outbound) -> Verdict:
    if _GUARD is None:  # pragma: no cover - the initializer always ran
        raise RuntimeError("check pool worker without a guard")
    return _GUARD.check(item)


class CheckPool:
    def __init__(self, factory: Callable[..., Guard], args: tuple[Any, ...] = (), workers: int = 2) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        context = multiprocessing.get_context("forkserver")
        self._executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_start,
                                             initargs=(factory, args))

    async def check(self, item: Outbound) -> Verdict:
        return await asyncio.get_running_loop().run_in_executor(self._executor, _check, item)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
