"""The outbound guard (issue 6): the policy an organisation edits, the API tokens of its integrations, the
record of every decision, and the quarantine of held mail.

The engine's pure pieces (``himitsu.engine.policy``, ``himitsu.gateways.base``) decide; this app keeps what
people edit and review. A decision record never holds the content or a matched value: who, through which
channel, to where, which detectors, levels, rules and register entries, the action, and the content's SHA-256
and size. A held message is kept encrypted (AES-GCM, ``himitsu.web.guard.crypto``) until a reviewer releases
or rejects it; its content is then erased. Only ``himitsu.web.guard.services`` writes these rows.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class GuardAction(models.TextChoices):
    ALLOW = "allow", _("Allow")
    WARN = "warn", _("Warn")
    REDACT = "redact", _("Redact")
    HOLD = "hold", _("Hold for review")
    BLOCK = "block", _("Block")


class Channel(models.TextChoices):
    AI = "ai", _("Generative AI")
    MAIL = "mail", _("E-mail")
    UPLOAD = "upload", _("Upload")
    API = "api", _("Check API")


class PolicyRule(models.Model):
    """One rule of the policy: ``action`` for the findings that match every non-empty condition. Rules are
    tried in ``position`` order; the first that matches a finding decides it."""

    position = models.PositiveIntegerField(_("position"), default=0, db_index=True)
    slug = models.SlugField(_("rule id"), max_length=60, unique=True)
    action = models.CharField(_("action"), max_length=10, choices=GuardAction.choices)
    detectors = models.JSONField(_("detectors"), default=list, blank=True)
    levels = models.JSONField(_("classification levels"), default=list, blank=True)
    channels = models.JSONField(_("channels"), default=list, blank=True)
    departments = models.JSONField(_("departments"), default=list, blank=True)
    min_score = models.FloatField(_("minimum score"), default=0.0)
    message_ja = models.CharField(_("message (Japanese)"), max_length=500, blank=True)
    message_en = models.CharField(_("message (English)"), max_length=500, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("updated by"))

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("policy rule")
        verbose_name_plural = _("policy rules")

    def __str__(self) -> str:
        return self.slug


class PolicyAllowance(models.Model):
    """An exception: the findings it covers get ``action`` (usually allow) when every destination lies in
    ``domains`` (a partner under an NDA), on its channels, for its detectors and levels, until ``until``."""

    position = models.PositiveIntegerField(_("position"), default=0, db_index=True)
    slug = models.SlugField(_("exception id"), max_length=60, unique=True)
    domains = models.JSONField(_("domains"), default=list)
    action = models.CharField(_("action"), max_length=10, choices=GuardAction.choices, default=GuardAction.ALLOW)
    channels = models.JSONField(_("channels"), default=list, blank=True)
    detectors = models.JSONField(_("detectors"), default=list, blank=True)
    levels = models.JSONField(_("classification levels"), default=list, blank=True)
    until = models.DateField(_("valid until"), null=True, blank=True)
    message_ja = models.CharField(_("message (Japanese)"), max_length=500, blank=True)
    message_en = models.CharField(_("message (English)"), max_length=500, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("updated by"))

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("policy exception")
        verbose_name_plural = _("policy exceptions")

    def __str__(self) -> str:
        return self.slug


class PolicySeed(models.Model):
    """A single row (pk 1) saying the policy tables were seeded from the catalogue's default policy, so that
    an organisation that deletes every rule is not given the default rules back."""

    seeded_at = models.DateTimeField(auto_now_add=True)
    version = models.CharField(max_length=40, blank=True)
    #: changes (random) with every change of the rules or exceptions: a process keeps the policy it read until
    #: the stamp differs, so a check costs one small query instead of reading every rule
    stamp = models.CharField(max_length=32, blank=True)


class ApiToken(models.Model):
    """An integration's credential: ``hmt_<prefix>_<secret>``. Only the public prefix (for the lookup) and the
    SHA-256 of the 32 random bytes of the secret part are kept; the token itself is shown once."""

    name = models.CharField(_("name"), max_length=100)
    scopes = models.JSONField(_("scopes"), default=list)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True)
    secret_sha256 = models.CharField(max_length=64)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="guard_tokens", verbose_name=_("acts for"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("created by"))
    created_by_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("revoked by"))
    revoked_by_name = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} (hmt_{self.prefix}_…)"


class GuardDecision(models.Model):
    """The record of one decision. Never the content, never a matched value, never a register title."""

    at = models.DateTimeField(_("time"), db_index=True)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="+", verbose_name=_("sender"))
    username = models.CharField(_("sender"), max_length=150, blank=True, db_index=True)
    department = models.CharField(_("department"), max_length=20, blank=True, db_index=True)
    destinations = models.JSONField(_("destinations"), default=list, blank=True)
    action = models.CharField(_("action"), max_length=10, choices=GuardAction.choices, db_index=True)
    detectors = models.JSONField(_("detectors"), default=list, blank=True)
    levels = models.JSONField(_("classification levels"), default=list, blank=True)
    rules = models.JSONField(_("rules"), default=list, blank=True)
    #: ids of the register entries matched (the entries may be deleted later: plain ids, not foreign keys)
    secret_ids = models.JSONField(_("register entries"), default=list, blank=True)
    findings = models.PositiveIntegerField(_("findings"), default=0)
    token = models.ForeignKey(ApiToken, on_delete=models.SET_NULL, null=True, blank=True, related_name="decisions",
                              verbose_name=_("API token"))
    sha256 = models.CharField(_("SHA-256 of the content"), max_length=64)
    size = models.PositiveBigIntegerField(_("size (bytes)"), default=0)
    policy_version = models.CharField(_("policy version"), max_length=60, blank=True)
    meta = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("guard decision")
        verbose_name_plural = _("guard decisions")


class QuarantineStatus(models.TextChoices):
    HELD = "held", _("Held")
    RELEASING = "releasing", _("Being released")
    RELEASED = "released", _("Released")
    REJECTED = "rejected", _("Rejected")


class QuarantineItem(models.Model):
    """Held content (mail) awaiting review. ``ciphertext`` is the AES-GCM encryption (nonce first) of the
    message under the quarantine key; it is emptied once the item is released or rejected."""

    decision = models.ForeignKey(GuardDecision, on_delete=models.PROTECT, related_name="quarantine",
                                 verbose_name=_("decision"))
    status = models.CharField(_("status"), max_length=10, choices=QuarantineStatus.choices,
                              default=QuarantineStatus.HELD, db_index=True)
    mail_from = models.CharField(_("envelope sender"), max_length=320, blank=True)
    rcpt_tos = models.JSONField(_("envelope recipients"), default=list)
    name = models.CharField(_("format"), max_length=255, blank=True)
    size = models.PositiveBigIntegerField(_("size (bytes)"), default=0)
    key_id = models.CharField(max_length=16, blank=True)
    ciphertext = models.BinaryField(default=b"")
    erased = models.BooleanField(_("content erased"), default=False)
    created_at = models.DateTimeField(_("held at"), auto_now_add=True)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="+", verbose_name=_("reviewer"))
    reviewer_name = models.CharField(max_length=150, blank=True)
    comment = models.TextField(_("comment"), max_length=2000, blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    delivery_error = models.CharField(_("delivery error"), max_length=1000, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("quarantined item")
        verbose_name_plural = _("quarantined items")
