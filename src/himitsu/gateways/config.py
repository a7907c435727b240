"""The gateways' settings from the environment (``himitsu guard serve``): secrets from variables or files, never
from the command line.

AI gateway (on when ``HIMITSU_AI_UPSTREAM`` is set):

| variable | meaning | default |
|---|---|---|
| ``HIMITSU_AI_UPSTREAM`` | the provider's OpenAI-compatible base URL (``.../v1``) | – |
| ``HIMITSU_AI_UPSTREAM_KEY`` or ``HIMITSU_AI_UPSTREAM_KEY_FILE`` | the provider's API key | none |
| ``HIMITSU_AI_HOST`` / ``HIMITSU_AI_PORT`` | where the gateway listens | 127.0.0.1 / 8400 |
| ``HIMITSU_AI_MODELS`` | the model ids offered (comma-separated); unset: the provider's list | – |
| ``HIMITSU_AI_REFUSAL`` | ``message`` (an assistant answer) or ``error`` (HTTP 403) | message |
| ``HIMITSU_AI_MAX_BYTES`` / ``HIMITSU_AI_TIMEOUT`` | request body limit / seconds for the provider | 4 MiB / 300 |

Mail relay (on when ``HIMITSU_MAIL_NEXT_HOP`` is set):

| variable | meaning | default |
|---|---|---|
| ``HIMITSU_MAIL_NEXT_HOP`` | ``host:port`` of the server mail goes on to | – |
| ``HIMITSU_MAIL_NEXT_HOP_STARTTLS`` | ``required``, ``opportunistic`` or ``off`` | opportunistic |
| ``HIMITSU_MAIL_NEXT_HOP_USERNAME``, ``..._PASSWORD`` or ``..._PASSWORD_FILE`` | SMTP AUTH at the next hop | none |
| ``HIMITSU_MAIL_HOST`` / ``HIMITSU_MAIL_PORT`` | where the relay listens | 127.0.0.1 / 10025 |
| ``HIMITSU_MAIL_TLS_CERT`` / ``HIMITSU_MAIL_TLS_KEY`` | PEM files for STARTTLS | none |
| ``HIMITSU_MAIL_REQUIRE_STARTTLS`` | ``1``: no MAIL before STARTTLS | 0 |
| ``HIMITSU_MAIL_NOTIFY_FROM`` | sender of the notices to senders | himitsu@localhost |
| ``HIMITSU_MAIL_MAX_BYTES`` | message size limit | 25 MiB |
| ``HIMITSU_MAIL_TRUSTED`` | client networks that may relay (comma-separated) | 127.0.0.0/8, ::1/128 |

A value that cannot be used raises :class:`ConfigError` naming the variable (``config.gateway_invalid``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from himitsu.errors import ConfigError as _ConfigError
from himitsu.gateways.ai import AiConfig
from himitsu.gateways.mail import MailConfig
from himitsu.gateways.smtp_out import NextHop

__all__ = ["ConfigError", "ai_config", "mail_config", "next_hop"]


class ConfigError(_ConfigError):
    """A gateway setting that cannot be used (exit code 2 in the CLI, like every configuration error)."""

    def __init__(self, setting: str, value: str) -> None:
        super().__init__("config.gateway_invalid", setting=setting, value=value)


def _secret(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    path = env.get(f"{name}_FILE", "")
    if not value and path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE", path) from exc
    return value


def _int(env: Mapping[str, str], name: str, default: int, low: int = 0, high: int = 2**62) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(name, raw) from exc
    if not low <= value <= high:
        raise ConfigError(name, raw)
    return value


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    return _int(env, name, default, 0, 65535)


def ai_config(env: Mapping[str, str]) -> AiConfig | None:
    upstream = env.get("HIMITSU_AI_UPSTREAM", "").strip()
    if not upstream:
        return None
    if not upstream.startswith(("http://", "https://")):
        raise ConfigError("HIMITSU_AI_UPSTREAM", upstream)
    refusal = env.get("HIMITSU_AI_REFUSAL", "message").strip() or "message"
    if refusal not in ("message", "error"):
        raise ConfigError("HIMITSU_AI_REFUSAL", refusal)
    models = [m.strip() for m in env.get("HIMITSU_AI_MODELS", "").split(",") if m.strip()]
    try:
        return AiConfig(upstream=upstream, upstream_key=_secret(env, "HIMITSU_AI_UPSTREAM_KEY"),
                        host=env.get("HIMITSU_AI_HOST", "127.0.0.1") or "127.0.0.1",
                        port=_port(env, "HIMITSU_AI_PORT", 8400),
                        max_body=_int(env, "HIMITSU_AI_MAX_BYTES", 4 * 1024 * 1024, 1),
                        timeout=float(_int(env, "HIMITSU_AI_TIMEOUT", 300, 1)), models=models or None,
                        refusal=refusal)
    except ValueError as exc:
        raise ConfigError("HIMITSU_AI_UPSTREAM", upstream) from exc


def next_hop(env: Mapping[str, str]) -> NextHop | None:
    raw = env.get("HIMITSU_MAIL_NEXT_HOP", "").strip()
    if not raw:
        return None
    host, _, port = raw.rpartition(":") if ":" in raw else (raw, "", "25")
    host = host.strip("[]")
    try:
        number = int(port)
    except ValueError as exc:
        raise ConfigError("HIMITSU_MAIL_NEXT_HOP", raw) from exc
    if not host or not 0 < number < 65536:
        raise ConfigError("HIMITSU_MAIL_NEXT_HOP", raw)
    starttls = env.get("HIMITSU_MAIL_NEXT_HOP_STARTTLS", "opportunistic").strip() or "opportunistic"
    if starttls not in ("required", "opportunistic", "off"):
        raise ConfigError("HIMITSU_MAIL_NEXT_HOP_STARTTLS", starttls)
    return NextHop(host, number, starttls=starttls, username=env.get("HIMITSU_MAIL_NEXT_HOP_USERNAME") or None,
                   password=_secret(env, "HIMITSU_MAIL_NEXT_HOP_PASSWORD") or None)


def mail_config(env: Mapping[str, str]) -> MailConfig | None:
    hop = next_hop(env)
    if hop is None:
        return None
    trusted = tuple(n.strip() for n in env.get("HIMITSU_MAIL_TRUSTED", "").split(",") if n.strip())
    require = env.get("HIMITSU_MAIL_REQUIRE_STARTTLS", "0").strip().lower()
    if require not in ("0", "1", "true", "false", "yes", "no", ""):
        raise ConfigError("HIMITSU_MAIL_REQUIRE_STARTTLS", require)
    try:
        return MailConfig(next_hop=hop, notify_from=env.get("HIMITSU_MAIL_NOTIFY_FROM", "himitsu@localhost"),
                          host=env.get("HIMITSU_MAIL_HOST", "127.0.0.1") or "127.0.0.1",
                          port=_port(env, "HIMITSU_MAIL_PORT", 10025),
                          tls_cert=env.get("HIMITSU_MAIL_TLS_CERT") or None,
                          tls_key=env.get("HIMITSU_MAIL_TLS_KEY") or None,
                          require_starttls=require in ("1", "true", "yes"),
                          max_size=_int(env, "HIMITSU_MAIL_MAX_BYTES", 25 * 1024 * 1024, 1),
                          **({"trusted": trusted} if trusted else {}))
    except ValueError as exc:  # notify_from, TLS files that go together, networks
        raise ConfigError("HIMITSU_MAIL_*", str(exc)) from exc
