"""The S3 scan source against a real S3 server (SeaweedFS, started by tests/s3server.py for this module)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import logging
import multiprocessing
import pickle
import socket
import threading
from collections.abc import Iterator

import pytest

from himitsu.engine.scan.sources import Entry, ScanIOError, SourceSpec, WalkError, open_source
from himitsu.engine.scan.sources.s3 import S3Source, parse_url, policy_access
from tests.s3server import S3Server, free_ports, s3_server

BUCKET = "himitsu-scan"
OBJECTS = {
    "開発部/焼結条件.txt": "焼結温度 1350℃、保持 2 時間。社外秘".encode(),
    "開発部/図面/金型A.dxf": b"0\nSECTION\n2\nENTITIES\n" * 20,
    "開発部/空.txt": b"",
    "開発部x/別の部署.txt": b"not under the folder",
    "営業部/顧客別価格表.csv": "顧客,単価\n東京商事,1200\n".encode(),
    "top.txt": b"top level",
}
MARKERS = ["開発部/", "開発部/図面/", "空のフォルダ/"]  # "folder" keys of 0 bytes
MANY = {f"many/f{i:02d}.txt": f"object {i}".encode() for i in range(25)}


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


@pytest.fixture(scope="module")
def admin(s3):
    client = s3.client()
    yield client
    client.close()


@pytest.fixture(scope="module")
def bucket(s3, admin) -> str:
    admin.create_bucket(Bucket=BUCKET)
    for key, body in {**OBJECTS, **MANY}.items():
        admin.put_object(Bucket=BUCKET, Key=key, Body=body)
    for key in MARKERS:
        admin.put_object(Bucket=BUCKET, Key=key, Body=b"")
    return BUCKET


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No AWS or Himitsu S3 settings from the machine running the tests."""
    import os

    for name in list(os.environ):
        if name.startswith(("AWS_", "HIMITSU_S3_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata probing for credentials


def walk(url: str, **options) -> list[Entry | WalkError]:
    with open_source(url, **options) as source:
        return list(source.walk())


def code_of(call) -> str:
    with pytest.raises(ScanIOError) as caught:
        call()
    return caught.value.code


def count_calls(source: S3Source, operation: str) -> list[int]:
    calls = [0]

    def counter(**_kwargs):
        calls[0] += 1

    source.client().meta.events.register(f"after-call.s3.{operation}", counter)
    return calls


def new_bucket(admin, name: str, objects: dict[str, bytes]) -> str:
    admin.create_bucket(Bucket=name)
    for key, body in objects.items():
        admin.put_object(Bucket=name, Key=key, Body=body)
    return name


# --- URL --------------------------------------------------------------------------------------------------------

def test_url_parsing():
    assert parse_url("s3://bucket") == ("bucket", "")
    assert parse_url("s3://bucket/開発部/図面") == ("bucket", "開発部/図面")
    assert parse_url("S3://bucket/%E9%96%8B%E7%99%BA%E9%83%A8/") == ("bucket", "開発部/")
    for url in ("s3://", "s3:///prefix", "smb://server/share"):
        assert code_of(lambda url=url: parse_url(url)) == "scan.not_found"


def test_credentials_in_url_are_refused():
    with pytest.raises(ScanIOError) as caught:
        open_source("s3://AKIAEXAMPLE:wJalrXUtnFEMI-very-secret@bucket/開発部")
    assert caught.value.code == "scan.auth"
    assert "very-secret" not in str(caught.value)
    assert "HIMITSU_S3_SECRET_KEY_FILE" in caught.value.detail
    assert code_of(lambda: open_source("s3://AKIAEXAMPLE@bucket")) == "scan.auth"


# --- walk -------------------------------------------------------------------------------------------------------

def test_walk_japanese_folder(s3, admin, bucket):
    entries = walk(f"s3://{bucket}/開発部", **s3.options())
    assert all(isinstance(e, Entry) for e in entries)
    keys = ["開発部/焼結条件.txt", "開発部/図面/金型A.dxf", "開発部/空.txt"]
    assert [e.path for e in entries] == [f"s3://{bucket}/{k}" for k in sorted(keys)]  # S3 order: code points
    for entry in entries:
        key = entry.path.removeprefix(f"s3://{bucket}/")
        head = admin.head_object(Bucket=bucket, Key=key)
        assert entry.extra["key"] == key
        assert entry.size == len(OBJECTS[key])
        assert entry.etag == hashlib.md5(OBJECTS[key]).hexdigest() == head["ETag"].strip('"')
        assert entry.mtime == head["LastModified"].timestamp() > 0
        assert entry.exposure == ""
    # the percent-encoded URL and the one with a trailing slash are the same folder
    encoded = f"s3://{bucket}/%E9%96%8B%E7%99%BA%E9%83%A8/"
    assert [e.path for e in walk(encoded, **s3.options())] == [e.path for e in entries]


def test_walk_whole_bucket_in_key_order_without_folder_markers(s3, bucket):
    entries = walk(f"s3://{bucket}", **s3.options(object_acl=False))
    paths = [e.path for e in entries]
    assert paths == [f"s3://{bucket}/{k}" for k in sorted({**OBJECTS, **MANY})]
    assert not any(p.endswith("/") for p in paths)


def test_prefix_is_a_folder_and_a_single_key_url_is_that_object(s3, bucket):
    assert [e.path for e in walk(f"s3://{bucket}/開発部x", **s3.options())] == [f"s3://{bucket}/開発部x/別の部署.txt"]
    single = walk(f"s3://{bucket}/開発部/焼結条件.txt", **s3.options())
    assert [(e.path, e.size) for e in single] == [(f"s3://{bucket}/開発部/焼結条件.txt",
                                                   len(OBJECTS["開発部/焼結条件.txt"]))]
    assert walk(f"s3://{bucket}/空のフォルダ", **s3.options()) == []  # only a folder marker: exists, empty


def test_pagination(s3, bucket):
    with open_source(f"s3://{bucket}/many/", **s3.options(page_size=7, object_acl=False)) as source:
        pages = count_calls(source, "ListObjectsV2")
        entries = list(source.walk())
    assert [e.path for e in entries] == [f"s3://{bucket}/{k}" for k in sorted(MANY)]
    assert len({e.path for e in entries}) == 25
    assert pages[0] == 4  # 7 + 7 + 7 + 4


def test_missing_bucket_and_missing_prefix(s3, admin, bucket):
    assert code_of(lambda: walk("s3://no-such-bucket-here", **s3.options())) == "scan.not_found"
    assert code_of(lambda: walk(f"s3://{bucket}/存在しない部署", **s3.options())) == "scan.not_found"
    admin.create_bucket(Bucket="himitsu-empty")
    assert walk("s3://himitsu-empty", **s3.options()) == []


def test_wrong_credentials(s3, bucket):
    wrong_secret = {**s3.options(), "secret_key": "not-the-secret"}
    assert code_of(lambda: walk(f"s3://{bucket}", **wrong_secret)) == "scan.auth"
    unknown_key = {**s3.options(), "access_key": "nobody"}
    assert code_of(lambda: walk(f"s3://{bucket}", **unknown_key)) == "scan.auth"
    only_key = {"endpoint_url": s3.endpoint_url, "access_key": "himitsu-admin"}
    assert code_of(lambda: walk(f"s3://{bucket}", **only_key)) == "scan.auth"


def test_no_credentials_at_all(s3, bucket):
    assert code_of(lambda: walk(f"s3://{bucket}", endpoint_url=s3.endpoint_url)) == "scan.auth"


@contextlib.contextmanager
def bad_server(mode: str) -> Iterator[str]:
    """A TCP server on 127.0.0.1 that either closes each connection at once ("drop") or never answers ("mute")."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)  # accept() wakes up regularly to see whether to stop
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if mode == "drop":
                conn.close()
            else:
                held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()
        for conn in held:
            conn.close()


@pytest.mark.parametrize("mode", ["drop", "mute"])
def test_dropped_or_unresponsive_connection(mode):
    with bad_server(mode) as endpoint:
        options = {"endpoint_url": endpoint, "access_key": "a", "secret_key": "b", "max_attempts": 1,
                   "connect_timeout": 1, "read_timeout": 0.5}
        assert code_of(lambda: walk("s3://bucket", **options)) == "scan.connection"
        with open_source("s3://bucket", **options) as source:
            entry = Entry(path="s3://bucket/開発部/焼結条件.txt", size=10)
            assert code_of(lambda: source.read(entry, 100)) == "scan.connection"


def test_closed_port():
    (port,) = free_ports(1)
    options = {"endpoint_url": f"http://127.0.0.1:{port}", "access_key": "a", "secret_key": "b"}
    assert code_of(lambda: walk("s3://bucket", **options)) == "scan.connection"


# --- settings ---------------------------------------------------------------------------------------------------

def test_settings_from_himitsu_environment(s3, bucket, monkeypatch, tmp_path):
    access, secret = s3.credentials()
    secret_file = tmp_path / "s3-secret"
    secret_file.write_text(secret + "\n")
    monkeypatch.setenv("HIMITSU_S3_ENDPOINT_URL", s3.endpoint_url)
    monkeypatch.setenv("HIMITSU_S3_REGION", "ap-northeast-1")
    monkeypatch.setenv("HIMITSU_S3_ACCESS_KEY", access)
    monkeypatch.setenv("HIMITSU_S3_SECRET_KEY_FILE", str(secret_file))
    with open_source(f"s3://{bucket}/営業部") as source:
        assert [e.path for e in source.walk()] == [f"s3://{bucket}/営業部/顧客別価格表.csv"]
        assert source.client().meta.region_name == "ap-northeast-1"
    # the options win over the environment
    monkeypatch.setenv("HIMITSU_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    assert len(walk(f"s3://{bucket}/営業部", endpoint_url=s3.endpoint_url)) == 1
    # a secret key file that cannot be read, or half of the pair
    monkeypatch.setenv("HIMITSU_S3_ENDPOINT_URL", s3.endpoint_url)
    monkeypatch.setenv("HIMITSU_S3_SECRET_KEY_FILE", str(tmp_path / "missing"))
    assert code_of(lambda: walk(f"s3://{bucket}/営業部")) == "scan.auth"
    monkeypatch.delenv("HIMITSU_S3_SECRET_KEY_FILE")
    assert code_of(lambda: walk(f"s3://{bucket}/営業部")) == "scan.auth"


def test_settings_from_aws_environment(s3, bucket, monkeypatch, tmp_path):
    access, secret = s3.credentials("reader")
    monkeypatch.setenv("HIMITSU_S3_ENDPOINT_URL", s3.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    assert len(walk(f"s3://{bucket}/営業部")) == 1
    # a shared credentials file and a profile, through the standard AWS variables
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    credentials = tmp_path / "credentials"
    credentials.write_text(f"[scanner]\naws_access_key_id = {access}\naws_secret_access_key = {secret}\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_PROFILE", "scanner")
    assert len(walk(f"s3://{bucket}/営業部")) == 1


def test_credentials_file_option_beats_aws_environment(s3, bucket, monkeypatch, tmp_path):
    access, secret = s3.credentials("reader")
    credentials = tmp_path / "himitsu-s3.ini"
    credentials.write_text(f"[default]\naws_access_key_id = {access}\naws_secret_access_key = {secret}\n"
                           f"[other]\naws_access_key_id = {access}\naws_secret_access_key = wrong\n")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "wrong-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    url = f"s3://{bucket}/営業部"
    assert len(walk(url, endpoint_url=s3.endpoint_url, credentials_file=str(credentials))) == 1
    assert code_of(lambda: walk(url, endpoint_url=s3.endpoint_url, credentials_file=str(credentials),
                                profile="other")) == "scan.auth"
    assert code_of(lambda: walk(url, endpoint_url=s3.endpoint_url, credentials_file=str(credentials),
                                profile="missing")) == "scan.auth"
    assert code_of(lambda: walk(url, endpoint_url=s3.endpoint_url,
                                credentials_file=str(tmp_path / "none.ini"))) == "scan.auth"


# --- exposure ---------------------------------------------------------------------------------------------------

def test_public_object_acl(s3, admin):
    name = new_bucket(admin, "himitsu-objacl", {"公開/お知らせ.txt": b"public", "社外秘/原価.xlsx": b"secret"})
    # SeaweedFS stores a canned ACL given to PutObjectAcl (not one sent with PutObject): check it took
    admin.put_object_acl(Bucket=name, Key="公開/お知らせ.txt", ACL="public-read")
    grants = admin.get_object_acl(Bucket=name, Key="公開/お知らせ.txt")["Grants"]
    assert {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"} in [g["Grantee"] for g in grants]
    exposures = {e.extra["key"]: e.exposure for e in walk(f"s3://{name}", **s3.options())}
    assert exposures == {"公開/お知らせ.txt": "s3.public_object", "社外秘/原価.xlsx": ""}
    # object ACLs are one request per object: they can be turned off
    with open_source(f"s3://{name}", **s3.options(object_acl=False)) as source:
        acl_calls = count_calls(source, "GetObjectAcl")
        assert {e.exposure for e in source.walk()} == {""}
    assert acl_calls[0] == 0
    with open_source(f"s3://{name}", **s3.options()) as source:
        acl_calls = count_calls(source, "GetObjectAcl")
        list(source.walk())
    assert acl_calls[0] == 2


def test_public_bucket_acl(s3, admin):
    name = new_bucket(admin, "himitsu-bucketacl", {"a.txt": b"a", "部/b.txt": b"b"})
    assert {e.exposure for e in walk(f"s3://{name}", **s3.options())} == {""}
    admin.put_bucket_acl(Bucket=name, ACL="public-read")
    with open_source(f"s3://{name}", **s3.options()) as source:
        acl_calls = count_calls(source, "GetObjectAcl")
        assert [e.exposure for e in source.walk()] == ["s3.public_bucket"] * 2
    assert acl_calls[0] == 0  # the bucket is public: no need to ask each object
    assert [e.exposure for e in walk(f"s3://{name}", **s3.options(object_acl=False))] == ["s3.public_bucket"] * 2


def test_public_bucket_policy(s3, admin):
    name = new_bucket(admin, "himitsu-policy", {"public/カタログ.pdf": b"%PDF", "private/原価.csv": b"x"})
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{name}/public/*"},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{name}/private/*",
         "Condition": {"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}},
    ]}
    admin.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
    exposures = {e.extra["key"]: e.exposure for e in walk(f"s3://{name}", **s3.options())}
    assert exposures == {"public/カタログ.pdf": "s3.public_bucket", "private/原価.csv": ""}


def test_policy_semantics():
    def public(statements, key, bucket="bkt"):
        return policy_access(json.dumps({"Statement": statements}), bucket).public(key)

    get_all = {"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": ["s3:Get*"], "Resource": "arn:aws:s3:::bkt/*"}
    assert public([get_all], "部/x")
    assert not public([get_all], "x", bucket="other")
    assert not public([{**get_all, "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}], "x")
    assert not public([get_all, {**get_all, "Effect": "Deny", "Resource": "arn:aws:s3:::bkt/秘/*"}], "秘/x")
    assert public([{**get_all, "Condition": {"Bool": {"aws:SecureTransport": "true"}}}], "x")
    assert not public([{**get_all, "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}}], "x")
    assert public([{"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::bkt"}],
                  "any/key")
    assert public([{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}], "k")
    assert public([{**get_all, "Resource": "arn:aws:s3:::bkt/report-????.csv"}], "report-2026.csv")
    assert not public([{**get_all, "Resource": "arn:aws:s3:::bkt/report-????.csv"}], "report-26.csv")


def test_limited_identity_lists_but_cannot_read_or_see_acls(s3, bucket):
    entries = walk(f"s3://{bucket}/開発部", **s3.options("lister"))
    assert len(entries) == 3
    assert {e.exposure for e in entries} == {""}  # ACL queries refused: not claimed public, no crash
    with open_source(f"s3://{bucket}/開発部", **s3.options("lister")) as source:
        acl_calls = count_calls(source, "GetObjectAcl")
        entries = list(source.walk())
        assert acl_calls[0] == 1  # refused for the first object: not asked again in this walk
        assert code_of(lambda: source.read(entries[0], 1000)) == "scan.permission"


# --- read -------------------------------------------------------------------------------------------------------

def test_read_and_limit(s3, bucket):
    with open_source(f"s3://{bucket}/開発部", **s3.options()) as source:
        entries = {e.extra["key"]: e for e in source.walk()}
        recipe = entries["開発部/焼結条件.txt"]
        size = len(OBJECTS["開発部/焼結条件.txt"])
        assert source.read(recipe, size) == OBJECTS["開発部/焼結条件.txt"]
        assert source.read(recipe, 10 * size) == OBJECTS["開発部/焼結条件.txt"]
        with pytest.raises(ScanIOError) as caught:
            source.read(recipe, size - 1)
        assert caught.value.code == "scan.too_large"
        assert code_of(lambda: source.read(entries["開発部/図面/金型A.dxf"], 0)) == "scan.too_large"
        empty = entries["開発部/空.txt"]
        assert source.read(empty, 0) == b""
        assert source.read(empty, 100) == b""


def test_read_never_transfers_more_than_limit_plus_one(s3, admin):
    name = new_bucket(admin, "himitsu-big", {"big.bin": bytes(range(256)) * 4096})  # 1 MiB
    with open_source(f"s3://{name}", **s3.options()) as source:
        (entry,) = source.walk()
        sizes = []

        def record(http_response, **_kwargs):
            sizes.append(http_response.headers.get("Content-Length"))

        source.client().meta.events.register("after-call.s3.GetObject", record)
        assert code_of(lambda: source.read(entry, 1000)) == "scan.too_large"
    assert sizes == ["1001"]


def test_deleted_after_walk_is_vanished_and_changed_is_read(s3, admin, caplog):
    name = new_bucket(admin, "himitsu-change", {"消える.txt": b"soon gone", "変わる.txt": b"version 1"})
    with open_source(f"s3://{name}", **s3.options()) as source:
        entries = {e.extra["key"]: e for e in source.walk()}
        admin.delete_object(Bucket=name, Key="消える.txt")
        admin.put_object(Bucket=name, Key="変わる.txt", Body=b"version 2, longer")
        assert code_of(lambda: source.read(entries["消える.txt"], 1000)) == "scan.vanished"
        with caplog.at_level(logging.INFO, logger="himitsu.engine.scan.sources.s3"):
            assert source.read(entries["変わる.txt"], 1000) == b"version 2, longer"
        assert "変わる.txt changed since the walk" in caplog.text  # noted, not an error
        # the bucket itself gone: what was listed has vanished too
        admin.delete_object(Bucket=name, Key="変わる.txt")
        admin.delete_bucket(Bucket=name)
        assert code_of(lambda: source.read(entries["変わる.txt"], 1000)) == "scan.vanished"


def test_server_stopped_between_walk_and_read():
    with s3_server() as server:
        client = server.client()
        try:
            new_bucket(client, "himitsu-stop", {f"{i}.txt": b"x" * i for i in range(5)})
        finally:
            client.close()
        options = server.options(page_size=2, connect_timeout=2, read_timeout=5)
        with open_source("s3://himitsu-stop", **options) as source:
            entries = list(source.walk())
            assert len(entries) == 5
            partial = source.walk()
            first_page = [next(partial), next(partial)]
            server.stop()
            rest = list(partial)  # the next page cannot be listed: one error, then the walk ends
            assert [e.path for e in first_page] == [e.path for e in entries[:2]]
            assert len(rest) == 1 and isinstance(rest[0], WalkError) and rest[0].code == "scan.connection"
            assert code_of(lambda: source.read(entries[0], 100)) == "scan.connection"
            assert code_of(lambda: list(source.walk())) == "scan.connection"


# --- other processes --------------------------------------------------------------------------------------------

def read_in_child(spec: SourceSpec, entry: Entry, limit: int) -> bytes:
    with open_source(spec) as source:
        return source.read(entry, limit)


def test_reopened_in_a_spawned_process(s3, bucket):
    with open_source(f"s3://{bucket}/開発部", **s3.options()) as source:
        entry = next(e for e in source.walk() if e.extra["key"] == "開発部/焼結条件.txt")
        spec = source.spec
        clone = pickle.loads(pickle.dumps(source))  # a pickled source carries no client
        assert clone.read(entry, 1000) == OBJECTS["開発部/焼結条件.txt"]
        clone.close()
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        data = pool.submit(read_in_child, pickle.loads(pickle.dumps(spec)), entry, 1000).result(timeout=120)
    assert data == OBJECTS["開発部/焼結条件.txt"]


def test_open_source_dispatches_s3(s3, bucket):
    with open_source(SourceSpec(f"s3://{bucket}/top.txt", s3.options())) as source:
        assert isinstance(source, S3Source)
        assert [e.path for e in source.walk()] == [f"s3://{bucket}/top.txt"]
