"""Handing mail to the next hop: the relay's clean mail, and mail released from the quarantine."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["DeliveryError", "NextHop", "deliver"]


@dataclass(frozen=True)
class NextHop:
    """The SMTP server mail goes on to. ``starttls``: "required", "opportunistic" (when offered) or "off".
    ``username``/``password`` come from the environment or a file, never the command line."""

    host: str
    port: int = 25
    starttls: str = "opportunistic"
    verify: bool = True
    cafile: str | None = None
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0


class DeliveryError(Exception):
    """The next hop did not take the message. ``temporary``: worth trying again later (4xx, no connection)."""

    def __init__(self, reason: str, temporary: bool, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.temporary, self.code = reason, temporary, code


def deliver(hop: NextHop, mail_from: str, rcpt_tos: Sequence[str], data: bytes) -> None:
    """Send ``data`` as it is (no header is changed) from ``mail_from`` to every address of ``rcpt_tos``;
    raises :class:`DeliveryError` unless every recipient was accepted."""
    try:
        with smtplib.SMTP(hop.host, hop.port, timeout=hop.timeout) as smtp:
            smtp.ehlo()
            if hop.starttls != "off" and smtp.has_extn("starttls"):
                context = ssl.create_default_context(cafile=hop.cafile)
                if not hop.verify:
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                smtp.starttls(context=context)
                smtp.ehlo()
            elif hop.starttls == "required":
                raise DeliveryError(f"{hop.host}:{hop.port} does not offer STARTTLS", temporary=True)
            if hop.username:
                smtp.login(hop.username, hop.password or "")
            refused = smtp.sendmail(mail_from, list(rcpt_tos), data)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise DeliveryError(f"every recipient refused: {_describe(exc.recipients)}",
                            temporary=all(400 <= c < 500 for c in codes), code=max(codes, default=None)) from exc
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"{exc.smtp_code} {_text(exc.smtp_error)}", temporary=400 <= exc.smtp_code < 500,
                            code=exc.smtp_code) from exc
    except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timed out, TLS failed
        raise DeliveryError(f"{type(exc).__name__}: {exc}", temporary=True) from exc
    if refused:
        codes = [code for code, _ in refused.values()]
        raise DeliveryError(f"some recipients refused: {_describe(refused)}",
                            temporary=all(400 <= c < 500 for c in codes), code=max(codes))


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _describe(refused: dict[str, tuple[int, bytes]]) -> str:
    return ", ".join(f"{rcpt} ({code} {_text(msg)})" for rcpt, (code, msg) in sorted(refused.items()))
