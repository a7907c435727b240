"""The `himitsu` command: output contract, exit codes, need-to-know, no tracebacks."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from himitsu.cli import app

HIMITSU = str(Path(sys.executable).parent / "himitsu")
runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None, input: str | None = None):
    return runner.invoke(app, list(args), env=env, input=input)


def test_users_add_from_environment(db):
    from himitsu.web.accounts.models import User

    result = run("users", "add", "tanaka", "--role", "auditor", "--display-name", "田中 一郎", "--json",
                 env={"HIMITSU_PASSWORD": "Kansa-no-pw-2026"})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["role"] == "auditor"
    user = User.objects.get(username="tanaka")
    assert user.password.startswith("argon2$")
    assert user.check_password("Kansa-no-pw-2026")


def test_users_add_from_stdin(db):
    result = run("users", "add", "sato", "--password-stdin", input="Stdin-pass-2026\n")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("args, env", [
    (["users", "add", "x1", "--role", "king"], {"HIMITSU_PASSWORD": "Good-pass-2026"}),
    (["users", "add", "x2"], {"HIMITSU_PASSWORD": "short"}),
    (["users", "add", "bad name!"], {"HIMITSU_PASSWORD": "Good-pass-2026"}),
    (["users", "add", "x3", "--department", "NOPE"], {"HIMITSU_PASSWORD": "Good-pass-2026"}),
])
def test_users_add_rejects_bad_input(db, args, env):
    result = run(*args, env=env)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_users_add_duplicate(org):
    result = run("users", "add", "alice", env={"HIMITSU_PASSWORD": "Good-pass-2026"})
    assert result.exit_code == 2


def test_password_is_not_an_option(db):
    result = run("users", "add", "x4", "--password", "Good-pass-2026")
    assert result.exit_code == 2


def test_audit_verify_ok_and_json(org):
    from himitsu.web.audit import chain

    chain.record("view", actor=org.users["alice"], object_type="secret", object_id=org.recipe.pk)
    result = run("audit", "verify", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["checked"] >= 1


def test_audit_verify_detects_tampering(org):
    from django.db import connection

    from himitsu.web.audit import chain

    for n in range(3):
        chain.record("view", actor=org.users["alice"], object_type="secret", object_id=n)
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("DROP TRIGGER audit_no_change ON audit_auditevent")
        else:
            cur.execute("DROP TRIGGER audit_no_update")
        cur.execute("UPDATE audit_auditevent SET actor_name = 'mallory' WHERE seq = 2")
    result = run("audit", "verify", "--json")
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert {"seq": 2, "code": "audit.edited"} in problems


def test_register_export_honours_as(org, tmp_path):
    out = tmp_path / "alice.csv"
    result = run("register", "export", "--as", "alice", "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8-sig")
    assert "DEV-001" in text and "SAL-001" not in text and "DEV-002" not in text


def test_register_export_unknown_user(org, tmp_path):
    result = run("register", "export", "--as", "nobody", "-o", str(tmp_path / "x.csv"))
    assert result.exit_code == 2


def test_register_import_round_trip(org, tmp_path):
    out = tmp_path / "all.xlsx"
    assert run("register", "export", "-o", str(out)).exit_code == 0
    result = run("register", "import", str(out), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] and data["created"] == 0 and data["updated"] == 0


def test_register_import_reports_errors(org, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("管理番号,名称,分類,機密区分,管理部署\nNEW-1,,技術情報,極秘,DEV\nNEW-2,x,宇宙,極秘,DEV\n",
                   encoding="utf-8")
    result = run("register", "import", str(bad), "--json")
    assert result.exit_code == 2
    errors = json.loads(result.stdout)["errors"]
    assert {(e["row"], e["column"]) for e in errors} >= {(2, "名称"), (3, "分類")}


def test_register_import_missing_file(db, tmp_path):
    result = run("register", "import", str(tmp_path / "none.xlsx"))
    assert result.exit_code == 2


def _subprocess(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "HIMITSU_DATABASE_URL"}
    full_env.update({"HIMITSU_HOME": str(home), **env})
    return subprocess.run([HIMITSU, *args], capture_output=True, text=True, env=full_env, timeout=120)


def test_fresh_home_is_created_and_migrated(tmp_path):
    home = tmp_path / "new-home"
    proc = _subprocess(["audit", "verify", "--json"], home)
    assert proc.returncode == 0, proc.stderr
    assert (home / "himitsu.sqlite3").exists()
    assert oct((home / "keys" / "audit-chain.key").stat().st_mode & 0o777) == "0o600"
    with sqlite3.connect(home / "himitsu.sqlite3") as con:
        assert con.execute("SELECT count(*) FROM register_classificationlevel").fetchone()[0] == 3


@pytest.mark.parametrize("url", ["mysql://nope/db", "postgresql://postgres@127.0.0.1:1/none"])
def test_bad_database_url_is_one_line(tmp_path, url):
    proc = _subprocess(["audit", "verify"], tmp_path / "h", HIMITSU_DATABASE_URL=url)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_help_lists_commands():
    result = run("--help")
    assert result.exit_code == 0
    for name in ("serve", "demo", "users", "register", "audit"):
        assert name in result.output


def test_demo_loads_once(db):
    first = run("demo", "--json", env={"HIMITSU_DEMO_PASSWORD": "Demo-pass-for-tests-2026"})
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert data["loaded"] is True and data["secrets"] == 20
    second = run("demo", "--json", env={"HIMITSU_DEMO_PASSWORD": "Demo-pass-for-tests-2026"})
    assert json.loads(second.stdout) == {"loaded": False, "reason": "not_empty"}


def test_serve_says_when_its_port_is_taken(db):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--port", str(port))
    assert result.exit_code == 2
    assert f"127.0.0.1 のポート {port} はすでに使われています。" in result.output
    result = run("serve", "--host", "192.0.2.1", "--port", "8000")  # an address of no interface here
    assert result.exit_code == 2
    assert "192.0.2.1 のポート 8000 で待ち受けできません" in result.output


def test_serving_is_prepared_before_the_first_request(tmp_path):
    """What ``himitsu serve`` does before its workers are forked: the URLconf with every view module and the WSGI
    handler are loaded there (shared by the workers), not by each worker's first request."""
    code = ("import sys; from himitsu.cli import runtime, server_cmd; runtime.setup(); "
            "server_cmd._prepare_serving(report=False); from django.urls import get_resolver; "
            "print('url_patterns' in get_resolver().__dict__, 'himitsu.web.api_guard' in sys.modules, "
            "'himitsu.web.wsgi' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIMITSU_")} | {"HIMITSU_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "True"]
