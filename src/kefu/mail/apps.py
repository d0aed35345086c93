from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MailConfig(AppConfig):
    name = "kefu.mail"
    label = "mail"
    verbose_name = _("Email")

    def ready(self) -> None:
        from kefu.mail import replies, tasks  # noqa: F401  (listeners and periodic jobs)
