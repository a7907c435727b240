from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "himitsu.web.audit"
    label = "audit"
    verbose_name = _("Audit trail")

    def ready(self) -> None:
        from himitsu.web.audit import signals  # noqa: F401  (login and failed-login receivers)
