"""The register entry form: one validation for the web page, the API and the import."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from himitsu.web.accounts import access
from himitsu.web.accounts.models import AccessGroup, User
from himitsu.web.register.fields import JapaneseDateField, clean_text, parse_locations
from himitsu.web.register.models import Category, ClassificationLevel, EvidenceAnswer, Secret

NUMBER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,39}$")
TEXT_FIELDS = ("title", "summary", "marking", "decision_reasons", "usefulness_notes", "non_public_notes")


BLANK = _("— choose —")


class SecretForm(forms.ModelForm):
    SECTIONS = (
        (_("The information"), ("management_number", "title", "summary", "category", "level", "legal_type")),
        (_("Management"), ("owner_department", "responsible", "allowed_users", "allowed_groups", "locations",
                           "marking", "review_date")),
        (_("Patent or secrecy"), ("protection_decision", "decision_date", "decision_reasons")),
        (_("Usefulness and non-public status"), ("usefulness_notes", "published", "patented",
                                                  "reverse_engineerable", "non_public_notes")),
    )
    locations = forms.CharField(
        label=_("storage locations"), required=False, max_length=30000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One a line: a path, URL, cloud folder or cabinet. Optionally prefix the kind, e.g. "
                    "キャビネット: 本社3F 書庫A."),
    )
    review_date = JapaneseDateField(label=_("review date"), required=False)
    decision_date = JapaneseDateField(label=_("decision date"), required=False)

    class Meta:
        model = Secret
        fields = [
            "management_number", "title", "summary", "category", "level", "legal_type", "owner_department",
            "responsible", "allowed_users", "allowed_groups", "marking", "review_date", "protection_decision",
            "decision_date", "decision_reasons", "usefulness_notes", "published", "patented",
            "reverse_engineerable", "non_public_notes",
        ]
        widgets = {
            "summary": forms.Textarea(attrs={"rows": 3}),
            "decision_reasons": forms.Textarea(attrs={"rows": 2}),
            "usefulness_notes": forms.Textarea(attrs={"rows": 2}),
            "non_public_notes": forms.Textarea(attrs={"rows": 2}),
            "allowed_users": forms.SelectMultiple(attrs={"size": 8}),
            "allowed_groups": forms.SelectMultiple(attrs={"size": 5}),
        }

    def __init__(self, *args: Any, actor: Any, unresolved: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actor = actor
        self.unresolved = unresolved or {}
        self.fields["owner_department"].queryset = access.editable_departments(actor)
        self.fields["level"].queryset = ClassificationLevel.objects.all()
        self.fields["responsible"].queryset = User.objects.filter(is_active=True)
        self.fields["allowed_users"].queryset = User.objects.filter(is_active=True)
        self.fields["allowed_groups"].queryset = AccessGroup.objects.all()
        self.fields["level"].empty_label = None
        self.fields["responsible"].empty_label = BLANK
        self.fields["owner_department"].empty_label = BLANK
        self.fields["category"].choices = [("", BLANK), *Category.choices]
        for name in ("allowed_users", "allowed_groups"):
            self.fields[name].help_text = _("Hold Ctrl (⌘ on a Mac) to choose several.")
        if self.instance.pk and not self.is_bound:
            pairs = list(self.instance.locations.values_list("kind", "location"))
            from himitsu.web.register.fields import format_locations

            self.initial["locations"] = format_locations(pairs)

    def sections(self) -> list[tuple[str, list[Any]]]:
        return [(title, [self[name] for name in names]) for title, names in self.SECTIONS]

    def clean_management_number(self) -> str:
        value = self.cleaned_data["management_number"].strip()
        if not NUMBER_RE.match(value):
            raise forms.ValidationError(
                _("Use 1 to 40 letters, digits and - _ . / (starting with a letter or digit)."), code="format"
            )
        return value

    def clean_locations(self) -> list[tuple[str, str]]:
        return parse_locations(clean_text(self.cleaned_data.get("locations") or ""))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name, text in self.unresolved.items():
            self.errors.pop(name, None)
            data.pop(name, None)
            self.add_error(name, forms.ValidationError(text, code="unknown_name"))
        for name in TEXT_FIELDS:
            if isinstance(data.get(name), str):
                try:
                    data[name] = clean_text(data[name])
                except forms.ValidationError as exc:
                    self.add_error(name, exc)
        if data.get("title") == "":
            self.add_error("title", forms.ValidationError(_("This field is required."), code="required"))
        if data.get("protection_decision") in ("patent", "secrecy") and not data.get("decision_date"):
            self.add_error("decision_date", forms.ValidationError(
                _("Give the date of the patent-or-secrecy decision."), code="required"))
        return data


class EvidenceForm(forms.Form):
    """Manual answers to the checklist items that Himitsu cannot derive by itself."""

    def __init__(self, *args: Any, items: list[dict[str, Any]], language: str | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from himitsu.catalog import text

        self.items = items
        for item in items:
            key = item["key"]
            self.fields[f"{key}__answer"] = forms.ChoiceField(
                label=text(item["title"], language), choices=EvidenceAnswer.Answer.choices,
                help_text=text(item["question"], language),
            )
            self.fields[f"{key}__note"] = forms.CharField(
                label=_("evidence note"), required=False, max_length=500,
            )

    def answers(self) -> dict[str, tuple[str, str]]:
        return {
            item["key"]: (self.cleaned_data[f"{item['key']}__answer"],
                          clean_text(self.cleaned_data.get(f"{item['key']}__note") or ""))
            for item in self.items
        }


class LevelForm(forms.ModelForm):
    class Meta:
        model = ClassificationLevel
        fields = ["name", "name_en", "handling_rules", "handling_rules_en"]
        widgets = {
            "handling_rules": forms.Textarea(attrs={"rows": 4}),
            "handling_rules_en": forms.Textarea(attrs={"rows": 4}),
        }
