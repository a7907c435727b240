"""Fixtures of the gateway tests: a real engine and policy behind an EngineGuard, a stand-in AI provider (an
aiohttp server that records what it received) and a stand-in next hop (an aiosmtpd server that records the
raw bytes), all on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from himitsu.engine.check import Engine
from himitsu.engine.model import SecretRef
from himitsu.engine.policy import default_policy
from himitsu.gateways.base import EngineGuard, Identity
from himitsu.gateways.threads import LoopThread
from tests.engine.test_policy import INTERNAL, KEY, TOP

LEVELS = {1: "極秘", 2: "社外秘"}
IDENTITIES = {
    "tok-alice": Identity("alice", "DEV", "ja"),
    "tok-bob": Identity("bob", "SALES", "en"),
    "alice@example.co.jp": Identity("alice", "DEV", "ja"),
    "bob@example.co.jp": Identity("bob", "SALES", "en"),
}
__all__ = ["INTERNAL", "TOP", "BrokenGuard", "free_port", "wait_for"]


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    e = Engine(index_dir=tmp_path_factory.mktemp("gateway-index"), key=KEY,
               resolve=lambda i: SecretRef(i, f"文書{i}", LEVELS[i]) if i in LEVELS else None)
    e.register(1, TOP.encode(), "top.txt")
    e.register(2, INTERNAL.encode(), "internal.txt")
    return e


@pytest.fixture
def guard(engine: Engine) -> EngineGuard:
    return EngineGuard(engine, default_policy(), identities=IDENTITIES)


class BrokenGuard(EngineGuard):
    """The real guard whose check fails (its database is down, say): the gateways must fail closed."""

    def check(self, item):  # type: ignore[no-untyped-def]
        raise RuntimeError("database unavailable")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


# -- the AI provider ----------------------------------------------------------------------------------


@dataclass
class Upstream:
    """A stand-in OpenAI-compatible provider. ``mode``: normal, stream, delay, reset, error."""

    port: int = 0
    mode: str = "normal"
    delay: float = 3.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    #: the stream sends its second chunk once this is set (or after 5 s, noting that it was not)
    release: threading.Event = field(default_factory=threading.Event)
    released_in_time: bool | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def chat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.requests.append({"path": request.path, "headers": dict(request.headers), "body": raw,
                              "json": json.loads(raw)})
        if self.mode == "delay":
            await asyncio.sleep(self.delay)
        if self.mode == "reset":
            sock = request.transport.get_extra_info("socket") if request.transport else None
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=200)
        if self.mode == "error":
            return web.json_response({"error": {"message": "upstream broke", "type": "server_error",
                                                "code": "upstream_500"}}, status=500)
        if self.mode == "stream":
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            await response.write(_chunk("Hello"))
            for _ in range(500):
                if self.release.is_set():
                    break
                await asyncio.sleep(0.01)
            self.released_in_time = self.release.is_set()
            await response.write(_chunk(" world") + b"data: [DONE]\n\n")
            await response.write_eof()
            return response
        return web.json_response({"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-test",
                                  "choices": [{"index": 0, "finish_reason": "stop",
                                               "message": {"role": "assistant", "content": "了解しました。"}}]})

    async def models(self, request: web.Request) -> web.Response:
        self.requests.append({"path": request.path, "headers": dict(request.headers), "body": b"", "json": None})
        return web.json_response({"object": "list", "data": [{"id": "gpt-upstream", "object": "model"}]})


def _chunk(text: str) -> bytes:
    event = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text}}]}
    return b"data: " + json.dumps(event).encode() + b"\n\n"


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    up = Upstream()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", up.chat)
    app.router.add_get("/v1/models", up.models)
    thread = LoopThread("fake-upstream")
    runner = web.AppRunner(app, access_log=None, handle_signals=False)

    async def start() -> int:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    up.port = thread.run(start())
    try:
        yield up
    finally:
        up.release.set()
        thread.run(runner.cleanup())
        thread.close()


# -- the next hop -------------------------------------------------------------------------------------


@dataclass
class Arrived:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


class NextHopSink:
    """Records every message as raw bytes; ``answer`` (e.g. "451 4.3.0 busy") refuses at DATA instead."""

    def __init__(self) -> None:
        self.messages: list[Arrived] = []
        self.answer: str | None = None
        self.port = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        if self.answer:
            return self.answer
        self.messages.append(Arrived(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"

    def to(self, address: str) -> list[Arrived]:
        return [m for m in self.messages if address in m.rcpt_tos]


@pytest.fixture
def next_hop() -> Iterator[NextHopSink]:
    sink = NextHopSink()
    sink.port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()
