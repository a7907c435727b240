"""The trade-secret register (営業秘密管理台帳)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from himitsu.web.accounts.models import AccessGroup, Department, LocalizedName


class Category(models.TextChoices):
    TECHNICAL = "technical", _("Technical information")
    BUSINESS = "business", _("Business information")
    OTHER = "other", _("Other")


class LegalType(models.TextChoices):
    TRADE_SECRET = "trade_secret", _("Trade secret")
    LIMITED_DATA = "limited_data", _("Limited-provision data")
    OTHER_CONFIDENTIAL = "other_confidential", _("Other confidential information")


class ProtectionDecision(models.TextChoices):
    UNDECIDED = "undecided", _("Undecided")
    PATENT = "patent", _("Patent (権利化)")
    SECRECY = "secrecy", _("Keep secret (秘匿化)")


class SecrecyStatus(models.TextChoices):
    QUALIFIES = "qualifies", _("Qualifies")
    AT_RISK = "at_risk", _("At risk")
    NOT_QUALIFIED = "not_qualified", _("Does not qualify")


class TriState(models.TextChoices):
    UNKNOWN = "unknown", _("Unknown")
    YES = "yes", _("Yes")
    NO = "no", _("No")


class LocationKind(models.TextChoices):
    PATH = "path", _("File path")
    URL = "url", _("URL")
    CLOUD = "cloud", _("Cloud storage")
    CABINET = "cabinet", _("Cabinet / physical")
    OTHER = "other", _("Other")


class ClassificationLevel(LocalizedName, models.Model):
    """A classification level (極秘 / 秘 / 社外秘) and the handling rules the organisation sets for it."""

    code = models.SlugField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("name"), max_length=30, unique=True)
    name_en = models.CharField(_("English name"), max_length=60, blank=True)
    rank = models.PositiveSmallIntegerField(_("rank"), help_text=_("1 is the most secret."))
    handling_rules = models.TextField(_("handling rules"), max_length=4000, blank=True)
    handling_rules_en = models.TextField(_("handling rules (English)"), max_length=4000, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["rank"]
        verbose_name = _("classification level")
        verbose_name_plural = _("classification levels")

    def __str__(self) -> str:
        return self.name


class Secret(models.Model):
    management_number = models.CharField(_("management number"), max_length=40, unique=True)
    title = models.CharField(_("title"), max_length=200)
    summary = models.TextField(
        _("summary"), max_length=2000, blank=True,
        help_text=_("Describe the information without writing the secret itself."),
    )
    category = models.CharField(_("category"), max_length=20, choices=Category.choices)
    level = models.ForeignKey(
        ClassificationLevel, verbose_name=_("classification"), on_delete=models.PROTECT, related_name="secrets"
    )
    legal_type = models.CharField(
        _("legal type"), max_length=30, choices=LegalType.choices, default=LegalType.TRADE_SECRET
    )
    owner_department = models.ForeignKey(
        Department, verbose_name=_("owner department"), on_delete=models.PROTECT, related_name="secrets"
    )
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("responsible person"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="responsible_for",
    )
    allowed_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("people with access"), blank=True, related_name="granted_secrets"
    )
    allowed_groups = models.ManyToManyField(
        AccessGroup, verbose_name=_("groups with access"), blank=True, related_name="granted_secrets"
    )
    marking = models.CharField(
        _("marking"), max_length=300, blank=True,
        help_text=_("How the information is marked as secret (e.g. ㊙ stamp on every page, file name prefix)."),
    )
    review_date = models.DateField(_("review date"), null=True, blank=True)
    protection_decision = models.CharField(
        _("patent or secrecy"), max_length=20, choices=ProtectionDecision.choices,
        default=ProtectionDecision.UNDECIDED,
    )
    decision_date = models.DateField(_("decision date"), null=True, blank=True)
    decision_reasons = models.TextField(_("decision reasons"), max_length=2000, blank=True)
    usefulness_notes = models.TextField(_("usefulness notes"), max_length=2000, blank=True)
    published = models.CharField(_("published"), max_length=10, choices=TriState.choices, default=TriState.UNKNOWN)
    patented = models.CharField(
        _("disclosed in a patent"), max_length=10, choices=TriState.choices, default=TriState.UNKNOWN
    )
    reverse_engineerable = models.CharField(
        _("reverse-engineerable"), max_length=10, choices=TriState.choices, default=TriState.UNKNOWN
    )
    non_public_notes = models.TextField(_("non-public notes"), max_length=2000, blank=True)

    secrecy_score = models.PositiveSmallIntegerField(_("secrecy evidence score"), default=0)
    secrecy_status = models.CharField(
        _("secrecy status"), max_length=20, choices=SecrecyStatus.choices, default=SecrecyStatus.NOT_QUALIFIED
    )
    checklist_version = models.CharField(_("checklist version"), max_length=20, blank=True)
    assessed_on = models.DateField(_("assessed on"), null=True, blank=True)

    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["management_number"]
        verbose_name = _("register entry")
        verbose_name_plural = _("register entries")

    def __str__(self) -> str:
        return f"{self.management_number} {self.title}"


class StorageLocation(models.Model):
    secret = models.ForeignKey(Secret, on_delete=models.CASCADE, related_name="locations")
    kind = models.CharField(_("kind"), max_length=20, choices=LocationKind.choices)
    location = models.CharField(_("location"), max_length=500)

    class Meta:
        ordering = ["id"]
        verbose_name = _("storage location")
        verbose_name_plural = _("storage locations")

    def __str__(self) -> str:
        return self.location


class EvidenceAnswer(models.Model):
    """A manual answer to one item of the secrecy-evidence checklist for one secret."""

    class Answer(models.TextChoices):
        YES = "yes", _("In place")
        PARTIAL = "partial", _("Partly")
        NO = "no", _("Not in place")
        UNKNOWN = "unknown", _("Not assessed")

    secret = models.ForeignKey(Secret, on_delete=models.CASCADE, related_name="evidence")
    item = models.CharField(_("item"), max_length=40)
    answer = models.CharField(_("answer"), max_length=10, choices=Answer.choices, default=Answer.UNKNOWN)
    note = models.CharField(_("evidence note"), max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["secret", "item"], name="evidence_unique_item")]


class SecretRevision(models.Model):
    """Append-only history of a register entry: a snapshot after each change, hash-linked per entry."""

    class Action(models.TextChoices):
        CREATE = "create", _("Created")
        UPDATE = "update", _("Updated")
        DELETE = "delete", _("Deleted")

    secret = models.ForeignKey(Secret, on_delete=models.SET_NULL, null=True, related_name="revisions")
    management_number = models.CharField(max_length=40, db_index=True)
    number = models.PositiveIntegerField()
    action = models.CharField(max_length=10, choices=Action.choices)
    channel = models.CharField(max_length=20, default="web")
    snapshot = models.JSONField()
    changes = models.JSONField(default=dict)
    actor_id = models.BigIntegerField(null=True)
    actor_name = models.CharField(max_length=150, blank=True)
    at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["management_number", "number"]
        constraints = [
            models.UniqueConstraint(fields=["management_number", "number"], name="revision_unique_number")
        ]


class SecretDocument(models.Model):
    """A document registered as holding (part of) a secret. Only its fingerprints are kept, in the
    index under HIMITSU_HOME/index (keyed hashes); this row keeps the file's name, size and SHA-256."""

    secret = models.ForeignKey(Secret, on_delete=models.CASCADE, related_name="documents")
    filename = models.CharField(_("file name"), max_length=255)
    size = models.BigIntegerField(_("size"))
    sha256 = models.CharField(_("SHA-256"), max_length=64, db_index=True)
    format = models.CharField(_("format"), max_length=20, blank=True)
    normalized_chars = models.BigIntegerField(default=0)
    fingerprints = models.IntegerField(default=0)
    added_at = models.DateTimeField(_("added at"), auto_now_add=True)
    added_by = models.CharField(_("added by"), max_length=150, blank=True)

    class Meta:
        ordering = ["secret", "id"]
        verbose_name = _("registered document")
        verbose_name_plural = _("registered documents")

    def __str__(self) -> str:
        return self.filename
