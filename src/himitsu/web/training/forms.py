"""Course and completion forms (labels Japanese first: the training pages carry their own texts)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext as _

from himitsu.web.accounts import access
from himitsu.web.accounts.models import Department, PersonType
from himitsu.web.register.fields import JapaneseDateField
from himitsu.web.training.models import Audience, Course


class CourseForm(forms.ModelForm):
    departments = forms.ModelMultipleChoiceField(queryset=Department.objects.all(), required=False,
                                                 widget=forms.SelectMultiple(attrs={"size": 6}))
    person_types = forms.MultipleChoiceField(choices=PersonType.choices, required=False,
                                             widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = Course
        fields = ["code", "title", "title_en", "description", "validity_months", "new_person_days", "audience",
                  "person_types", "departments", "active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        labels = {
            "code": _("Code"), "title": _("Title"), "title_en": _("English title"),
            "description": _("Description"),
            "validity_months": _("Valid for (months; retake interval)"),
            "new_person_days": _("Due within (days) of joining"),
            "audience": _("Who must take it"), "person_types": _("Types of person"),
            "departments": _("Departments"), "active": _("Active"),
        }
        for name, label in labels.items():
            self.fields[name].label = label
        self.fields["audience"].choices = [(Audience.ALL, _("Everyone")),
                                           (Audience.PERSON_TYPES, _("By type of person")),
                                           (Audience.DEPARTMENTS, _("By department"))]
        if self.instance.pk:
            self.initial.setdefault("departments", list(self.instance.departments.all()))


class PersonChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        dept = f" / {obj.department.name}" if obj.department_id else ""
        return f"{obj} ({obj.username}{dept})"


class RecordForm(forms.Form):
    course = forms.ModelChoiceField(queryset=Course.objects.filter(active=True))
    people = PersonChoice(queryset=None, widget=forms.SelectMultiple(attrs={"size": 12}))
    completed_on = JapaneseDateField()
    score = forms.IntegerField(required=False, min_value=0, max_value=100)
    note = forms.CharField(required=False, max_length=500)

    def __init__(self, *args: Any, actor: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["people"].queryset = access.training_recipients(actor).select_related("department")
        self.fields["course"].label = _("Course")
        self.fields["people"].label = _("People (choose one or more)")
        self.fields["completed_on"].label = _("Completed on")
        self.fields["score"].label = _("Score")
        self.fields["note"].label = _("Evidence note (material, test, ...)")
        self.initial.setdefault("completed_on", timezone.localdate())
