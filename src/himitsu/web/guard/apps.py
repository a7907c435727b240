from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GuardConfig(AppConfig):
    name = "himitsu.web.guard"
    label = "guard"
    verbose_name = _("Outbound guard")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # the audit page's names of what the guard's events are about
        from himitsu.web.audit.views import OBJECT_TYPES

        OBJECT_TYPES.update({
            "guard_policy": _("outbound policy"), "guard_rule": _("outbound policy rule"),
            "guard_allowance": _("outbound policy exception"), "guard_token": _("API token"),
            "guard_decision": _("outbound guard decision"), "guard_quarantine": _("held outbound item"),
            "guard_test": _("test of the outbound policy"),
        })
