"""Checks in worker processes (``CheckPool``): the gateways decide the same as with the checks in threads, and
each worker has a guard of its own built from an index folder (the workers are real processes)."""

from __future__ import annotations

import json
import smtplib
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from himitsu.engine.check import Engine
from himitsu.engine.model import SecretRef
from himitsu.engine.policy import default_policy
from himitsu.gateways.ai import AiConfig, AiGateway
from himitsu.gateways.base import EngineGuard, Identity
from himitsu.gateways.mail import MailConfig, MailRelay
from himitsu.gateways.pool import CheckPool
from himitsu.gateways.smtp_out import NextHop
from tests.engine.test_policy import KEY, TOP
from tests.gateways.test_mail import SENDER, message

LEVELS = {1: "極秘"}


def worker_guard(index_dir: str) -> EngineGuard:
    """Built once in each worker process (the pool sends this function by name)."""
    engine = Engine(index_dir=index_dir, key=KEY, resolve=lambda i: SecretRef(i, f"文書{i}", LEVELS[i]))
    return EngineGuard(engine, default_policy())


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pool-index")
    Engine(index_dir=folder, key=KEY).register(1, TOP.encode(), "top.txt")
    return folder


@pytest.fixture(scope="module")
def pool(index_dir: Path) -> Iterator[CheckPool]:
    pool = CheckPool(worker_guard, (str(index_dir),), workers=2)
    yield pool
    pool.close()


def test_mail_checked_in_workers(pool, next_hop, index_dir):
    own = EngineGuard(Engine(index_dir=index_dir, key=KEY), default_policy())
    relay = MailRelay(own, MailConfig(next_hop=NextHop("127.0.0.1", next_hop.port, starttls="off", timeout=5),
                                      notify_from="himitsu@example.co.jp", port=0, notify=False), pool)
    relay.start()
    try:
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as smtp:
            assert smtp.sendmail(SENDER, ["a@other.example.com"], message()) == {}
            with pytest.raises(smtplib.SMTPDataError) as caught:
                smtp.sendmail(SENDER, ["a@other.example.com"], message(attachments=[
                    ("spec.txt", TOP.encode(), "text/plain")]))
    finally:
        relay.stop()
    assert caught.value.smtp_code == 550
    assert len(next_hop.messages) == 1
    assert own.records == []  # the relay's own guard decided nothing: the workers did


def test_ai_checked_in_workers(pool, upstream, index_dir):
    own = EngineGuard(Engine(index_dir=index_dir, key=KEY), default_policy(),
                      identities={"tok": Identity("alice", "DEV", "ja")})
    gateway = AiGateway(own, AiConfig(upstream=f"http://127.0.0.1:{upstream.port}/v1", upstream_key="k", port=0),
                        pool)
    gateway.start()
    try:
        decisions = []
        for text in ("明日の会議の議題をまとめて。", f"要約して。{TOP}"):
            body = json.dumps({"model": "m", "messages": [{"role": "user", "content": text}]}).encode()
            request = urllib.request.Request(f"http://127.0.0.1:{gateway.port}/v1/chat/completions", data=body,
                                             headers={"Content-Type": "application/json",
                                                      "Authorization": "Bearer tok"})
            with urllib.request.urlopen(request, timeout=30) as reply:
                decisions.append(reply.headers["X-Himitsu-Decision"])
    finally:
        gateway.stop()
    assert decisions == ["allow", "block"]
    assert len(upstream.requests) == 1 and own.records == []
