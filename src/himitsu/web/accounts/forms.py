"""Forms for managing people and access groups (system administrators only)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.password_validation import validate_password
from django.utils.translation import gettext_lazy as _

from himitsu.web.accounts.models import AccessGroup, PersonType, SideJobNotice, User
from himitsu.web.register.fields import JapaneseDateField


class UserForm(forms.ModelForm):
    password = forms.CharField(
        label=_("Password"), required=False, strip=False, widget=forms.PasswordInput(render_value=False),
        help_text=_("At least 10 characters. Leave empty to keep the current password."),
    )
    groups = forms.ModelMultipleChoiceField(
        label=_("access groups"), queryset=AccessGroup.objects.all(), required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )

    joined_on = JapaneseDateField(label=_("joining date"), required=False)
    left_on = JapaneseDateField(label=_("leaving date"), required=False,
                                help_text=_("Empty while the person has not left."))

    class Meta:
        model = User
        fields = ["username", "display_name", "email", "role", "department", "person_type", "employee_number",
                  "joined_on", "left_on", "is_active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["department"].empty_label = _("— none —")
        self.fields["person_type"].required = False  # a form without it (older clients) keeps the default
        if self.instance.pk:
            self.fields["groups"].initial = list(self.instance.access_groups.values_list("pk", flat=True))
        else:
            self.fields["password"].required = True
            self.fields["password"].help_text = _("At least 10 characters.")

    def clean_person_type(self) -> str:
        return self.cleaned_data.get("person_type") or self.instance.person_type or PersonType.EMPLOYEE

    def clean_password(self) -> str:
        password = self.cleaned_data.get("password") or ""
        if password:
            validate_password(password, self.instance)
        return password

    def save(self, commit: bool = True) -> User:
        user = super().save(commit=False)
        if self.cleaned_data.get("password"):
            user.set_password(self.cleaned_data["password"])
        user.save()
        user.access_groups.set(self.cleaned_data.get("groups") or [])
        return user


class GroupForm(forms.ModelForm):
    class Meta:
        model = AccessGroup
        fields = ["name", "description", "members"]
        widgets = {"members": forms.SelectMultiple(attrs={"size": 12})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["members"].queryset = User.objects.filter(is_active=True)


class SideJobNoticeForm(forms.ModelForm):
    """A side-job notice (兼業・副業の届出) as a manager records it; the decision is a separate step."""

    starts_on = JapaneseDateField(label=_("start date"))
    ends_on = JapaneseDateField(label=_("end date"), required=False)

    class Meta:
        model = SideJobNotice
        fields = ["employer", "description", "starts_on", "ends_on"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
