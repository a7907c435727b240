"""A real SMTP server (aiosmtpd) on 127.0.0.1 for tests that send e-mail, and the settings pointing at it."""

from __future__ import annotations

import email
import email.header
import socket
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from himitsu import config


class Sink:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append(email.message_from_bytes(envelope.content))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def use_smtp(settings, port: int) -> None:
    settings.MAIL = config.Mail(host="127.0.0.1", port=port, security="none", user="", password="",
                                sender="himitsu@example.invalid")
    # as settings.py builds it (the test runner swaps in the in-memory backend)
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": {
        "host": "127.0.0.1", "port": port, "use_tls": False, "use_ssl": False, "timeout": 5}}}
    settings.DEFAULT_FROM_EMAIL = "himitsu@example.invalid"


@pytest.fixture
def smtp(settings) -> Iterator[Sink]:
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    use_smtp(settings, port)
    try:
        yield sink
    finally:
        controller.stop()


def subject_of(message: email.message.Message) -> str:
    return str(email.header.make_header(email.header.decode_header(message["Subject"])))
