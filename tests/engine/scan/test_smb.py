"""SMBSource against a real smbd (tests/samba.py): names, sizes, times, exposure, errors, workers."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import struct
from pathlib import Path
from urllib.parse import quote

import pytest

from himitsu.engine.scan.sources import open_source
from himitsu.engine.scan.sources.base import Entry, ScanIOError, SourceSpec, WalkError
from himitsu.engine.scan.sources.smb import Credentials, SMBSource, everyone_can_read, resolve_credentials
from tests.samba import samba_server

MTIME = 1_767_225_600.25  # 2026-01-01 00:00:00.25 UTC (exact in FILETIME and in a float)
ENV = ("HIMITSU_SMB_USERNAME", "HIMITSU_SMB_PASSWORD", "HIMITSU_SMB_PASSWORD_FILE", "HIMITSU_SMB_DOMAIN",
       "HIMITSU_SMB_CREDENTIALS")


def write(path: Path, data: bytes | str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    os.chmod(path, mode)
    os.utime(path, (MTIME, MTIME))
    return path


@pytest.fixture(scope="module")
def smb():
    with samba_server() as server:
        root = server.root_dir
        write(root / "tree" / "README.txt", "read me")
        write(root / "tree" / "開発部" / "焼結条件.txt", "焼結温度 1250℃")
        write(root / "tree" / "開発部" / "設計" / "【極秘】図面.txt", "極秘" * 100)
        write(root / "tree" / "営業部" / "顧客別価格表.csv", "顧客,価格\n")
        yield server


@pytest.fixture(autouse=True)
def _no_env_credentials(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def source(server, path: str = "", **options) -> SMBSource:
    options.setdefault("username", server.username)
    options.setdefault("password", server.password)
    options.setdefault("timeout", 5)
    return SMBSource(SourceSpec(url=f"{server.url}/{path}".rstrip("/"), options=options))


def walk(server, path: str = "", **options) -> list[Entry | WalkError]:
    with source(server, path, **options) as src:
        return list(src.walk())


def names(items, server) -> list[str]:
    prefix = server.url + "/"
    return [i.path.removeprefix(prefix) for i in items]


def code_of(excinfo) -> str:
    return excinfo.value.code


# -- walk and read --------------------------------------------------------------------------------------------


def test_walk_japanese_names_sizes_mtimes_nested(smb):
    items = walk(smb, "tree")
    assert all(isinstance(i, Entry) for i in items), items
    # sorted by name at every level, a folder's content right after it
    assert names(items, smb) == [
        "tree/README.txt",
        "tree/営業部/顧客別価格表.csv",
        "tree/開発部/焼結条件.txt",
        "tree/開発部/設計/【極秘】図面.txt",
    ]
    by_name = {i.path.rsplit("/", 1)[1]: i for i in items}
    assert by_name["焼結条件.txt"].path == f"smb://127.0.0.1:{smb.port}/himitsu/tree/開発部/焼結条件.txt"
    assert by_name["焼結条件.txt"].size == len("焼結温度 1250℃".encode())
    assert by_name["【極秘】図面.txt"].size == 600
    assert all(i.mtime == MTIME for i in items)


def test_read_returns_bytes_of_japanese_names(smb):
    with source(smb, "tree") as src:
        entries = {e.path.rsplit("/", 1)[1]: e for e in src.walk()}
        assert src.read(entries["焼結条件.txt"], 1000).decode() == "焼結温度 1250℃"
        assert src.read(entries["【極秘】図面.txt"], 600) == "極秘".encode() * 100


def test_percent_encoded_url_is_the_same_place(smb):
    url = f"{smb.url}/tree/{quote('開発部')}"
    with SMBSource(SourceSpec(url, {"username": smb.username, "password": smb.password})) as src:
        items = list(src.walk())
    assert names(items, smb) == ["tree/開発部/焼結条件.txt", "tree/開発部/設計/【極秘】図面.txt"]


def test_hash_and_percent_in_names(smb):
    # "#" is a name character (not a URL fragment); a literal "%" is written %25
    write(smb.root_dir / "C#" / "100%.txt", "full")
    items = walk(smb, "C#")
    assert names(items, smb) == ["C#/100%.txt"]
    assert names(walk(smb, "C#/100%25.txt"), smb) == ["C#/100%.txt"]


def test_url_naming_a_file_walks_that_file(smb):
    items = walk(smb, "tree/開発部/焼結条件.txt")
    assert names(items, smb) == ["tree/開発部/焼結条件.txt"]
    assert items[0].mtime == MTIME


def test_read_limit(smb):
    write(smb.root_dir / "limit" / "big.bin", b"x" * 1000)
    with source(smb, "limit") as src:
        [entry] = src.walk()
        assert src.read(entry, 1000) == b"x" * 1000
        with pytest.raises(ScanIOError) as err:
            src.read(entry, 999)
        assert code_of(err) == "scan.too_large"


def test_read_entry_rebuilt_from_its_path(smb):
    # a reader given only the path (e.g. a re-check of a known location) finds the file without walk data
    with source(smb, "tree") as src:
        entry = Entry(path=f"{smb.url}/tree/開発部/焼結条件.txt", size=0)
        assert src.read(entry, 1000).decode() == "焼結温度 1250℃"


# -- exposure and permissions ---------------------------------------------------------------------------------


def test_exposure_follows_everyone_ace(smb):
    # Observed on Samba 4.17: the DACL it builds from the POSIX mode has an ACE for the owner (S-1-22-1-uid),
    # one for the group (S-1-22-2-gid) and one for Everyone (S-1-1-0) from the "other" bits. 0o644 gives
    # Everyone 0x120089 (read data/attributes/EA, read control, synchronize): smb.everyone. For 0o640 the
    # scanning account (daemon, in the file's group) reads the file and its descriptor, whose Everyone ACE
    # grants no read: "". For 0o600 the account may not even read the descriptor (ACCESS_DENIED on
    # READ_CONTROL), which is reported as "" too, and reading the file is scan.permission.
    folder = smb.root_dir / "exposure"
    write(folder / "open.txt", "everyone", 0o644)
    group_file = write(folder / "group.txt", "group", 0o640)
    os.chown(group_file, 0, 1)  # group daemon
    write(folder / "private.txt", "root only", 0o600)
    with source(smb, "exposure") as src:
        entries = {e.path.rsplit("/", 1)[1]: e for e in src.walk()}
        assert {name: e.exposure for name, e in entries.items()} == {
            "group.txt": "", "open.txt": "smb.everyone", "private.txt": ""}
        assert src.read(entries["open.txt"], 100) == b"everyone"
        assert src.read(entries["group.txt"], 100) == b"group"
        with pytest.raises(ScanIOError) as err:
            src.read(entries["private.txt"], 100)
        assert code_of(err) == "scan.permission"


def _sid(text: str) -> bytes:
    _, revision, authority, *subs = text.split("-")
    return bytes([int(revision), len(subs)]) + int(authority).to_bytes(6, "big") + struct.pack(
        f"<{len(subs)}I", *map(int, subs))


def _descriptor(*aces: tuple[int, int, int, str], dacl: bool = True) -> bytes:
    """A self-relative SECURITY_DESCRIPTOR with a DACL of (type, flags, mask, sid) ACEs."""
    body = b"".join(struct.pack("<BBHI", t, f, 8 + len(_sid(sid)), m) + _sid(sid) for t, f, m, sid in aces)
    acl = struct.pack("<BBHHH", 2, 0, 8 + len(body), len(aces), 0) + body
    control = 0x8000 | (0x0004 if dacl else 0)
    return struct.pack("<BBHIIII", 1, 0, control, 0, 0, 0, 20 if dacl else 0) + (acl if dacl else b"")


def test_everyone_can_read_evaluates_the_dacl_in_order():
    allow, deny, inherit_only = 0, 1, 0x08
    assert everyone_can_read(_descriptor((allow, 0, 0x120089, "S-1-1-0")))
    assert everyone_can_read(_descriptor((allow, 0, 0x80000000, "S-1-1-0")))       # GENERIC_READ
    assert not everyone_can_read(_descriptor((allow, 0, 0x120080, "S-1-1-0")))     # attributes only
    assert not everyone_can_read(_descriptor((allow, 0, 0x1F01FF, "S-1-5-21-1-2-3-1001")))
    assert not everyone_can_read(_descriptor((deny, 0, 0x1, "S-1-1-0"), (allow, 0, 0x1F01FF, "S-1-1-0")))
    assert not everyone_can_read(_descriptor((allow, inherit_only, 0x1F01FF, "S-1-1-0")))
    assert everyone_can_read(_descriptor(dacl=False))  # NULL DACL: no restriction
    assert not everyone_can_read(_descriptor())         # empty DACL: nobody
    assert not everyone_can_read(b"")


def test_exposure_can_be_turned_off(smb):
    write(smb.root_dir / "noexp" / "open.txt", "everyone", 0o644)
    assert [e.exposure for e in walk(smb, "noexp", exposure=False)] == [""]


def test_folder_without_permission_is_one_error_and_walk_goes_on(smb):
    # the Samba user is the unprivileged "daemon", so a root-owned 0o700 folder is closed to it
    folder = smb.root_dir / "perm"
    write(folder / "a.txt", "a")
    write(folder / "b-closed" / "secret.txt", "s")
    os.chmod(folder / "b-closed", 0o700)
    write(folder / "c.txt", "c")
    items = walk(smb, "perm")
    assert names(items, smb) == ["perm/a.txt", "perm/b-closed", "perm/c.txt"]
    assert isinstance(items[1], WalkError) and items[1].code == "scan.permission"
    assert isinstance(items[0], Entry) and isinstance(items[2], Entry)


def test_links_are_resolved_by_samba_and_loops_stop(smb):
    # Samba resolves symbolic links on the server: "alias" looks like the folder it points to, "up" (-> ..)
    # looks like a folder whose file id is its grandparent's, which the walk reports as scan.loop. Links that
    # leave the share (wide links = no) and dangling links are not listed by Samba at all.
    folder = smb.root_dir / "links"
    write(folder / "real" / "a.txt", "a")
    os.symlink("real", folder / "alias")
    os.symlink("..", folder / "real" / "up")
    os.symlink("/etc", folder / "outside")
    os.symlink("nowhere", folder / "dangling")
    items = walk(smb, "links")
    assert [(n, type(i).__name__, getattr(i, "code", "")) for n, i in zip(names(items, smb), items, strict=True)] == [
        ("links/alias/a.txt", "Entry", ""),
        ("links/alias/up", "WalkError", "scan.loop"),
        ("links/real/a.txt", "Entry", ""),
        ("links/real/up", "WalkError", "scan.loop"),
    ]


def test_samba_hides_names_that_are_not_utf8(smb):
    # Observed: Samba (unix charset = UTF-8) cannot convert a Shift_JIS name to UTF-16 and leaves the file out
    # of the listing, so over SMB such a file is invisible (no scan.name_encoding error is possible); a
    # local scan of the server's disk is needed to find it.
    folder = os.path.join(os.fsencode(smb.root_dir), b"sjis")
    os.mkdir(folder)
    with open(os.path.join(folder, "図面.txt".encode("shift_jis")), "wb") as f:
        f.write(b"x")
    write(smb.root_dir / "sjis" / "ok.txt", "ok")
    assert names(walk(smb, "sjis"), smb) == ["sjis/ok.txt"]


def test_file_deleted_after_walk_is_vanished(smb):
    path = write(smb.root_dir / "vanish" / "gone.txt", "soon gone")
    with source(smb, "vanish") as src:
        [entry] = src.walk()
        path.unlink()
        with pytest.raises(ScanIOError) as err:
            src.read(entry, 100)
    assert code_of(err) == "scan.vanished"


# -- targets, credentials -------------------------------------------------------------------------------------


def test_missing_path_and_share_are_not_found(smb):
    for url in (f"{smb.url}/no-such-folder", f"smb://127.0.0.1:{smb.port}/no-such-share"):
        with SMBSource(SourceSpec(url, {"username": smb.username, "password": smb.password})) as src:
            with pytest.raises(ScanIOError) as err:
                list(src.walk())
        assert code_of(err) == "scan.not_found", url


def test_wrong_password_is_auth(smb):
    with source(smb, "tree", password="wrong") as src, pytest.raises(ScanIOError) as err:
        list(src.walk())
    assert code_of(err) == "scan.auth"


def test_no_credentials_at_all_is_auth(smb):
    with SMBSource(SourceSpec(f"{smb.url}/tree", {"timeout": 5})) as src, pytest.raises(ScanIOError) as err:
        list(src.walk())
    assert code_of(err) == "scan.auth"


def test_closed_port_is_connection():
    from tests.samba import free_port

    with SMBSource(SourceSpec(f"smb://127.0.0.1:{free_port()}/share", {"username": "u", "password": "p",
                                                                       "timeout": 2})) as src:
        with pytest.raises(ScanIOError) as err:
            list(src.walk())
    assert code_of(err) == "scan.connection"


@pytest.mark.parametrize("netloc", ["daemon@127.0.0.1", "daemon:secret@127.0.0.1:445", "WORKGROUP;daemon@host"])
def test_credentials_in_url_are_refused(netloc):
    with pytest.raises(ScanIOError) as err:
        SMBSource(SourceSpec(f"smb://{netloc}/share/dir"))
    assert code_of(err) == "scan.auth"
    assert "secret" not in str(err.value)


def test_credentials_from_environment(smb, monkeypatch):
    monkeypatch.setenv("HIMITSU_SMB_USERNAME", smb.username)
    monkeypatch.setenv("HIMITSU_SMB_PASSWORD", smb.password)
    with SMBSource(SourceSpec(f"{smb.url}/tree")) as src:
        assert len(list(src.walk())) == 4


def test_password_file_from_environment(smb, monkeypatch, tmp_path):
    (tmp_path / "pw").write_text(smb.password + "\n")
    monkeypatch.setenv("HIMITSU_SMB_USERNAME", smb.username)
    monkeypatch.setenv("HIMITSU_SMB_PASSWORD_FILE", str(tmp_path / "pw"))
    with SMBSource(SourceSpec(f"{smb.url}/tree")) as src:
        assert len(list(src.walk())) == 4


def test_credentials_file_from_environment(smb, monkeypatch, tmp_path):
    creds = tmp_path / "smb-credentials"
    creds.write_text(f"# mount.cifs format\nusername={smb.username}\npassword = {smb.password}\ndomain=HIMITSU\n")
    monkeypatch.setenv("HIMITSU_SMB_CREDENTIALS", str(creds))
    with SMBSource(SourceSpec(f"{smb.url}/tree")) as src:
        assert len(list(src.walk())) == 4


def test_options_win_over_environment(smb, monkeypatch, tmp_path):
    monkeypatch.setenv("HIMITSU_SMB_USERNAME", smb.username)
    monkeypatch.setenv("HIMITSU_SMB_PASSWORD", "wrong")
    with SMBSource(SourceSpec(f"{smb.url}/tree", {"password": smb.password})) as src:
        assert len(list(src.walk())) == 4  # username from the environment, password from the options
    creds = tmp_path / "creds"
    creds.write_text(f"username={smb.username}\npassword={smb.password}\n")
    with SMBSource(SourceSpec(f"{smb.url}/tree", {"credentials_file": str(creds)})) as src:
        assert len(list(src.walk())) == 4  # the options' credentials file before HIMITSU_SMB_PASSWORD


def test_credential_precedence(tmp_path):
    creds = tmp_path / "creds"
    creds.write_text("user = fileuser\npass = filepw\ndom = FILEDOM\n")
    env = {"HIMITSU_SMB_USERNAME": "envuser", "HIMITSU_SMB_PASSWORD": "envpw", "HIMITSU_SMB_DOMAIN": "ENVDOM",
           "HIMITSU_SMB_CREDENTIALS": str(tmp_path / "missing")}
    # complete options: nothing else is looked at (the missing credentials file is not even opened)
    assert resolve_credentials({"username": "u", "password": "p"}, env) == Credentials("u", "p", None)
    # each field from the first place that has it: options, options' file, environment, environment's file
    assert resolve_credentials({"username": "u", "credentials_file": str(creds)}, env) == Credentials(
        "u", "filepw", "FILEDOM")
    assert resolve_credentials({"domain": "OPT"}, env) == Credentials("envuser", "envpw", "OPT")
    assert resolve_credentials({}, {"HIMITSU_SMB_CREDENTIALS": str(creds)}) == Credentials(
        "fileuser", "filepw", "FILEDOM")
    assert Credentials("u", "p", "DOM").principal == "DOM\\u"
    assert "s3cr3t" not in repr(Credentials("u", "s3cr3t"))


def test_missing_credentials_file_is_auth(smb, monkeypatch, tmp_path):
    monkeypatch.setenv("HIMITSU_SMB_CREDENTIALS", str(tmp_path / "missing"))
    with SMBSource(SourceSpec(f"{smb.url}/tree")) as src, pytest.raises(ScanIOError) as err:
        list(src.walk())
    assert code_of(err) == "scan.auth"


def test_port_from_options(smb):
    url = f"smb://127.0.0.1/{smb.share}/tree"
    with SMBSource(SourceSpec(url, {"username": smb.username, "password": smb.password, "port": smb.port})) as src:
        items = list(src.walk())
    assert items[0].path == "smb://127.0.0.1/himitsu/tree/README.txt"  # the URL had no port: none in the paths
    assert len(items) == 4


# -- another process ------------------------------------------------------------------------------------------


def _read_in_fresh_process(spec: SourceSpec, entry: Entry) -> bytes:
    with open_source(spec) as src:
        return src.read(entry, 1000)


def test_read_in_a_spawned_worker(smb):
    with source(smb, "tree") as src:
        entry = next(e for e in src.walk() if e.path.endswith("焼結条件.txt"))
        spec = src.spec
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        data = pool.apply(_read_in_fresh_process, (spec, entry))
    assert data.decode() == "焼結温度 1250℃"


# -- the server goes away -------------------------------------------------------------------------------------


@pytest.fixture
def doomed():
    """A server of its own, to be killed by the test."""
    with samba_server() as server:
        for d in ("a", "b", "c"):
            for f in ("1.txt", "2.txt"):
                write(server.root_dir / d / f, f"{d}{f}")
        yield server


def test_server_killed_mid_walk_is_connection(doomed):
    with source(doomed) as src:
        walk_iter = src.walk()
        first = next(walk_iter)
        assert isinstance(first, Entry)
        doomed.stop()
        with pytest.raises(ScanIOError) as err:
            list(walk_iter)
        assert code_of(err) == "scan.connection"


def test_server_killed_between_walk_and_read_is_connection(doomed):
    with source(doomed) as src:
        entries = list(src.walk())
        assert src.read(entries[0], 100) == b"a1.txt"
        doomed.stop()
        with pytest.raises(ScanIOError) as err:
            src.read(entries[1], 100)
        assert code_of(err) == "scan.connection"


def test_hung_server_mid_walk_is_connection(doomed):
    # smbd frozen: the TCP connection stays open but nothing answers. The source's receive timeout (here 1 s)
    # makes smbprotocol send an echo, and drop the connection when that is not answered either.
    with source(doomed, timeout=1) as src:
        walk_iter = src.walk()
        assert isinstance(next(walk_iter), Entry)
        doomed.pause()
        with pytest.raises(ScanIOError) as err:
            list(walk_iter)
        assert code_of(err) == "scan.connection"
        doomed.stop()


def test_samba_helper_cleans_up():
    with samba_server() as server:
        base = server.base_dir
        assert server.process is not None
    assert server.process is None
    assert not base.exists()
    assert shutil.which("smbd")
