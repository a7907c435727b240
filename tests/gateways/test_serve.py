"""Both gateways in one process and one event loop, stopped by an event or by SIGTERM."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import smtplib
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from himitsu.gateways.ai import AiConfig
from himitsu.gateways.mail import MailConfig
from himitsu.gateways.serve import run, serve
from himitsu.gateways.smtp_out import NextHop
from tests.gateways.conftest import free_port, wait_for


def test_both_gateways_serve_in_one_loop_until_stopped(guard, upstream, next_hop):
    ai = AiConfig(upstream=upstream.base, upstream_key="sk-x", port=0)
    mail = MailConfig(next_hop=NextHop("127.0.0.1", next_hop.port, starttls="off", timeout=5),
                      notify_from="guard@example.co.jp", port=0)
    stop = threading.Event()
    ports: list[int] = []
    thread = threading.Thread(target=lambda: asyncio.run(serve(guard, ai, mail, stop, started=lambda gs: ports.extend(
        g.port for g in gs))))
    thread.start()
    try:
        assert wait_for(lambda: len(ports) == 2)
        conn = http.client.HTTPConnection("127.0.0.1", ports[0], timeout=10)
        conn.request("POST", "/v1/chat/completions", headers={"Authorization": "Bearer tok-alice",
                                                              "Content-Type": "application/json"},
                     body=json.dumps({"model": "m", "messages": [{"role": "user", "content": "こんにちは"}]}))
        assert conn.getresponse().status == 200
        conn.close()
        with smtplib.SMTP("127.0.0.1", ports[1], timeout=10) as smtp:
            smtp.sendmail("alice@example.co.jp", ["x@other.example.com"], b"Subject: hi\r\n\r\nhello\r\n")
        assert len(next_hop.messages) == 1 and len(upstream.requests) == 1
    finally:
        stop.set()
        thread.join(15)
    assert not thread.is_alive()
    with pytest.raises(OSError):
        smtplib.SMTP("127.0.0.1", ports[1], timeout=2)


def test_nothing_to_serve_is_an_error(guard):
    with pytest.raises(ValueError):
        run(guard)


SCRIPT = textwrap.dedent("""
    import sys
    from himitsu.engine.check import Engine
    from himitsu.engine.policy import default_policy
    from himitsu.gateways.ai import AiConfig
    from himitsu.gateways.base import EngineGuard
    from himitsu.gateways.mail import MailConfig
    from himitsu.gateways.serve import run
    from himitsu.gateways.smtp_out import NextHop

    guard = EngineGuard(Engine(index_dir=None, key=b"k" * 32), default_policy())
    ai_port, mail_port = int(sys.argv[1]), int(sys.argv[2])
    run(guard, AiConfig(upstream="http://127.0.0.1:9/v1", port=ai_port),
        MailConfig(next_hop=NextHop("127.0.0.1", 9), notify_from="guard@example.co.jp", port=mail_port))
    print("stopped cleanly")
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_process_cleanly(tmp_path: Path, sig):
    ai_port, mail_port = free_port(), free_port()
    env = dict(os.environ, HIMITSU_HOME=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(ai_port), str(mail_port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def listening() -> bool:
            try:
                with smtplib.SMTP("127.0.0.1", mail_port, timeout=2) as smtp:
                    return smtp.noop()[0] == 250
            except OSError:
                return False

        assert wait_for(listening, 30), proc.stderr.read() if proc.poll() is not None else "not listening"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out.strip() == "stopped cleanly"


def test_gateways_import_without_django(tmp_path: Path):
    code = textwrap.dedent("""
        import sys
        from importlib.abc import MetaPathFinder

        class NoDjango(MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("django", "ninja"):
                    raise ImportError(name + " is blocked")
                return None

        sys.meta_path.insert(0, NoDjango())
        import himitsu.gateways.ai, himitsu.gateways.mail, himitsu.gateways.serve  # noqa: E401
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("django", "ninja")))
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "HIMITSU_"))}
    env["HIMITSU_HOME"] = str(tmp_path)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_port_in_use_is_reported_and_nothing_is_left_running(guard, upstream):
    from himitsu.gateways.ai import AiGateway

    first = AiGateway(guard, AiConfig(upstream=upstream.base, port=0))
    first.start()
    try:
        taken = first.port
        before = threading.active_count()
        with pytest.raises(OSError):
            AiGateway(guard, AiConfig(upstream=upstream.base, port=taken)).start()
        assert threading.active_count() == before
    finally:
        first.stop()
