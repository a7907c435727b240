"""Running the gateways: the AI gateway and the mail relay in one process and one event loop.

``run(guard, ai, mail)`` serves whichever is configured until SIGINT or SIGTERM (or ``stop_event``), then
shuts down cleanly: no new connections, requests and messages being handled are finished, notices sent.
``himitsu guard serve`` calls it with the web app's guard; tests and benchmarks call :func:`serve` or
start the gateways one by one (``AiGateway`` / ``MailRelay``, ``start()`` runs each in a thread of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from typing import TypeVar

from himitsu.gateways.ai import AiConfig, AiGateway
from himitsu.gateways.base import Guard
from himitsu.gateways.mail import MailConfig, MailRelay
from himitsu.gateways.pool import CheckPool

__all__ = ["run", "serve"]

log = logging.getLogger("himitsu.gateways")
T = TypeVar("T")


async def serve(guard: Guard, ai: AiConfig | None = None, mail: MailConfig | None = None,
                stop_event: threading.Event | asyncio.Event | None = None,
                started: Callable[[list[AiGateway | MailRelay]], None] | None = None,
                handle_signals: bool = True, pool: CheckPool | None = None) -> None:
    """Serve until SIGINT/SIGTERM (when ``handle_signals`` and in the main thread) or ``stop_event`` is set.
    ``started`` is called with the running gateways (their ``port`` is the bound one, also for port 0).
    ``pool``: checks run in its worker processes (see :mod:`himitsu.gateways.pool`), else in threads here."""
    if ai is None and mail is None:
        raise ValueError("nothing to serve: configure the AI gateway, the mail relay or both")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    running: list[AiGateway | MailRelay] = []
    signals: list[int] = []
    watcher: asyncio.Task[None] | None = None
    try:
        if ai is not None:
            gateway = AiGateway(guard, ai, pool)
            await gateway.start_async()
            running.append(gateway)
        if mail is not None:
            relay = MailRelay(guard, mail, pool)
            await relay.start_async()
            running.append(relay)
        if handle_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, stop.set)
                    signals.append(sig)
                except (NotImplementedError, RuntimeError):  # not on this platform
                    pass
        if stop_event is not None:
            watcher = loop.create_task(_watch(stop_event, stop))
        if started is not None:
            started(list(running))
        await stop.wait()
        log.info("gateways stopping")
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        for server in reversed(running):
            try:
                await server.stop_async()
            except Exception:
                log.exception("stopping %s failed", type(server).__name__)


async def _watch(event: threading.Event | asyncio.Event, stop: asyncio.Event) -> None:
    if isinstance(event, asyncio.Event):
        await event.wait()
    else:
        while not event.is_set():
            await asyncio.sleep(0.1)
    stop.set()


def run(guard: Guard, ai: AiConfig | None = None, mail: MailConfig | None = None,
        stop_event: threading.Event | None = None, pool: CheckPool | None = None) -> None:
    """Run the configured gateways in this process until stopped (SIGINT, SIGTERM or ``stop_event``)."""
    asyncio.run(serve(guard, ai, mail, stop_event, pool=pool))


