from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CareConfig(AppConfig):
    name = "kefu.care"
    label = "care"
    verbose_name = _("Proactive care")

    def ready(self) -> None:
        from kefu.care import listeners, tasks  # noqa: F401  (event listeners, periodic jobs)
        from kefu.care.complaints import on_inbound
        from kefu.care.sending import mark_bounced
        from kefu.mail import ingest, outbound

        if mark_bounced not in outbound.bounce_handlers:
            outbound.bounce_handlers.append(mark_bounced)
        if on_inbound not in ingest.report_handlers:
            ingest.report_handlers.append(on_inbound)
