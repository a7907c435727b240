"""People who use Himitsu, their departments, roles and access groups."""

from __future__ import annotations

from datetime import date, timedelta

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from himitsu.errors import MESSAGES


class Role(models.TextChoices):
    SYSTEM_ADMIN = "system_admin", _("System administrator")
    SECRET_MANAGER = "secret_manager", _("Trade-secret manager")
    DEPT_MANAGER = "dept_manager", _("Department manager")
    EMPLOYEE = "employee", _("Employee")
    AUDITOR = "auditor", _("Auditor")


class PersonType(models.TextChoices):
    EMPLOYEE = "employee", _("Regular employee")
    EXECUTIVE = "executive", _("Executive")
    DISPATCHED = "dispatched", _("Dispatched worker")
    CONTRACTOR = "contractor", _("Contractor")
    PARTNER_STAFF = "partner_staff", _("Partner's employee")


# The words HR files use for each type (区分); the first is the one Himitsu writes.
PERSON_TYPE_JA: dict[str, tuple[str, ...]] = {
    PersonType.EMPLOYEE: ("正社員", "従業員"),
    PersonType.EXECUTIVE: ("役員",),
    PersonType.DISPATCHED: ("派遣社員",),
    PersonType.CONTRACTOR: ("業務委託",),
    PersonType.PARTNER_STAFF: ("取引先従業員",),
}

LEAVING_SOON_DAYS = 30  # "leaving soon": the leaving date is at most this many days ahead


class LocalizedName:
    """``name`` in Japanese, ``name_en`` in English when it is set."""

    name: str
    name_en: str

    def localized_name(self, language: str | None) -> str:
        if language and language.startswith("en") and self.name_en:
            return self.name_en
        return self.name


class Department(LocalizedName, models.Model):
    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("department")
        verbose_name_plural = _("departments")

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    display_name = models.CharField(_("display name"), max_length=100, blank=True)
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.EMPLOYEE)
    department = models.ForeignKey(
        Department, verbose_name=_("department"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="members",
    )
    person_type = models.CharField(_("type of person"), max_length=20, choices=PersonType.choices,
                                   default=PersonType.EMPLOYEE)
    # NULL when not set, so that only the numbers that are set must be unique.
    employee_number = models.CharField(_("employee number"), max_length=30, unique=True, null=True, blank=True)
    joined_on = models.DateField(_("joining date"), null=True, blank=True)
    left_on = models.DateField(_("leaving date"), null=True, blank=True)

    class Meta:
        ordering = ["username"]
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.display_name or self.username

    def clean(self) -> None:
        super().clean()
        self.employee_number = (self.employee_number or "").strip() or None
        if self.joined_on and self.left_on and self.left_on < self.joined_on:
            raise ValidationError({"left_on": ValidationError(
                _(MESSAGES["person.left_before_joined"]), code="person.left_before_joined")})

    def leaving_status(self, today: date | None = None) -> str:
        """``left`` (the leaving date has passed), ``leaving_soon`` (within 30 days) or ``active``."""
        if self.left_on is None:
            return "active"
        today = today or timezone.localdate()
        if self.left_on < today:
            return "left"
        if self.left_on <= today + timedelta(days=LEAVING_SOON_DAYS):
            return "leaving_soon"
        return "active"


class AccessGroup(models.Model):
    """A named set of people who may be granted access to register entries together."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.CharField(_("description"), max_length=300, blank=True)
    members = models.ManyToManyField(User, verbose_name=_("members"), related_name="access_groups", blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("access group")
        verbose_name_plural = _("access groups")

    def __str__(self) -> str:
        return self.name


class SideJobNotice(models.Model):
    """兼業・副業の届出: a person's notice of work for another employer or of their own business."""

    class Status(models.TextChoices):
        SUBMITTED = "submitted", _("Submitted")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    person = models.ForeignKey(User, verbose_name=_("person"), on_delete=models.CASCADE,
                               related_name="side_job_notices")
    employer = models.CharField(_("employer or business name"), max_length=200)
    description = models.TextField(_("description of the work"), blank=True)
    starts_on = models.DateField(_("start date"))
    ends_on = models.DateField(_("end date"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.SUBMITTED)
    decided_by = models.ForeignKey(User, verbose_name=_("decided by"), on_delete=models.PROTECT, null=True,
                                   blank=True, related_name="+")
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-starts_on", "-pk"]
        verbose_name = _("side-job notice")
        verbose_name_plural = _("side-job notices")

    def __str__(self) -> str:
        return f"{self.person} — {self.employer}"

    def clean(self) -> None:
        super().clean()
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValidationError({"ends_on": ValidationError(
                _(MESSAGES["person.side_job_dates"]), code="person.side_job_dates")})
