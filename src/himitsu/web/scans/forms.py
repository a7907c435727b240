"""Forms of the scan pages: a scan target (what to scan, how often) and the triage of a finding.

A target's options are a few explicit fields (endpoint, region, port, credentials file); there is never a
password field: passwords and keys come from the environment or the credentials file on the server.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.utils.translation import gettext_lazy as _

from himitsu.errors import InputError
from himitsu.web.accounts.models import Department
from himitsu.web.core.errors import message
from himitsu.web.scans import services
from himitsu.web.scans.models import ScanTarget, Status

#: the option fields of the form and their keys in ``ScanTarget.options``
OPTION_FIELDS = ("endpoint_url", "region", "port", "credentials_file")
MAX_WORKERS = services.MAX_WORKERS
MAX_INTERVAL_HOURS = services.MAX_INTERVAL_HOURS


def _no_nul(value: str) -> str:
    return value.replace("\x00", "").strip()


class TargetForm(forms.Form):
    name = forms.CharField(label=_("name"), max_length=200)
    url = forms.CharField(label=_("target"), max_length=1000,
                          help_text=_("A folder on the server (/srv/share), smb://server/share/path or "
                                      "s3://bucket/prefix. Never put a user name or password in it."))
    department = forms.ModelChoiceField(Department.objects.order_by("code"), label=_("department"), required=False)
    interval_hours = forms.IntegerField(label=_("interval (hours)"), min_value=0, max_value=MAX_INTERVAL_HOURS,
                                        initial=0, help_text=_("0: only when started by hand or from the command "
                                                               "line; otherwise every N hours."))
    workers = forms.IntegerField(label=_("worker processes"), min_value=1, max_value=MAX_WORKERS, initial=1)
    enabled = forms.BooleanField(label=_("enabled"), required=False, initial=True)
    endpoint_url = forms.URLField(label=_("endpoint URL"), max_length=500, required=False, assume_scheme="https",
                              help_text=_("S3-compatible server, e.g. http://127.0.0.1:8333 (empty: AWS)."))
    region = forms.CharField(label=_("region"), max_length=60, required=False)
    port = forms.IntegerField(label=_("port"), min_value=1, max_value=65535, required=False,
                              help_text=_("SMB port when it is not 445."))
    credentials_file = forms.CharField(
        label=_("credentials file"), max_length=500, required=False,
        help_text=_("Path of a file on the server that holds the user name and password or keys. Passwords are "
                    "never entered here: they come from the environment or this file."))

    def __init__(self, *args: Any, target: ScanTarget | None = None, **kwargs: Any) -> None:
        if target is not None and "initial" not in kwargs:
            options = target.options if isinstance(target.options, dict) else {}
            kwargs["initial"] = {
                "name": target.name, "url": target.url, "department": target.department_id,
                "interval_hours": target.interval_hours, "workers": target.workers, "enabled": target.enabled,
                **{k: options.get(k, "") for k in OPTION_FIELDS}}
        super().__init__(*args, **kwargs)
        self.target = target

    def clean_name(self) -> str:
        name = _no_nul(self.cleaned_data["name"])
        if not name:
            raise forms.ValidationError(_("Give the target a name."))
        return name

    def clean_url(self) -> str:
        url = self.cleaned_data["url"].strip()
        try:
            return services.normalize_url(url)
        except InputError as exc:
            raise forms.ValidationError(message(exc)) from None

    def clean_endpoint_url(self) -> str:
        endpoint = self.cleaned_data.get("endpoint_url") or ""
        if endpoint:
            parts = urlsplit(endpoint)
            if "@" in parts.netloc:
                raise forms.ValidationError(message(InputError("scan.credentials_in_url")))
            if parts.scheme not in ("http", "https"):
                raise forms.ValidationError(_("Use an http:// or https:// address."))
        return endpoint

    def clean_region(self) -> str:
        return _no_nul(self.cleaned_data.get("region") or "")

    def clean_credentials_file(self) -> str:
        path = _no_nul(self.cleaned_data.get("credentials_file") or "")
        if path and not path.startswith("/"):
            raise forms.ValidationError(_("Give the absolute path of the file on the server."))
        return path

    def options(self) -> dict[str, Any]:
        """The target's options: those of the form, the other (non-secret) settings it had kept."""
        kept = dict(self.target.options) if self.target is not None and isinstance(self.target.options, dict) else {}
        for key in OPTION_FIELDS:
            value = self.cleaned_data.get(key)
            if value in (None, ""):
                kept.pop(key, None)
            else:
                kept[key] = value
        return kept


class TriageForm(forms.Form):
    status = forms.ChoiceField(label=_("status"), choices=Status.choices)
    comment = forms.CharField(label=_("comment"), max_length=2000, required=False,
                              widget=forms.Textarea(attrs={"rows": 3}),
                              help_text=_("Required for false positive and resolved."))

    def clean_comment(self) -> str:
        return _no_nul(self.cleaned_data.get("comment") or "")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("status") in (Status.FALSE_POSITIVE, Status.RESOLVED) and not data.get("comment"):
            self.add_error("comment", message(InputError("scan.comment_required")))
        return data
