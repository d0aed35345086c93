from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConversationsConfig(AppConfig):
    name = "kefu.conversations"
    label = "conversations"
    verbose_name = _("Conversations")

    def ready(self) -> None:
        from kefu.conversations import push, tasks  # noqa: F401  (realtime listener, jobs)
        from kefu.conversations.models import Channel, Kind, Priority, Status
        from kefu.core.labels import register

        register(Status, Priority, Kind, Channel)
