"""E-mail: Japanese headers (ISO-2022-JP, RFC 2047, raw 8-bit), MIME bodies, attachments, .msg."""

from __future__ import annotations

import base64
from email.message import EmailMessage
from email.policy import SMTP

from himitsu.engine.extract import extract
from himitsu.engine.extract.mail import decode_header_value, looks_like_mail
from tests.engine.test_extract_fixtures import corpus_text, encodable, lzfu, msg, xlsx, zip_of, zip_with_cp932_names

SUBJECT = "【社外秘】顧客別価格表の送付"
SJIS_TEXT = encodable(corpus_text("abc.txt", chars=400))


def b_word(text: str, charset: str = "ISO-2022-JP") -> str:
    codec = {"ISO-2022-JP": "iso2022_jp", "Shift_JIS": "cp932"}.get(charset, charset)
    return f"=?{charset}?B?{base64.b64encode(text.encode(codec)).decode()}?="


def japanese_mail(attachment: bytes, attachment_name: str = "価格表.zip") -> bytes:
    """A mail as a Japanese mailer writes it: ISO-2022-JP body, RFC 2047 headers, an RFC 2231 file name."""
    body = ("山田様\r\n\r\nいつもお世話になっております。\r\n"
            "価格表を送付します。パスワードは別送します。\r\n").encode("iso2022_jp")
    name_2231 = "".join(f"%{b:02X}" for b in attachment_name.encode("utf-8"))
    return b"\r\n".join([
        f"From: {b_word('佐藤 花子')} <sato@example.co.jp>".encode(),
        f"To: {b_word('山田 太郎')} <yamada@example.jp>, bob@example.com".encode(),
        f"Cc: {b_word('経理部', 'UTF-8')} <keiri@example.co.jp>".encode(),
        f"Subject: {b_word(SUBJECT[:8])}\r\n {b_word(SUBJECT[8:])}".encode(),
        b"Date: Tue, 01 Apr 2025 09:30:00 +0900",
        b"Message-ID: <1@example.co.jp>",
        b"MIME-Version: 1.0",
        b'Content-Type: multipart/mixed; boundary="BOUNDARY"',
        b"",
        b"--BOUNDARY",
        b'Content-Type: text/plain; charset="ISO-2022-JP"',
        b"Content-Transfer-Encoding: 7bit",
        b"",
        body,
        b"--BOUNDARY",
        b"Content-Type: application/zip",
        f"Content-Disposition: attachment; filename*=UTF-8''{name_2231}".encode(),
        b"Content-Transfer-Encoding: base64",
        b"",
        base64.encodebytes(attachment),
        b"--BOUNDARY--",
        b"",
    ])


def test_eml_headers_body_and_zip_attachment_with_shift_jis_text():
    attachment = zip_with_cp932_names({"顧客別価格表.txt": SJIS_TEXT.encode("cp932")})
    result = extract(japanese_mail(attachment), "mail.eml")
    assert result.problems == []
    headers, body, member = result.parts
    assert headers.path == "#headers" and headers.format == "eml"
    assert headers.meta["subject"] == SUBJECT
    assert headers.meta["from"] == "佐藤 花子 <sato@example.co.jp>"
    assert headers.meta["to"] == "山田 太郎 <yamada@example.jp>, bob@example.com"
    assert headers.meta["cc"] == "経理部 <keiri@example.co.jp>"
    assert f"Subject: {SUBJECT}" in headers.text
    assert body.path == "" and body.meta["encoding"] == "iso-2022-jp"
    assert "パスワードは別送します。" in body.text
    assert member.path == "価格表.zip/顧客別価格表.txt"
    assert member.meta["encoding"] == "cp932" and member.text == SJIS_TEXT


def test_raw_iso2022jp_and_raw_8bit_headers():
    """Old mailers put ISO-2022-JP or Shift_JIS straight into headers, without encoded words."""
    raw = (b"From: x@example.jp\r\nSubject: " + "極秘の件".encode("iso2022_jp") + b"\r\n"
           b"To: " + "山田".encode("cp932") + b" <y@example.jp>\r\n\r\nbody\r\n")
    headers = extract(raw).parts[0]
    assert headers.meta["subject"] == "極秘の件"
    assert headers.meta["to"] == "山田 <y@example.jp>"


def test_rfc2047_in_quoted_filename_and_nec_characters():
    assert decode_header_value("=?ISO-2022-JP?B?" + base64.b64encode(b"\x1b$B-!\x1b(B").decode() + "?=") == "①"
    mail = EmailMessage(policy=SMTP)
    mail["From"] = "a@example.jp"
    mail["Subject"] = "添付"
    mail.set_content("本文")
    mail.add_attachment("中身".encode("cp932"), maintype="text", subtype="plain", filename="x.txt")
    data = mail.as_bytes().replace(b'filename="x.txt"', f'filename="{b_word("見積書.txt")}"'.encode())
    paths = [p.path for p in extract(data).parts]
    assert paths == ["#headers", "", "見積書.txt"]


def test_alternative_html_only_and_html_body():
    mail = EmailMessage()
    mail["From"] = "a@example.jp"
    mail["Subject"] = "HTMLメール"
    mail.set_content("プレーンテキスト版")
    mail.add_alternative("<html><body><p>HTML版</p></body></html>", subtype="html")
    parts = extract(mail.as_bytes()).parts
    assert [(p.path, p.text) for p in parts[1:]] == [("", "プレーンテキスト版\n")]

    html_only = EmailMessage()
    html_only["From"] = "a@example.jp"
    html_only["Subject"] = "x"
    html_only.set_content("<html><body><p>社外秘の<b>本文</b></p><script>x()</script></body></html>",
                          subtype="html", charset="shift_jis")
    body = extract(html_only.as_bytes()).parts[1]
    assert body.text == "社外秘の本文" and body.meta["content_type"] == "text/html"


def test_attached_message_and_inline_images():
    inner = EmailMessage()
    inner["From"] = "boss@example.jp"
    inner["Subject"] = "元のメール"
    inner.set_content("転送された本文")
    outer = EmailMessage()
    outer["From"] = "a@example.jp"
    outer["Subject"] = "Fwd"
    outer.set_content("転送します")
    outer.add_attachment(inner)
    outer.add_attachment(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, maintype="image", subtype="png", filename="logo.png")
    result = extract(outer.as_bytes())
    assert [p.path for p in result.parts] == ["#headers", "", "元のメール.eml#headers", "元のメール.eml"]
    assert result.parts[3].text.strip() == "転送された本文"
    assert [(p.code, p.path, p.detail) for p in result.problems] == [("unsupported", "logo.png", "png")]


def test_encrypted_mail_is_reported():
    mail = EmailMessage()
    mail["From"] = "a@example.jp"
    mail["Subject"] = "S/MIME"
    mail.set_content(b"\x30\x80" + b"\x00" * 30, maintype="application", subtype="pkcs7-mime",
                     params={"smime-type": "enveloped-data"}, filename="smime.p7m")
    assert [(p.code, p.detail) for p in extract(mail.as_bytes()).problems] == [("encrypted", "smime")]


def test_mail_sniffing():
    assert looks_like_mail(b"Received: from x\r\n\tby y\r\nFrom: a@b\r\nSubject: s\r\n\r\nbody")
    assert looks_like_mail(b"From a@b Tue Apr  1 09:30:00 2025\nFrom: a@b\nDate: x\n\nbody")
    assert not looks_like_mail(b"Note: this is text\nSubject: maybe\n\nbut only one known header? no: two")
    assert not looks_like_mail("件名: テスト\n本文".encode())
    assert not looks_like_mail(b"")


def test_msg_subject_body_recipients_and_attachments():
    attachment = xlsx({"原価": [["部品", 100]]})
    attachments = [("原価.xlsx", attachment), ("memo.txt", SJIS_TEXT.encode("cp932"))]
    data = msg("【極秘】原価資料", "山田様\r\n原価資料を添付します。", attachments,
               embedded=("転送：前回の見積", "前回の見積の本文"))
    result = extract(data, "mail.msg")
    assert result.problems == []
    assert [(p.path, p.format) for p in result.parts] == [
        ("#headers", "msg"), ("", "msg"), ("原価.xlsx", "xlsx"), ("memo.txt", "text"),
        ("転送：前回の見積.msg#headers", "msg"), ("転送：前回の見積.msg", "msg")]
    headers, body = result.parts[:2]
    assert headers.meta["subject"] == "【極秘】原価資料"
    assert headers.meta["to"] == "佐藤 花子 <sato@example.jp>"
    assert body.text == "山田様\n原価資料を添付します。"
    assert result.parts[3].text == SJIS_TEXT
    assert result.parts[5].text == "前回の見積の本文"


def test_msg_attachment_zip_and_limits():
    data = msg("s", "b", [(f"a{i}.txt", b"x") for i in range(5)])
    from himitsu.engine.model import Limits

    result = extract(data, "m.msg", Limits(max_entries=3))
    assert len([p for p in result.parts if p.format == "text"]) == 3
    assert [p.code for p in result.problems] == ["limit.entries", "limit.entries"]
    nested = extract(msg("s", "b", [("z.zip", zip_of({"in.txt": b"inside"}))]))
    assert nested.parts[-1].path == "z.zip/in.txt"


# the example of the compressed-RTF specification (MS-OXRTFCP): literals, back-references into the preset dictionary
SPEC_EXAMPLE = bytes.fromhex("2d0000002b0000004c5a4675f1c5c7a703000a0072637067313235423 20af32068656c0900206277"
                             "05b06c647d0a800fa0".replace(" ", ""))


def test_msg_body_only_as_compressed_rtf():
    """Older Outlook messages keep no plain-text body, only PR_RTF_COMPRESSED: it is decompressed and read."""
    from himitsu.engine.extract.rtf import decompress

    assert decompress(SPEC_EXAMPLE, 10_000) == b"{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n"
    sjis = "社外秘：焼結炉の温度条件".encode("cp932")
    body = b"{\\rtf1\\ansi\\ansicpg932 " + b"".join(b"\\'%02x" % b for b in sjis) + b"\\par}"
    result = extract(msg("旧形式", "", rtf_compressed=lzfu(body)), "old.msg")
    part = next(p for p in result.parts if p.path == "")  # the message's body
    assert "社外秘：焼結炉の温度条件" in part.text and part.meta["content_type"] == "text/rtf"
    assert not result.problems
    spec = extract(msg("spec", "", rtf_compressed=SPEC_EXAMPLE), "spec.msg")
    assert next(p for p in spec.parts if p.path == "").text.strip() == "hello world"


def test_msg_damaged_compressed_rtf_is_reported():
    damaged = bytearray(lzfu(b"{\\rtf1 secret}"))
    damaged[20] ^= 0xFF  # the CRC no longer matches
    result = extract(msg("s", "", rtf_compressed=bytes(damaged)), "bad.msg")
    assert [p.code for p in result.problems] == ["corrupt"] and "RTF" in result.problems[0].detail
    assert any(p.path == "#headers" for p in result.parts)  # the rest of the message is still read
    huge = bytearray(lzfu(b"{\\rtf1 x}"))
    huge[4:8] = (2**31).to_bytes(4, "little")  # declares 2 GB
    result = extract(msg("s", "", rtf_compressed=bytes(huge)), "huge.msg")
    assert [p.code for p in result.problems] == ["corrupt"] and "limit" in result.problems[0].detail
