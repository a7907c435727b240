from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkflowsConfig(AppConfig):
    name = "himitsu.web.workflows"
    label = "workflows"
    verbose_name = _("Joining and leaving")
