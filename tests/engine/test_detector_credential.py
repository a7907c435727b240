"""credential: keys and tokens by their documented shapes, passwords in configs and mails; placeholders ignored."""

from __future__ import annotations

import pytest

from himitsu.engine.detectors.credential import CredentialDetector, entropy
from himitsu.engine.model import TextPart

# shaped like the real thing, made up here
GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
AWS_ID = "AKIA2OGYBAH6STMJ5X3Q"
AWS_SECRET = "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"
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
       "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U")
AZURE = ("DefaultEndpointsProtocol=https;AccountName=acme;AccountKey="
         "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;")
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7b\nq9Zx\n-----END RSA PRIVATE KEY-----"


def run(text: str) -> list:
    return list(CredentialDetector().detect(TextPart("", text, "text")))


@pytest.mark.parametrize(("text", "kind", "score"), [
    (PEM, "private_key", 0.99),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
     "private_key", 0.99),
    ("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHzBJBgkqhkiG9w0BBQ0w\n-----END ENCRYPTED PRIVATE KEY-----",
     "private_key", 0.8),
    (f"key id {AWS_ID}", "aws_access_key", 0.75),
    (f"token: {GITHUB}", "github_token", 0.95),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ab",
     "github_token", 0.95),
    ("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "slack_token", 0.9),
    ("https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX", "slack_webhook", 0.9),
    ("AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "google_api_key", 0.85),
    ("STRIPE=sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe_key", 0.95),
    ("sk_test_4eC39HqLyjWDarjtT1zdp7dc", "stripe_test_key", 0.4),
    ("OPENAI_API_KEY=sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z", "openai_key", 0.85),
    (f"Authorization: Bearer {JWT}", "jwt", 0.85),
    (AZURE, "azure_key", 0.95),
])
def test_tokens(text, kind, score):
    [f] = run(text)
    assert (f.detector, f.params["kind"], f.score) == ("credential", kind, score)


def test_aws_key_with_a_sha1_nearby_is_no_pair():
    [f] = run(f"{AWS_ID} commit 2fd4e1c67a2d28fced849ee1bb76e7391b93eb12")
    assert f.reason == "credential.aws_access_key"


def test_aws_key_with_secret_nearby():
    text = f"[default]\naws_access_key_id = {AWS_ID}\naws_secret_access_key = {AWS_SECRET}\n"
    key, secret = run(text)
    assert (key.reason, key.score) == ("credential.aws_access_key_with_secret", 0.95)
    assert secret.reason == "credential.password_assignment"


@pytest.mark.parametrize(("text", "score"), [
    ('password = "hunter2"', 0.5),
    ("passwd: s3cr3t!x", 0.5),
    ('"password": "Tr0ub4dor&3"', 0.7),
    ("DB_PASSWORD=Xk9#mP2q", 0.7),
    ("SECRET_KEY = 'django-insecure-7f#k2!x9qz'", 0.7),
    ('client_secret: "9f8e7d6c5b4a3f2e1d0c"', 0.7),
    ("--password=Zq8!vW3x", 0.7),
    ("パスワード：Abc12345", 0.7),
    ("解凍パスワードは「k8Fz2mQ」です", 0.7),
    ("PW：zip2024pass", 0.7),
    ("userPassword = 'f00Bar!9'", 0.5),
])
def test_password_assignments(text, score):
    [f] = run(text)
    assert (f.reason, f.score) == ("credential.password_assignment", score)


@pytest.mark.parametrize("text", [
    'password = "changeme"', "password: ${DB_PASSWORD}", "PASSWORD=$DB_PASSWORD", 'password = "********"',
    'password = "<your password>"', "password: hoge", "password = ''", "PASSWORD=", 'password = "aaaaaaa"',
    'password = "xxxx"', "password: {{ vault_password }}", "password = %(password)s", "password = None",
    "password = getpass.getpass()", "password=args.password", "def login(user, password: str):",
    "password = os.environ['DB_PASSWORD']", 'mypassword = "abcdefg1"', "secret = secrets.token_hex(16)",
    "パスワードは別途お送りします", "パスワード：未設定", "the password is hunter2",
    "AKIAIOSFODNN7EXAMPLE",  # AWS documentation's example key
    "XAKIA2OGYBAH6STMJ5X3Q",  # glued to a longer identifier
    "disk-abcdefghijklmnopqrstuvwxyz123", "sk-abcdefghijklmnopqrstuvwxyz",  # no digits: not a key
    "-----BEGIN PUBLIC KEY-----", "-----BEGIN CERTIFICATE-----",
    "eyJhbGciOi.notajwt", "ghp_short",
])
def test_near_misses(text):
    assert run(text) == []


def test_entropy():
    assert entropy("aaaa") == 0.0
    assert entropy("abcd") == 2.0


@pytest.mark.parametrize("text", [
    PEM, f"aws {AWS_ID}", GITHUB, JWT, AZURE, 'password = "Tr0ub4dor&3"', "パスワード：Abc12345",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
])
def test_snippet_never_holds_the_value(text):
    [f, *_] = run(text)
    for secret in ("MIIEowIBAAKCAQEA7b", AWS_ID[4:], GITHUB[4:], JWT[3:20], "Eby8vdM02x", "Tr0ub4dor", "Abc12345",
                   "4eC39HqLy"):
        assert secret not in f.snippet and secret not in f.explanation
    assert "*" in f.snippet or f.snippet.endswith("[...]")
