"""Training (教育): courses, who must take them, and completions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from himitsu.web.accounts.models import Department


class Audience(models.TextChoices):
    ALL = "all", _("Everyone")
    PERSON_TYPES = "person_types", _("Types of person")
    DEPARTMENTS = "departments", _("Departments")


class Course(models.Model):
    code = models.CharField(_("code"), max_length=40, unique=True)
    title = models.CharField(_("title"), max_length=200)
    title_en = models.CharField(_("English title"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    validity_months = models.PositiveSmallIntegerField(_("valid for (months)"), null=True, blank=True)
    new_person_days = models.PositiveSmallIntegerField(_("due within (days) of joining"), default=30)
    audience = models.CharField(_("who must take it"), max_length=20, choices=Audience.choices,
                                default=Audience.ALL)
    person_types = models.JSONField(_("types of person"), default=list, blank=True)
    departments = models.ManyToManyField(Department, verbose_name=_("departments"), blank=True,
                                         related_name="training_courses")
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("course")
        verbose_name_plural = _("courses")

    def __str__(self) -> str:
        return f"{self.code} {self.title}"

    def localized_title(self, language: str | None) -> str:
        if language and language.startswith("en") and self.title_en:
            return self.title_en
        return self.title


class Completion(models.Model):
    person = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("person"), on_delete=models.PROTECT,
                               related_name="training_completions")
    course = models.ForeignKey(Course, verbose_name=_("course"), on_delete=models.PROTECT,
                               related_name="completions")
    completed_on = models.DateField(_("completed on"))
    score = models.PositiveSmallIntegerField(_("score"), null=True, blank=True)
    note = models.CharField(_("evidence note"), max_length=500, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+")
    recorded_by_name = models.CharField(_("recorded by"), max_length=150)
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        ordering = ["-completed_on", "-pk"]
        verbose_name = _("completion")
        verbose_name_plural = _("completions")
        constraints = [models.UniqueConstraint(fields=["person", "course", "completed_on"],
                                               name="training_completion_once_a_day")]
        indexes = [models.Index(fields=["course", "person", "completed_on"])]

    def __str__(self) -> str:
        return f"{self.person} {self.course.code} {self.completed_on}"
