from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ServiceConfig(AppConfig):
    name = "kefu.service"
    label = "service"
    verbose_name = _("Service")

    def ready(self) -> None:
        from kefu.core.labels import register
        from kefu.service import (  # noqa: F401  (listeners, periodic jobs)
            automation,
            escalation,
            routing,
            sla,
            sweep,
            webhooks,
        )
        from kefu.service.models import EscalationRule, Target, Trigger

        register(Target, EscalationRule.On, Trigger)
