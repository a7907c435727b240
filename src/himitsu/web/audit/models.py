"""The audit trail: append-only, hash-chained records of who did what, when and from where."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Action(models.TextChoices):
    LOGIN = "login", _("Login")
    LOGIN_FAILED = "login_failed", _("Failed login")
    LOGOUT = "logout", _("Logout")
    VIEW = "view", _("View")
    LIST = "list", _("List")
    CREATE = "create", _("Create")
    UPDATE = "update", _("Update")
    DELETE = "delete", _("Delete")
    IMPORT = "import", _("Import")
    EXPORT = "export", _("Export")
    DENIED = "denied", _("Access denied")
    VERIFY = "verify", _("Audit verification")
    GRANT = "grant", _("Access granted")
    REVOKE = "revoke", _("Access revoked")


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):  # type: ignore[override]
        raise PermissionError("audit records are append-only")

    def delete(self):  # type: ignore[override]
        raise PermissionError("audit records are append-only")


class AuditEvent(models.Model):
    seq = models.BigIntegerField(_("sequence"), unique=True)
    at = models.DateTimeField(_("time"), db_index=True)
    actor_id = models.BigIntegerField(null=True)
    actor_name = models.CharField(_("who"), max_length=150, blank=True, db_index=True)
    action = models.CharField(_("action"), max_length=20, choices=Action.choices, db_index=True)
    object_type = models.CharField(_("object type"), max_length=40, blank=True)
    object_id = models.CharField(_("object"), max_length=64, blank=True, db_index=True)
    object_repr = models.CharField(_("object name"), max_length=250, blank=True)
    channel = models.CharField(_("channel"), max_length=10, default="web")
    ip = models.CharField(_("from"), max_length=64, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-seq"]
        verbose_name = _("audit record")
        verbose_name_plural = _("audit records")

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("audit records are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("audit records are append-only")


class AuditHead(models.Model):
    """The chain's head (last sequence and hash); locked while a record is appended."""

    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)
