"""Pledges (誓約書) and partner NDAs: the exact text issued, who acknowledged it and when, with an HMAC record."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from himitsu.web.register.models import Secret


class Status(models.TextChoices):
    ISSUED = "issued", _("Issued")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    SIGNED_UPLOAD = "signed_upload", _("Signed paper uploaded")
    REVOKED = "revoked", _("Revoked")


class Language(models.TextChoices):
    JA = "ja", _("Japanese")
    JA_EN = "ja+en", _("Japanese and English")


class Pledge(models.Model):
    person = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("person"), on_delete=models.PROTECT,
                               related_name="pledges")
    template_code = models.CharField(_("template"), max_length=40)
    template_version = models.CharField(_("template version"), max_length=20)
    title = models.CharField(_("title"), max_length=200)
    language = models.CharField(_("language"), max_length=8, choices=Language.choices, default=Language.JA)
    text = models.TextField(_("text"))
    text_en = models.TextField(_("English text"), blank=True)
    text_sha256 = models.CharField(_("SHA-256 of the text"), max_length=64)
    secrets = models.ManyToManyField(Secret, verbose_name=_("named register entries"), blank=True,
                                     related_name="pledges")
    categories = models.JSONField(_("information categories"), default=list)
    company = models.CharField(_("company"), max_length=200)
    partner = models.CharField(_("partner"), max_length=200, blank=True)
    project = models.CharField(_("project"), max_length=200, blank=True)
    duration_years = models.PositiveSmallIntegerField(_("duration (years)"), null=True, blank=True)
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="+")
    issued_by_name = models.CharField(_("issued by"), max_length=150)
    issued_at = models.DateTimeField(_("issued at"))
    due_on = models.DateField(_("acknowledge by"))
    expires_on = models.DateField(_("expires on"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.ISSUED,
                              db_index=True)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledgement = models.JSONField(_("acknowledgement record"), default=dict, blank=True)
    acknowledgement_hash = models.CharField(_("record hash"), max_length=64, blank=True)
    signed_filename = models.CharField(_("file name"), max_length=255, blank=True)
    signed_path = models.CharField(max_length=500, blank=True)
    signed_sha256 = models.CharField(_("SHA-256 of the signed PDF"), max_length=64, blank=True)
    signed_size = models.BigIntegerField(_("size"), null=True, blank=True)
    signed_by_name = models.CharField(_("uploaded by"), max_length=150, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by_name = models.CharField(_("revoked by"), max_length=150, blank=True)
    revoke_reason = models.CharField(_("reason"), max_length=500, blank=True)

    class Meta:
        ordering = ["-issued_at", "-pk"]
        verbose_name = _("pledge")
        verbose_name_plural = _("pledges")
        indexes = [models.Index(fields=["status", "due_on"]), models.Index(fields=["status", "expires_on"])]

    def __str__(self) -> str:
        return f"P-{self.pk:06d} {self.title}" if self.pk else self.title

    @property
    def number(self) -> str:
        return f"P-{self.pk:06d}"

    @property
    def done(self) -> bool:
        return self.status in (Status.ACKNOWLEDGED, Status.SIGNED_UPLOAD)
