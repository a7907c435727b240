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


# Reasons with numbers, filled in after translation.
COUNTED_REASONS = {
    "pledges.none": _("None of the {total} people with access has a current pledge naming this entry (or its "
                      "category)."),
    "pledges.some": _("{pledged} of {total} people with access have a current pledge naming this entry (or its "
                      "category)."),
}


def reason_text(code: str, params: tuple[tuple[str, int], ...], language: str | None = None) -> str:
    """The text of an automatic reason in the active language, with its numbers filled in."""
    if code in COUNTED_REASONS:
        return str(COUNTED_REASONS[code]).format(**dict(params))
    return str(REASONS.get(code, ""))
