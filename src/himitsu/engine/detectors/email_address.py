"""E-mail addresses: a practical RFC 5321 shape (ASCII local part, dotted domain, alphabetic TLD).

The search looks for "@" (or a full-width "＠") and reads the address around it, which is much faster
than a pattern that starts at every word. Scores: 0.6; 0.75 with a context word (メール, e-mail,
連絡先, ...) within 60 characters; 0.1 for documentation domains (example.com/.net/.org, example.jp,
example.co.jp, *.example, *.test, *.invalid, localhost). Snippets keep the first character of the
local part and of the domain, and the public suffix: ``t***@e***.co.jp``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar

from himitsu.engine import prefilter
from himitsu.engine.detectors.base import ContextWords, Detector
from himitsu.engine.model import Finding, TextPart
from himitsu.errors import gettext_noop

_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.!#$%&'*+=?^_`{|}~-")
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
#: documentation and reserved names (RFC 2606, RFC 6761, JPRS)
EXAMPLE_DOMAINS = ("example.com", "example.net", "example.org", "example.jp", "example.co.jp", "example.ne.jp",
                   "localhost")
EXAMPLE_SUFFIXES = (".example", ".test", ".invalid", ".localhost")
#: "image@2x.png" and friends are file names, not addresses
FILE_SUFFIXES = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "css", "js", "py", "txt", "html", "pdf",
                           "zip", "json", "xml", "md", "ts", "mjs", "ico"})
#: subdomains of the documentation names: "mail.example.com"
_DOT_EXAMPLE_DOMAINS = tuple("." + e for e in EXAMPLE_DOMAINS)
_SECOND_LEVEL = frozenset({"co", "ne", "or", "ac", "go", "ad", "ed", "gr", "lg", "com", "net", "org", "gov", "edu"})


class EmailAddressDetector(Detector):
    id: ClassVar[str] = "email-address"
    reasons: ClassVar[dict[str, str]] = {
        "email.address": gettext_noop("E-mail address"),
        "email.with_context": gettext_noop("E-mail address next to the word {word}"),
        "email.example": gettext_noop("E-mail address at a documentation domain ({domain}); most likely an example"),
    }
    #: the search anchor; the local part is read backwards from it in Python
    pattern: ClassVar[re.Pattern[str]] = re.compile("[@＠]")
    domain_pattern: ClassVar[re.Pattern[str]] = re.compile(
        f"(?:{_LABEL}\\.)+[A-Za-z]{{2,24}}(?![A-Za-z0-9-]|\\.[A-Za-z0-9])")
    context_words: ClassVar[ContextWords] = ContextWords([
        "メール", "メアド", "Eメール", "e-mail", "email", "連絡先", "宛先", "送信先", "アドレス", "✉",
    ], window=60)
    score_address: ClassVar[float] = 0.6
    score_with_context: ClassVar[float] = 0.75
    score_example: ClassVar[float] = 0.1

    def validate(self, value: str) -> bool:
        local, _, domain = value.replace("＠", "@").rpartition("@")
        if not local or len(local) > 64 or local[0] == "." or local[-1] == "." or ".." in local:
            return False
        if not _LOCAL_CHARS.issuperset(local):
            return False
        if self.domain_pattern.fullmatch(domain) is None:
            return False
        return domain.rsplit(".", 1)[1].lower() not in FILE_SUFFIXES

    def detect(self, part: TextPart, context: Any = None) -> Iterator[Finding]:
        text = part.text
        near = self.context_words.finder(text)
        for at in self._anchors(text):
            start = at
            while start > 0 and at - start < 64 and text[start - 1] in _LOCAL_CHARS:
                start -= 1
            while start < at and text[start] in ".'`{|}~=":  # punctuation before the address, not in it
                start += 1
            d = self.domain_pattern.match(text, at + 1)
            if d is None or start == at:
                continue
            value = text[start:d.end()]
            if not self.validate(value):
                continue
            domain = d.group().lower()
            snippet = mask(text[start:at], domain)
            if domain in EXAMPLE_DOMAINS or domain.endswith(EXAMPLE_SUFFIXES) or domain.endswith(_DOT_EXAMPLE_DOMAINS):
                yield self.finding(part, start, d.end(), self.score_example, "email.example", snippet, domain=domain)
                continue
            word = near(start, d.end())
            if word is None:
                yield self.finding(part, start, d.end(), self.score_address, "email.address", snippet)
            else:
                yield self.finding(part, start, d.end(), self.score_with_context, "email.with_context", snippet,
                                   word=word)

    def _anchors(self, text: str) -> Iterator[int]:
        """Offsets of every "@" and "＠" in order: two substring searches instead of a regex pass."""
        if not prefilter.ENABLED or self.pattern is not EmailAddressDetector.pattern:
            yield from (m.start() for m in self.pattern.finditer(text))
            return
        found = _all(text, "@")
        if "＠" in text:
            found = sorted(found + _all(text, "＠"))
        yield from found


def _all(text: str, ch: str) -> list[int]:
    out, i = [], text.find(ch)
    while i >= 0:
        out.append(i)
        i = text.find(ch, i + 1)
    return out


def mask(local: str, domain: str) -> str:
    labels = domain.split(".")
    keep = 2 if len(labels) > 2 and labels[-2] in _SECOND_LEVEL else 1
    suffix = ".".join(labels[-keep:])
    return f"{local[0]}***@{labels[0][0]}***.{suffix}"
