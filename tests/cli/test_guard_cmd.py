"""`himitsu guard test|tokens|policy` (issue 6): decisions without records, tokens shown once, the policy in order;
exit codes 0 allow/warn, 1 redact/hold/block, 2 usage or input error."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from himitsu.cli import app
from himitsu.web.guard import services
from himitsu.web.guard.models import ApiToken, GuardDecision
from tests.guard_env import EXCERPT, HARMLESS, PERSONAL, PRICES_EXCERPT, guarded_fixture  # noqa: F401

runner = CliRunner()


def run(*args: str, input: str | None = None, lang: str = "ja"):
    return runner.invoke(app, list(args), input=input, env={"HIMITSU_LANG": lang})


def lines(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


@pytest.fixture
def files(guarded):
    out = {}
    for name, text in {"excerpt.txt": EXCERPT, "prices.txt": PRICES_EXCERPT, "personal.txt": PERSONAL,
                       "harmless.txt": HARMLESS}.items():
        path = guarded.tmp / name
        path.write_text(text, encoding="utf-8")
        out[name] = str(path)
    return out


def test_guard_test_decides_without_recording(files, guarded):
    result = run("guard", "test", files["excerpt.txt"], "--channel", "mail", "--to", "x@outside.example.com",
                 "--json")
    assert result.exit_code == 1, result.output
    (row,) = lines(result)
    assert row["action"] == "block" and row["reasons"][0]["rule"] == "top-secret"
    assert row["reasons"][0]["message"].startswith("極秘情報は")
    assert row["findings"][0]["secret"]["title"] == "焼結条件"  # the operator sees everything
    assert GuardDecision.objects.count() == 0

    result = run("guard", "test", files["harmless.txt"], "--json")
    assert result.exit_code == 0 and lines(result)[0]["action"] == "allow"
    result = run("guard", "test", files["personal.txt"], "--channel", "ai", "--json")
    assert result.exit_code == 1
    row = lines(result)[0]
    assert row["action"] == "redact" and "[REDACTED:my-number]" in row["redacted_text"]
    result = run("guard", "test", files["prices.txt"], "--channel", "mail", "--as", "bob", "--json", lang="en")
    row = lines(result)[0]
    assert result.exit_code == 1 and row["action"] == "hold" and row["user"] == "bob" and row["department"] == "DEV"
    assert row["reasons"][0]["message"].startswith("Mail holding secret information")
    assert row["findings"][0]["secret"]["title"] == ""  # bob may not see SAL-001
    assert GuardDecision.objects.count() == 0


def test_guard_test_human_output_and_stdin(files):
    result = run("guard", "test", files["excerpt.txt"], "--channel", "ai")
    assert result.exit_code == 1
    assert "極秘情報は社外に送信できません" in result.stdout and "焼結条件" in result.stdout
    result = run("guard", "test", "-", "--channel", "api", input=PERSONAL)
    assert result.exit_code == 1 and "[REDACTED:my-number]" in result.stdout
    result = run("guard", "test", files["harmless.txt"], lang="en")
    assert result.exit_code == 0


def test_guard_test_usage_errors(files, guarded):
    assert run("guard", "test", str(guarded.tmp / "missing.txt")).exit_code == 2
    result = run("guard", "test", files["harmless.txt"], "--channel", "fax")
    assert result.exit_code == 2 and "fax" in result.output
    assert run("guard", "test", files["harmless.txt"], "--as", "nobody").exit_code == 2


def test_tokens_create_list_revoke(guarded):
    result = run("guard", "tokens", "create", "メールゲートウェイ", "--scope", "check", "--scope", "ai", "--user",
                 "alice", "--expires", "2099-12-31", "--json")
    assert result.exit_code == 0, result.output
    (row,) = lines(result)
    token = row["token"]
    assert token.startswith("hmt_") and row["scopes"] == ["check", "ai"] and row["user"] == "alice"
    assert services.verify_token(token, "ai").pk == row["id"]
    listed = run("guard", "tokens", "list", "--json")
    assert listed.exit_code == 0
    (item,) = lines(listed)
    assert item["status"] == "active" and "token" not in item and token.split("_", 2)[2] not in listed.stdout
    plain = run("guard", "tokens", "create", "bot", "--scope", "check")
    assert plain.exit_code == 0
    printed = [line for line in plain.stdout.splitlines() if line.startswith("hmt_")]
    assert len(printed) == 1 and services.verify_token(printed[0], "check") is not None
    assert run("guard", "tokens", "list").exit_code == 0
    assert run("guard", "tokens", "revoke", str(row["id"])).exit_code == 0
    assert services.verify_token(token, "ai") is None
    assert run("guard", "tokens", "revoke", str(row["id"])).exit_code == 2  # already revoked
    assert run("guard", "tokens", "revoke", "99999").exit_code == 2
    assert lines(run("guard", "tokens", "list", "--json"))[1]["status"] == "revoked"


def test_tokens_errors_and_permissions(guarded):
    assert run("guard", "tokens", "create", "bot", "--scope", "root").exit_code == 2
    assert run("guard", "tokens", "create", "bot", "--scope", "check", "--user", "nobody").exit_code == 2
    assert run("guard", "tokens", "create", "bot", "--scope", "check", "--expires", "昨日").exit_code == 2
    assert run("guard", "tokens", "create", "bot", "--scope", "check", "--expires", "2020-01-01").exit_code == 2
    assert run("guard", "tokens", "create", "bot").exit_code == 2  # --scope is required
    for role in ("devlead", "alice", "auditor"):
        assert run("guard", "tokens", "create", "bot", "--scope", "check", "--as", role).exit_code == 2
    assert not ApiToken.objects.exists()
    assert run("guard", "tokens", "create", "bot", "--scope", "check", "--as", "manager").exit_code == 0
    assert run("guard", "tokens", "list", "--as", "auditor", "--json").exit_code == 0
    assert run("guard", "tokens", "list", "--as", "alice").exit_code == 2
    token = ApiToken.objects.get()
    assert run("guard", "tokens", "revoke", str(token.pk), "--as", "auditor").exit_code == 2
    assert ApiToken.objects.get().revoked_at is None


def test_policy_show(guarded):
    result = run("guard", "policy", "show", "--json")
    assert result.exit_code == 0, result.output
    data = lines(result)[0]
    assert data["rules"][0]["id"] == "top-secret" and data["rules"][0]["enabled"] is True
    assert data["allowances"][0]["id"] == "nda-partners" and data["version"].startswith("db-")
    human = run("guard", "policy", "show", lang="en")
    assert human.exit_code == 0 and "top-" in human.stdout and "Policy version: db-" in human.stdout
    assert run("guard", "policy", "show", "--as", "auditor").exit_code == 0
    assert run("guard", "policy", "show", "--as", "bob").exit_code == 2
