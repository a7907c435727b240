"""Sending notices: one code path for the web app, the CLI and scheduled reminders.

``notify`` stores one notice per recipient (always) and e-mails it when SMTP is configured
(``himitsu.config.mail``) and the recipient has an address. A failed delivery never loses the notice:
the error is kept on it (``email_error``) and reported in the result, so an administrator can see and
fix the mail settings; nothing raises to the caller.
"""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.conf import settings
from django.core.mail import EmailMessage, mailers
from django.utils import timezone

from himitsu.web.notices.models import Notice

MAX_SUBJECT = 200


@dataclass
class Sent:
    notices: list[Notice] = field(default_factory=list)
    emailed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (username, error)


@dataclass
class SendResult:
    """The tally of a run of reminders: notices stored, e-mails sent, deliveries that failed."""

    notices: int = 0
    emailed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)

    def add(self, sent: Sent) -> None:
        self.notices += len(sent.notices)
        self.emailed += sent.emailed
        self.failed.extend(sent.failed)

    def as_dict(self) -> dict[str, Any]:
        return {"notices": self.notices, "emailed": self.emailed,
                "failed": [{"username": u, "error": e} for u, e in self.failed]}


T = TypeVar("T")


def by_department_managers(rows: Iterable[T], person: Callable[[T], Any]) -> Iterator[tuple[Any, list[Any], list[T]]]:
    """(department, its active department managers, its rows) for the departments of the rows' people, in order
    of first appearance; departments without an active manager, and people without a department, are left out."""
    from himitsu.web.accounts.models import Role, User

    by_dept: dict[int, list[T]] = {}
    for r in rows:
        if person(r).department_id:
            by_dept.setdefault(person(r).department_id, []).append(r)
    for dept_id, dept_rows in by_dept.items():
        managers = list(User.objects.filter(is_active=True, role=Role.DEPT_MANAGER, department_id=dept_id))
        if managers:
            yield person(dept_rows[0]).department, managers, dept_rows


def mail_enabled() -> bool:
    return getattr(settings, "MAIL", None) is not None


def notify(recipients: Iterable[Any], kind: str, subject: str, body: str, link: str = "") -> Sent:
    """Store a notice for each active recipient and e-mail it where possible. ``subject`` and ``body``
    are final text (callers put Japanese first, then English)."""
    result = Sent()
    people = [r for r in recipients if getattr(r, "is_active", False)]
    for person in people:
        result.notices.append(Notice.objects.create(recipient=person, kind=kind, subject=subject[:MAX_SUBJECT],
                                                    body=body, link=link))
    if not mail_enabled():
        return result
    try:
        connection = mailers.default
        connection.open()
    except (OSError, smtplib.SMTPException) as exc:
        error = _describe(exc)
        for notice in result.notices:
            if notice.recipient.email:
                _failed(result, notice, error)
        return result
    try:
        for notice in result.notices:
            address = notice.recipient.email
            if not address:
                continue
            text = body + (f"\n\n{settings.HIMITSU_BASE_URL.rstrip('/')}{link}" if link else "")
            message = EmailMessage(subject=subject[:MAX_SUBJECT], body=text, to=[address])
            try:
                connection.send_messages([message])
            except (OSError, smtplib.SMTPException) as exc:
                _failed(result, notice, _describe(exc))
                continue
            notice.emailed_at = timezone.now()
            notice.save(update_fields=["emailed_at"])
            result.emailed += 1
    finally:
        try:
            connection.close()
        except (OSError, smtplib.SMTPException):
            pass
    return result


def _failed(result: Sent, notice: Notice, error: str) -> None:
    notice.email_error = error[:300]
    notice.save(update_fields=["email_error"])
    result.failed.append((notice.recipient.get_username(), error))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "recipient refused"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return "authentication failed"
    if isinstance(exc, ConnectionRefusedError | socket.timeout | TimeoutError):
        return f"server unreachable ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}"[:300]


def unread_count(user: Any) -> int:
    if not getattr(user, "is_authenticated", False):
        return 0
    return Notice.objects.filter(recipient=user, read_at__isnull=True).count()
