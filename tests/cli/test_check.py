"""`himitsu secrets add|remove` and `himitsu check`: the CLI contract of issue 3."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from himitsu.cli import app

runner = CliRunner()
SECRET = ("焼結炉の温度プロファイルは第一ゾーンで八百五十度、第二ゾーンで千百二十度とし、保持時間は四十五分とする。"
          "雰囲気ガスは窒素九十五パーセント水素五パーセントの混合とし、露点はマイナス四十度以下に管理する。"
          "冷却速度は毎分十五度を上限とし、量産ライン三号機の補正係数は材料ロットごとに見直す。")


@pytest.fixture(autouse=True)
def own_index(tmp_path, monkeypatch):
    monkeypatch.setenv("HIMITSU_INDEX_DIR", str(tmp_path / "index"))


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def lines(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


@pytest.fixture
def registered(db, tmp_path):
    path = tmp_path / "条件表.txt"
    path.write_text(SECRET, encoding="cp932")
    result = run("secrets", "add", str(path), "--title", "焼結条件", "--level", "極秘", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_add_prints_ids_and_keeps_no_text(registered):
    from himitsu.web.register.models import Secret, SecretDocument

    assert registered["secret"]["level"] == "極秘"
    (doc,) = registered["documents"]
    stored = SecretDocument.objects.get(pk=doc["id"])
    assert stored.fingerprints > 0 and stored.secret_id == registered["secret"]["id"]
    entry = Secret.objects.get(pk=registered["secret"]["id"])
    assert entry.owner_department.code == "UNASSIGNED" and entry.revisions.exists()


def test_check_finds_an_edited_excerpt(registered, tmp_path):
    # reflowed, full-width digits, wrapped in an unrelated mail
    excerpt = SECRET[20:140].replace("、", "、\n").replace("三", "3")
    mail = tmp_path / "mail.txt"
    mail.write_text(f"お世話になっております。\n{excerpt}\nよろしくお願いいたします。\n", encoding="utf-8")
    result = run("check", str(mail), "--json")
    assert result.exit_code == 1, result.output
    (row,) = lines(result)
    assert row["path"] == str(mail) and row["verdict"] == "findings"
    hits = [f for f in row["findings"] if f["detector"] == "registered-secret"]
    assert hits and hits[0]["secret"] == {"id": registered["secret"]["id"], "title": "焼結条件", "level": "極秘"}
    f = hits[0]
    assert set(f) >= {"detector", "score", "start", "end", "snippet", "explanation", "secret", "matched_chars"}
    assert 80 <= f["matched_chars"] <= 120 and 0 < f["score"] <= 1  # the shared normalised text (~100 characters)
    assert excerpt[:10] not in json.dumps(row, ensure_ascii=False)  # no secret text in the output


def test_index_of_another_version_is_a_clear_error(db, tmp_path):
    from himitsu.web.register import documents

    folder = tmp_path / "index"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"format": "himitsu-fingerprint-index/1"}', encoding="utf-8")
    documents._engine.cache_clear()
    try:
        result = run("check", "-", "--json", input="本日の会議は十五時からです。\n")
    finally:
        documents._engine.cache_clear()
    assert result.exit_code == 2
    assert "index" in result.output and "Traceback" not in result.output


def test_check_clean_stdin_and_errors(registered, tmp_path):
    result = run("check", "-", "--json", input="本日の会議は十五時からです。\n")
    assert result.exit_code == 0
    assert lines(result) == [{"path": "-", "verdict": "clean", "findings": [], "problems": []}]
    result = run("check", str(tmp_path / "missing.txt"), "--json")
    assert result.exit_code == 2 and lines(result)[0]["verdict"] == "error"


def test_remove_stops_matching(registered, tmp_path):
    doc_id = registered["documents"][0]["id"]
    mail = tmp_path / "m.txt"
    mail.write_text(SECRET[:100], encoding="utf-8")
    assert run("check", str(mail), "--json").exit_code == 1
    result = run("secrets", "remove", str(doc_id), "--json")
    assert result.exit_code == 0, result.output
    assert run("check", str(mail), "--json").exit_code == 0
    assert run("secrets", "remove", str(doc_id)).exit_code == 2


def test_add_to_existing_entry_and_unknown(org, tmp_path):
    path = tmp_path / "spec.txt"
    path.write_text(SECRET, encoding="utf-8")
    result = run("secrets", "add", str(path), "--secret", str(org.recipe.pk), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["secret"]["id"] == org.recipe.pk
    assert run("secrets", "add", str(path), "--secret", "999999").exit_code == 2
    assert run("secrets", "add", str(tmp_path / "nope.txt")).exit_code == 2
    assert run("secrets", "add", str(path), "--level", "超秘").exit_code == 2


def test_employee_cannot_register_and_sees_no_names(org, tmp_path):
    path = tmp_path / "spec.txt"
    path.write_text(SECRET, encoding="utf-8")
    assert run("secrets", "add", str(path), "--secret", str(org.recipe.pk), "--as", "alice").exit_code == 2
    assert run("secrets", "add", str(path), "--secret", str(org.prices.pk), "--json").exit_code == 0
    result = run("check", str(path), "--json", "--as", "alice")  # alice may not see SAL-001
    (row,) = lines(result)
    hit = next(f for f in row["findings"] if f["detector"] == "registered-secret")
    assert hit["secret"]["title"] == "" and hit["secret"]["level"] == "秘"


def test_check_markings_and_encrypted_zip(db, tmp_path):
    import io
    import zipfile

    doc = tmp_path / "memo.txt"
    doc.write_text("社外秘\n\n来期の計画について\n", encoding="utf-8")
    row = lines(run("check", str(doc), "--json"))[0]
    assert any(f["detector"] == "marking" for f in row["findings"])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", "x")
    data = bytearray(buf.getvalue())
    data[6] |= 0x01  # the local header's "encrypted" flag
    central = data.rfind(b"PK\x01\x02")
    data[central + 8] |= 0x01
    archive = tmp_path / "送付.zip"
    archive.write_bytes(bytes(data))
    row = lines(run("check", str(archive), "--json"))[0]
    assert row["verdict"] == "findings"
    assert any(f["detector"] == "encrypted-archive" for f in row["findings"])


def test_background_suppresses_shared_boilerplate(registered, tmp_path):
    mail = tmp_path / "m.txt"
    mail.write_text(SECRET[:120], encoding="utf-8")
    assert run("check", str(mail), "--json").exit_code == 1
    template = tmp_path / "template.txt"
    template.write_text(SECRET, encoding="utf-8")  # pretend the text turned out to be public
    result = run("secrets", "background", str(template), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["files"][0]["fingerprints"] > 0
    assert run("check", str(mail), "--json").exit_code == 0


def test_add_many_files_is_all_or_nothing(db, tmp_path):
    """Several files are registered with one index commit; a file without text refuses the lot: no entry, no
    document, nothing in the index."""
    from himitsu.web.register.models import Secret, SecretDocument

    first, second, empty = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "empty.txt"
    first.write_text(SECRET, encoding="utf-8")
    second.write_text(SECRET[::-1], encoding="utf-8")
    empty.write_bytes(b"")
    result = run("secrets", "add", str(first), str(empty), str(second), "--title", "束", "--json")
    assert result.exit_code == 2, result.output
    assert not Secret.objects.filter(title="束").exists() and not SecretDocument.objects.exists()
    assert run("check", str(first), "--json").exit_code == 0  # nothing of a.txt reached the index

    result = run("secrets", "add", str(first), str(second), "--title", "束", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["documents"]) == 2
    for path in (first, second):
        assert run("check", str(path), "--json").exit_code == 1


def test_background_files_in_one_commit_and_compact(db, tmp_path):
    """`secrets background` adds all its files as one background file; `secrets compact` merges the index."""
    from himitsu.web.register import documents

    notes = []
    for i in range(3):
        path = tmp_path / f"template{i}.txt"
        path.write_text(f"{i}: " + SECRET[i * 10:], encoding="utf-8")
        notes.append(str(path))
    result = run("secrets", "background", *notes, "--json")
    assert result.exit_code == 0, result.output
    assert [f["fingerprints"] > 0 for f in json.loads(result.stdout)["files"]] == [True] * 3
    index = documents.engine().index
    assert len(index._current().background) == 1
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text(SECRET[::-1] + name, encoding="utf-8")
        assert run("secrets", "add", str(tmp_path / name), "--json").exit_code == 0
    assert index.stats().segments >= 1
    result = run("secrets", "compact", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["after"]["segments"] == 1
    assert run("check", str(tmp_path / "a.txt"), "--json").exit_code == 1  # still found after compaction
