from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "himitsu.web.core"
    label = "core"
