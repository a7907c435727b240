"""`himitsu guard serve` (issue 6): the real command in a process of its own, configured from the environment,
on an embedded database in a fresh HIMITSU_HOME — the AI gateway and the mail relay answer, checks run in a
worker process, SIGTERM stops it cleanly; without any gateway configured it says what to set."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from himitsu.cli import app
from tests.gateways.conftest import free_port, next_hop, upstream  # noqa: F401  (real servers on 127.0.0.1)

HIMITSU = str(Path(sys.executable).with_name("himitsu"))


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIMITSU_")}  # not the test database
    return env | {"HIMITSU_HOME": str(home), "HIMITSU_LANG": "ja"} | extra


def _wait_port(port: int, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"guard serve exited early: {proc.communicate()[1]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"port {port} never opened")


@pytest.mark.slow
def test_guard_serve_runs_both_gateways_until_sigterm(tmp_path, upstream, next_hop):  # noqa: F811
    home = tmp_path / "home"
    created = subprocess.run([HIMITSU, "guard", "tokens", "create", "チャット", "--scope", "ai"], env=_env(home),
                             capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, created.stderr
    token = next(w for line in created.stdout.splitlines() for w in line.split() if w.startswith("hmt_"))
    ai_port, mail_port = free_port(), free_port()
    env = _env(home, HIMITSU_AI_UPSTREAM=f"http://127.0.0.1:{upstream.port}/v1", HIMITSU_AI_UPSTREAM_KEY="pk",
               HIMITSU_AI_PORT=str(ai_port), HIMITSU_MAIL_NEXT_HOP=f"127.0.0.1:{next_hop.port}",
               HIMITSU_MAIL_NEXT_HOP_STARTTLS="off", HIMITSU_MAIL_PORT=str(mail_port),
               HIMITSU_MAIL_NOTIFY_FROM="himitsu@example.co.jp")
    proc = subprocess.Popen([HIMITSU, "guard", "serve", "--workers", "1"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        _wait_port(ai_port, proc)
        _wait_port(mail_port, proc)
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "議事録を要約して。"}]}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{ai_port}/v1/chat/completions", data=body,
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=60) as reply:
            assert reply.headers["X-Himitsu-Decision"] == "allow"
        with smtplib.SMTP("127.0.0.1", mail_port, timeout=60) as smtp:
            smtp.sendmail("someone@example.co.jp", ["a@other.example.com"],
                          b"From: someone@example.co.jp\r\nTo: a@other.example.com\r\nSubject: hi\r\n\r\nhello\r\n")
        assert len(upstream.requests) == 1 and len(next_hop.messages) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"127.0.0.1:{ai_port}" in out and f"127.0.0.1:{mail_port}" in out


def test_guard_serve_without_any_gateway_says_what_to_set(monkeypatch, db):
    for name in ("HIMITSU_AI_UPSTREAM", "HIMITSU_MAIL_NEXT_HOP"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, ["guard", "serve"], env={"HIMITSU_LANG": "en"})
    assert result.exit_code == 2
    assert "HIMITSU_AI_UPSTREAM" in result.output and "HIMITSU_MAIL_NEXT_HOP" in result.output


def test_guard_serve_refuses_a_bad_setting(monkeypatch, db):
    monkeypatch.setenv("HIMITSU_MAIL_NEXT_HOP", "mail.example.co.jp:notaport")
    result = CliRunner().invoke(app, ["guard", "serve"], env={"HIMITSU_LANG": "en"})
    assert result.exit_code == 2 and "HIMITSU_MAIL_NEXT_HOP" in result.output
