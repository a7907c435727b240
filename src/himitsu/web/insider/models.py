"""What the insider-risk pages show, copied out of the analytics store when a day is scored or a file ingested.

Pages never open the DuckDB file (an ingest may hold it): ``services.score`` writes the day's ranked alerts here
(the top ones with the person's 60-day timeline) and ``services.ingest`` one row per file it was given.
Log user ids are kept (a reveal needs them) but pages show the pseudonym unless the viewer revealed the identity.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ScoredDay(models.Model):
    """One run of ``services.score`` for a day (the latest run replaces the day's alerts)."""

    day = models.DateField(_("day"), unique=True)
    scored_at = models.DateTimeField(_("scored at"))
    scored_by_name = models.CharField(_("scored by"), max_length=150)
    users = models.PositiveIntegerField(_("people scored"), default=0)
    unknown_users = models.PositiveIntegerField(_("people not in Himitsu"), default=0)
    secret_paths = models.PositiveIntegerField(_("register locations used"), default=0)

    class Meta:
        ordering = ["-day"]
        verbose_name = _("scored day")
        verbose_name_plural = _("scored days")

    def __str__(self) -> str:
        return self.day.isoformat()


class InsiderAlert(models.Model):
    """A person on a scored day, ranked (1 = most worth a look), with the indicators that moved."""

    scored = models.ForeignKey(ScoredDay, on_delete=models.CASCADE, related_name="alerts")
    day = models.DateField(_("day"), db_index=True)
    log_user = models.CharField(_("log user id"), max_length=200)
    pseudonym = models.CharField(_("pseudonym"), max_length=20, db_index=True)
    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="+")
    department = models.CharField(_("department"), max_length=100, blank=True)
    score = models.FloatField(_("score"))
    rank = models.PositiveIntegerField(_("rank"))
    days_to_leave = models.IntegerField(_("days to leave date"), null=True, blank=True)
    hr_weight = models.FloatField(default=1.0)
    indicators = models.JSONField(default=list)   # [{name, value, own_baseline, peer_baseline, own_z, ...}]
    timeline = models.JSONField(default=list)     # [{day, score, features}] for the top alerts, else []
    secret_ids = models.JSONField(default=list)   # register entries whose locations the person touched

    class Meta:
        ordering = ["day", "rank"]
        constraints = [models.UniqueConstraint(fields=["day", "log_user"], name="insider_alert_day_user")]
        verbose_name = _("insider-risk alert")
        verbose_name_plural = _("insider-risk alerts")

    def __str__(self) -> str:
        return f"{self.day} #{self.rank} {self.pseudonym}"


class AnalystBudget(models.Model):
    """How many people an analyst looks at a day (the list's N)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    budget = models.PositiveSmallIntegerField(_("daily budget"), default=5)


class Reveal(models.Model):
    """An analyst saw who is behind a pseudonym (also in the audit trail). The identity stays shown to that
    analyst only."""

    analyst = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    log_user = models.CharField(_("log user id"), max_length=200)
    pseudonym = models.CharField(_("pseudonym"), max_length=20)
    reason = models.CharField(_("reason"), max_length=500)
    at = models.DateTimeField(_("time"))

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["analyst", "log_user"])]


class IngestedFile(models.Model):
    """One file given to ``services.ingest``: its report (counts and up to 20 rejected rows), or why it failed."""

    name = models.CharField(_("file"), max_length=255)
    sha256 = models.CharField(max_length=64, blank=True)
    format = models.CharField(_("format"), max_length=100)
    kind = models.CharField(_("kind"), max_length=20, blank=True)
    rows = models.BigIntegerField(_("rows"), default=0)
    added = models.BigIntegerField(_("added"), default=0)
    duplicates = models.BigIntegerField(_("duplicates"), default=0)
    rejected = models.BigIntegerField(_("rejected"), default=0)
    skipped = models.BooleanField(_("already ingested"), default=False)
    first_ts = models.DateTimeField(null=True, blank=True)
    last_ts = models.DateTimeField(null=True, blank=True)
    samples = models.JSONField(default=list)   # [[line, code, detail], ...]
    codes = models.JSONField(default=dict)     # rejected rows per code
    error_code = models.CharField(_("error"), max_length=80, blank=True)
    error = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField(_("time"))
    by_name = models.CharField(_("by"), max_length=150)

    class Meta:
        ordering = ["-at", "-pk"]
