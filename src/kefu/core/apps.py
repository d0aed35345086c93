from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "kefu.core"
    label = "core"
    verbose_name = "kefu core"

    def ready(self) -> None:
        from kefu.core import tasks  # noqa: F401  (registers the periodic housekeeping jobs)
