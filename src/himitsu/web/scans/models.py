"""Scans of the organisation's file stores (issue 5): what to scan, each run, what it could not read,
and the findings people triage.

The engine's scanner (``himitsu.engine.scan``) walks and inspects; its catalogue of what was seen lives
in HIMITSU_HOME/scans (one SQLite file per target). This app keeps what people act on: runs and their
counters, errors with their stable codes, and findings with a triage status. A finding is one thing to
decide about one file: a detector's hits in that file (counted, the strongest span kept) or a placement
rule's verdict (misplaced, overexposed, unregistered). It never holds the secret's text: offsets, score,
redacted snippet. Only ``himitsu.web.scans.services`` writes these rows.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from himitsu.web.accounts.models import Department
from himitsu.web.register.models import Secret


class ScanTarget(models.Model):
    """A folder, SMB share or bucket to scan. ``options`` holds non-secret settings only (endpoint,
    region, port, page size, the path of a credentials file on the server); passwords and keys come from
    the environment or that file, never from here."""

    name = models.CharField(_("name"), max_length=200)
    url = models.CharField(_("target"), max_length=1000, unique=True,
                           help_text=_("A folder, smb://server/share/path or s3://bucket/prefix"))
    options = models.JSONField(_("options"), default=dict, blank=True)
    department = models.ForeignKey(Department, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="scan_targets", verbose_name=_("department"))
    #: 0: runs only when started by hand (or from the CLI); otherwise every N hours
    interval_hours = models.PositiveIntegerField(_("interval (hours)"), default=0)
    next_run_at = models.DateTimeField(_("next run"), null=True, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    workers = models.PositiveSmallIntegerField(_("worker processes"), default=1)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("scan target")
        verbose_name_plural = _("scan targets")

    def __str__(self) -> str:
        return self.name or self.url


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    FINISHED = "finished", _("Finished")
    FAILED = "failed", _("Failed")
    INTERRUPTED = "interrupted", _("Interrupted")


class Trigger(models.TextChoices):
    CLI = "cli", _("Command line")
    WEB = "web", _("Web app")
    SCHEDULE = "schedule", _("Schedule")


class ScanRun(models.Model):
    target = models.ForeignKey(ScanTarget, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(_("status"), max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED)
    trigger = models.CharField(_("started from"), max_length=20, choices=Trigger.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+")
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    #: last time the running scan reported progress (a run with an old heartbeat was interrupted)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    catalogue_run = models.IntegerField(null=True, blank=True)  # the engine catalogue's run id
    files_seen = models.PositiveIntegerField(default=0)
    files_total = models.PositiveIntegerField(null=True, blank=True)
    files_done = models.PositiveIntegerField(default=0)
    files_read = models.PositiveIntegerField(default=0)
    bytes_read = models.PositiveBigIntegerField(default=0)
    bytes_total = models.PositiveBigIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    resumed = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    vanished = models.PositiveIntegerField(default=0)
    findings_new = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0.0)
    #: when the whole run failed: a stable error code and its parameters
    error_code = models.CharField(max_length=60, blank=True)
    error_params = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("scan run")
        verbose_name_plural = _("scan runs")


class ScanError(models.Model):
    """A file or folder one run could not read, with the stable code (``scan.*``, or an extraction problem
    code such as ``corrupt`` or ``limit.ratio``) and a short detail (never file content)."""

    run = models.ForeignKey(ScanRun, on_delete=models.CASCADE, related_name="error_rows")
    path = models.CharField(max_length=2000)
    code = models.CharField(max_length=60)
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["id"]


class Kind(models.TextChoices):
    DETECTION = "detection", _("Detection")
    MISPLACED = "misplaced", _("Misplaced")
    OVEREXPOSED = "overexposed", _("Overexposed")
    UNREGISTERED = "unregistered", _("Marked but not registered")


class Status(models.TextChoices):
    NEW = "new", _("New")
    CONFIRMED = "confirmed", _("Confirmed")
    FALSE_POSITIVE = "false_positive", _("False positive")
    RESOLVED = "resolved", _("Resolved")


class ScanFinding(models.Model):
    """One thing to decide about one file. Identity: (target, path, kind, detector, secret, reason), kept as
    ``identity`` (SHA-256 hex of those, see ``services.identity``), so a rescan updates the same row
    (``last_run``, ``present``) and keeps its triage status."""

    identity = models.CharField(max_length=64)
    target = models.ForeignKey(ScanTarget, on_delete=models.CASCADE, related_name="findings")
    path = models.CharField(_("location"), max_length=2000)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    detector = models.CharField(_("detector"), max_length=40, blank=True)
    reason = models.CharField(max_length=80, blank=True)  # stable code of the explanation / rule
    params = models.JSONField(default=dict, blank=True)
    secret = models.ForeignKey(Secret, on_delete=models.CASCADE, null=True, blank=True, related_name="scan_findings",
                               verbose_name=_("register entry"))
    level = models.CharField(_("classification"), max_length=40, blank=True)
    score = models.FloatField(default=0.0)
    hits = models.PositiveIntegerField(default=1)  # how many spans of this detector in the file
    part = models.CharField(max_length=500, blank=True)  # member inside an archive or mail ("" = the file)
    start = models.IntegerField(default=0)
    end = models.IntegerField(default=0)
    snippet = models.CharField(max_length=300, blank=True)  # redacted
    matched_chars = models.IntegerField(null=True, blank=True)
    exposure = models.CharField(max_length=40, blank=True)
    first_run = models.ForeignKey(ScanRun, on_delete=models.SET_NULL, null=True, related_name="+")
    last_run = models.ForeignKey(ScanRun, on_delete=models.SET_NULL, null=True, related_name="+")
    #: still there in the latest read of the file; False once the file changed without it or vanished
    present = models.BooleanField(default=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.NEW)
    comment = models.TextField(_("comment"), blank=True)
    status_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="+")
    status_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("scan finding")
        verbose_name_plural = _("scan findings")
        constraints = [models.UniqueConstraint(fields=["target", "identity"], name="scan_finding_identity")]
        indexes = [models.Index(fields=["target", "path"]), models.Index(fields=["status", "present"])]
