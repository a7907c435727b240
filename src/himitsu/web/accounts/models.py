"""People who use Himitsu, their departments, roles and access groups."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    SYSTEM_ADMIN = "system_admin", _("System administrator")
    SECRET_MANAGER = "secret_manager", _("Trade-secret manager")
    DEPT_MANAGER = "dept_manager", _("Department manager")
    EMPLOYEE = "employee", _("Employee")
    AUDITOR = "auditor", _("Auditor")


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

    class Meta:
        ordering = ["username"]
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.display_name or self.username


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
