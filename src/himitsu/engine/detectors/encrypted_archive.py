"""Encrypted archives and documents: their content cannot be inspected, which is itself a finding.

The extractors report a password-protected ZIP, PDF or Office file (and an S/MIME or PGP encrypted mail)
as ``Problem(code="encrypted", path, detail)``;
this detector reads no text and turns each such problem into a finding with score 1.0, so that a
check never passes a file it could not look into. Mailing an encrypted ZIP and then its password
(PPAP) is a Japanese habit that protects nothing and blinds every leak check on the way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

from himitsu.engine.detectors.base import Detector
from himitsu.engine.model import Extraction, Finding, TextPart
from himitsu.errors import gettext_noop

ARCHIVES = (".zip", ".7z", ".rar", ".lzh", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".cab")
OFFICE = (".docx", ".xlsx", ".pptx", ".docm", ".xlsm", ".pptm", ".doc", ".xls", ".ppt", ".odt", ".ods", ".odp")
#: the extractors' ``Problem.detail`` for encrypted inputs -> kind
DETAILS = {"zip": "zip", "7z": "zip", "rar": "zip", "archive": "zip", "pdf": "pdf", "office": "office",
           "doc": "office", "xls": "office", "ppt": "office", "docx": "office", "xlsx": "office", "pptx": "office",
           "pgp": "mail", "smime": "mail"}


def kind_of(path: str, detail: str = "") -> str:
    """``zip``, ``pdf``, ``office``, ``mail`` or ``other``: from the extractor's detail ("zip" for an
    encrypted member of a ZIP, whatever its own name), else from the name's extension."""
    token = detail.strip().lower()
    if token in DETAILS:
        return DETAILS[token]
    name = path.lower()
    if name.endswith(ARCHIVES):
        return "zip"
    if name.endswith(".pdf"):
        return "pdf"
    if name.endswith(OFFICE):
        return "office"
    for word, kind in DETAILS.items():
        if len(word) > 3 and word in token:
            return kind
    return "other"


class EncryptedArchiveDetector(Detector):
    id: ClassVar[str] = "encrypted-archive"
    reasons: ClassVar[dict[str, str]] = {
        "encrypted.zip": gettext_noop("Password-protected archive {path}: its content cannot be inspected for secrets; sending an encrypted file and its password by separate mail (PPAP) protects nothing and hides the content from leak checks"),
        "encrypted.pdf": gettext_noop("Password-protected PDF {path}: its content cannot be inspected for secrets; sending an encrypted file and its password by separate mail (PPAP) protects nothing and hides the content from leak checks"),
        "encrypted.office": gettext_noop("Password-protected Office document {path}: its content cannot be inspected for secrets; sending an encrypted file and its password by separate mail (PPAP) protects nothing and hides the content from leak checks"),
        "encrypted.mail": gettext_noop("Encrypted e-mail (S/MIME or PGP) {path}: its content cannot be inspected for secrets"),
        "encrypted.other": gettext_noop("Encrypted file {path}: its content cannot be inspected for secrets; sending an encrypted file and its password by separate mail (PPAP) protects nothing and hides the content from leak checks"),
    }
    score: ClassVar[float] = 1.0

    def detect(self, part: TextPart, context: Any = None) -> Iterator[Finding]:
        return iter(())  # text is not what this detector looks at

    def inspect(self, extraction: Extraction, context: Any = None) -> Iterable[Finding]:
        for problem in extraction.problems:
            if problem.code != "encrypted":
                continue
            kind = kind_of(problem.path, problem.detail)
            shown = problem.path or "(input)"
            yield self.finding(problem.path, 0, 0, self.score, f"encrypted.{kind}", "", path=shown, kind=kind)
