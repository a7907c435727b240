"""Translated texts for the checklist's automatic reasons (codes come from himitsu.catalog.checklist)."""

from django.utils.translation import gettext_lazy as _

REASONS = {
    "listed.incomplete": _("The summary or the responsible person is missing."),
    "marked.none": _("No marking is recorded."),
    "access.nobody_named": _("Nobody is named as having access."),
    "access.too_wide": _("More than half of the organisation has access."),
    "storage.none": _("No storage location is recorded."),
    "review.none": _("No review date is set."),
    "review.overdue": _("The review date has passed."),
}
