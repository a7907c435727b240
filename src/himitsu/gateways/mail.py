"""An SMTP relay that checks every outgoing message before it goes on to the next hop.

Mail clients or the organisation's mail server send outgoing mail to the relay (a smart host); only clients
inside ``MailConfig.trusted`` may use it (no open relay). After DATA the whole message is checked as one
:class:`~himitsu.gateways.base.Outbound` (channel ``mail``) and the relay answers only once it has acted:

* ``allow`` / ``warn``: delivered to the next hop unchanged; ``250`` only after the next hop accepted it
  (next hop down or ``4xx``: ``451`` so the client tries again and nothing is lost; ``5xx``: ``554`` with its
  reason). ``warn`` also sends the sender a notice (the message itself is never changed);
* ``hold``: :meth:`Guard.hold <himitsu.gateways.base.Guard.hold>` keeps it first, then ``250`` naming the
  quarantine id, and a notice to the sender;
* ``block`` (and ``redact``, which the policy turns into ``block`` for mail): ``550 5.7.1`` with the reasons
  in English (SMTP replies are ASCII) and the record id, and a notice to the sender.

Notices are plain-text mails from ``MailConfig.notify_from`` to the envelope sender, Japanese first and then
English: what happened, the reasons, the record or quarantine id; never the content, the subject or the
matched values. A notice that cannot be sent is logged; it never changes the answer to the client.
"""

from __future__ import annotations

import asyncio
import email.policy
import ipaddress
import logging
import re
import socket
import ssl
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import formatdate, make_msgid
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from himitsu.gateways.base import Guard, Identity, Outbound, Verdict
from himitsu.gateways.pool import CheckPool
from himitsu.gateways.smtp_out import DeliveryError, NextHop, deliver
from himitsu.gateways.threads import InThread

__all__ = ["MailConfig", "MailRelay", "build_notice", "valid_address"]

log = logging.getLogger("himitsu.gateways.mail")

#: an envelope address the relay accepts: a plain dot-atom local part and a host name (no quoting, no
#: spaces or control characters, nothing that could end a header line)
_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")
_MESSAGE_ID = re.compile(r"<[!-;=?-~]{1,250}>")
MAX_RECIPIENTS = 1000


def valid_address(address: str) -> bool:
    return len(address) <= 254 and _ADDRESS.fullmatch(address) is not None


@dataclass(frozen=True)
class MailConfig:
    """Settings of the relay. ``tls_cert`` / ``tls_key``: PEM files for STARTTLS (optional);
    ``require_starttls`` refuses MAIL before STARTTLS. ``trusted``: the client networks that may relay."""

    next_hop: NextHop
    notify_from: str
    host: str = "127.0.0.1"
    port: int = 10025
    hostname: str = ""
    tls_cert: str | None = None
    tls_key: str | None = None
    require_starttls: bool = False
    max_size: int = 25 * 1024 * 1024
    trusted: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    #: send notices to the sender (warn, hold, block)
    notify: bool = True
    #: seconds an idle SMTP session is kept
    timeout: float = 300.0
    #: seconds ``stop`` waits for messages being processed and notices being sent
    grace: float = 30.0
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not valid_address(self.notify_from):
            raise ValueError(f"notify_from is not a plain e-mail address: {self.notify_from!r}")
        if self.require_starttls and not self.tls_cert:
            raise ValueError("require_starttls needs tls_cert and tls_key")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("tls_cert and tls_key go together")
        if self.max_size <= 0:
            raise ValueError("max_size must be positive")
        try:
            networks = tuple(ipaddress.ip_network(n, strict=False) for n in self.trusted)
        except ValueError as exc:
            raise ValueError(f"trusted: {exc}") from exc
        object.__setattr__(self, "trusted", tuple(self.trusted))
        object.__setattr__(self, "networks", networks)

    def is_trusted(self, peer: Any) -> bool:
        host = peer[0] if isinstance(peer, tuple | list) and peer else peer
        try:
            address = ipaddress.ip_address(str(host).split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)


# -- notices ----------------------------------------------------------------------------------------

_SUBJECTS = {
    "block": ("【Himitsu】メールの送信を止めました", "Your e-mail was not sent"),
    "hold": ("【Himitsu】メールは確認待ちです", "Your e-mail is held for review"),
    "warn": ("【Himitsu】送信したメールについての注意", "A note about the e-mail you sent"),
}


def build_notice(config: MailConfig, to: str, verdict: Verdict, recipients: Sequence[str], message_id: str = "",
                 quarantine: str = "", action: str | None = None) -> bytes:
    """The notice to the sender ``to`` about ``verdict`` (Japanese, then English); never any content."""
    action = action or verdict.action
    if action == "redact":
        action = "block"
    subject_ja, subject_en = _SUBJECTS[action]
    rcpts = ", ".join(r for r in recipients if valid_address(r)) or "-"
    mid = message_id if _MESSAGE_ID.fullmatch(message_id or "") else ""
    what = f"宛先: {rcpts}" + (f"／Message-ID: {mid}" if mid else "")
    what_en = f"to: {rcpts}" + (f"; Message-ID: {mid}" if mid else "")
    ja = ["このメールは Himitsu（営業秘密の送信ガード）からの自動通知です。", ""]
    en = ["This is an automatic notice from Himitsu (the trade-secret outbound guard).", ""]
    if action == "block":
        ja.append(f"あなたが送信したメール（{what}）は送信されませんでした。")
        en.append(f"The e-mail you sent ({what_en}) was not sent.")
    elif action == "hold":
        ja.append(f"あなたが送信したメール（{what}）は、管理者の確認が終わるまで保留されています。"
                  "承認されると送信され、却下されると送信されません。")
        en.append(f"The e-mail you sent ({what_en}) is held until a reviewer has checked it. "
                  "It is sent if approved and not sent if rejected.")
    else:
        ja.append(f"あなたが送信したメール（{what}）は送信されましたが、次の点に注意してください。")
        en.append(f"The e-mail you sent ({what_en}) was sent, but please note the following.")
    ja += ["", "理由:"] + [f"・{m}" for m in verdict.decision.messages("ja")]
    en += ["", "Reasons:"] + [f"- {m}" for m in verdict.decision.messages("en")]
    ja.append("")
    en.append("")
    if verdict.record:
        ja.append(f"記録番号: {verdict.record}")
        en.append(f"Record: {verdict.record}")
    if quarantine:
        ja.append(f"隔離番号: {quarantine}")
        en.append(f"Quarantine: {quarantine}")
    ja += ["", "心当たりがない場合や送信が必要な場合は、営業秘密管理責任者に問い合わせてください。"]
    en += ["", "If this is unexpected or the e-mail must be sent, contact your trade-secret manager."]
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = config.notify_from
    msg["To"] = to
    msg["Subject"] = f"{subject_ja} / {subject_en}"
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid("himitsu", domain=config.notify_from.rsplit("@", 1)[1])
    if mid:
        msg["In-Reply-To"] = mid
        msg["References"] = mid
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Himitsu-Decision"] = action
    msg.set_content("\n".join(ja) + "\n\n" + "-" * 40 + "\n\n" + "\n".join(en) + "\n", charset="utf-8")
    return msg.as_bytes()


def _ascii(text: str, limit: int = 380) -> str:
    """Text fit for an SMTP reply line: printable ASCII, one line, not too long."""
    text = "".join(ch if " " <= ch <= "~" else ("?" if not ch.isspace() else " ") for ch in text)
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


_HEADER_END = re.compile(rb"\r?\n\r?\n")


def _headers(data: bytes) -> tuple[str, int, str]:
    """(Message-ID, length of the decoded subject, Auto-Submitted) of a message; never fails."""
    try:
        end = _HEADER_END.search(data)  # the parser would still read every line of the body
        headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(data[: end.end()] if end else data)
        mid = str(headers.get("Message-ID", "") or "").strip()
        auto = str(headers.get("Auto-Submitted", "") or "").strip().lower()
        raw_subject = headers.get("Subject")
        try:
            subject = str(make_header(decode_header(str(raw_subject)))) if raw_subject is not None else ""
        except Exception:
            subject = str(raw_subject)
        return (mid if _MESSAGE_ID.fullmatch(mid) else ""), len(subject), auto
    except Exception:  # a message so broken its headers cannot be read still gets a decision
        return "", 0, ""


# -- the SMTP side ----------------------------------------------------------------------------------


class _GuardedSMTP(SMTP):
    """aiosmtpd's SMTP that refuses clients outside the trusted networks before the greeting."""

    def __init__(self, handler: Any, relay: MailRelay, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._relay = relay

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._relay._connections.add(self)

    async def _handle_client(self) -> None:
        assert self.session is not None
        if not self._relay.config.is_trusted(self.session.peer):
            log.warning("refused untrusted client %r", self.session.peer)
            await self.push("554 5.7.1 Relay access denied: this relay serves the organisation's network only")
            if self.transport is not None:
                self.transport.close()
            return
        await super()._handle_client()


class _Handler:
    def __init__(self, relay: MailRelay) -> None:
        self.relay = relay

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,  # noqa: N802
                          mail_options: list[str]) -> str:
        if not self.relay.config.is_trusted(session.peer):
            return "554 5.7.1 Relay access denied"
        if not valid_address(address):
            return "553 5.1.7 Sender address refused: not a plain e-mail address"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        if not self.relay.config.is_trusted(session.peer):
            return "554 5.7.1 Relay access denied"
        if not valid_address(address):
            return "553 5.1.3 Recipient address refused: not a plain e-mail address"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        task = asyncio.current_task()
        if task is not None:
            self.relay._busy.add(task)
        try:
            return await self.relay._process(session, envelope)
        finally:
            if task is not None:
                self.relay._busy.discard(task)


class MailRelay(InThread):
    """The relay: ``await start_async()`` / ``await stop_async()`` in a running loop (with the AI gateway,
    see :mod:`himitsu.gateways.serve`), or ``start()`` / ``stop()`` in a thread of its own (tests, a CLI)."""

    thread_name = "himitsu-mail"

    def __init__(self, guard: Guard, config: MailConfig, pool: CheckPool | None = None) -> None:
        self.guard, self.config, self.pool = guard, config, pool
        self.port = config.port
        self._server: asyncio.Server | None = None
        self._connections: weakref.WeakSet[_GuardedSMTP] = weakref.WeakSet()
        self._busy: set[asyncio.Task[Any]] = set()
        self._notices: set[asyncio.Task[Any]] = set()
        self._tls: ssl.SSLContext | None = None
        if config.tls_cert:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(config.tls_cert, config.tls_key)
            self._tls = context

    # -- life cycle --

    async def start_async(self) -> None:
        loop = asyncio.get_running_loop()
        handler = _Handler(self)
        hostname = self.config.hostname or socket.getfqdn()

        def factory() -> _GuardedSMTP:
            return _GuardedSMTP(handler, self, data_size_limit=self.config.max_size, enable_SMTPUTF8=False,
                                decode_data=False, hostname=hostname, ident="Himitsu ESMTP relay",
                                tls_context=self._tls, require_starttls=self.config.require_starttls,
                                timeout=self.config.timeout, loop=loop)

        self._server = await loop.create_server(factory, self.config.host, self.config.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("mail relay listening on %s:%s, next hop %s:%s", self.config.host, self.port,
                 self.config.next_hop.host, self.config.next_hop.port)

    async def stop_async(self) -> None:
        """Stop accepting, let messages being processed finish (up to ``grace``), close the sessions, and wait
        for the notices being sent."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        if self._busy:
            await asyncio.wait(set(self._busy), timeout=self.config.grace)
        for protocol in list(self._connections):
            if protocol.transport is not None:
                protocol.transport.close()
        if self._notices:
            await asyncio.wait(set(self._notices), timeout=self.config.grace)
        try:
            await asyncio.wait_for(server.wait_closed(), timeout=self.config.grace)
        except TimeoutError:
            log.warning("mail relay: sessions still open at shutdown")


    # -- one message --

    async def _process(self, session: Session, envelope: Envelope) -> str:
        loop = asyncio.get_running_loop()
        data = envelope.original_content or b""
        mail_from = envelope.mail_from or ""
        rcpts = list(envelope.rcpt_tos)
        message_id, subject_chars, auto = _headers(data)
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        meta = {"message_id": message_id, "subject_chars": subject_chars, "mail_from": mail_from,
                "sender_domain": mail_from.rsplit("@", 1)[-1].lower(), "client": peer, "bytes": len(data),
                "recipients": len(rcpts), "tls": session.ssl is not None}
        try:
            identity = await loop.run_in_executor(None, self.guard.identify, mail_from, "mail")
            item = Outbound(channel="mail", data=data, name="message.eml", identity=identity or Identity(),
                            destinations=tuple(rcpts), meta=meta)
            if self.pool is not None:
                verdict = await self.pool.check(item)
            else:
                verdict = await loop.run_in_executor(None, self.guard.check, item)
        except Exception:
            log.exception("mail check failed (from %s)", mail_from)
            return "451 4.3.0 The message could not be checked; please try again later"
        action, record = verdict.action, verdict.record
        log.info("mail %s from=%s rcpts=%d record=%s", action, mail_from, len(rcpts), record)
        notify = self.config.notify and mail_from.lower() != self.config.notify_from.lower() and auto in ("", "no")
        if action in ("allow", "warn"):
            try:
                await loop.run_in_executor(None, deliver, self.config.next_hop, mail_from, rcpts, data)
            except DeliveryError as exc:
                log.warning("next hop did not take record %s: %s", record, exc.reason)
                if exc.temporary:
                    return "451 4.4.1 The next mail server is not available; please try again later"
                return _ascii(f"554 5.0.0 The next mail server refused the message: {exc.reason}")
            if action == "warn" and notify:
                self._notify(mail_from, verdict, rcpts, message_id)
            return f"250 2.0.0 OK: relayed (record {_ascii(record, 40) or '-'})"
        if action == "hold":
            try:
                quarantine = await loop.run_in_executor(None, self.guard.hold, item, verdict)
            except Exception:
                log.exception("could not hold record %s", record)
                return "451 4.3.0 The message could not be kept for review; please try again later"
            if notify:
                self._notify(mail_from, verdict, rcpts, message_id, quarantine)
            return _ascii(f"250 2.0.0 Held for review: quarantine {quarantine} (record {record or '-'})")
        if notify:
            self._notify(mail_from, verdict, rcpts, message_id, action="block")
        reasons = " ".join(verdict.decision.messages("en")) or "the policy does not allow it."
        return _ascii(f"550 5.7.1 Refused by the organisation's policy (record {record or '-'}): {reasons}")

    def _notify(self, to: str, verdict: Verdict, rcpts: list[str], message_id: str, quarantine: str = "",
                action: str | None = None) -> None:
        task = asyncio.get_running_loop().create_task(
            self._send_notice(to, verdict, rcpts, message_id, quarantine, action))
        self._notices.add(task)
        task.add_done_callback(self._notices.discard)

    async def _send_notice(self, to: str, verdict: Verdict, rcpts: list[str], message_id: str, quarantine: str,
                           action: str | None) -> None:
        try:
            notice = build_notice(self.config, to, verdict, rcpts, message_id, quarantine, action)
            await asyncio.get_running_loop().run_in_executor(
                None, deliver, self.config.next_hop, self.config.notify_from, [to], notice)
        except Exception as exc:  # a notice is a courtesy: never fatal
            log.warning("notice to %s (record %s) not sent: %s", to, verdict.record, exc)
