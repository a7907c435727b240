"""`himitsu serve --processes N`: N server processes answer on one port; SIGTERM stops every one of them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.gateways.conftest import free_port

HIMITSU = str(Path(sys.executable).with_name("himitsu"))


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_two_server_processes_share_the_port_and_stop_together(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIMITSU_")} | {"HIMITSU_HOME": str(tmp_path)}
    proc = subprocess.Popen([HIMITSU, "serve", "--port", str(port), "--processes", "2", "--threads", "2"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        statuses = []
        while time.monotonic() < deadline and len(statuses) < 6:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=10) as reply:
                    statuses.append(reply.status)
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.communicate()[1]
                time.sleep(0.3)
        assert statuses == [200] * 6
        assert len(_children(proc.pid)) == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert _children(proc.pid) == []


@pytest.fixture
def own_postgres():
    """A fresh PostgreSQL database for server processes (when the suite runs on PostgreSQL), dropped afterwards."""
    import uuid

    import psycopg

    base = os.environ.get("HIMITSU_DATABASE_URL", "")
    if not base.startswith("postgres"):
        pytest.skip("the suite runs on SQLite")
    name = f"himitsu_serving_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield base.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_checks_from_many_connections_are_each_recorded_once(tmp_path, request, database):
    """Serving mode on a SQLite file and on PostgreSQL: 8 clients at once against 2 server processes of 4 threads;
    every request answered, each with a record of its own, the ones that found something in an unbroken audit
    chain."""
    import json
    from concurrent.futures import ThreadPoolExecutor

    from tests.guard_env import EXCERPT, HARMLESS, RECIPE

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIMITSU_")} | {
        "HIMITSU_HOME": str(tmp_path), "HIMITSU_GUARD_RATE": "10000", "HIMITSU_GUARD_BURST": "10000"}
    url = request.getfixturevalue("own_postgres") if database == "postgresql" else ""
    if url:
        env["HIMITSU_DATABASE_URL"] = url
    secret = tmp_path / "条件表.txt"
    secret.write_text(RECIPE, encoding="utf-8")
    run = {"env": env, "capture_output": True, "text": True, "timeout": 120}
    assert subprocess.run([HIMITSU, "secrets", "add", str(secret), "--level", "極秘"], **run).returncode == 0
    made = subprocess.run([HIMITSU, "guard", "tokens", "create", "load", "--scope", "check", "--json"], **run)
    token = json.loads(made.stdout)["token"]
    proc = subprocess.Popen([HIMITSU, "serve", "--port", str(port), "--processes", "2", "--threads", "4"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def check(text: str) -> dict:
        body = json.dumps({"text": text}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/check", data=body, headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=60) as reply:
            return json.loads(reply.read())

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                check(HARMLESS)
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1]
                time.sleep(0.3)
        texts = [f"{HARMLESS} {i}" for i in range(60)] + [EXCERPT] * 20
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(check, texts))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert [a["action"] for a in answers] == ["allow"] * 60 + ["block"] * 20
    records = [a["record"] for a in answers]
    assert len(set(records)) == len(records)
    stored, audited = _decisions(url or tmp_path / "himitsu.sqlite3")
    assert all(stored[a["record"]] == a["action"] for a in answers)
    assert audited == {a["record"] for a in answers if a["action"] == "block"}
    verified = subprocess.run([HIMITSU, "audit", "verify"], **run)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def _decisions(where: Any) -> tuple[dict[int, str], set[int]]:
    """(decision id -> action, ids of decisions in the audit trail) read straight from the server's database."""
    import sqlite3

    import psycopg

    queries = ("SELECT id, action FROM guard_guarddecision",
               "SELECT object_id FROM audit_auditevent WHERE object_type = 'guard_decision'")
    if isinstance(where, str):
        with psycopg.connect(where) as db:
            rows = [db.execute(q).fetchall() for q in queries]
    else:
        with contextlib.closing(sqlite3.connect(where)) as db:
            rows = [db.execute(q).fetchall() for q in queries]
    return dict(rows[0]), {int(r[0]) for r in rows[1]}


@pytest.mark.slow
def test_the_server_reads_chunked_bodies_and_refuses_bodies_over_its_limit(tmp_path):
    """Through the real server: a check sent in chunks (no Content-Length) is checked like any other; a body over
    HIMITSU_MAX_REQUEST_BYTES, by its Content-Length or by its chunks, is answered 413 ``request.too_large`` in
    Japanese (English with the language cookie), and the server goes on answering."""
    import http.client
    import json

    from tests.guard_env import EXCERPT, RECIPE

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIMITSU_")} | {
        "HIMITSU_HOME": str(tmp_path), "HIMITSU_MAX_REQUEST_BYTES": "200000"}
    secret = tmp_path / "条件表.txt"
    secret.write_text(RECIPE, encoding="utf-8")
    run = {"env": env, "capture_output": True, "text": True, "timeout": 120}
    assert subprocess.run([HIMITSU, "secrets", "add", str(secret), "--level", "極秘"], **run).returncode == 0
    token = json.loads(subprocess.run([HIMITSU, "guard", "tokens", "create", "chunks", "--scope", "check", "--json"],
                                      **run).stdout)["token"]
    proc = subprocess.Popen([HIMITSU, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

    def post(body: Any, extra: dict[str, str] | None = None, chunked: bool = False) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.request("POST", "/api/v1/check", body=body, headers=headers | (extra or {}), encode_chunked=chunked)
            reply = conn.getresponse()
            return reply.status, json.loads(reply.read())
        finally:
            conn.close()

    def pieces(data: bytes, size: int = 1000) -> Any:
        return iter([data[i:i + size] for i in range(0, len(data), size)])

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                post(b"{}")
                break
            except ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1]
                time.sleep(0.3)
        body = json.dumps({"text": EXCERPT}, ensure_ascii=False).encode()
        status, answer = post(pieces(body), chunked=True)
        assert (status, answer["action"]) == (200, "block")
        big = json.dumps({"text": "あ" * 70_000}, ensure_ascii=False).encode()
        assert len(big) > 200_000
        for sent in ({"body": big}, {"body": pieces(big, 65536), "chunked": True}):
            status, answer = post(**sent)
            assert (status, answer["code"]) == (413, "request.too_large")
            assert answer["message"] == "リクエストが上限の 200000 バイトを超えています。"
        status, answer = post(big, {"Cookie": "django_language=en"})
        assert (status, answer["message"]) == (413, "The request is larger than the limit of 200000 bytes.")
        status, answer = post(body, {"Content-Length": str(len(body))})
        assert (status, answer["action"]) == (200, "block")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 0
