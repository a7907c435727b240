"""Joining and leaving cases (入社・退職手続き) and their steps, copied from the catalogue version."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Kind(models.TextChoices):
    JOINING = "joining", _("Joining")
    LEAVING = "leaving", _("Leaving")


class CaseStatus(models.TextChoices):
    OPEN = "open", _("Open")
    COMPLETE = "complete", _("Complete")
    CANCELLED = "cancelled", _("Cancelled")


class StepStatus(models.TextChoices):
    OPEN = "open", _("Open")
    COMPLETE = "complete", _("Complete")


class Case(models.Model):
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    person = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("person"), on_delete=models.PROTECT,
                               related_name="workflow_cases")
    catalog_version = models.CharField(_("catalogue version"), max_length=20)
    other_company = models.BooleanField(_("hired from another company"), default=False)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("opened by"), on_delete=models.SET_NULL,
                                  null=True, blank=True, related_name="+")
    opened_by_name = models.CharField(_("opened by"), max_length=150)
    opened_at = models.DateTimeField(_("opened at"))
    due_on = models.DateField(_("due date"))
    status = models.CharField(_("status"), max_length=10, choices=CaseStatus.choices, default=CaseStatus.OPEN,
                              db_index=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by_name = models.CharField(_("closed by"), max_length=150, blank=True)
    cancel_reason = models.CharField(_("reason"), max_length=500, blank=True)

    class Meta:
        ordering = ["-opened_at", "-pk"]
        verbose_name = _("joining or leaving case")
        verbose_name_plural = _("joining and leaving cases")
        indexes = [models.Index(fields=["status", "due_on"])]

    def __str__(self) -> str:
        return f"{self.number} {self.get_kind_display()} {self.person}"

    @property
    def number(self) -> str:
        return f"C-{self.pk:06d}" if self.pk else "C-"


class Step(models.Model):
    case = models.ForeignKey(Case, verbose_name=_("case"), on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    code = models.CharField(_("code"), max_length=40)
    title = models.CharField(_("title"), max_length=200)
    title_en = models.CharField(_("English title"), max_length=200)
    help = models.TextField(_("help"), blank=True)
    help_en = models.TextField(_("English help"), blank=True)
    action = models.CharField(_("action"), max_length=40, blank=True)
    pledge_template = models.CharField(_("pledge template"), max_length=40, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), on_delete=models.SET_NULL,
                              null=True, blank=True, related_name="workflow_steps")
    due_on = models.DateField(_("due date"))
    status = models.CharField(_("status"), max_length=10, choices=StepStatus.choices, default=StepStatus.OPEN,
                              db_index=True)
    evidence_note = models.TextField(_("evidence note"), blank=True)
    evidence_filename = models.CharField(_("file name"), max_length=255, blank=True)
    evidence_path = models.CharField(max_length=500, blank=True)
    evidence_sha256 = models.CharField(_("SHA-256 of the file"), max_length=64, blank=True)
    evidence_size = models.BigIntegerField(_("size"), null=True, blank=True)
    pledge = models.ForeignKey("pledges.Pledge", verbose_name=_("linked pledge"), on_delete=models.SET_NULL,
                               null=True, blank=True, related_name="workflow_steps")
    completed_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("completed by"),
                                     on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    completed_by_name = models.CharField(_("completed by"), max_length=150, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    reminded_on = models.DateField(_("last reminded on"), null=True, blank=True)

    class Meta:
        ordering = ["case", "position", "pk"]
        verbose_name = _("step")
        verbose_name_plural = _("steps")
        constraints = [models.UniqueConstraint(fields=["case", "code"], name="workflow_step_unique_code")]

    def __str__(self) -> str:
        return self.title

    def title_in(self, language: str | None) -> str:
        return self.title_en if language and language.startswith("en") and self.title_en else self.title

    def help_in(self, language: str | None) -> str:
        return self.help_en if language and language.startswith("en") and self.help_en else self.help

    @property
    def done(self) -> bool:
        return self.status == StepStatus.COMPLETE
