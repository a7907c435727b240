from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InsiderConfig(AppConfig):
    name = "himitsu.web.insider"
    label = "insider"
    verbose_name = _("Insider risk")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # the audit page's names of what the insider-risk events are about
        from himitsu.web.audit.views import OBJECT_TYPES

        OBJECT_TYPES.update({
            "insider_file": _("activity log file"), "insider_people": _("people of the analytics store"),
            "insider_score": _("insider-risk scoring"), "insider_reveal": _("identity behind a pseudonym"),
            "insider_list": _("insider-risk list"), "insider_alert": _("insider-risk alert"),
        })
