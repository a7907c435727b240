"""Declared limits, bad input that must never raise, the plugin lookup and the no-Django rule."""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import textwrap
import time

import pytest

from himitsu.engine import registry
from himitsu.engine.extract import base as extract_base
from himitsu.engine.extract import extract, extract_file, extract_stream
from himitsu.engine.model import Extraction, Limits, TextPart
from tests.engine.test_extract_fixtures import (
    docx,
    encrypted_ooxml,
    legacy_doc,
    minimal_pdf,
    msg,
    nested_zip,
    pptx,
    xlsx,
    zip_of,
)

KNOWN_CODES = {"encrypted", "unsupported", "corrupt", "encoding", "limit.bytes", "limit.total", "limit.ratio",
               "limit.depth", "limit.entries", "limit.text", "limit.time"}


# -- max_bytes ------------------------------------------------------------------------------------


def test_input_over_max_bytes_is_not_read():
    result = extract(b"x" * 1001, "big.txt", Limits(max_bytes=1000))
    assert result.parts == []
    assert [(p.code, p.path) for p in result.problems] == [("limit.bytes", "")]


def test_two_gigabyte_file_is_refused_from_its_size(tmp_path):
    big = tmp_path / "huge.bin"
    with open(big, "wb") as fp:
        fp.truncate(2 * 1024**3)  # sparse: takes no disk space
    started = time.perf_counter()
    result = extract_file(big)
    assert time.perf_counter() - started < 0.5
    assert [(p.code, p.path) for p in result.problems] == [("limit.bytes", "")]


def test_stream_reads_at_most_max_bytes_plus_one():
    class Counting(io.BytesIO):
        requested: list[int] = []

        def read(self, size: int | None = -1) -> bytes:
            self.requested.append(size)
            return super().read(size)

    stream = Counting(b"a" * 5000)
    result = extract_stream(stream, "stdin", Limits(max_bytes=100))
    assert stream.requested == [101]
    assert [p.code for p in result.problems] == ["limit.bytes"]
    assert extract_stream(io.BytesIO("標準入力".encode()), "-").parts[0].text == "標準入力"


def test_extract_file_reads_and_reports_os_errors(tmp_path):
    path = tmp_path / "memo.txt"
    path.write_bytes("メモ".encode("euc_jp"))
    assert extract_file(path).parts[0].meta["encoding"] == "euc-jp"
    missing = extract_file(tmp_path / "missing.txt")
    assert [p.code for p in missing.problems] == ["corrupt"] and "No such file" in missing.problems[0].detail


# -- max_text_chars -------------------------------------------------------------------------------


def test_text_limit_cuts_then_drops_parts():
    data = zip_of({f"{i}.txt": ("あ" * 100).encode() for i in range(4)})
    result = extract(data, "z.zip", Limits(max_text_chars=250))
    assert [len(p.text) for p in result.parts] == [100, 100, 50]
    assert result.parts[2].meta["truncated"] is True
    assert [(p.code, p.path) for p in result.problems] == [("limit.text", "2.txt"), ("limit.text", "3.txt")]


def test_text_limit_clips_regions():
    part = extract(docx(["本文" * 20], header="社外秘", footer="極秘"), "", Limits(max_text_chars=10)).parts[0]
    assert part.text == "社外秘\n本文本文本文"
    assert part.meta["regions"] == [(0, 3, "header"), (4, 10, "body")]


# -- max_seconds ----------------------------------------------------------------------------------


def test_time_limit_stops_the_whole_input(monkeypatch):
    clock = iter(range(10_000))
    monkeypatch.setattr(extract_base.time, "monotonic", lambda: float(next(clock)))
    data = zip_of({f"{i}.txt": b"text" for i in range(100)})
    result = extract(data, "slow.zip", Limits(max_seconds=20))
    assert 0 < len(result.parts) < 100
    assert [p.code for p in result.problems] == ["limit.time"]


def test_zero_seconds_gives_a_time_problem_not_an_exception():
    result = extract(nested_zip(3), "a.zip", Limits(max_seconds=0))
    assert [p.code for p in result.problems] == ["limit.time"]


# -- bad input never raises ----------------------------------------------------------------------


def samples() -> dict[str, bytes]:
    eml = ("From: a@example.jp\r\nTo: b@example.jp\r\nSubject: =?ISO-2022-JP?B?GyRCNktIaxsoQg==?=\r\n"
           "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n\r\n本文\r\n--b\r\nContent-Type: application/zip\r\n"
           "Content-Disposition: attachment; filename=a.zip\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           ).encode() + __import__("base64").encodebytes(zip_of({"a.txt": b"x"})) + b"\r\n--b--\r\n"
    return {
        "docx": docx(["本文"] * 30, header="社外秘"),
        "xlsx": xlsx({"S": [["a", 1]] * 30}),
        "pptx": pptx(["スライド"] * 5, footer="社外秘"),
        "pdf": minimal_pdf(),
        "eml": eml,
        "msg": msg("件名", "本文", [("a.txt", b"x")]),
        "zip": nested_zip(3),
        "html": "<html><body><p>本文</p></body></html>".encode("cp932"),
        "doc": legacy_doc(),
        "encrypted": encrypted_ooxml(),
        "gz": __import__("gzip").compress(b"text"),
    }


def check(result: Extraction) -> None:
    assert isinstance(result, Extraction)
    assert all(isinstance(p, TextPart) and isinstance(p.text, str) for p in result.parts)
    assert {p.code for p in result.problems} <= KNOWN_CODES, result.problems


@pytest.mark.parametrize("kind", sorted(samples()))
def test_mutated_files_never_raise(kind):
    original = samples()[kind]
    rnd = random.Random(kind)
    for round_ in range(40):
        data = bytearray(original)
        if round_ % 3 == 0:
            data = data[: rnd.randrange(1, len(data))]
        else:
            for _ in range(rnd.randrange(1, 20)):
                data[rnd.randrange(len(data))] = rnd.randrange(256)
        check(extract(bytes(data), f"sample.{kind}"))


@pytest.mark.parametrize("prefix", [b"", b"PK\x03\x04", b"%PDF-1.7\n", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
                                    b"From: a@b\nSubject: x\n\n", b"<html>", b"\x1f\x8b", b"\xef\xbb\xbf",
                                    b"\xff\xfe"])
def test_random_bytes_behind_magic_never_raise(prefix):
    rnd = random.Random(prefix)
    for size in (0, 10, 1000, 20_000):
        for name in ("", "x.docx", "x.msg", "x.pdf"):
            check(extract(prefix + rnd.randbytes(size), name))


# -- plugins and purity ---------------------------------------------------------------------------


def test_builtin_extractors_come_from_entry_points():
    classes = registry.extractor_classes()
    assert set(classes) >= {"text", "pdf", "office", "html", "mail", "archive"}
    assert all(cls.id == name for name, cls in classes.items())


def test_dispatcher_uses_registered_plugins(monkeypatch):
    class Custom:
        id = "custom"
        priority = 1
        extensions = ()

        def sniff(self, data: bytes, name: str) -> bool:
            return data.startswith(b"HMTS")

        def extract(self, data, name, path, ctx):
            yield TextPart(path, data[4:].decode(), "custom")
            yield ("inside.txt", "中身".encode())

    builtins = dict(registry.extractor_classes())
    monkeypatch.setattr(registry, "extractor_classes", lambda: {**builtins, "custom": Custom})
    result = extract(b"HMTSplugin text")
    assert [(p.path, p.text, p.format) for p in result.parts] == [("", "plugin text", "custom"),
                                                                  ("inside.txt", "中身", "text")]


def test_extractor_exception_becomes_corrupt(monkeypatch):
    class Broken:
        id = "broken"
        priority = 1

        def sniff(self, data: bytes, name: str) -> bool:
            return True

        def extract(self, data, name, path, ctx):
            raise KeyError("boom")

    monkeypatch.setattr(registry, "extractor_classes", lambda: {"broken": Broken})
    result = extract(b"anything")
    assert [(p.code, p.detail) for p in result.problems] == [("corrupt", "broken: KeyError: 'boom'")]


def test_extract_works_without_django(tmp_path):
    blocker = textwrap.dedent("""
        import sys
        from importlib.abc import MetaPathFinder

        class NoDjango(MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("django", "ninja"):
                    raise ImportError(f"{name} is blocked")
                return None

        sys.meta_path.insert(0, NoDjango())
        from himitsu.engine.extract import extract
        from himitsu.engine import registry
        for cls in registry.extractor_classes().values():
            pass
        import zipfile, io
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("a.txt", "秘密".encode("cp932"))
        result = extract(buf.getvalue(), "a.zip")
        assert result.parts[0].text == "秘密", result
        assert not [m for m in sys.modules if m.split(".")[0] in ("django", "ninja")]
        print("ok")
    """)
    # the installed (editable) package, so its entry points are the ones pyproject.toml declares
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "HIMITSU_", "PYTHONPATH"))}
    env["HIMITSU_HOME"] = str(tmp_path)
    run = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, env=env, timeout=60,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "ok"
