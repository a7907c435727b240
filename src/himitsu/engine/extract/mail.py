"""E-mail: RFC 822/MIME messages (.eml, .mht) through the standard ``email`` package, Outlook .msg
through python-oxmsg (MIT).

Yields, for a message at ``path``:

* ``TextPart(path + "#headers", "From: ...\\nTo: ...\\nSubject: ...", "eml"|"msg", meta={"subject", "from",
  "to", "cc", "date", ...})`` - headers decoded from RFC 2047 encoded words, raw ISO-2022-JP and raw
  8-bit (Shift_JIS, UTF-8) alike; ISO-2022-JP with NEC/IBM extensions (①, ㈱) decodes too;
* the body (CRLF as ``\\n``): text/plain parts, or text/html converted to text when a part has no plain alternative
  (a .msg without either: its PR_RTF_COMPRESSED body, decompressed and read as RTF; damaged → ``corrupt``), as
  ``TextPart(path, ...)`` (further body parts as ``path#body2`` ...), ``meta["content_type"]``,
  ``meta["encoding"]``;
* every attachment as a child named by its file name (RFC 2231 and RFC 2047 names decoded), attached
  messages as ``<subject>.eml``; embedded .msg messages are read in place as ``<path>/<subject>.msg``.

S/MIME-encrypted and PGP/MIME-encrypted messages give ``Problem("encrypted", path, "smime"|"pgp")``.
Limits: attachments count as entries and bytes (dispatcher); the message itself is at most ``max_bytes``.
"""

from __future__ import annotations

import email
import email.errors
import email.header
import mimetypes
import re
from collections.abc import Iterator
from email import policy
from email.message import Message
from typing import Any, ClassVar

from himitsu.engine.extract import ole, rtf
from himitsu.engine.extract.base import Child, Context, Extractor, Item, join
from himitsu.engine.extract.encoding import decode_declared, decode_iso2022jp, decode_text
from himitsu.engine.extract.html import decode_html, html_to_text
from himitsu.engine.model import Problem, TextPart

_HEADERS = ("From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Subject", "Date")
_FIELD = re.compile(rb"^[!-9;-~]+:")
_KNOWN = {b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"mime-version", b"received", b"return-path",
          b"content-type", b"reply-to", b"delivered-to", b"x-mailer", b"dkim-signature", b"sender",
          b"content-transfer-encoding", b"in-reply-to", b"references", b"x-original-to", b"thread-topic",
          b"authentication-results", b"user-agent", b"importance", b"x-priority"}
_STRONG = {b"from", b"subject", b"date", b"message-id", b"received", b"mime-version", b"return-path"}
_SIGNATURES = {"application/pkcs7-signature", "application/x-pkcs7-signature", "application/pgp-signature"}
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_ATTACH_METHOD = 0x3705
_ATTACH_EMBEDDED_MSG = 5
_PR_RTF_COMPRESSED = 0x1009  # PR_RTF_COMPRESSED: the body as compressed RTF (MS-OXRTFCP)
_RECIPIENT_TYPE = 0x0C15
_EMBEDDED_MSG_HDR_OFFSET = 24


class MailExtractor(Extractor):
    id = "mail"
    priority = 40
    extensions: ClassVar[tuple[str, ...]] = (".eml", ".msg", ".mht", ".mhtml", ".mbox")

    def sniff(self, data: bytes, name: str) -> bool:
        """An Outlook message (OLE2 with MAPI property streams) or RFC 822 headers at the start."""
        if ole.is_ole(data):
            try:
                return ole.classify(data).kind == "msg"
            except Exception:
                return False
        return looks_like_mail(data)

    def extract(self, data: bytes, name: str, path: str, ctx: Context) -> Iterator[Item]:
        if ole.is_ole(data):
            yield from _msg(data, path, ctx)
        else:
            yield from _eml(data, path)


def looks_like_mail(data: bytes) -> bool:
    """The first lines are header fields (an mbox ``From `` line allowed) including at least two known
    ones and one that only messages have (From, Subject, Date, Message-ID, Received, ...)."""
    head = data[:16_384]
    lines = head.split(b"\n")
    if lines and lines[0].startswith(b"From "):
        lines = lines[1:]
    names: set[bytes] = set()
    cut = len(head) < len(data)  # the last line of the window may be partial
    for line in lines[:-1] if cut else lines:
        line = line.rstrip(b"\r")
        if not line:
            break
        if line[:1] in (b" ", b"\t"):
            if not names:
                return False
            continue
        if not _FIELD.match(line):
            return False
        names.add(line.split(b":", 1)[0].lower())
    return len(names & _KNOWN) >= 2 and bool(names & _STRONG)


# -- RFC 822 / MIME -------------------------------------------------------------------------------


def _eml(data: bytes, path: str) -> Iterator[Item]:
    if data.startswith(b"From "):
        data = data.split(b"\n", 1)[1] if b"\n" in data else b""
    # compat32: the structure and the raw headers are all that is read here (headers are decoded below, by
    # decode_header_value); the default policy parses every header fetched into objects, several times slower
    msg = email.message_from_bytes(data, policy=policy.compat32)
    headers = mail_headers(msg)
    yield TextPart(f"{path}#headers", _header_text(headers), "eml", {k.lower(): v for k, v in headers.items()})
    bodies: list[TextPart] = []
    attachments = list(_walk(msg, path, bodies, [0]))
    yield from bodies
    yield from attachments


def mail_headers(msg: Message) -> dict[str, str]:
    """The address, subject and date headers, decoded (several occurrences joined by ", ")."""
    found: dict[str, list[str]] = {}
    wanted = {h.lower(): h for h in _HEADERS}
    for key, raw in msg.raw_items():
        label = wanted.get(key.lower())
        if label:
            found.setdefault(label, []).append(decode_header_value(str(raw)))
    return {h: ", ".join(found[h]) for h in _HEADERS if h in found}


def decode_header_value(raw: str) -> str:
    """An unfolded header value with RFC 2047 encoded words, raw ISO-2022-JP or raw 8-bit bytes decoded."""
    raw = _FOLD.sub("", raw)
    try:
        chunks = email.header.decode_header(raw)
    except (ValueError, LookupError, email.errors.HeaderParseError):
        chunks = [(raw, None)]
    out = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            out.append(_raw_text(chunk))
        elif charset:
            decoded = decode_declared(chunk, charset)
            out.append(decoded.text if decoded else chunk.decode("ascii", errors="replace"))
        else:
            out.append(_raw_text(chunk.decode("raw-unicode-escape", errors="replace")))
    return " ".join("".join(out).split())


def _raw_text(value: str) -> str:
    """A header value that was not encoded: undo surrogate escapes / ISO-2022-JP escapes if present."""
    if "\x1b" in value and value.isascii():
        return decode_iso2022jp(value.encode("ascii")) or value
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        decoded = decode_text(value.encode("utf-8", errors="surrogateescape"))
        return decoded.text if decoded else value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


def _header_text(headers: dict[str, str]) -> str:
    return "\n".join(f"{key}: {value}" for key, value in headers.items())


def _walk(part: Message, path: str, bodies: list[TextPart], counter: list[int]) -> Iterator[Item]:
    """Collect body parts into ``bodies`` and yield attachments (children) and problems."""
    ctype = part.get_content_type()
    if ctype == "message/rfc822":
        yield _attached_message(part, counter)
    elif ctype == "multipart/encrypted":
        yield Problem("encrypted", path, "pgp")
    elif part.is_multipart():
        subparts = part.get_payload()
        if ctype == "multipart/alternative":
            subparts = _preferred(subparts)
        for sub in subparts:
            yield from _walk(sub, path, bodies, counter)
    elif ctype in ("application/pkcs7-mime", "application/x-pkcs7-mime") and "signed" not in str(
            part.get_param("smime-type", "")):
        yield Problem("encrypted", path, "smime")
    elif ctype in _SIGNATURES:
        return
    elif ctype in ("text/plain", "text/html") and not _filename(part) and not _is_attachment(part):
        body = _body(part, path, len(bodies))
        if body is not None:
            bodies.append(body)
    else:
        counter[0] += 1
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            yield Child(_filename(part) or _default_name(ctype, counter[0]), payload)


def _is_attachment(part: Message) -> bool:
    return part.get_content_disposition() == "attachment"


def _preferred(alternatives: list[Any]) -> list[Any]:
    """Of multipart/alternative, the plain-text version if there is one, else the last (richest)."""
    for sub in alternatives:
        if sub.get_content_type() == "text/plain":
            return [sub]
    return alternatives[-1:]


def _body(part: Message, path: str, index: int) -> TextPart | None:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return None
    charset = part.get_content_charset()
    ctype = part.get_content_type()
    if ctype == "text/html":
        decoded = decode_html(payload, charset)
        text = html_to_text(decoded.text)[0] if decoded else ""
    else:
        decoded = decode_declared(payload, charset)
        text = decoded.text if decoded else ""
    body_path = path if index == 0 else f"{path}#body{index + 1}"
    return TextPart(body_path, text.replace("\r\n", "\n"), "eml", {"content_type": ctype,
                                             "encoding": decoded.encoding if decoded else "binary"})


def _filename(part: Message) -> str:
    try:
        name = part.get_filename()
    except (ValueError, LookupError, TypeError):
        name = None
    if not name:
        return ""
    name = decode_header_value(str(name)) if "=?" in name else _raw_text(str(name))
    return name.replace("\\", "/").rsplit("/", 1)[-1].strip()


def _default_name(ctype: str, number: int) -> str:
    return f"attachment-{number}{mimetypes.guess_extension(ctype) or '.bin'}"


def _attached_message(part: Message, counter: list[int]) -> Child:
    counter[0] += 1
    inner = part.get_payload(0) if part.is_multipart() else part.get_payload()
    subject = ""
    if isinstance(inner, Message):
        subject = mail_headers(inner).get("Subject", "")
        try:
            data = inner.as_bytes()
        except Exception:
            data = inner.as_string().encode("utf-8", errors="surrogateescape")
    else:
        data = str(inner).encode("utf-8", errors="surrogateescape")
    name = _filename(part) or f"{_safe(subject) or f'message-{counter[0]}'}.eml"
    return Child(name, data)


def _safe(text: str) -> str:
    return re.sub(r"[\\/\x00-\x1f]", "_", text).strip()[:80]


# -- Outlook .msg ---------------------------------------------------------------------------------


def _msg(data: bytes, path: str, ctx: Context) -> Iterator[Item]:
    from oxmsg import Message as OxMessage

    message = OxMessage.load(data)
    yield from _msg_items(message, path, ctx, nested=0)


def _msg_items(message: Any, path: str, ctx: Context, nested: int) -> Iterator[Item]:
    headers = _msg_headers(message)
    yield TextPart(f"{path}#headers", _header_text(headers), "msg", {k.lower(): v for k, v in headers.items()})
    body = _safe_get(lambda: message.body) or ""
    ctype = "text/plain"
    if not body.strip():
        html = _safe_get(lambda: message.html_body)
        if html:
            body, ctype = html_to_text(html)[0], "text/html"
    if not body.strip():  # older Outlook keeps only the compressed RTF
        compressed = _safe_get(lambda: message.properties.binary_prop_value(_PR_RTF_COMPRESSED))
        if compressed:
            try:
                raw = rtf.decompress(bytes(compressed), ctx.limits.max_total_bytes)
            except rtf.CompressedRtfError as exc:
                yield Problem("corrupt", path, f"the RTF body cannot be read: {exc}")
            else:
                body = "".join(text for region, text in rtf.rtf_regions(raw) if region == "body")
                ctype = "text/rtf"
    yield TextPart(path, body.replace("\r\n", "\n"), "msg", {"content_type": ctype})
    for number, attachment in enumerate(_safe_get(lambda: message.attachments) or (), start=1):
        yield from _msg_attachment(attachment, number, path, ctx, nested)


def _msg_attachment(attachment: Any, number: int, path: str, ctx: Context, nested: int) -> Iterator[Item]:
    method = _safe_get(lambda: attachment.properties.int_prop_value(_ATTACH_METHOD))
    if method == _ATTACH_EMBEDDED_MSG:
        embedded = _embedded_message(attachment)
        if embedded is None:
            yield Problem("corrupt", path, f"embedded message {number} cannot be read")
            return
        subject = _safe_get(lambda: embedded.subject) or f"message-{number}"
        inner_path = join(path, f"{_safe(subject)}.msg")
        if nested + 1 + ctx.depth > ctx.limits.max_depth:
            yield Problem("limit.depth", inner_path, f"nested deeper than max_depth {ctx.limits.max_depth}")
        elif ctx.admit_entry(inner_path):
            for item in _msg_items(embedded, inner_path, ctx, nested + 1):
                yield _under(item, f"{_safe(subject)}.msg") if isinstance(item, Child) else item
        return
    content = _safe_get(lambda: attachment.file_bytes)
    if content:
        name = _safe_get(lambda: attachment.file_name) or _default_name(
            _safe_get(lambda: attachment.mime_type) or "", number)
        yield Child(name.replace("\\", "/").rsplit("/", 1)[-1], bytes(content))


def _under(child: Child, folder: str) -> Child:
    return Child(f"{folder}/{child.name}", child.data)


def _embedded_message(attachment: Any) -> Any:
    """The message stored inside an attachment (attach method 5), read with the embedded header size."""
    from oxmsg import Message as OxMessage
    from oxmsg.properties import Properties

    storage = next((s for s in attachment._storage.storages if s.name == "__substg1.0_3701000D"), None)
    if storage is None:
        return None

    class Embedded(OxMessage):
        @property
        def properties(self) -> Properties:
            return Properties(self._storage, properties_header_offset=_EMBEDDED_MSG_HDR_OFFSET)

    return Embedded(storage)


def _msg_headers(message: Any) -> dict[str, str]:
    transport = _safe_get(lambda: message.message_headers) or {}
    lower = {str(k).lower(): str(v) for k, v in transport.items()}
    headers: dict[str, str] = {}
    sender = _safe_get(lambda: message.sender)
    if sender:
        headers["From"] = decode_header_value(sender)
    recipients = _msg_recipients(message)
    for label in ("To", "Cc", "Bcc"):
        value = recipients.get(label) or lower.get(label.lower(), "")
        if value:
            headers[label] = decode_header_value(value)
    headers["Subject"] = _safe_get(lambda: message.subject) or decode_header_value(lower.get("subject", ""))
    sent = _safe_get(lambda: message.sent_date)
    if sent is not None:
        headers["Date"] = sent.isoformat()
    elif lower.get("date"):
        headers["Date"] = lower["date"]
    return headers


def _msg_recipients(message: Any) -> dict[str, str]:
    kinds = {1: "To", 2: "Cc", 3: "Bcc"}
    found: dict[str, list[str]] = {}
    for recipient in _safe_get(lambda: message.recipients) or ():
        kind = kinds.get(_safe_get(lambda r=recipient: r.properties.int_prop_value(_RECIPIENT_TYPE)) or 1, "To")
        name = _safe_get(lambda r=recipient: r.name) or ""
        address = _safe_get(lambda r=recipient: r.email_address) or ""
        found.setdefault(kind, []).append(f"{name} <{address}>" if name and address else name or address)
    return {kind: ", ".join(values) for kind, values in found.items()}


def _safe_get(getter: Any) -> Any:
    """A python-oxmsg property, or None when the file is inconsistent (missing stream, bad codepage)."""
    try:
        return getter()
    except Exception:
        return None
