"""Scans of real file servers through ``services.run_target`` (the code path of the CLI, "run now" and the worker):
a Samba server (tests/samba.py) and an S3-compatible server (SeaweedFS, tests/s3server.py), both started by these
tests on 127.0.0.1, with a document registered in a real fingerprint index and the real database.

On each server, under Japanese folder names::

    許可/条件表.txt              the registered document where its register entry allows it  -> detection only
    共有/開発部/条件表コピー.txt  a copy elsewhere, readable only by the scanning account     -> misplaced
    公開/条件表.txt              a copy everyone can read (Everyone ACE / public-read ACL)    -> misplaced + overexposed
    公開/議事録.txt              nothing sensitive, readable by everyone                       -> nothing

Credentials never go into a target's options: they come from the environment or a credentials file named there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from himitsu.errors import InputError
from himitsu.web.register import documents
from himitsu.web.register.models import StorageLocation
from himitsu.web.register.services import Context
from himitsu.web.scans import services
from himitsu.web.scans.models import Kind, RunStatus, ScanError, ScanFinding, ScanRun, ScanTarget
from tests.s3server import S3Server, s3_server
from tests.samba import SambaServer, samba_server

RECIPE = ("焼結炉の温度プロファイルは第一ゾーンで八百五十度、第二ゾーンで千百二十度とし、保持時間は四十五分とする。"
          "雰囲気ガスは窒素九十五パーセント水素五パーセントの混合とし、露点はマイナス四十度以下に管理する。"
          "冷却速度は毎分十五度を上限とし、量産ライン三号機の補正係数は材料ロットごとに見直す。")
MINUTES = "本日の会議は十五時からです。議題は来期の研修計画と備品の購入についてです。\n"
ALLOWED = "許可/条件表.txt"
HIDDEN = "共有/開発部/条件表コピー.txt"
OPEN = "公開/条件表.txt"
PLAIN = "公開/議事録.txt"
SMB_ENV = ("HIMITSU_SMB_USERNAME", "HIMITSU_SMB_PASSWORD", "HIMITSU_SMB_PASSWORD_FILE", "HIMITSU_SMB_DOMAIN",
           "HIMITSU_SMB_CREDENTIALS")


def ctx(org) -> Context:
    return Context(actor=org.users["manager"], channel="test")


@pytest.fixture(autouse=True)
def place(tmp_path, monkeypatch):
    """A private HIMITSU_HOME and index for each test; no SMB, S3 or AWS settings from the machine."""
    monkeypatch.setenv("HIMITSU_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HIMITSU_INDEX_DIR", str(tmp_path / "index"))
    for name in list(os.environ):
        if name.startswith(("AWS_", "HIMITSU_S3_")) or name in SMB_ENV:
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def registered(org):
    documents.add_document(ctx(org), org.recipe, "条件表.txt", RECIPE.encode())
    return org


def present(target: ScanTarget) -> set[tuple[str, str]]:
    """(path relative to the target, kind) of the target's present findings about DEV-001."""
    rows = ScanFinding.objects.filter(target=target, present=True)
    assert all(f.secret_id is not None and f.secret.management_number == "DEV-001" for f in rows)
    return {(f.path.removeprefix(target.url + "/"), f.kind) for f in rows}


EXPECTED = {(ALLOWED, Kind.DETECTION), (HIDDEN, Kind.DETECTION), (HIDDEN, Kind.MISPLACED),
            (OPEN, Kind.DETECTION), (OPEN, Kind.MISPLACED), (OPEN, Kind.OVEREXPOSED)}


def check_first_run(run: ScanRun, target: ScanTarget, exposure: str) -> None:
    assert run.status == RunStatus.FINISHED, (run.error_code, run.error_params)
    assert (run.files_seen, run.files_read, run.errors) == (4, 4, 0)
    assert run.findings_new == len(EXPECTED)
    assert present(target) == EXPECTED
    over = ScanFinding.objects.get(target=target, kind=Kind.OVEREXPOSED)
    assert over.reason == f"exposure.{over.exposure}" and over.exposure == exposure
    misplaced = ScanFinding.objects.filter(target=target, kind=Kind.MISPLACED)
    assert {f.reason for f in misplaced} == {"placement.outside_allowed"}
    assert all("許可" in f.params["allowed"] for f in misplaced)
    for f in ScanFinding.objects.filter(target=target):  # never the secret's text
        assert RECIPE[:12] not in f.snippet and RECIPE[40:52] not in f.snippet
    assert not ScanError.objects.filter(run=run).exists()


# --- SMB ---------------------------------------------------------------------------------------------------------

def smb_write(server: SambaServer, relative: str, text: str, *, everyone: bool) -> Path:
    """A file on the share: 0644 (Everyone may read) or 0640 with group daemon (only the scanning account)."""
    path = server.root_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    for parent in [path.parent, *path.parent.parents]:
        if parent == server.root_dir:
            break
        parent.chmod(0o755)
    path.write_text(text, encoding="utf-8")
    if everyone:
        path.chmod(0o644)
    else:
        os.chown(path, 0, 1)  # group daemon: the Samba user reads it, Everyone does not
        path.chmod(0o640)
    return path


def smb_tree(server: SambaServer) -> str:
    """The four files in a fresh folder of the share; returns the folder's name."""
    folder = "スキャン-" + uuid.uuid4().hex[:8]
    smb_write(server, f"{folder}/{ALLOWED}", RECIPE, everyone=False)
    smb_write(server, f"{folder}/{HIDDEN}", RECIPE, everyone=False)
    smb_write(server, f"{folder}/{OPEN}", RECIPE, everyone=True)
    smb_write(server, f"{folder}/{PLAIN}", MINUTES, everyone=True)
    return folder


@pytest.fixture(scope="module")
def smb() -> Iterator[SambaServer]:
    with samba_server() as server:
        yield server


def test_smb_scan_rescan_and_vanished_file(registered, smb, monkeypatch):
    org = registered
    monkeypatch.setenv("HIMITSU_SMB_USERNAME", smb.username)
    monkeypatch.setenv("HIMITSU_SMB_PASSWORD", smb.password)
    folder = smb_tree(smb)
    url = f"{smb.url}/{folder}"
    # the share's port is not 445, so the allowed location is written as a URL (a UNC path has no port)
    StorageLocation.objects.create(secret=org.recipe, kind="path", location=f"{url}/許可/")
    target = services.create_target(ctx(org), "共有サーバ", url, options={"timeout": 5}, department=org.dev)

    run = services.run_target(ctx(org), target)
    check_first_run(run, target, "smb.everyone")

    again = services.run_target(ctx(org), target)
    assert again.status == RunStatus.FINISHED
    assert (again.files_seen, again.files_read, again.unchanged, again.findings_new) == (4, 0, 4, 0)
    assert present(target) == EXPECTED

    (smb.root_dir / folder / HIDDEN).unlink()
    after = services.run_target(ctx(org), target)
    assert after.status == RunStatus.FINISHED and after.vanished == 1 and after.files_read == 0
    assert present(target) == EXPECTED - {(HIDDEN, Kind.DETECTION), (HIDDEN, Kind.MISPLACED)}
    gone = ScanFinding.objects.filter(target=target, path=f"{url}/{HIDDEN}")
    assert gone.count() == 2 and not gone.filter(present=True).exists()


def test_smb_credentials_file_two_workers_and_a_stopped_server(registered, tmp_path):
    """A server of its own (stopped by the test); credentials from a file named in the target's options, read by
    each worker process. Once the server is gone the run fails with the target's error and every finding stays
    as it was: nothing is known about the files."""
    org = registered
    with samba_server() as server:
        folder = smb_tree(server)
        url = f"{server.url}/{folder}"
        StorageLocation.objects.create(secret=org.recipe, kind="path", location=f"{url}/許可")
        credentials = tmp_path / "smb-credentials"
        credentials.write_text(f"username = {server.username}\npassword = {server.password}\n", encoding="utf-8")
        target = services.create_target(ctx(org), "共有サーバ", url, workers=2,
                                        options={"credentials_file": str(credentials), "timeout": 2})
        run = services.run_target(ctx(org), target)
        check_first_run(run, target, "smb.everyone")

        server.stop()
        failed = services.run_target(ctx(org), target)
    assert failed.status == RunStatus.FAILED and failed.error_code == "scan.connection"
    assert failed.error_params["target"] == url and failed.finished_at is not None
    (error,) = ScanError.objects.filter(run=failed)
    assert (error.path, error.code) == (url, "scan.connection")
    assert failed.vanished == 0 and failed.findings_new == 0
    assert present(target) == EXPECTED
    target.refresh_from_db()
    assert target.runs.order_by("-pk").first() == failed


def test_smb_password_in_options_is_refused(registered, smb):
    org = registered
    with pytest.raises(InputError) as caught:
        services.create_target(ctx(org), "x", f"{smb.url}/x", options={"username": "daemon", "password": "pw"})
    assert caught.value.code == "scan.options_secret"
    with pytest.raises(InputError) as caught:
        services.create_target(ctx(org), "x", f"smb://daemon:pw@127.0.0.1:{smb.port}/{smb.share}")
    assert caught.value.code == "scan.credentials_in_url"
    assert not ScanTarget.objects.exists()


# --- S3 ----------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


def s3_bucket(server: S3Server) -> str:
    """A fresh bucket with the four objects (the two under 公開/ public-read by their ACL)."""
    name = "himitsu-web-" + uuid.uuid4().hex[:8]
    client = server.client()
    try:
        client.create_bucket(Bucket=name)
        for key, text in ((ALLOWED, RECIPE), (HIDDEN, RECIPE), (OPEN, RECIPE), (PLAIN, MINUTES)):
            client.put_object(Bucket=name, Key=key, Body=text.encode())
        for key in (OPEN, PLAIN):
            client.put_object_acl(Bucket=name, Key=key, ACL="public-read")
    finally:
        client.close()
    return name


def aws_credentials(server: S3Server, path: Path) -> Path:
    access, secret = server.credentials("admin")
    path.write_text(f"[default]\naws_access_key_id = {access}\naws_secret_access_key = {secret}\n", encoding="utf-8")
    return path


def test_s3_scan_rescan_and_deleted_object(registered, s3, tmp_path):
    org = registered
    bucket = s3_bucket(s3)
    url = f"s3://{bucket}"
    StorageLocation.objects.create(secret=org.recipe, kind="cloud", location=f"{url}/許可/")
    options = {"endpoint_url": s3.endpoint_url, "region": s3.region,
               "credentials_file": str(aws_credentials(s3, tmp_path / "aws-credentials"))}
    target = services.create_target(ctx(org), "バケット", url, options=options)

    run = services.run_target(ctx(org), target)
    check_first_run(run, target, "s3.public_object")

    again = services.run_target(ctx(org), target)
    assert (again.files_seen, again.files_read, again.unchanged, again.findings_new) == (4, 0, 4, 0)
    assert present(target) == EXPECTED

    client = s3.client()
    try:
        client.delete_object(Bucket=bucket, Key=HIDDEN)
    finally:
        client.close()
    after = services.run_target(ctx(org), target)
    assert after.status == RunStatus.FINISHED and after.vanished == 1 and after.files_read == 0
    assert present(target) == EXPECTED - {(HIDDEN, Kind.DETECTION), (HIDDEN, Kind.MISPLACED)}
    assert not ScanFinding.objects.filter(target=target, path=f"{url}/{HIDDEN}", present=True).exists()


def test_s3_environment_credentials_and_a_stopped_server(registered, monkeypatch, tmp_path):
    org = registered
    with s3_server() as server:
        bucket = s3_bucket(server)
        url = f"s3://{bucket}/"
        access, secret = server.credentials("admin")
        key_file = tmp_path / "s3-secret"
        key_file.write_text(secret + "\n", encoding="utf-8")
        monkeypatch.setenv("HIMITSU_S3_ACCESS_KEY", access)
        monkeypatch.setenv("HIMITSU_S3_SECRET_KEY_FILE", str(key_file))
        monkeypatch.setenv("HIMITSU_S3_ENDPOINT_URL", server.endpoint_url)
        StorageLocation.objects.create(secret=org.recipe, kind="cloud", location=f"s3://{bucket}/許可")
        target = services.create_target(ctx(org), "バケット", url,
                                        options={"connect_timeout": 2, "read_timeout": 5, "max_attempts": 1})
        assert target.url == f"s3://{bucket}"
        check_first_run(services.run_target(ctx(org), target), target, "s3.public_object")
        server.stop()
        failed = services.run_target(ctx(org), target)
    assert failed.status == RunStatus.FAILED and failed.error_code == "scan.connection"
    assert ScanError.objects.filter(run=failed, code="scan.connection").count() == 1
    assert failed.vanished == 0 and present(target) == EXPECTED
    assert failed.error_params["detail"] and failed.error_params["target"] == f"s3://{bucket}"


def test_credentials_stay_out_of_the_database(registered, s3, tmp_path):
    """What a run stores (target, runs, errors, audit) never holds the S3 secret key."""
    from himitsu.web.audit.models import AuditEvent

    org = registered
    bucket = s3_bucket(s3)
    options = {"endpoint_url": s3.endpoint_url, "credentials_file": str(aws_credentials(s3, tmp_path / "c"))}
    target = services.create_target(ctx(org), "バケット", f"s3://{bucket}/公開", options=options)
    run = services.run_target(ctx(org), target)
    assert run.status == RunStatus.FINISHED and run.files_read == 2
    secret = s3.credentials("admin")[1]
    stored = [str(target.options), str(run.error_params)]
    stored += [str(e.details) for e in AuditEvent.objects.all()]
    stored += [e.detail for e in ScanError.objects.all()]
    assert all(secret not in text for text in stored)
