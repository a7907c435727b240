"""encrypted-archive: an encrypted archive or document is a finding (PPAP), not a silent skip."""

from __future__ import annotations

import pytest

from himitsu.engine.detectors.encrypted_archive import EncryptedArchiveDetector
from himitsu.engine.model import Extraction, Problem, TextPart


@pytest.mark.parametrize(("path", "detail", "reason"), [
    ("見積書.zip", "", "encrypted.zip"),
    ("outer.zip/inner.7z", "", "encrypted.zip"),
    ("report.pdf", "", "encrypted.pdf"),
    ("mail.eml/価格表.xlsx", "", "encrypted.office"),
    ("old.doc", "", "encrypted.office"),
    ("", "password-protected ZIP archive", "encrypted.zip"),
    ("outer.zip/原価.xlsx", "zip", "encrypted.zip"),  # a ZIP member encrypted by the ZIP
    ("", "xls", "encrypted.office"),
    ("", "pdf", "encrypted.pdf"),
    ("attachment.bin", "", "encrypted.other"),
])
def test_each_encrypted_problem_is_a_finding(path, detail, reason):
    extraction = Extraction(parts=[TextPart("a.txt", "社外秘", "text")],
                            problems=[Problem("encrypted", path, detail), Problem("corrupt", "x.pdf", "bad xref")])
    [f] = list(EncryptedArchiveDetector().inspect(extraction))
    assert (f.detector, f.reason, f.score, f.start, f.end, f.snippet, f.part) == (
        "encrypted-archive", reason, 1.0, 0, 0, "", path)
    assert "cannot be inspected" in f.explanation and "PPAP" in f.explanation
    assert (path or "(input)") in f.explanation


@pytest.mark.parametrize("detail", ["pgp", "smime"])
def test_encrypted_mail(detail):
    [f] = list(EncryptedArchiveDetector().inspect(Extraction(problems=[Problem("encrypted", "m.eml", detail)])))
    assert (f.reason, f.score) == ("encrypted.mail", 1.0) and "cannot be inspected" in f.explanation


@pytest.mark.parametrize("code", ["corrupt", "unsupported", "limit.ratio", "encoding"])
def test_other_problems_are_not_this_detectors(code):
    assert list(EncryptedArchiveDetector().inspect(Extraction(problems=[Problem(code, "a.zip")]))) == []


def test_text_alone_is_never_a_finding():
    assert list(EncryptedArchiveDetector().detect(TextPart("", "encrypted.zip PPAP パスワード", "text"))) == []
