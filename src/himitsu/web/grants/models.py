"""Access grants (アクセス権付与の記録) and periodic access reviews (定期アクセスレビュー).

The register's ``Secret.allowed_users`` / ``allowed_groups`` stay the one enforced truth (see
``accounts.access``); a ``Grant`` is the record that explains one membership: why, by whom, since when,
until when, and when and why it ended. Only ``himitsu.web.grants.services`` writes these rows.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from himitsu.web.accounts.models import AccessGroup, Department
from himitsu.web.register.models import Secret


class Source(models.TextChoices):
    FORM = "form", _("Register entry form")
    IMPORT = "import", _("Import")
    API = "api", _("API")
    PAGE = "page", _("Grant page")
    REVIEW = "review", _("Access review")
    MIGRATION = "migration", _("Existing access")


# Reasons the system records for grants made or ended by a change elsewhere: stored in English (the record is data),
# shown translated.
REASON_FORM = gettext_noop("register entry edited")
REASON_IMPORT = gettext_noop("imported")
REASON_API = gettext_noop("changed through the API")
LEAVER_REASON = gettext_noop("access revoked: the person is leaving")
EXISTING_REASON = gettext_noop("existing access")
OUTSIDE_REASON = gettext_noop("access no longer recorded in the register")
SYSTEM_REASONS = frozenset({REASON_FORM, REASON_IMPORT, REASON_API, LEAVER_REASON, EXISTING_REASON, OUTSIDE_REASON})


def reason_text(reason: str) -> str:
    """A recorded reason for display: the system's own reasons in the reader's language, people's as written."""
    return gettext(reason) if reason in SYSTEM_REASONS else reason


class Grant(models.Model):
    secret = models.ForeignKey(Secret, verbose_name=_("register entry"), on_delete=models.CASCADE,
                               related_name="grants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("person"), on_delete=models.CASCADE,
                             null=True, blank=True, related_name="grants")
    group = models.ForeignKey(AccessGroup, verbose_name=_("group"), on_delete=models.CASCADE, null=True,
                              blank=True, related_name="grants")
    reason = models.CharField(_("reason"), max_length=500)
    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    granted_by_name = models.CharField(_("granted by"), max_length=150, blank=True)
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="grants_given")
    granted_at = models.DateTimeField(_("granted at"))
    expires_on = models.DateField(_("expires on"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by_name = models.CharField(_("revoked by"), max_length=150, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="grants_revoked")
    revoke_reason = models.CharField(_("reason for revoking"), max_length=500, blank=True)

    class Meta:
        ordering = ["secret", "-granted_at", "pk"]
        verbose_name = _("access grant")
        verbose_name_plural = _("access grants")
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, group__isnull=True) | Q(user__isnull=True, group__isnull=False),
                name="grant_user_xor_group"),
            models.UniqueConstraint(fields=["secret", "user"], condition=Q(revoked_at__isnull=True, user__isnull=False),
                                    name="grant_one_live_per_user"),
            models.UniqueConstraint(fields=["secret", "group"],
                                    condition=Q(revoked_at__isnull=True, group__isnull=False),
                                    name="grant_one_live_per_group"),
        ]

    @property
    def live(self) -> bool:
        return self.revoked_at is None

    @property
    def holder(self) -> str:
        return str(self.user) if self.user_id else str(self.group)

    @property
    def reason_text(self) -> str:
        return reason_text(self.reason)

    @property
    def revoke_reason_text(self) -> str:
        return reason_text(self.revoke_reason)

    def __str__(self) -> str:
        return f"{self.secret.management_number}: {self.holder}"


class Review(models.Model):
    department = models.ForeignKey(Department, verbose_name=_("department"), on_delete=models.PROTECT,
                                   related_name="access_reviews")
    period = models.CharField(_("period"), max_length=40)
    opened_by_name = models.CharField(_("opened by"), max_length=150, blank=True)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="reviews_opened")
    opened_at = models.DateTimeField(_("opened at"))
    due_on = models.DateField(_("due on"))
    reviewers = models.ManyToManyField(settings.AUTH_USER_MODEL, verbose_name=_("reviewers"),
                                       related_name="access_reviews")
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-pk"]
        verbose_name = _("access review")
        verbose_name_plural = _("access reviews")

    def __str__(self) -> str:
        return f"{self.department.code} {self.period}"


class Decision(models.TextChoices):
    CONFIRM = "confirm", _("Confirm")
    REVOKE = "revoke", _("Revoke")


class ReviewItem(models.Model):
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="items")
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="review_items")
    decision = models.CharField(_("decision"), max_length=10, choices=Decision.choices, blank=True)
    decided_by_name = models.CharField(_("decided by"), max_length=150, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="review_decisions")
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True)

    class Meta:
        ordering = ["review", "pk"]
        constraints = [models.UniqueConstraint(fields=["review", "grant"], name="review_item_unique")]
