"""The issue form: whom, which template, which register entries (from the issuer's visible ones), dates."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from himitsu import config
from himitsu.catalog import pledges as catalog
from himitsu.web.accounts import access
from himitsu.web.pledges.models import Pledge
from himitsu.web.pledges.services import IssueRequest
from himitsu.web.register.fields import JapaneseDateField, clean_text


class PersonChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        dept = f" / {obj.department.name}" if obj.department_id else ""
        return f"{obj} ({obj.username}{dept})"


class SecretChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.management_number} {obj.title}"


class IssueForm(forms.Form):
    person = PersonChoice(label=_("person"), queryset=None)
    template = forms.ChoiceField(label=_("template"))
    company = forms.CharField(label=_("company"), max_length=200,
                              help_text=_("The company's name as it appears in the pledge."))
    project = forms.CharField(label=_("project"), max_length=200, required=False,
                              help_text=_("Only for the project pledge."))
    partner = forms.CharField(label=_("partner"), max_length=200, required=False,
                              help_text=_("Only for the partner NDA: the partner company's name."))
    secrets = SecretChoice(label=_("named register entries"), queryset=None, required=False,
                           widget=forms.SelectMultiple(attrs={"size": 8}),
                           help_text=_("Only entries you may see are listed. The leaving pledge must name the "
                                       "entries the person had access to."))
    categories = forms.MultipleChoiceField(label=_("information categories"), required=False,
                                           widget=forms.CheckboxSelectMultiple)
    duration_years = forms.IntegerField(label=_("duration (years)"), min_value=1,
                                        max_value=catalog.MAX_DURATION_YEARS, initial=3, required=False,
                                        help_text=_("How long the duty lasts after leaving or after the end."))
    due_on = JapaneseDateField(label=_("acknowledge by"))
    expires_on = JapaneseDateField(label=_("expires on"), required=False)
    bilingual = forms.BooleanField(label=_("Also issue the English text"), required=False)

    def __init__(self, data: Any = None, *, actor: Any, language: str = "ja", **kwargs: Any) -> None:
        initial = kwargs.pop("initial", {}) or {}
        last = Pledge.objects.exclude(company="").order_by("-issued_at").values_list("company", flat=True).first()
        initial.setdefault("company", config.company_name() or last or "")
        initial.setdefault("due_on", timezone.localdate() + timedelta(days=14))
        super().__init__(data, initial=initial, **kwargs)
        self.actor = actor
        cat = catalog.catalog()
        lang = "en" if language.startswith("en") else "ja"
        self.fields["person"].queryset = access.pledge_recipients(actor).select_related("department")
        self.fields["secrets"].queryset = access.visible_secrets(actor).order_by("management_number")
        self.fields["template"].choices = [(t.code, t.title_in(lang)) for t in cat.templates.values()]
        self.fields["categories"].choices = [(c.code, c.text(lang)) for c in cat.categories.values()]

    def clean_company(self) -> str:
        return clean_text(self.cleaned_data["company"])

    def clean_project(self) -> str:
        return clean_text(self.cleaned_data["project"])

    def clean_partner(self) -> str:
        return clean_text(self.cleaned_data["partner"])

    def request(self) -> IssueRequest:
        d = self.cleaned_data
        return IssueRequest(
            person=d["person"], template=d["template"], company=d["company"], due_on=d["due_on"],
            secrets=list(d["secrets"]), categories=list(d["categories"]), duration_years=d["duration_years"],
            expires_on=d["expires_on"], bilingual=d["bilingual"], partner=d["partner"], project=d["project"])


class UploadForm(forms.Form):
    file = forms.FileField(label=_("Signed PDF"))
