"""Installation configuration: where data lives, which database, which keys.

Pure module (no Django import) so the CLI can resolve paths before Django starts.
Secrets come from the environment or from files, never from the command line.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from himitsu.errors import ConfigError

DEFAULT_HOME = Path.home() / ".himitsu"

# Folders this process has made sure of and key files it has read ((path, mtime, size) -> key): the check API and
# the audit trail ask for them on every request, and a mkdir, or an open and read, each time showed in profiles.
_made: set[str] = set()
_keys: dict[tuple[str, int, int], str] = {}


def home() -> Path:
    """The folder holding the embedded database, keys and indexes (created if missing)."""
    raw = os.environ.get("HIMITSU_HOME")
    path = Path(raw).expanduser() if raw else DEFAULT_HOME
    if str(path) in _made:
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
        (path / "keys").mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise ConfigError("config.home_unwritable", path=str(path), reason=exc.strerror or str(exc)) from exc
    _made.add(str(path))
    return path


def _read_or_create_key(name: str, env: str) -> str:
    direct = os.environ.get(env)
    if direct:
        return direct
    file_env = os.environ.get(f"{env}_FILE")
    if file_env:
        try:
            return Path(file_env).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError("config.key_unreadable", path=file_env, reason=exc.strerror or str(exc)) from exc
    path = home() / "keys" / name
    try:
        stat = path.stat()
    except FileNotFoundError:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the keys folder was removed meanwhile
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(secrets.token_urlsafe(48))
        stat = path.stat()
    seen = (str(path), stat.st_mtime_ns, stat.st_size)
    key = _keys.get(seen)
    if key is None:
        key = path.read_text(encoding="utf-8").strip()
        if key:
            _keys[seen] = key
    return key


def secret_key() -> str:
    """Django's signing key: HIMITSU_SECRET_KEY, HIMITSU_SECRET_KEY_FILE, or a generated file."""
    return _read_or_create_key("django-secret.key", "HIMITSU_SECRET_KEY")


def audit_key() -> bytes:
    """HMAC key of the audit chain: HIMITSU_AUDIT_KEY, HIMITSU_AUDIT_KEY_FILE, or a generated file."""
    return _read_or_create_key("audit-chain.key", "HIMITSU_AUDIT_KEY").encode("utf-8")


def fingerprint_key() -> bytes:
    """Key of the fingerprint hashes: HIMITSU_FINGERPRINT_KEY, HIMITSU_FINGERPRINT_KEY_FILE, or a generated
    file. Changing it makes every stored fingerprint unusable (documents must be registered again)."""
    return _read_or_create_key("fingerprint.key", "HIMITSU_FINGERPRINT_KEY").encode("utf-8")


def company_name() -> str:
    """The organisation's name as pledges state it (HIMITSU_COMPANY_NAME); empty when not set."""
    return " ".join(os.environ.get("HIMITSU_COMPANY_NAME", "").split())[:200]


def index_dir() -> Path:
    """Where the fingerprint index lives: HIMITSU_INDEX_DIR, else HIMITSU_HOME/index."""
    raw = os.environ.get("HIMITSU_INDEX_DIR")
    path = Path(raw).expanduser() if raw else home() / "index"
    if str(path) not in _made:
        path.mkdir(parents=True, exist_ok=True)
        _made.add(str(path))
    return path


@dataclass(frozen=True)
class Database:
    engine: str
    name: str
    user: str = ""
    password: str = ""
    host: str = ""
    port: str = ""

    @property
    def is_sqlite(self) -> bool:
        return self.engine == "sqlite"


def database() -> Database:
    """HIMITSU_DATABASE_URL (postgresql://… or sqlite:///path), else SQLite in HIMITSU_HOME."""
    url = os.environ.get("HIMITSU_DATABASE_URL", "").strip()
    if not url:
        return Database(engine="sqlite", name=str(home() / "himitsu.sqlite3"))
    return parse_database_url(url)


def parse_database_url(url: str) -> Database:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in {"postgres", "postgresql", "pgsql"}:
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ConfigError("config.database_url_invalid", url=_redact(url))
        return Database(
            engine="postgresql",
            name=name,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            host=parts.hostname or "",
            port=str(parts.port or ""),
        )
    if scheme == "sqlite":
        path = unquote(parts.path)
        if not path:
            raise ConfigError("config.database_url_invalid", url=_redact(url))
        return Database(engine="sqlite", name=path)
    raise ConfigError("config.database_url_invalid", url=_redact(url))


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


@dataclass(frozen=True)
class Mail:
    """Outgoing e-mail (SMTP): HIMITSU_SMTP_HOST (unset: no e-mail, in-app notices only), HIMITSU_SMTP_PORT
    (default 587 with STARTTLS, 465 with SSL, 25 without), HIMITSU_SMTP_SECURITY (starttls | ssl | none),
    HIMITSU_SMTP_USER, HIMITSU_SMTP_PASSWORD or HIMITSU_SMTP_PASSWORD_FILE, HIMITSU_MAIL_FROM."""

    host: str
    port: int
    security: str
    user: str
    password: str
    sender: str


_SMTP_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


def mail() -> Mail | None:
    host = os.environ.get("HIMITSU_SMTP_HOST", "").strip()
    if not host:
        return None
    security = os.environ.get("HIMITSU_SMTP_SECURITY", "starttls").strip().lower()
    if security not in _SMTP_PORTS:
        raise ConfigError("config.smtp_invalid", setting="HIMITSU_SMTP_SECURITY", value=security)
    raw_port = os.environ.get("HIMITSU_SMTP_PORT", "").strip()
    try:
        port = int(raw_port) if raw_port else _SMTP_PORTS[security]
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise ConfigError("config.smtp_invalid", setting="HIMITSU_SMTP_PORT", value=raw_port)
    password = os.environ.get("HIMITSU_SMTP_PASSWORD", "")
    password_file = os.environ.get("HIMITSU_SMTP_PASSWORD_FILE")
    if not password and password_file:
        try:
            password = Path(password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError("config.key_unreadable", path=password_file, reason=exc.strerror or str(exc)) from exc
    sender = os.environ.get("HIMITSU_MAIL_FROM", "").strip() or f"himitsu@{host}"
    return Mail(host=host, port=port, security=security, user=os.environ.get("HIMITSU_SMTP_USER", ""),
                password=password, sender=sender)
