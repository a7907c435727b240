"""Encryption at rest of quarantined content: AES-256-GCM under the quarantine key.

The key is handled like the other keys of the installation (``himitsu.config``): HIMITSU_QUARANTINE_KEY, or
the file named by HIMITSU_QUARANTINE_KEY_FILE, or HIMITSU_HOME/keys/quarantine.key created (0600) on first use.
The 256-bit AES key is derived from that text with HKDF-SHA256. Each item is encrypted with a fresh 96-bit
nonce (stored first) and the item's associated data (its decision id), so a ciphertext moved to another row
does not decrypt. Losing or changing the key makes the held items unreadable: they can then only be rejected.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from himitsu import config
from himitsu.errors import ConfigError

NONCE_BYTES = 12


def _key() -> bytes:
    text = config._read_or_create_key("quarantine.key", "HIMITSU_QUARANTINE_KEY")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"himitsu quarantine v1").derive(text.encode("utf-8"))


def key_id() -> str:
    """A short public name of the current key (which key a ciphertext needs), not usable to decrypt."""
    return hashlib.sha256(b"key-id:" + _key()).hexdigest()[:16]


def _aad(decision_id: int) -> bytes:
    return f"himitsu-quarantine:{decision_id}".encode("ascii")


def encrypt(data: bytes, decision_id: int) -> tuple[bytes, str]:
    """(nonce + ciphertext with tag, key id)."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(_key()).encrypt(nonce, data, _aad(decision_id)), key_id()


def decrypt(blob: bytes, decision_id: int) -> bytes:
    blob = bytes(blob)
    try:
        return AESGCM(_key()).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(decision_id))
    except (InvalidTag, ValueError) as exc:
        raise ConfigError("guard.quarantine_unreadable") from exc
