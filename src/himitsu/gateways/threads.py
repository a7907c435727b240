"""An asyncio service run on an event loop of its own, in a thread: for tests, benchmarks and scripts that
start one gateway at a time (``himitsu guard serve`` runs them all in one loop, see ``serve``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["InThread", "LoopThread"]

T = TypeVar("T")


class LoopThread:
    """An event loop in a daemon thread: ``run(coro)`` runs a coroutine there and returns its result."""

    def __init__(self, name: str = "himitsu-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def finish() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_asyncgens()
            await self.loop.shutdown_default_executor()

        self.run(finish())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class InThread:
    """``start()`` / ``stop()`` for a service with ``start_async()`` / ``stop_async()``: the service runs on a
    :class:`LoopThread` of its own until stopped."""

    thread_name = "himitsu-gateway"
    _thread: LoopThread | None = None

    async def start_async(self) -> None:
        raise NotImplementedError

    async def stop_async(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread = LoopThread(self.thread_name)
        try:
            self._thread.run(self.start_async())
        except BaseException:
            self._thread.close()
            self._thread = None
            raise

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.run(self.stop_async())
            self._thread.close()
            self._thread = None
