"""ZIP (nested, CP932 names, encrypted members, bombs), gzip and tar."""

from __future__ import annotations

import gzip
import io
import tarfile
import tracemalloc

import pytest

from himitsu.engine.extract import extract
from himitsu.engine.model import Limits
from tests.engine.test_extract_fixtures import (
    docx,
    nested_zip,
    zip_bomb,
    zip_command_encrypted,
    zip_of,
    zip_with_cp932_names,
    zip_with_encrypted_flag,
)

SJIS = "顧客別の単価は社外秘です。".encode("cp932")


def summary(result):
    return [(p.path, p.format) for p in result.parts], [(p.code, p.path) for p in result.problems]


def test_zip_members_are_extracted_with_paths():
    data = zip_of({"readme.txt": SJIS, "docs/規程.docx": docx(["規程本文"]), "empty/": b""})
    parts, problems = summary(extract(data, "outer.zip"))
    assert parts == [("readme.txt", "text"), ("docs/規程.docx", "docx")]
    assert problems == []


def test_nested_zips_keep_their_paths():
    data = zip_of({"inner.zip": zip_of({"report.docx": docx(["入れ子の報告書"])})})
    result = extract(data, "outer.zip")
    assert [(p.path, p.text) for p in result.parts] == [("inner.zip/report.docx", "入れ子の報告書")]


def test_cp932_member_names_decode():
    names = ["営業秘密/顧客一覧.txt", "表示価格.txt", "ソース.txt"]  # 表 and ソ end in 0x5C in CP932
    result = extract(zip_with_cp932_names({n: SJIS for n in names}))
    assert [p.path for p in result.parts] == names
    assert all(p.meta["encoding"] == "cp932" for p in result.parts)


def test_utf8_member_names_without_flag_decode():
    data = zip_with_cp932_names({"macos.txt": b"x"})  # ASCII stays ASCII
    assert extract(data).parts[0].path == "macos.txt"


def test_encrypted_member_flag_is_reported_per_member():
    data = zip_with_encrypted_flag({"public.txt": b"open", "secret.xlsx": b"locked bytes", "secret2.txt": b"x"},
                                   encrypted={"secret.xlsx", "secret2.txt"})
    parts, problems = summary(extract(data, "ppap.zip"))
    assert parts == [("public.txt", "text")]
    assert problems == [("encrypted", "secret.xlsx"), ("encrypted", "secret2.txt")]


def test_zip_command_password_protected(tmp_path):
    data = zip_command_encrypted(tmp_path, {"見積書.txt": SJIS, "memo.txt": b"plain"})
    if data is None:
        pytest.skip("the zip command is not installed (apt-get install zip)")
    result = extract(zip_of({"ppap.zip": data}), "mail-attachment.zip")
    assert result.parts == []
    assert sorted((p.code, p.path, p.detail) for p in result.problems) == [
        ("encrypted", "ppap.zip/memo.txt", "zip"), ("encrypted", "ppap.zip/見積書.txt", "zip")]


@pytest.fixture(scope="session")
def bomb(tmp_path_factory):
    return zip_bomb(tmp_path_factory.mktemp("bomb") / "bomb.zip")


def test_zip_bomb_is_refused_by_ratio_without_allocating(bomb):
    assert len(bomb) < 1024 * 1024
    tracemalloc.start()
    try:
        result = extract(bomb, "bomb.zip")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.parts == []
    assert [(p.code, p.path) for p in result.problems] == [("limit.ratio", "zeros.bin")]
    assert peak < 3 * len(bomb) + 8 * 1024 * 1024


def test_zip_bomb_is_refused_by_total_without_allocating(bomb):
    limits = Limits(max_ratio=1e9, max_bytes=10**10, max_total_bytes=50 * 1024 * 1024)
    tracemalloc.start()
    try:
        result = extract(bomb, "bomb.zip", limits)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [(p.code, p.path) for p in result.problems] == [("limit.total", "zeros.bin")]
    assert peak < 3 * len(bomb) + 8 * 1024 * 1024


def test_member_over_max_bytes(bomb):
    result = extract(bomb, "bomb.zip", Limits(max_ratio=1e9))
    assert [(p.code, p.path) for p in result.problems] == [("limit.bytes", "zeros.bin")]


def test_lying_header_is_caught_while_reading():
    """A member that declares 10 bytes but holds 5 MB: reading stops at the declared size."""
    import struct
    import zlib

    payload = zlib.compress(b"A" * 5_000_000)[2:-4]
    name = b"liar.txt"
    crc = zlib.crc32(b"A" * 10)
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(payload), 10, len(name), 0)
    central = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(payload), 10,
                          len(name), 0, 0, 0, 0, 0, 0)
    body = local + name + payload
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central) + len(name), len(body), 0)
    result = extract(body + central + name + end, "liar.zip")
    assert [(p.path, p.text) for p in result.parts] == [("liar.txt", "A" * 10)]


def test_nested_depth_limit():
    data = nested_zip(8)
    result = extract(data, "level1.zip", Limits(max_depth=3))
    paths = sorted(p.path for p in result.parts)
    assert paths == ["level2.zip/level3.zip/note3.txt", "level2.zip/note2.txt", "note1.txt"]
    assert [(p.code, p.path) for p in result.problems] == [("limit.depth", "level2.zip/level3.zip/level4.zip")]
    deep = extract(data, "level1.zip")  # the default (5) reads five levels of members
    assert len(deep.parts) == 5 and [p.code for p in deep.problems] == ["limit.depth"]


def test_entries_limit_counts_all_levels():
    inner = zip_of({f"in{i}.txt": b"x" for i in range(5)})
    data = zip_of({"a.zip": inner, **{f"out{i}.txt": b"y" for i in range(10)}})
    result = extract(data, "many.zip", Limits(max_entries=8))
    assert len(result.parts) == 7  # a.zip itself is an entry
    assert [p.code for p in result.problems] == ["limit.entries"]


def test_directory_bomb_is_refused_before_parsing():
    data = zip_of({f"{i}.txt": b"" for i in range(500)})
    result = extract(data, "many.zip", Limits(max_entries=100))
    assert result.parts == []
    assert [(p.code, p.path) for p in result.problems] == [("limit.entries", "")]


def test_unsupported_compression_method():
    data = bytearray(zip_of({"a.txt": b"hello"}, method=0))
    data[8] = 98  # PPMd in the local header
    pos = data.find(b"PK\x01\x02")
    data[pos + 10] = 98  # and in the central directory
    result = extract(bytes(data))
    assert [(p.code, p.path, p.detail) for p in result.problems] == [
        ("unsupported", "a.txt", "zip compression method ppmd")]


def test_gzip_and_tar():
    tar_buf = io.BytesIO()
    with tarfile.open(fileobj=tar_buf, mode="w") as tf:
        for name, data in {"dir/sjis.txt": SJIS, "report.docx": docx(["tarの中"])}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    result = extract(gzip.compress(tar_buf.getvalue()), "backup.tar.gz")
    assert [(p.path, p.format) for p in result.parts] == [("backup.tar/dir/sjis.txt", "text"),
                                                          ("backup.tar/report.docx", "docx")]
    assert result.problems == []
    assert extract(gzip.compress(SJIS), "memo.txt.gz").parts[0].path == "memo.txt"


def test_gzip_bomb():
    data = gzip.compress(b"\x00" * 20_000_000)
    result = extract(data, "zeros.gz")
    assert [(p.code, p.path) for p in result.problems] == [("limit.ratio", "zeros")]


def test_corrupt_zip_member_does_not_stop_the_others():
    data = bytearray(zip_of({"a.txt": b"first " * 100, "b.txt": b"second " * 100}))
    second = data.find(b"PK\x03\x04", 4)
    data[36:second - 2] = b"\xff" * (second - 38)  # damage the first member's deflate stream only
    result = extract(bytes(data))
    assert [(p.path, p.format) for p in result.parts] == [("b.txt", "text")]
    assert [(p.code, p.path) for p in result.problems] == [("corrupt", "a.txt")]


def test_zip_of_an_unpacked_office_folder_is_an_archive():
    """Only a package with [Content_Types].xml at its root is an Office file; a folder copy is an archive."""
    import io as _io
    import zipfile as _zipfile

    unpacked = {f"copy/{n}": _zipfile.ZipFile(_io.BytesIO(docx(["中身"]))).read(n)
                for n in _zipfile.ZipFile(_io.BytesIO(docx(["中身"]))).namelist()}
    result = extract(zip_of(unpacked), "folder.zip")
    assert "copy/word/document.xml" in [p.path for p in result.parts]
    assert all(p.format == "text" for p in result.parts)
