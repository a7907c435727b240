"""Forms of the outbound guard's pages: a policy rule, an exception (partners under an NDA), the "try it" form,
an API token, and the review of a held item.

The forms only shape the input; ``himitsu.web.guard.services`` validates it (its ``InputError`` names the field at
fault in ``field``, and :func:`add_service_error` puts the translated message next to that field).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from himitsu.errors import HimitsuError
from himitsu.web.accounts.models import User
from himitsu.web.core.errors import message
from himitsu.web.guard import services
from himitsu.web.guard.models import Channel, GuardAction

MAX_DESTINATIONS = 100


def _no_nul(value: str) -> str:
    return (value or "").replace("\x00", "").strip()


def add_service_error(form: forms.Form, exc: HimitsuError) -> None:
    """The service's error next to the field it names (else above the form), in the active language."""
    field = exc.params.get("field") if isinstance(exc.params, dict) else None
    form.add_error(field if field in form.fields else None, message(exc))


def _choices(values: list[str], labels: dict[str, str] | None = None) -> list[tuple[str, str]]:
    labels = labels or {}
    return [(v, labels.get(v, v)) for v in values]


class _Conditions(forms.Form):
    """What rules and exceptions share: the conditions and the messages."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = services.rule_choices()
        self.fields["action"].choices = _choices(choices["actions"], dict(GuardAction.choices))
        self.fields["channels"].choices = _choices(choices["channels"], dict(Channel.choices))
        self.fields["detectors"].choices = _choices(choices["detectors"])
        self.fields["levels"].choices = _choices(choices["levels"])
        if "departments" in self.fields:
            self.fields["departments"].choices = _choices(choices["departments"])

    def clean_slug(self) -> str:
        return _no_nul(self.cleaned_data.get("slug") or "")

    def clean_message_ja(self) -> str:
        return _no_nul(self.cleaned_data.get("message_ja") or "")

    def clean_message_en(self) -> str:
        return _no_nul(self.cleaned_data.get("message_en") or "")


class RuleForm(_Conditions):
    slug = forms.CharField(label=_("rule id"), max_length=80,
                           help_text=_("1 to 60 letters, digits, - and _ (for example: dev-my-number)."))
    action = forms.ChoiceField(label=pgettext_lazy("outbound guard", "action"), initial=GuardAction.BLOCK)
    detectors = forms.MultipleChoiceField(label=_("detectors"), required=False,
                                          widget=forms.CheckboxSelectMultiple,
                                          help_text=_("None ticked: any detector."))
    levels = forms.MultipleChoiceField(label=_("classification levels"), required=False,
                                       widget=forms.CheckboxSelectMultiple, help_text=_("None ticked: any level."))
    channels = forms.MultipleChoiceField(label=_("channels"), required=False, widget=forms.CheckboxSelectMultiple,
                                         help_text=_("None ticked: every channel."))
    departments = forms.MultipleChoiceField(label=_("departments"), required=False,
                                            widget=forms.CheckboxSelectMultiple,
                                            help_text=_("The sender's department. None ticked: every department."))
    min_score = forms.CharField(label=_("minimum score"), max_length=20, required=False, initial="0",
                                help_text=_("0 to 1: findings with a lower score are not matched by this rule."))
    message_ja = forms.CharField(label=_("message (Japanese)"), max_length=600, required=False,
                                 widget=forms.Textarea(attrs={"rows": 2}),
                                 help_text=_("Shown to the sender. Empty: a standard message."))
    message_en = forms.CharField(label=_("message (English)"), max_length=600, required=False,
                                 widget=forms.Textarea(attrs={"rows": 2}))
    enabled = forms.BooleanField(label=_("enabled"), required=False, initial=True)

    def values(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {k: d[k] for k in ("slug", "action", "detectors", "levels", "channels", "departments", "min_score",
                                  "message_ja", "message_en", "enabled")}

    @staticmethod
    def initial_of(rule: Any) -> dict[str, Any]:
        return {"slug": rule.slug, "action": rule.action, "detectors": rule.detectors, "levels": rule.levels,
                "channels": rule.channels, "departments": rule.departments, "min_score": f"{rule.min_score:g}",
                "message_ja": rule.message_ja, "message_en": rule.message_en, "enabled": rule.enabled}


class AllowanceForm(_Conditions):
    slug = forms.CharField(label=_("exception id"), max_length=80,
                           help_text=_("1 to 60 letters, digits, - and _ (for example: nda-partners)."))
    domains = forms.CharField(label=_("domains"), max_length=5000, required=False,
                              widget=forms.Textarea(attrs={"rows": 3}),
                              help_text=_("The partners' domains, one per line or separated by commas "
                                          "(partner.co.jp also covers mail.partner.co.jp; *.partner.co.jp allowed)."))
    action = forms.ChoiceField(label=pgettext_lazy("outbound guard", "action"), initial=GuardAction.ALLOW)
    channels = forms.MultipleChoiceField(label=_("channels"), required=False, widget=forms.CheckboxSelectMultiple,
                                         initial=["mail"], help_text=_("None ticked: every channel."))
    detectors = forms.MultipleChoiceField(label=_("detectors"), required=False,
                                          widget=forms.CheckboxSelectMultiple,
                                          help_text=_("None ticked: any detector."))
    levels = forms.MultipleChoiceField(label=_("classification levels"), required=False,
                                       widget=forms.CheckboxSelectMultiple, help_text=_("None ticked: any level."))
    until = forms.DateField(label=_("valid until"), required=False, widget=forms.DateInput(attrs={"type": "date"}),
                            help_text=_("The last day of the agreement. Empty: no end."))
    message_ja = forms.CharField(label=_("message (Japanese)"), max_length=600, required=False,
                                 widget=forms.Textarea(attrs={"rows": 2}))
    message_en = forms.CharField(label=_("message (English)"), max_length=600, required=False,
                                 widget=forms.Textarea(attrs={"rows": 2}))
    enabled = forms.BooleanField(label=_("enabled"), required=False, initial=True)

    def values(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {"slug": d["slug"], "domains": _no_nul(d["domains"]), "action": d["action"],
                "channels": d["channels"], "detectors": d["detectors"], "levels": d["levels"], "until": d["until"],
                "message_ja": d["message_ja"], "message_en": d["message_en"], "enabled": d["enabled"]}

    @staticmethod
    def initial_of(a: Any) -> dict[str, Any]:
        return {"slug": a.slug, "domains": "\n".join(a.domains), "action": a.action, "channels": a.channels,
                "detectors": a.detectors, "levels": a.levels, "until": a.until, "message_ja": a.message_ja,
                "message_en": a.message_en, "enabled": a.enabled}


class TryForm(forms.Form):
    text = forms.CharField(label=_("text"), required=False, strip=False,
                           widget=forms.Textarea(attrs={"rows": 6}),
                           help_text=_("Paste the text you want to send (or choose a file below)."))
    file = forms.FileField(label=_("file"), required=False)
    channel = forms.ChoiceField(label=_("channel"), choices=Channel.choices, initial=Channel.MAIL)
    destinations = forms.CharField(label=_("destinations"), max_length=5000, required=False,
                                   help_text=_("E-mail addresses or domains, separated by commas (for mail "
                                               "exceptions such as partners under an NDA)."))

    def __init__(self, *args: Any, max_bytes: int = 10 * 1024 * 1024, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_bytes = max_bytes

    def clean_text(self) -> str:
        return (self.cleaned_data.get("text") or "").replace("\x00", "")

    def clean_file(self) -> Any:
        upload = self.cleaned_data.get("file")
        if upload is not None and upload.size is not None and upload.size > self.max_bytes:
            raise forms.ValidationError(message(HimitsuError("guard.too_large", limit=self.max_bytes)))
        return upload

    def clean_destinations(self) -> list[str]:
        raw = _no_nul(self.cleaned_data.get("destinations") or "")
        out = [d.strip() for d in raw.replace("\n", ",").replace("、", ",").split(",") if d.strip()]
        if len(out) > MAX_DESTINATIONS or any(len(d) > 320 for d in out):
            raise forms.ValidationError(message(HimitsuError("guard.field_invalid", field="destinations")))
        return out

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        has_text = bool((data.get("text") or "").strip())
        has_file = data.get("file") is not None
        if has_text and has_file:
            self.add_error(None, message(HimitsuError("guard.input_ambiguous")))
        elif not has_text and not has_file and not self.errors:
            self.add_error("text", _("Paste a text or choose a file."))
        return data


class TokenForm(forms.Form):
    name = forms.CharField(label=_("name"), max_length=200,
                           help_text=_("What the token is for (for example: 社内AIチャット連携)."))
    scopes = forms.MultipleChoiceField(label=_("scopes"), required=False, widget=forms.CheckboxSelectMultiple,
                                       choices=[("check", _("check: the check API")),
                                                ("ai", _("ai: the generative AI gateway"))],
                                       initial=["check"])
    user = forms.ModelChoiceField(User.objects.filter(is_active=True).order_by("username"), label=_("acts for"),
                                  required=False,
                                  help_text=_("The person the integration acts for: their department applies to the "
                                              "policy and their need-to-know to the findings shown."))
    expires_at = forms.DateField(label=_("expires at"), required=False,
                                 widget=forms.DateInput(attrs={"type": "date"}),
                                 help_text=_("Valid through this day. Empty: no expiry."))

    def clean_name(self) -> str:
        return _no_nul(self.cleaned_data.get("name") or "")


class CommentForm(forms.Form):
    comment = forms.CharField(label=_("comment"), max_length=2000, required=False,
                              widget=forms.Textarea(attrs={"rows": 2}))

    def clean_comment(self) -> str:
        return _no_nul(self.cleaned_data.get("comment") or "")
