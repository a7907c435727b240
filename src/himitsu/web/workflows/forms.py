"""The open-case form (people limited to those the user may open a case for)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from himitsu.web.accounts import access
from himitsu.web.register.fields import JapaneseDateField
from himitsu.web.workflows.models import Kind


class OpenCaseForm(forms.Form):
    person = forms.ModelChoiceField(label=_("person"), queryset=None)
    kind = forms.ChoiceField(label=_("kind"), choices=Kind.choices)
    due_on = JapaneseDateField(label=_("due date"), required=False,
                               help_text=_("Leaving: the leaving date. Empty: the person's leaving or joining date."))
    other_company = forms.BooleanField(
        label=_("Hired from another company (転職者)"), required=False,
        help_text=_("Joining only: adds the declaration of not bringing a former employer's secrets."))

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["person"].queryset = access.case_people(user).select_related("department").order_by("username")
