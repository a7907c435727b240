"""Credentials: private keys, cloud and SaaS tokens, and passwords written into configs or mails.

One compiled pass finds every kind; each alternative starts with a fixed character so the search
skips ahead quickly, and the kind is told by the matched prefix. Token kinds are recognised by their
documented shape (AWS access key ids AKIA/ASIA, GitHub ghp_/github_pat_, Slack xox?-, Google AIza,
Stripe sk_live_, OpenAI-style sk-, JWT, Azure AccountKey=). Generic assignments (``password = "…"``,
``passwd: …``, ``パスワード：…``, ``PW：…``) must carry a value that is not empty, not a placeholder
(changeme, ******, ${VAR}, <password>, hoge, …), not a code reference (``args.password``,
``getpass()``) and not of low entropy.

Scores: private key 0.99 (encrypted 0.8); AWS key id 0.75, 0.95 with a 40-character secret key
within 300 characters; GitHub, Stripe live keys, Azure keys 0.95; Slack 0.9; Google API key, JWT
0.85; OpenAI-style 0.85; Stripe test keys 0.4; generic assignments 0.5, 0.7 when the value has high
entropy (≥ 3 bits per character) or follows a Japanese label (パスワード, PW: the PPAP mail). Values
containing "EXAMPLE" (AWS documentation) are ignored. Snippets show the kind's public prefix or the key
name, never the value: ``ghp_********``, ``password=********``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any, ClassVar

from himitsu.engine import prefilter
from himitsu.engine.detectors.base import Detector, by_first_character, literal_starts
from himitsu.engine.model import Finding, TextPart
from himitsu.errors import gettext_noop

#: (kind, pattern starting with a literal character, score, public prefix shown in the snippet)
TOKENS: tuple[tuple[str, str, float, str], ...] = (
    ("private_key", r"-----BEGIN[A-Z0-9 ]{0,30} PRIVATE KEY(?: BLOCK)?-----", 0.99, ""),
    ("aws_access_key", r"AKIA[A-Z0-9]{16}(?![A-Za-z0-9])", 0.75, "AKIA"),
    ("aws_access_key", r"ASIA[A-Z0-9]{16}(?![A-Za-z0-9])", 0.75, "ASIA"),
    ("github_token", r"gh[pousr]_[A-Za-z0-9]{36,251}(?![A-Za-z0-9_])", 0.95, "gh?_"),
    ("github_token", r"github_pat_[A-Za-z0-9_]{40,251}", 0.95, "github_pat_"),
    ("slack_token", r"xox[abposre]-[A-Za-z0-9-]{10,250}", 0.9, "xox?-"),
    ("slack_webhook", r"https://hooks\.slack\.com/services/[A-Za-z0-9_/-]{20,200}", 0.9, "https://hooks.slack.com/"),
    ("google_api_key", r"AIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])", 0.85, "AIza"),
    ("stripe_key", r"sk_live_[0-9A-Za-z]{16,247}", 0.95, "sk_live_"),
    ("stripe_key", r"rk_live_[0-9A-Za-z]{16,247}", 0.9, "rk_live_"),
    ("stripe_test_key", r"sk_test_[0-9A-Za-z]{16,247}", 0.4, "sk_test_"),
    ("openai_key", r"sk-(?:proj-|svcacct-|admin-|ant-)?[A-Za-z0-9_\-]{20,200}", 0.85, "sk-"),
    ("jwt", r"eyJ[A-Za-z0-9_\-]{8,2000}\.eyJ[A-Za-z0-9_\-]{8,8000}\.[A-Za-z0-9_\-]{8,2000}", 0.85, "eyJ"),
    ("azure_key", r"AccountKey=[A-Za-z0-9+/]{40,100}={0,2}", 0.95, "AccountKey="),
    ("azure_key", r"SharedAccessKey=[A-Za-z0-9+/]{30,100}={0,2}", 0.95, "SharedAccessKey="),
)
#: names of assignments whose value is a secret; matched as written, UPPER, Capitalised and camelCase
KEY_NAMES: tuple[str, ...] = (
    "password", "passwd", "passphrase", "secret", "client_secret", "secret_key", "secret_access_key",
    "api_key", "apikey", "access_token", "auth_token", "api_token", "access_key",
)
JAPANESE_KEYS: tuple[str, ...] = ("パスワード", "パスフレーズ", "暗証番号", "PW", "ＰＷ")
PLACEHOLDERS = frozenset({
    "changeme", "change_me", "change-me", "changeit", "password", "passwd", "secret", "dummy", "example", "sample",
    "test", "none", "null", "nil", "true", "false", "undefined", "your_password", "yourpassword", "your-password",
    "mypassword", "my_password", "redacted", "hidden", "masked", "removed", "foo", "bar", "foobar", "hoge", "fuga",
    "piyo", "xxxxxx", "placeholder", "todo", "tbd", "secret_key", "api_key", "apikey", "token", "str", "string",
    "bytes", "optional", "required", "env", "os.environ", "getpass", "input", "value", "xyz", "abc", "abcd",
    "pass", "パスワード", "未設定", "なし", "別途", "別送", "別途送付", "後ほど", "後程",
})
_PLACEHOLDER_SHAPES = re.compile(
    r"\$\{.*|\$\(.*|\$[A-Za-z_][A-Za-z0-9_]*|%\(.*\)[sdr]|%[sd]|\{.*|<.*|\[.*\]|"  # templates, variables
    r"[*xX•●・.\-_?#0]+|(.)\1+|.*(?:EXAMPLE|example|your|YOUR|Your|dummy|DUMMY|placeholder).*")
# a word without digits, an attribute path or a call: password=password, args.password, getpass()
_CODE_REFERENCE = re.compile(r"[A-Za-z_]+|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+.*|.*[(\[].*")
_ASSIGNMENT = re.compile(
    r"""["']?[ \t]*(?:=>|:=|=|:|：|は|が|＝)[ \t\u3000]*"""
    r"""(?:(?P<quote>["'「『])(?P<quoted>[!-~]{0,200}?)["'」』]|(?P<bare>(?:(?!["',;)\]}])[!-~]){1,200}))""")
_SECRET_KEY_NEAR = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_PRIVATE_KEY_END = re.compile(r"-----END[A-Z0-9 ]{0,30} PRIVATE KEY(?: BLOCK)?-----")
_WORD = re.compile(r"[A-Za-z0-9_]")


def _key_variants(name: str) -> set[str]:
    parts = name.split("_")
    camel = parts[0] + "".join(p.capitalize() for p in parts[1:])
    forms = {name, name.upper(), name.capitalize(), camel, camel[0].upper() + camel[1:], name.replace("_", "-")}
    return forms


def _keys() -> frozenset[str]:
    keys = set(JAPANESE_KEYS)
    for name in KEY_NAMES:
        keys |= _key_variants(name)
    return frozenset(keys)


_KEYS = _keys()


def _compile() -> re.Pattern[str]:
    alternatives = [pattern for _, pattern, _, _ in TOKENS]
    alternatives += [re.escape(k) for k in sorted(_KEYS, key=len, reverse=True)]
    return re.compile(by_first_character(alternatives))


_PATTERN = _compile()
#: prefilter: every match starts with a token's literal beginning or a key name
_TRIGGERS = prefilter.register("credential", [prefilter.literal(w) for w in sorted(
    {head for _, rx, _, _ in TOKENS for head in literal_starts(rx)} | _KEYS)])


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


class CredentialDetector(Detector):
    id: ClassVar[str] = "credential"
    reasons: ClassVar[dict[str, str]] = {
        "credential.private_key": gettext_noop("Private key block ({label})"),
        "credential.aws_access_key": gettext_noop("AWS access key id"),
        "credential.aws_access_key_with_secret": gettext_noop("AWS access key id with a 40-character secret access key nearby"),
        "credential.github_token": gettext_noop("GitHub access token"),
        "credential.slack_token": gettext_noop("Slack token"),
        "credential.slack_webhook": gettext_noop("Slack incoming-webhook URL"),
        "credential.google_api_key": gettext_noop("Google API key"),
        "credential.stripe_key": gettext_noop("Stripe live secret key"),
        "credential.stripe_test_key": gettext_noop("Stripe test secret key"),
        "credential.openai_key": gettext_noop("API secret key in the OpenAI/Anthropic style (sk-…)"),
        "credential.jwt": gettext_noop("JSON Web Token (a bearer credential)"),
        "credential.azure_key": gettext_noop("Azure storage or service-bus key in a connection string"),
        "credential.password_assignment": gettext_noop("A value assigned to {key} in a configuration or message"),
    }
    pattern: ClassVar[re.Pattern[str]] = _PATTERN
    tokens: ClassVar[tuple[tuple[str, re.Pattern[str], float, str], ...]] = tuple(
        (kind, re.compile(rx), score, prefix) for kind, rx, score, prefix in TOKENS)
    score_aws_with_secret: ClassVar[float] = 0.95
    score_generic: ClassVar[float] = 0.5
    score_generic_strong: ClassVar[float] = 0.7
    min_entropy: ClassVar[float] = 1.5

    def detect(self, part: TextPart, context: Any = None) -> Iterator[Finding]:
        text = part.text
        done = 0
        starts = prefilter.starts(part, _TRIGGERS, context) if self.pattern is _PATTERN else None
        for m in prefilter.finditer(self.pattern, text, starts):
            if m.start() < done:
                continue
            found = self._assignment(part, m) if m.group() in _KEYS else self._token(part, m)
            if found is not None:
                done = found.end
                yield found

    def _token(self, part: TextPart, m: re.Match[str]) -> Finding | None:
        text, value, start = part.text, m.group(), m.start()
        for kind, rx, score, prefix in self.tokens:
            if rx.fullmatch(value) is None:
                continue
            if start and _WORD.match(text[start - 1]) and kind != "private_key":
                return None  # glued to a longer identifier ("disk-…", "XAKIA…")
            if "EXAMPLE" in value or not self.validate_token(kind, value):
                return None
            if kind == "private_key":
                return self._private_key(part, m)
            shown = prefix.replace("?", value[2] if kind != "slack_token" else value[3])
            if kind == "aws_access_key" and _secret_key_near(text, start, m.end()):
                return self.finding(part, start, m.end(), self.score_aws_with_secret,
                                    "credential.aws_access_key_with_secret", shown + "*" * 8, kind=kind)
            return self.finding(part, start, m.end(), score, f"credential.{kind}", shown + "*" * 8, kind=kind)
        return None

    def validate_token(self, kind: str, value: str) -> bool:
        """Random-looking enough for kinds whose prefix alone is weak evidence."""
        if kind == "openai_key":
            body = value[3:]
            return any(c.isdigit() for c in body) and any(c.isalpha() for c in body) and entropy(body) >= 3.5
        return True

    def _private_key(self, part: TextPart, m: re.Match[str]) -> Finding:
        header = m.group()
        label = header.strip("-").removeprefix("BEGIN ").strip()
        end_match = _PRIVATE_KEY_END.search(part.text, m.end(), m.end() + 20_000)
        end = end_match.end() if end_match else m.end()
        score = 0.8 if "ENCRYPTED" in label else 0.99
        return self.finding(part, m.start(), end, score, "credential.private_key", header + " [...]", label=label,
                            kind="private_key")

    def _assignment(self, part: TextPart, m: re.Match[str]) -> Finding | None:
        text, key, start = part.text, m.group(), m.start()
        japanese = key in JAPANESE_KEYS
        if not japanese and start and text[start - 1].isalpha() and text[start - 1].islower() and key[0].islower():
            return None  # "mypassword" is not the key "password"
        a = _ASSIGNMENT.match(text, m.end())
        if a is None:
            return None
        quoted = a.group("quote") is not None
        value = a.group("quoted") if quoted else a.group("bare")
        token = self.pattern.match(text, a.start("quoted" if quoted else "bare"))
        if token is not None and token.group() not in _KEYS:
            return self._token(part, token)  # OPENAI_API_KEY=sk-…: report the token's own kind
        if not self.validate_value(value, quoted, japanese):
            return None
        strong = japanese or entropy(value) >= 3.0
        score = self.score_generic_strong if strong else self.score_generic
        end = a.end()
        return self.finding(part, start, end, score, "credential.password_assignment", f"{key}=********",
                            key=key, kind="password_assignment")

    def validate_value(self, value: str, quoted: bool, japanese: bool = False) -> bool:
        """A real-looking secret: long enough, no placeholder or code, not of low entropy."""
        if len(value) < 4 or value.lower() in PLACEHOLDERS or _PLACEHOLDER_SHAPES.fullmatch(value):
            return False
        if entropy(value) < self.min_entropy or (len(value) < 8 and len(set(value)) < 4):
            return False
        if not quoted:
            if _CODE_REFERENCE.fullmatch(value):
                return False  # variables, attributes, calls: password=args.password, passwd: str
            classes = sum(any(f(c) for c in value) for f in (str.isdigit, str.isalpha, _is_symbol))
            return classes >= 2 or (japanese and len(value) >= 6)
        return True


def _secret_key_near(text: str, start: int, end: int) -> bool:
    """A 40-character AWS secret access key (mixed case and digits, unlike a SHA-1) within 300 characters."""
    for m in _SECRET_KEY_NEAR.finditer(text, max(0, start - 300), end + 300):
        key = m.group()
        if any(c.isupper() for c in key) and any(c.islower() for c in key) and any(c.isdigit() for c in key):
            return True
    return False


def _is_symbol(ch: str) -> bool:
    return not ch.isalnum()
