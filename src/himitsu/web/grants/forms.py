"""Forms of the grant and review pages."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from himitsu.web.accounts.models import AccessGroup, Department, User
from himitsu.web.grants.models import Decision


class GrantForm(forms.Form):
    user = forms.ModelChoiceField(User.objects.filter(is_active=True).order_by("username"), label=_("person"),
                                  required=False)
    group = forms.ModelChoiceField(AccessGroup.objects.order_by("name"), label=_("group"), required=False)
    reason = forms.CharField(label=_("reason"), max_length=500, required=False)
    expires_on = forms.DateField(label=_("expires on"), required=False,
                                 widget=forms.DateInput(attrs={"type": "date"}))


class RevokeForm(forms.Form):
    reason = forms.CharField(label=_("reason for revoking"), max_length=500, required=False)


class ReviewForm(forms.Form):
    department = forms.ModelChoiceField(Department.objects.order_by("code"), label=_("department"))
    period = forms.CharField(label=_("period"), max_length=40, help_text=_("e.g. 2026 H1"))
    due_on = forms.DateField(label=_("due on"), widget=forms.DateInput(attrs={"type": "date"}))


class DecideForm(forms.Form):
    decision = forms.ChoiceField(label=_("decision"), choices=Decision.choices)
    note = forms.CharField(label=_("note"), max_length=500, required=False)
